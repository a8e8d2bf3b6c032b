package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/internal/service/natsconn"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
	"github.com/eventjwt/eventjwt/services/auth/internal/password"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Open connects to everything, starts the HTTP server and returns. On
// error, call Close to release what was opened.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	key, err := m.signingKey()
	if err != nil {
		return err
	}
	signer, err := jwtx.NewSigner(jwtx.SignerConfig{Key: key, Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.AccessTokenTTL, Now: m.Now})
	if err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	keys := jwtx.NewKeySet(signer.PublicKey())
	keys.SetClock(m.Now)
	live, err := retireKeys(keys, cfg.RetiredKeys, cfg.AccessTokenTTL, m.Now())
	if err != nil {
		return err
	}
	if live > 0 {
		m.Logger.Info("retired signing keys still published until their tokens expire", "count", live)
	}

	if cfg.DatabaseURL != "" {
		// PostgreSQL, shared by replicas; AUTH_DB_PATH is ignored. Bounded:
		// a database that does not answer fails the start.
		octx, cancel := context.WithTimeout(ctx, startTimeout)
		m.db, err = store.OpenPostgres(octx, cfg.DatabaseURL, m.Now)
		cancel()
		if err != nil {
			return fmt.Errorf("AUTH_DATABASE_URL: %w", err)
		}
	} else if m.db, err = store.Open(ctx, cfg.DBPath, m.Now); err != nil {
		return err
	}
	hasher, err := password.New(password.Params{
		MemoryKiB: cfg.Argon2MemoryKiB, Iterations: cfg.Argon2Iterations, Parallelism: cfg.Argon2Parallelism,
	}, 0)
	if err != nil {
		return fmt.Errorf("password hasher: %w", err)
	}

	js, err := m.connectNATS(ctx)
	if err != nil {
		return err
	}
	rstore, err := m.connectRedis(ctx)
	if err != nil {
		return err
	}
	validator, err := jwtx.NewValidator(jwtx.Config{
		Keys: keys, Issuer: cfg.Issuer, Audience: cfg.Audience,
		AcceptLegacy: cfg.AcceptLegacyTokens, Revocation: rstore, Now: m.Now, Metrics: m.Registry,
	})
	if err != nil {
		return fmt.Errorf("validator: %w", err)
	}
	revoker, err := m.startRevoker(js, rstore)
	if err != nil {
		return err
	}
	accounts, err := account.New(account.Config{
		Users: m.db, Passwords: hasher, Issuer: signer, Revoker: revoker,
		Enforced:   jwtx.NewRedisStore(m.rdb),
		EventIDKey: eventIDKey(key),
		Sessions:   m.db, RefreshKey: deriveKey(key, refreshKeyLabel),
		RefreshTTL: cfg.RefreshTokenTTL, ReuseGrace: reuseGrace(cfg.RefreshReuseGrace),
		Now: m.Now, Logger: m.Logger,
	})
	if err != nil {
		return err
	}
	api, err := httpapi.New(httpapi.Config{
		Accounts: accounts, Validator: validator, Keys: keys,
		Ready: []httpapi.Check{
			{Name: "nats", Fn: m.natsReady},
			{Name: "redis", Fn: func(ctx context.Context) error { return m.rdb.Ping(ctx).Err() }},
			{Name: "database", Fn: m.db.Ping},
		},
		ReadyTimeout: 500 * time.Millisecond,
		Metrics:      m.Registry, Now: m.Now, Logger: m.Logger,
		Limiter:        ratelimit.New(m.rdb, ratelimit.KeyPrefix),
		LoginLimitUser: cfg.LoginRateUser, LoginLimitIP: cfg.LoginRateIP, TrustedProxies: cfg.TrustedProxies,
	})
	if err != nil {
		return err
	}
	if err := m.serve(ctx, api, revoker.Wait()); err != nil {
		return err
	}
	return m.startSweeper()
}

// eventIDKey derives the key of the event ids (account.Config.EventIDKey)
// from the signing key, so that every replica sharing a signing key gives
// one revocation one id, and nobody who cannot sign tokens can predict it.
func eventIDKey(key ed25519.PrivateKey) []byte { return deriveKey(key, "eventjwt/auth/event-id/v1") }

// refreshKeyLabel derives the key of refresh-token successors
// (account.Config.RefreshKey): every replica sharing the signing key
// derives the same successor, and nobody who cannot sign can.
const refreshKeyLabel = "eventjwt/auth/refresh/v1"

// deriveKey is HMAC-SHA256(seed of key, label).
func deriveKey(key ed25519.PrivateKey, label string) []byte {
	mac := hmac.New(sha256.New, key.Seed())
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// reuseGrace maps AUTH_REFRESH_REUSE_GRACE to account.Config.ReuseGrace,
// where 0 means the default and a negative value none.
func reuseGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// signingKey reads AUTH_SIGNING_KEY_FILE, or generates a key.
func (m *Main) signingKey() (ed25519.PrivateKey, error) {
	if m.Config.SigningKeyFile == "" {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate signing key: %w", err)
		}
		m.Logger.Warn("AUTH_SIGNING_KEY_FILE is not set: using a key generated at start; tokens die with the process and other replicas reject them")
		return key, nil
	}
	data, err := os.ReadFile(m.Config.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("AUTH_SIGNING_KEY_FILE: %w", err)
	}
	key, err := jwtx.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("AUTH_SIGNING_KEY_FILE %s: %w", m.Config.SigningKeyFile, err)
	}
	return key, nil
}

// connectNATS connects with the chassis's start-up policy (natsconn: a
// server down at start is retried with backoff in the background,
// reconnecting forever), without buffering publishes while disconnected
// so that logout answers 503 at once, and makes sure the REVOCATIONS
// stream exists. When NATS answers at once, the stream is ensured before
// Open returns, and a stream this service cannot use fails Open as
// before; when it does not, the stream is ensured in the background
// (ensureStream), and until then /readyz says nats is unavailable and
// logout answers 503 (retrying is safe).
func (m *Main) connectNATS(ctx context.Context) (jetstream.JetStream, error) {
	nc, err := natsconn.Connect(natsconn.Config{
		URL: m.Config.NATSURL, Name: "auth", InboxPrefix: m.Config.InboxPrefix,
		Logger: m.Logger, NoReconnectBuffer: true,
	})
	if err != nil {
		return nil, fmt.Errorf("NATS_URL: %w", err)
	}
	m.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if nc.IsConnected() {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		defer cancel()
		if _, err := m.ensure()(sctx, js, m.streamConfig()); err != nil {
			return nil, err
		}
		m.streamOK.Store(true)
		return js, nil
	}
	m.Logger.Warn("NATS is not reachable yet; retrying in the background, not ready meanwhile",
		"nats_url", service.RedactURLs(m.Config.NATSURL))
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	m.stop, m.bgDone = stop, make(chan struct{})
	go func() {
		defer close(m.bgDone)
		m.ensureStream(bg, js)
	}()
	return js, nil
}

// ensure is EnsureStream, or CheckStream when an administrator manages
// the stream (AUTH_MANAGE_STREAM=false).
func (m *Main) ensure() func(context.Context, jetstream.JetStream, events.StreamConfig) (jetstream.Stream, error) {
	if !m.Config.ManageStream {
		return events.CheckStream
	}
	return events.EnsureStream
}

func (m *Main) streamConfig() events.StreamConfig {
	return events.StreamConfig{
		MinMaxAge: m.Config.AccessTokenTTL, MaxAge: m.Config.StreamMaxAge,
		Replicas: m.Config.StreamReplicas, ReplicasSetting: StreamReplicasEnv,
	}
}

// ensureStream creates (AUTH_MANAGE_STREAM) or checks the REVOCATIONS
// stream, retrying with backoff until it succeeds or ctx ends (Close).
// A stream that exists but cannot serve this service (retention shorter
// than the tokens) is logged at error level and retried: readiness stays
// false, so the operator sees it.
func (m *Main) ensureStream(ctx context.Context, js jetstream.JetStream) {
	ensure, cfg := m.ensure(), m.streamConfig()
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		sctx, cancel := context.WithTimeout(ctx, startTimeout)
		_, err := ensure(sctx, js, cfg)
		cancel()
		if err == nil {
			m.streamOK.Store(true)
			m.Logger.Info("revocation stream ready", "stream", events.StreamName)
			return
		}
		if ctx.Err() != nil {
			return
		}
		m.Logger.Warn("revocation stream not ready; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// natsReady is the "nats" readiness check: connected, and the stream
// known to be there.
func (m *Main) natsReady(context.Context) error {
	if err := natsconn.Ready(m.nc); err != nil {
		return err
	}
	if !m.streamOK.Load() {
		return errors.New("the REVOCATIONS stream is not ready yet")
	}
	return nil
}

// connectRedis builds the client; Redis being down at start is not fatal
// (validation fails closed and /readyz says so).
func (m *Main) connectRedis(ctx context.Context) (*jwtx.RedisStore, error) {
	rdb, err := jwtx.NewRedisClient(m.Config.RedisURL, jwtx.RedisClientOptions{}) // no client name: the auth ACL user may not CLIENT SETNAME
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	m.rdb = rdb
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := m.rdb.Ping(pctx).Err(); err != nil {
		m.Logger.Warn("redis is not answering; tokens are rejected until it does", "err", err)
	}
	return jwtx.NewRedisStore(m.rdb), nil
}

// startRevoker subscribes to the applied announcements and returns the
// Revoker.
func (m *Main) startRevoker(js jetstream.JetStream, state jwtx.RevocationStore) (*revoke.Revoker, error) {
	invalid := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "auth_applied_announcements_invalid_total",
		Help: "Announcements on " + events.SubjectApplied + " dropped because they could not be decoded.",
	})
	if err := m.Registry.Register(invalid); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	ann := revoke.NewAnnouncements(0, 0, m.Now)
	sub, err := ann.Subscribe(m.nc, m.Logger.With("component", "revoke"), func(error) { invalid.Inc() })
	if err != nil {
		return nil, err
	}
	m.annSub = sub
	// Behind Sentinel or in a Cluster only the revocation service's
	// announcement, sent once the replicas have the write, makes a 204: a
	// read of the primary may see a write a failover is about to undo.
	mode, _ := jwtx.ParseRedisMode(m.Config.RedisURL)
	return revoke.New(revoke.Config{
		Publisher: events.NewPublisher(js), State: state, Announcements: ann,
		Wait: m.Config.RevocationWait, PublishTimeout: m.Config.PublishTimeout, Now: m.Now, Logger: m.Logger.With("component", "revoke"), Metrics: m.Registry,
		AnnouncementsOnly: mode != jwtx.RedisSingle,
	})
}

// serve listens on AUTH_HTTP_ADDR (the API), AUTH_METRICS_ADDR (/metrics
// alone) and, when set, AUTH_PPROF_ADDR (net/http/pprof), and serves them
// in the background.
func (m *Main) serve(ctx context.Context, h http.Handler, revocationWait time.Duration) error {
	ls := append([]service.Listener{
		{Env: "AUTH_HTTP_ADDR", Addr: m.Config.HTTPAddr, Server: newHTTPServer(h, m.readHeaderTimeout, revocationWait, m.Logger)},
		{Env: "AUTH_METRICS_ADDR", Addr: m.Config.MetricsAddr,
			Server: newMetricsServer(httpapi.MetricsHandler(m.Registry, m.Logger), m.readHeaderTimeout, m.Logger)},
	}, service.PprofListeners("AUTH_PPROF_ADDR", m.Config.PprofAddr, m.Logger)...)
	servers, err := service.Listen(ctx, ls...)
	if err != nil {
		return err
	}
	m.servers = servers
	m.Logger.Info("listening", "addr", servers.Addr(0), "metrics_addr", servers.Addr(1))
	if m.Config.PprofAddr != "" {
		m.Logger.Info("net/http/pprof served", "pprof_addr", servers.Addr(2))
	}
	m.serveErr = servers.Serve()
	return nil
}

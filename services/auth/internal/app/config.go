package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// ErrUsage wraps every configuration error: the command line or the
// environment is wrong (exit status 2).
var ErrUsage = service.ErrUsage

// Config is the auth service's configuration.
type Config struct {
	NATSURL            string
	RedisURL           string
	LogLevel           slog.Level
	LogFormat          string // json or text
	HTTPAddr           string
	MetricsAddr        string // /metrics only, apart from the API (DefaultMetricsAddr)
	PprofAddr          string // AUTH_PPROF_ADDR: net/http/pprof; empty: off
	DBPath             string
	DatabaseURL        string       // PostgreSQL; when set, DBPath is ignored
	SigningKeyFile     string       // empty: generate a key at start
	RetiredKeys        []RetiredKey // earlier signing keys still published and accepted
	Issuer             string
	Audience           string
	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration // lifetime of a refresh token
	RefreshReuseGrace  time.Duration // a spent refresh token answered its successor again
	AcceptLegacyTokens bool
	RevocationWait     time.Duration
	// PublishTimeout is AUTH_PUBLISH_TIMEOUT: how long a revocation waits
	// for its PubAck before the answer is 503.
	PublishTimeout    time.Duration
	Argon2MemoryKiB   uint32
	Argon2Iterations  uint32
	Argon2Parallelism uint8
	LoginRateUser     ratelimit.Limit // failed logins per username
	LoginRateIP       ratelimit.Limit // login and register attempts per client address
	TrustedProxies    []netip.Prefix  // peers whose X-Forwarded-For is believed
	StreamMaxAge      time.Duration
	// StreamReplicas is AUTH_STREAM_REPLICAS: copies of the REVOCATIONS
	// stream (1-5); 0 when unset, which a NATS cluster refuses
	// (events.StreamConfig.Replicas).
	StreamReplicas int
	// InboxPrefix is the prefix of the NATS connection's reply subjects
	// (PubAcks, stream info); a least-privilege NATS user may subscribe to
	// its own prefix only.
	InboxPrefix string
	// ManageStream: create the REVOCATIONS stream when missing; false: only
	// look it up and check it (needs no JetStream management permission).
	ManageStream bool
}

// DefaultMetricsAddr is where /metrics listens unless AUTH_METRICS_ADDR
// says otherwise: loopback, because the counters (login failures, logout
// outcomes) are for operators, not for whoever reaches the API.
const DefaultMetricsAddr = "127.0.0.1:9080"

// settings declares every variable of c, in the order --help shows them:
// the shared ones from internal/service, then the service's own.
func settings(c *Config) service.Settings {
	return service.Settings{
		Name:         "auth",
		About:        "The auth service: users, tokens, logout.",
		TrimPrefixes: []string{"AUTH_"},
		List: []service.Setting{
			service.NATSURLSetting(&c.NATSURL),
			service.RedisURLSetting(&c.RedisURL, ""),
			service.LogLevelSetting(&c.LogLevel),
			service.LogFormatSetting(&c.LogFormat),
			{Env: "AUTH_HTTP_ADDR", Default: ":8080", Help: "HTTP listen address of the API, /healthz and /readyz", Apply: service.String(&c.HTTPAddr, true)},
			{Env: "AUTH_METRICS_ADDR", Default: DefaultMetricsAddr, Help: "listen address of /metrics (Prometheus), apart from the API; keep it on loopback or a private network", Apply: service.String(&c.MetricsAddr, true)},
			service.PprofSetting("AUTH_PPROF_ADDR", &c.PprofAddr),
			{Env: "AUTH_DB_PATH", Default: "auth.db", Help: "SQLite database file for users and sessions (one replica); ignored when AUTH_DATABASE_URL is set", Apply: service.String(&c.DBPath, true)},
			{Env: "AUTH_DATABASE_URL", Help: "PostgreSQL URL for users and sessions, shared by replicas (postgres://user:password@host:5432/db?sslmode=verify-full); empty: SQLite at AUTH_DB_PATH", Apply: service.String(&c.DatabaseURL, false)},
			{Env: "AUTH_SIGNING_KEY_FILE", Help: "PKCS#8 PEM Ed25519 private key; empty: generate one at start (tokens die with the process)", Apply: service.String(&c.SigningKeyFile, false)},
			{Env: "AUTH_ISSUER", Default: "http://localhost:8080", Help: "iss of issued tokens", Apply: service.String(&c.Issuer, true)},
			{Env: "AUTH_AUDIENCE", Default: "api", Help: "aud of issued tokens", Apply: service.String(&c.Audience, true)},
			{Env: "AUTH_ACCESS_TOKEN_TTL", Default: "15m", Help: "access token lifetime", Apply: service.Duration(&c.AccessTokenTTL, time.Second)},
			{Env: "AUTH_REFRESH_TOKEN_TTL", Default: "720h", Help: "refresh token lifetime (each refresh rotates it)", Apply: service.Duration(&c.RefreshTokenTTL, time.Second)},
			{Env: "AUTH_REFRESH_REUSE_GRACE", Default: "10s", Help: "how long a spent refresh token is answered the same successor pair again (concurrent tabs); after it, presenting it is reuse and revokes the session; 0: none", Apply: service.Duration(&c.RefreshReuseGrace, 0)},
			{Env: "AUTH_ACCEPT_LEGACY_TOKENS", Default: "false", Bool: true, Help: "accept tokens without jti (revocable only by logout-all-devices)", Apply: service.Bool(&c.AcceptLegacyTokens)},
			{Env: "AUTH_REVOCATION_WAIT", Default: "3s", Help: "how long logout waits for enforcement before answering 202", Apply: service.Duration(&c.RevocationWait, time.Millisecond)},
			{Env: "AUTH_PUBLISH_TIMEOUT", Default: "5s", Help: "how long a revocation waits for JetStream's acknowledgement before answering 503 (retry-safe); a publish caught by a stream-leader election waits this long, so a shorter value shortens the 503s of a NATS failover (at least 100ms)", Apply: service.Duration(&c.PublishTimeout, 100*time.Millisecond)},
			{Env: "AUTH_ARGON2_MEMORY_KIB", Default: "65536", Help: "argon2id memory per hash, KiB", Apply: func(v string) error {
				return parseUint(v, 8, 4<<20, func(n uint64) { c.Argon2MemoryKiB = uint32(n) })
			}},
			{Env: "AUTH_ARGON2_ITERATIONS", Default: "2", Help: "argon2id iterations", Apply: func(v string) error {
				return parseUint(v, 1, 100, func(n uint64) { c.Argon2Iterations = uint32(n) })
			}},
			{Env: "AUTH_ARGON2_PARALLELISM", Default: "2", Help: "argon2id lanes", Apply: func(v string) error {
				return parseUint(v, 1, math.MaxUint8, func(n uint64) { c.Argon2Parallelism = uint8(n) })
			}},
			{Env: "AUTH_LOGIN_RATE_USER", Default: "10/15m", Help: `failed logins allowed per username per window ("N/duration" or "off"); shared by replicas through Redis`, Apply: func(v string) error {
				l, err := ratelimit.ParseLimit(v)
				c.LoginRateUser = l
				return err
			}},
			{Env: "AUTH_LOGIN_RATE_IP", Default: "30/1m", Help: `login and register attempts allowed per client address per window ("N/duration" or "off"); IPv6 counts per /64`, Apply: func(v string) error {
				l, err := ratelimit.ParseLimit(v)
				c.LoginRateIP = l
				return err
			}},
			{Env: "AUTH_TRUSTED_PROXIES", Help: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For names the client; empty: the peer address is the client", Apply: func(v string) error {
				p, err := httpapi.ParseTrustedProxies(v)
				c.TrustedProxies = p
				return err
			}},
			{Env: "AUTH_RETIRED_KEYS", Help: "earlier signing keys, comma-separated PATH@RFC3339 (PKCS#8 PEM file and when it stopped signing): published in the JWKS and accepted until that time + token TTL + leeway", Apply: func(v string) error {
				k, err := parseRetiredKeys(v)
				c.RetiredKeys = k
				return err
			}},
			{Env: "AUTH_STREAM_MAX_AGE", Default: "168h", Help: "retention of the REVOCATIONS stream when this service creates it; must exceed the token TTL", Apply: service.Duration(&c.StreamMaxAge, time.Second)},
			{Env: StreamReplicasEnv, Help: "copies of the REVOCATIONS stream JetStream keeps (1-5): 3 on a cluster of 3 (raises an existing stream with fewer); unset: 1 on a single server, refused on a cluster (set 1 to accept a single copy)", Apply: streamReplicas(&c.StreamReplicas)},
			service.InboxPrefixSetting(&c.InboxPrefix, "auth"),
			{Env: "AUTH_MANAGE_STREAM", Default: "true", Bool: true, Help: "create the REVOCATIONS stream if missing; false: only look it up (an administrator manages it, see deploy/nats)", Apply: service.Bool(&c.ManageStream)},
		},
	}
}

// StreamReplicasEnv is the setting of Config.StreamReplicas.
const StreamReplicasEnv = "AUTH_STREAM_REPLICAS"

// streamReplicas parses a stream replica count: empty (unset) is 0.
func streamReplicas(dst *int) func(string) error {
	return func(v string) error {
		if v == "" {
			*dst = 0
			return nil
		}
		return parseUint(v, 1, 5, func(n uint64) { *dst = int(n) })
	}
}

// ParseConfig reads the configuration from args (flags) and getenv; flags
// win over the environment, which wins over the defaults. Errors wrap
// ErrUsage and name the variable; -h/--help returns flag.ErrHelp after
// writing the usage to out.
func ParseConfig(getenv func(string) string, args []string, out io.Writer) (Config, error) {
	var c Config
	if err := settings(&c).Parse(getenv, args, out); err != nil {
		return Config{}, err
	}
	// Checked here rather than in the setting's Apply, whose error would
	// repeat the value, password and all.
	if c.DatabaseURL != "" {
		if err := store.CheckPostgresURL(c.DatabaseURL); err != nil {
			return Config{}, fmt.Errorf("%w: invalid AUTH_DATABASE_URL: %w", ErrUsage, err)
		}
	}
	if c.StreamMaxAge <= c.AccessTokenTTL {
		return Config{}, fmt.Errorf("%w: AUTH_STREAM_MAX_AGE (%s) must exceed AUTH_ACCESS_TOKEN_TTL (%s)", ErrUsage, c.StreamMaxAge, c.AccessTokenTTL)
	}
	if c.RefreshReuseGrace >= c.RefreshTokenTTL {
		return Config{}, fmt.Errorf("%w: AUTH_REFRESH_REUSE_GRACE (%s) must be less than AUTH_REFRESH_TOKEN_TTL (%s)", ErrUsage, c.RefreshReuseGrace, c.RefreshTokenTTL)
	}
	if c.Argon2MemoryKiB < 8*uint32(c.Argon2Parallelism) {
		return Config{}, fmt.Errorf("%w: AUTH_ARGON2_MEMORY_KIB (%d) must be at least 8 * AUTH_ARGON2_PARALLELISM (%d)", ErrUsage, c.Argon2MemoryKiB, c.Argon2Parallelism)
	}
	return c, nil
}

// Usage writes the --help text: every flag with its variable and default.
func Usage(out io.Writer) { settings(&Config{}).Usage(out) }

func parseUint(v string, lo, hi uint64, set func(uint64)) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return errors.New("not a non-negative integer")
	}
	if n < lo || n > hi {
		return fmt.Errorf("must be between %d and %d", lo, hi)
	}
	set(n)
	return nil
}

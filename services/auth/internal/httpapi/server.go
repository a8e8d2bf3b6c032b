// Package httpapi is the HTTP interface of the auth service: register,
// login, logout, logout-all-devices, me, the JWK set, health and readiness,
// with JSON errors everywhere; /metrics is a handler of its own, for a
// listener apart from the API's.
//
//	h, err := httpapi.New(httpapi.Config{Users: db, Passwords: hasher, ...})
//	srv := &http.Server{Handler: h}
//	metrics := &http.Server{Handler: httpapi.MetricsHandler(registry, logger)}
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Users is the user store the handlers need; *store.DB implements it.
type Users interface {
	CreateUser(ctx context.Context, u store.User) error
	UserByUsername(ctx context.Context, username string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	UsernameExists(ctx context.Context, username string) (bool, error)
	TokenVersion(ctx context.Context, id string) (int64, error)
	SetTokenVersionAtLeast(ctx context.Context, id string, v int64) (int64, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
}

// Passwords hashes and verifies passwords; *password.Hasher implements it.
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, encoded, password string) error
	VerifyDummy(ctx context.Context, password string) error
	NeedsRehash(encoded string) bool
}

// Revoker publishes revocations and waits for their enforcement;
// *revoke.Revoker implements it.
type Revoker interface {
	Publish(ctx context.Context, ev events.Event) (events.PubAck, error)
	Await(ctx context.Context, ev events.Event, ack events.PubAck) revoke.Outcome
}

// Check is one readiness condition: Fn returns nil when Name is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Config holds the Server's dependencies. Every field is required except
// Ready, Now, NewID, Logger and the rate limits.
type Config struct {
	Users     Users
	Passwords Passwords
	Signer    *jwtx.Signer
	Validator *jwtx.Validator
	Keys      *jwtx.KeySet
	Revoker   Revoker
	// Ready lists what /readyz checks, each within ReadyTimeout.
	Ready []Check
	// ReadyTimeout bounds each readiness check; default 1s.
	ReadyTimeout time.Duration
	// Metrics receives the server's collectors; required. They are served
	// by MetricsHandler, never by the Server.
	Metrics prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID returns new user ids (canonical UUIDs); default uuid.NewString.
	NewID func() string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Limiter counts login and register attempts across replicas; nil
	// disables rate limiting.
	Limiter Limiter
	// LoginLimitUser bounds failed logins per username (ScopeUser); the
	// zero Limit disables it.
	LoginLimitUser ratelimit.Limit
	// LoginLimitIP bounds login and register attempts per client address
	// (ScopeIP); the zero Limit disables it.
	LoginLimitIP ratelimit.Limit
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// address; empty: the peer address is the client's.
	TrustedProxies []netip.Prefix
	// Enforced, when set, reads the token version validators enforce for a
	// user (Redis's user_token_version). Login issues tokens at no lower a
	// version, so a logout-all-devices whose event was stored but whose
	// database update was lost (a crash in between) does not make every new
	// login's token born revoked.
	Enforced jwtx.RevocationStore
	// EventIDKey keys the ids of the events the server publishes
	// (eventID): the same revocation (one token, one user version) gets
	// the same id on every replica sharing the key, so a repeated logout
	// is stored once within JetStream's duplicate window, while nobody
	// without the key can predict an id and store another event under it
	// first (which would make the owner's a dropped duplicate). Nil: every
	// event gets a random id.
	EventIDKey []byte
}

// Server is the auth service's http.Handler.
type Server struct {
	users     Users
	passwords Passwords
	signer    *jwtx.Signer
	validator *jwtx.Validator
	keys      *jwtx.KeySet
	revoker   Revoker
	ready     []Check
	readyTO   time.Duration
	now       func() time.Time
	newID     func() string
	logger    *slog.Logger
	metrics   *metrics
	locks     userLocks
	handler   http.Handler

	limiter        Limiter
	limitUser      ratelimit.Limit
	limitIP        ratelimit.Limit
	trustedProxies []netip.Prefix
	enforced       jwtx.RevocationStore
	eventIDKey     []byte
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Users == nil || cfg.Passwords == nil || cfg.Signer == nil || cfg.Validator == nil ||
		cfg.Keys == nil || cfg.Revoker == nil || cfg.Metrics == nil {
		return nil, errors.New("httpapi: Users, Passwords, Signer, Validator, Keys, Revoker and Metrics are required")
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Server{
		users: cfg.Users, passwords: cfg.Passwords, signer: cfg.Signer, validator: cfg.Validator,
		keys: cfg.Keys, revoker: cfg.Revoker, ready: cfg.Ready, readyTO: cfg.ReadyTimeout,
		now: cfg.Now, newID: cfg.NewID, logger: cfg.Logger, metrics: m,
		limiter: cfg.Limiter, limitUser: cfg.LoginLimitUser, limitIP: cfg.LoginLimitIP, trustedProxies: cfg.TrustedProxies,
		enforced: cfg.Enforced, eventIDKey: cfg.EventIDKey,
	}
	if s.readyTO <= 0 {
		s.readyTO = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = uuid.NewString
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// routes builds the mux. Every path also gets a method-less pattern that
// answers 405 in JSON with Allow, and "/" answers 404 in JSON, because the
// standard mux would answer both in plain text.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(method, path string, h http.HandlerFunc) {
		mux.Handle(method+" "+path, s.instrument(path, h))
		allow := method
		if method == http.MethodGet {
			allow = "GET, HEAD"
		}
		mux.Handle(path, s.instrument(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.fail(w, r, errorf(CodeMethodNotAllowed, "use "+strings.ReplaceAll(allow, ", ", " or ")))
		}))
	}
	// The routes that read a JSON body refuse any other Content-Type (415)
	// before counting an attempt or hashing a password.
	handle(http.MethodPost, "/v1/auth/register", s.requireJSON(s.register))
	handle(http.MethodPost, "/v1/auth/login", s.requireJSON(s.login))
	handle(http.MethodPost, "/v1/auth/logout", s.logout)
	handle(http.MethodPost, "/v1/auth/logout-all-devices", s.logoutAllDevices)
	handle(http.MethodGet, "/v1/auth/me", s.validator.Middleware(http.HandlerFunc(s.me)).ServeHTTP)
	handle(http.MethodGet, "/.well-known/jwks.json", s.keys.Handler().ServeHTTP)
	handle(http.MethodGet, "/healthz", s.healthz)
	handle(http.MethodGet, "/readyz", s.readyz)
	mux.Handle("/", s.instrument("unmatched", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errorf(CodeNotFound, "no such route"))
	}))
	return s.recoverPanics(s.limitBodies(mux))
}

// fail answers r with err; see writeError.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.logger, err)
}

// limitBodies caps every request body (413 beyond MaxBodyBytes).
func (s *Server) limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := limitBody(w, r); err != nil {
			s.metrics.requests.WithLabelValues("any", r.Method, "413").Inc()
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Package httpapi is the HTTP interface of the auth service: register,
// login, refresh, sessions, password change, logout, logout-all-devices, me, the JWK set, health and readiness,
// with JSON errors everywhere; /metrics is a handler of its own, for a
// listener apart from the API's. It decodes requests, calls the account
// protocol (package account) and maps its outcomes and codes to statuses:
// the rules of registering, logging in and revoking live there.
//
//	h, err := httpapi.New(httpapi.Config{Accounts: svc, Validator: v, Keys: keys, ...})
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Accounts is the account protocol the handlers call;
// *account.Service implements it.
type Accounts interface {
	Register(ctx context.Context, username, password string) (userID string, err error)
	LoginClient(ctx context.Context, username, password string, c account.Client) (account.Token, error)
	Refresh(ctx context.Context, refreshToken string) (account.Token, error)
	Sessions(ctx context.Context, claims *jwtx.Claims) ([]account.SessionInfo, error)
	RevokeSession(ctx context.Context, claims *jwtx.Claims, sid string) (account.Revocation, error)
	ChangePassword(ctx context.Context, claims *jwtx.Claims, current, next string) (account.Revocation, error)
	Logout(ctx context.Context, claims *jwtx.Claims) (account.Revocation, error)
	LogoutAll(ctx context.Context, claims *jwtx.Claims) (account.Revocation, error)
	User(ctx context.Context, id string) (store.User, error)
}

// Check is one readiness condition: Fn returns nil when Name is usable.
type Check = service.Check

// Config holds the Server's dependencies. Every field is required except
// Ready, Now, Logger and the rate limits.
type Config struct {
	Accounts  Accounts
	Validator *jwtx.Validator
	Keys      *jwtx.KeySet
	// Ready lists what /readyz checks, each within ReadyTimeout.
	Ready []Check
	// ReadyTimeout bounds each readiness check; default 1s.
	ReadyTimeout time.Duration
	// Metrics receives the server's collectors; required. They are served
	// by MetricsHandler, never by the Server.
	Metrics prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
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
}

// Server is the auth service's http.Handler.
type Server struct {
	accounts  Accounts
	validator *jwtx.Validator
	keys      *jwtx.KeySet
	ready     []Check
	readyTO   time.Duration
	now       func() time.Time
	logger    *slog.Logger
	metrics   *metrics
	handler   http.Handler
	// readyHandler answers /readyz (service.Ready over ready).
	readyHandler http.HandlerFunc

	limiter        Limiter
	limitUser      ratelimit.Limit
	limitIP        ratelimit.Limit
	trustedProxies []netip.Prefix
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Accounts == nil || cfg.Validator == nil || cfg.Keys == nil || cfg.Metrics == nil {
		return nil, errors.New("httpapi: Accounts, Validator, Keys and Metrics are required")
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Server{
		accounts: cfg.Accounts, validator: cfg.Validator, keys: cfg.Keys,
		ready: cfg.Ready, readyTO: cfg.ReadyTimeout, now: cfg.Now, logger: cfg.Logger, metrics: m,
		limiter: cfg.Limiter, limitUser: cfg.LoginLimitUser, limitIP: cfg.LoginLimitIP, trustedProxies: cfg.TrustedProxies,
	}
	if s.readyTO <= 0 {
		s.readyTO = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.readyHandler = service.Ready(s.ready, s.readyTO, s.logger, false)
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
	handle(http.MethodPost, "/v1/auth/refresh", s.requireJSON(s.refresh))
	handle(http.MethodGet, "/v1/auth/sessions", s.validator.Middleware(http.HandlerFunc(s.sessions)).ServeHTTP)
	handle(http.MethodDelete, "/v1/auth/sessions/{sid}", s.deleteSession)
	handle(http.MethodPost, "/v1/auth/password", s.validator.Middleware(s.requireJSON(s.changePassword)).ServeHTTP)
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

// Package account is the auth service's domain layer: register, login,
// logout and logout-all-devices, with the rules that make revocation
// safe: one lock per user around logout-all, the version a logout-all
// publishes (targetVersion), the version a login issues (issueVersion,
// which repairs a stored version left behind by a crash), and the keyed
// ids of the events (eventID). It knows nothing of HTTP: httpapi decodes
// a request, calls a method here and maps the result (an Outcome, or an
// *Error with a Code) to a status.
//
//	svc, err := account.New(account.Config{Users: db, Passwords: hasher, Issuer: signer, Revoker: revoker})
//	id, err := svc.Register(ctx, "alice", "correct horse")
//	tok, err := svc.Login(ctx, "alice", "correct horse")
//	rev, err := svc.Logout(ctx, claims) // rev.Outcome: Enforced (204) or Pending (202)
package account

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Users is the user store; *store.DB implements it.
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

// Issuer signs access tokens; *jwtx.Signer implements it.
type Issuer interface {
	Issue(subject string, version int64) (token string, claims jwtx.Claims, err error)
	TTL() time.Duration
}

// Revoker makes an event durable and waits for its enforcement;
// *revoke.Revoker implements it. Publish errors wrap ErrUnavailable.
type Revoker interface {
	Publish(ctx context.Context, ev events.Event) (events.PubAck, error)
	Await(ctx context.Context, ev events.Event, ack events.PubAck) revoke.Outcome
}

// EnforcedState reads the state validators enforce (Redis);
// *jwtx.RedisStore implements it.
type EnforcedState interface {
	RevocationState(ctx context.Context, q jwtx.RevocationQuery) (jwtx.RevocationState, error)
}

// Config holds a Service's dependencies. Users, Passwords, Issuer and
// Revoker are required.
type Config struct {
	Users     Users
	Passwords Passwords
	Issuer    Issuer
	Revoker   Revoker
	// Enforced, when set, reads the token version validators enforce for a
	// user (Redis's user_token_version). Login issues tokens at no lower a
	// version, so a logout-all-devices whose event was stored but whose
	// database update was lost (a crash in between) does not make every new
	// login's token born revoked.
	Enforced EnforcedState
	// EventIDKey keys the ids of the events the service publishes
	// (eventID): the same revocation (one token, one user version) gets
	// the same id on every replica sharing the key, so a repeated logout
	// is stored once within JetStream's duplicate window, while nobody
	// without the key can predict an id and store another event under it
	// first (which would make the owner's a dropped duplicate). Nil: every
	// event gets a random id.
	EventIDKey []byte
	// Sessions, when set (with an Issuer that is also a GrantIssuer),
	// makes every login start a session with a refresh token.
	Sessions Sessions
	// RefreshKey keys the derivation of a refresh token's successor;
	// required with Sessions.
	RefreshKey []byte
	// RefreshTTL is the lifetime of a refresh token; DefaultRefreshTTL
	// when 0.
	RefreshTTL time.Duration
	// ReuseGrace is how long a spent refresh token is answered its
	// successor again; DefaultReuseGrace when 0, none when negative.
	ReuseGrace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewID returns new user ids (canonical UUIDs); default uuid.NewString.
	NewID func() string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service runs the account protocol. It is safe for concurrent use.
type Service struct {
	users      Users
	passwords  Passwords
	issuer     Issuer
	revoker    Revoker
	enforced   EnforcedState
	eventIDKey []byte
	now        func() time.Time
	newID      func() string
	logger     *slog.Logger
	locks      userLocks
	sessions   Sessions
	grants     GrantIssuer
	refreshKey []byte
	refreshTTL time.Duration
	reuseGrace time.Duration
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Users == nil || cfg.Passwords == nil || cfg.Issuer == nil || cfg.Revoker == nil {
		return nil, errors.New("account: Users, Passwords, Issuer and Revoker are required")
	}
	s := &Service{
		users: cfg.Users, passwords: cfg.Passwords, issuer: cfg.Issuer, revoker: cfg.Revoker,
		enforced: cfg.Enforced, eventIDKey: cfg.EventIDKey,
		now: cfg.Now, newID: cfg.NewID, logger: cfg.Logger,
	}
	if cfg.Sessions != nil {
		g, ok := cfg.Issuer.(GrantIssuer)
		if !ok || len(cfg.RefreshKey) == 0 {
			return nil, errors.New("account: Sessions need an Issuer with IssueGrant and a RefreshKey")
		}
		s.sessions, s.grants, s.refreshKey = cfg.Sessions, g, cfg.RefreshKey
	}
	s.refreshTTL, s.reuseGrace = cfg.RefreshTTL, cfg.ReuseGrace
	if s.refreshTTL <= 0 {
		s.refreshTTL = DefaultRefreshTTL
	}
	switch {
	case s.reuseGrace == 0:
		s.reuseGrace = DefaultReuseGrace
	case s.reuseGrace < 0:
		s.reuseGrace = 0
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
	return s, nil
}

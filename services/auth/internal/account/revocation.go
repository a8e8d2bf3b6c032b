package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Event reasons.
const (
	ReasonLogout    = events.ReasonLogout
	ReasonLogoutAll = events.ReasonLogoutAll
)

// Outcome is how far a revocation got.
type Outcome int

const (
	// Unavailable means durability could not be confirmed (the error wraps
	// ErrUnavailable) or was confirmed but not recorded (an *Error with
	// CodeRevocationUnavailable). Retrying is safe: revocation is
	// idempotent.
	Unavailable Outcome = iota
	// Pending means durable, not seen enforced within the Revoker's wait; it
	// will be without further action.
	Pending
	// Enforced means durable and enforced; the next validation anywhere
	// rejects what the event revokes.
	Enforced
)

// String returns "unavailable", "pending" or "enforced".
func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case Enforced:
		return "enforced"
	}
	return "unavailable"
}

// Revocation is the result of Logout and LogoutAll: the event published,
// JetStream's acknowledgement and the outcome.
type Revocation struct {
	Event   events.Event
	Ack     events.PubAck
	Outcome Outcome
}

// storeTimeout bounds the store calls of LogoutAll, which run detached
// from ctx so that a caller giving up between the publish and the version
// update does not leave the two apart.
const storeTimeout = 10 * time.Second

// Logout revokes the token claims describe (already checked for signature
// and claims, not for revocation: logging out must work while Redis is
// down, and repeating it must be accepted) by its jti and, when it has a
// sid, ends its session too (TokenRevoked and SessionRevoked, published
// concurrently). A legacy token (no jti) is refused with
// CodeUnsupportedToken.
func (s *Service) Logout(ctx context.Context, claims *jwtx.Claims) (Revocation, error) {
	if claims.Legacy() {
		return Revocation{}, errorf(CodeUnsupportedToken, "use logout-all-devices")
	}
	ev := events.TokenRevoked{
		UserID: claims.Subject, JTI: claims.ID, ExpiresAt: claims.ExpiresAt,
		Reason: ReasonLogout, Actor: events.UserActor(claims.Subject),
	}.Event(s.now())
	ev.ID = eventID(s.eventIDKey, ev.ID, ev.Type, ev.JTI, strconv.FormatInt(ev.ExpiresAt.UnixNano(), 10))
	sess, ok, err := s.logoutSession(ctx, claims)
	if err != nil {
		return Revocation{Event: ev, Outcome: Unavailable}, err
	}
	if ok {
		// Both at once: the jti (what Part 1 promises) and the session (its
		// other access tokens); the least outcome of the two is answered.
		return s.revokeSessions(ctx, []store.Session{sess}, ev)
	}
	ack, err := s.revoker.Publish(ctx, ev)
	if err != nil {
		return Revocation{Event: ev, Outcome: Unavailable}, err
	}
	return s.await(ctx, ev, ack), nil
}

// LogoutAll revokes every token of the user claims names. Order
// (docs/ARCHITECTURE.md): read the stored version V, publish
// UserTokensRevoked{targetVersion(V, ver)}, wait for the PubAck, raise the
// stored version to it, then wait for enforcement. A failed publish
// changes nothing. Calls for one user are serialized in this process.
func (s *Service) LogoutAll(ctx context.Context, claims *jwtx.Claims) (Revocation, error) {
	ev, ack, err := s.revokeUser(ctx, claims)
	if err != nil {
		return Revocation{Event: ev, Outcome: Unavailable}, err
	}
	return s.await(ctx, ev, ack), nil
}

func (s *Service) await(ctx context.Context, ev events.Event, ack events.PubAck) Revocation {
	out := Pending
	if s.revoker.Await(ctx, ev, ack) == revoke.Enforced {
		out = Enforced
	}
	return Revocation{Event: ev, Ack: ack, Outcome: out}
}

// revokeUser publishes the user event and raises the stored version, under
// the user's lock.
func (s *Service) revokeUser(ctx context.Context, claims *jwtx.Claims) (events.Event, events.PubAck, error) {
	unlock := s.locks.lock(claims.Subject)
	defer unlock()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	stored, err := s.users.TokenVersion(sctx, claims.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return events.Event{}, events.PubAck{}, fmt.Errorf("user %s does not exist: %w", claims.Subject, jwtx.ErrInvalidToken)
	}
	if err != nil {
		return events.Event{}, events.PubAck{}, err
	}
	target, ok := targetVersion(stored, claims.Version)
	if !ok {
		return events.Event{}, events.PubAck{}, &Error{Code: CodeVersionExhausted,
			Message: "the account's token version cannot be raised any further; logout-all-devices is unavailable for it until an operator repairs it (retrying will not help)",
			Err:     fmt.Errorf("user %s: stored token version %d, token ver %d: no version above them up to %d", claims.Subject, stored, claims.Version, events.MaxVersion)}
	}
	// The sessions die first: a refresh racing this call cannot mint a
	// token at the new version for a session that is ending.
	if err := s.revokeAllSessions(sctx, claims.Subject); err != nil {
		return events.Event{}, events.PubAck{}, err
	}
	now := s.now()
	ev := events.UserTokensRevoked{
		UserID:    claims.Subject,
		Version:   target,
		ExpiresAt: now.Add(s.issuer.TTL()),
		Reason:    ReasonLogoutAll,
		Actor:     events.UserActor(claims.Subject),
	}.Event(now)
	ev.ID = eventID(s.eventIDKey, ev.ID, ev.Type, ev.UserID, strconv.FormatInt(ev.Version, 10))
	ack, err := s.revoker.Publish(ctx, ev)
	if err != nil {
		return ev, events.PubAck{}, err
	}
	if _, err := s.users.SetTokenVersionAtLeast(sctx, claims.Subject, ev.Version); err != nil {
		// Durable but not recorded here: new logins carry the old version
		// and fail closed until a retry (the same version again) records it.
		return ev, ack, &Error{Code: CodeRevocationUnavailable,
			Message: "the revocation is durable but could not be recorded; retry (retrying is safe)", Err: err}
	}
	return ev, ack, nil
}

// targetVersion is the user version logout-all-devices publishes, given
// the stored version and the presenting token's ver:
//
//   - a current token (ver >= stored) raises it to max(stored, ver)+1,
//     which revokes that token and every earlier one;
//   - a token an earlier logout-all already revoked (ver < stored) asks for
//     what is already done: the stored version is re-published (applying
//     it again changes nothing, so a retried call is idempotent) instead of
//     being raised again, so an old, revoked token cannot log the user out
//     of newer sessions.
//
// ok is false when that version would exceed events.MaxVersion, the
// largest an event may carry (a version that high can only come from data
// written before the bound existed): there is nothing to publish, and no
// retry changes that. targetVersion never overflows and never returns a
// version above events.MaxVersion.
func targetVersion(stored, tokenVer int64) (version int64, ok bool) {
	if tokenVer < stored {
		return stored, stored <= events.MaxVersion
	}
	if tokenVer >= events.MaxVersion { // tokenVer is max(stored, tokenVer)
		return 0, false
	}
	return tokenVer + 1, true
}

// eventID returns the id of the event identified by parts: a UUID derived
// with HMAC-SHA256 under key, or random (the id events gave it) without a
// key.
func eventID(key []byte, random string, parts ...string) string {
	if len(key) == 0 {
		return random
	}
	var data []byte
	for _, p := range parts { // length-prefixed: no two lists of parts share an encoding
		data = strconv.AppendInt(data, int64(len(p)), 10)
		data = append(append(data, ':'), p...)
	}
	return uuid.NewHash(hmac.New(sha256.New, key), uuid.Nil, data, 5).String()
}

// userLocks serializes logout-all-devices per user with a fixed set of
// striped mutexes (bounded memory, whatever the number of users).
type userLocks struct {
	stripes [256]sync.Mutex
}

func (l *userLocks) lock(userID string) (unlock func()) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	mu := &l.stripes[h.Sum32()%uint32(len(l.stripes))]
	mu.Lock()
	return mu.Unlock
}

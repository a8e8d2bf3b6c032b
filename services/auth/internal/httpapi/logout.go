package httpapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
	"github.com/google/uuid"
)

// Event reasons.
const (
	ReasonLogout           = "logout"
	ReasonLogoutAllDevices = "logout_all_devices"
)

// CodeVersionExhausted answers a logout-all-devices that cannot raise the
// user's token version because it is already at events.MaxVersion (or, in
// data written before the bound existed, above it). Status maps it to 500,
// without Retry-After: it is not the client's fault and no retry can help;
// writeError logs it at error level and an operator must repair the user's
// version. Logging out one token at a time still works.
const CodeVersionExhausted = "token_version_exhausted"

// storeTimeout bounds the store calls of logout-all-devices, which run
// detached from the request so that a client hanging up between the
// publish and the version update does not leave the two apart.
const storeTimeout = 10 * time.Second

// pendingBody is the 202 answer: durable, not yet seen enforced.
var pendingBody = struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}{"pending", "revocation is durable and will be enforced shortly"}

// parseBearer returns the claims of the request's bearer token after the
// signature and claims checks, without asking Redis: logging out must work
// while Redis is down, and repeating it must be accepted.
func (s *Server) parseBearer(r *http.Request) (*jwtx.Claims, error) {
	token, err := jwtx.BearerToken(r)
	if err != nil {
		return nil, err
	}
	return s.validator.Parse(token)
}

// logout: POST /v1/auth/logout revokes the presented token by its jti.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	claims, err := s.parseBearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if claims.Legacy() {
		s.fail(w, r, errorf(CodeUnsupportedToken, "use logout-all-devices"))
		return
	}
	ev := events.TokenRevoked{
		UserID: claims.Subject, JTI: claims.ID, ExpiresAt: claims.ExpiresAt,
		Reason: ReasonLogout, Actor: claims.Subject,
	}.Event(s.now())
	ev.ID = s.eventID(ev.ID, ev.Type, ev.JTI, strconv.FormatInt(ev.ExpiresAt.UnixNano(), 10))
	ack, err := s.revoker.Publish(r.Context(), ev)
	if err != nil {
		s.metrics.logouts.WithLabelValues("logout", "503").Inc()
		s.fail(w, r, err)
		return
	}
	s.answerRevocation(w, r, "logout", ev, ack)
}

// logoutAllDevices: POST /v1/auth/logout-all-devices revokes every token
// of the user. Order (docs/ARCHITECTURE.md): read the stored version V,
// publish UserTokensRevoked{V+1}, wait for the PubAck, raise the stored
// version to V+1, then wait for enforcement. A failed publish changes
// nothing. Concurrent calls for one user are serialized in this process.
func (s *Server) logoutAllDevices(w http.ResponseWriter, r *http.Request) {
	claims, err := s.parseBearer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ev, ack, err := s.revokeUser(r.Context(), claims)
	if err != nil {
		if errors.Is(err, revoke.ErrUnavailable) {
			s.metrics.logouts.WithLabelValues("logout_all_devices", "503").Inc()
		}
		s.fail(w, r, err)
		return
	}
	s.answerRevocation(w, r, "logout_all_devices", ev, ack)
}

// revokeUser publishes the user event and raises the stored version, under
// the user's lock.
func (s *Server) revokeUser(ctx context.Context, claims *jwtx.Claims) (events.Event, events.PubAck, error) {
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
	now := s.now()
	ev := events.UserTokensRevoked{
		UserID:    claims.Subject,
		Version:   target,
		ExpiresAt: now.Add(s.signer.TTL()),
		Reason:    ReasonLogoutAllDevices,
		Actor:     claims.Subject,
	}.Event(now)
	ev.ID = s.eventID(ev.ID, ev.Type, ev.UserID, strconv.FormatInt(ev.Version, 10))
	ack, err := s.revoker.Publish(ctx, ev)
	if err != nil {
		return events.Event{}, events.PubAck{}, err
	}
	if _, err := s.users.SetTokenVersionAtLeast(sctx, claims.Subject, ev.Version); err != nil {
		// Durable but not recorded here: new logins carry the old version
		// and fail closed until a retry (the same version again) records it.
		return events.Event{}, events.PubAck{}, &Error{Code: CodeRevocationUnavailable,
			Message: "the revocation is durable but could not be recorded; retry (retrying is safe)", Err: err}
	}
	return ev, ack, nil
}

// eventID returns the id of the event identified by parts: a UUID derived
// with HMAC-SHA256 under the server's EventIDKey, or random (the id
// events gave it) without a key.
func (s *Server) eventID(random string, parts ...string) string {
	if len(s.eventIDKey) == 0 {
		return random
	}
	var data []byte
	for _, p := range parts { // length-prefixed: no two lists of parts share an encoding
		data = strconv.AppendInt(data, int64(len(p)), 10)
		data = append(append(data, ':'), p...)
	}
	return uuid.NewHash(hmac.New(sha256.New, s.eventIDKey), uuid.Nil, data, 5).String()
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

// answerRevocation waits for enforcement and answers 204 or 202.
func (s *Server) answerRevocation(w http.ResponseWriter, r *http.Request, endpoint string, ev events.Event, ack events.PubAck) {
	if s.revoker.Await(r.Context(), ev, ack) == revoke.Enforced {
		s.metrics.logouts.WithLabelValues(endpoint, "204").Inc()
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.metrics.logouts.WithLabelValues(endpoint, "202").Inc()
	s.logger.InfoContext(r.Context(), "revocation durable, not yet enforced",
		"event", ev.ID, "type", ev.Type, "seq", ack.Sequence)
	writeJSON(w, http.StatusAccepted, pendingBody)
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

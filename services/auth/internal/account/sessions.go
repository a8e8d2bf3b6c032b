package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/password"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// More event reasons.
const (
	ReasonSessionRevoked    = events.ReasonSessionRevoked
	ReasonRefreshTokenReuse = events.ReasonRefreshTokenReuse
	ReasonCredentialChange  = events.ReasonCredentialChange
)

// SystemActorID is the actor id of revocations the service decides itself
// (refresh token reuse).
const SystemActorID = "auth"

// Defaults of the session settings.
const (
	DefaultRefreshTTL = 720 * time.Hour
	DefaultReuseGrace = 10 * time.Second
)

// RefreshTokenLen is the length of a refresh token: 32 random bytes,
// base64url without padding.
const RefreshTokenLen = 43

// publishConcurrency bounds the events ChangePassword publishes at once.
const publishConcurrency = 4

// Sessions stores sessions and refresh tokens; *store.DB implements it.
type Sessions interface {
	CreateSession(ctx context.Context, sess store.Session, first store.RefreshToken) error
	Rotate(ctx context.Context, req store.RotateRequest) (store.Rotation, error)
	ActiveSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error)
	RevokeSession(ctx context.Context, userID, sid, reason string, now time.Time) (store.Session, error)
	RevokeUserSessions(ctx context.Context, userID, exceptSID, reason string, now time.Time) ([]store.Session, error)
	MarkRevocationEnforced(ctx context.Context, sid string) error
}

// GrantIssuer signs access tokens from a full grant (sid, fixed jti and
// iat); *jwtx.Signer implements it. Sessions need it.
type GrantIssuer interface {
	IssueGrant(g jwtx.Grant) (token string, claims jwtx.Claims, err error)
}

// Client describes who logs in: stored with the session.
type Client struct {
	// UserAgent is the User-Agent header (cut by the store).
	UserAgent string
	// Addr is a coarse prefix of the client address.
	Addr string
}

// Refusals of a refresh.
var (
	// ErrInvalidGrant: the refresh token is malformed, unknown, expired or
	// of a revoked session.
	ErrInvalidGrant = &Error{Code: CodeInvalidGrant, Message: "the refresh token is invalid, expired or revoked"}
	// ErrRefreshTokenReused: a spent refresh token came back after the
	// grace window; its session is revoked.
	ErrRefreshTokenReused = &Error{Code: CodeRefreshTokenReused, Message: "the refresh token was already used; the session is revoked"}
)

// SessionInfo is one active session as Sessions lists it.
type SessionInfo struct {
	store.Session
	// Current is set on the session of the presenting token.
	Current bool
}

// sessionsEnabled reports whether logins start sessions.
func (s *Service) sessionsEnabled() bool { return s.sessions != nil && s.grants != nil }

// newRefreshToken returns 32 random bytes, base64url without padding.
func newRefreshToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// wellFormed reports whether t has the form of a refresh token.
func wellFormed(t string) bool {
	if len(t) != RefreshTokenLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(t)
	return err == nil && len(b) == 32
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// successor derives the refresh token that replaces t: only the holder of
// the refresh key can compute it, and it need not be stored in clear to be
// answered again within the grace window.
func (s *Service) successor(t string) string {
	mac := hmac.New(sha256.New, s.refreshKey)
	mac.Write([]byte(t))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// startSession creates the session of a login and returns its tokens.
func (s *Service) startSession(ctx context.Context, userID string, version int64, c Client) (Token, error) {
	now := s.now()
	sid := uuid.NewString()
	tok, claims, err := s.grants.IssueGrant(jwtx.Grant{Subject: userID, SessionID: sid, Version: version, IssuedAt: now})
	if err != nil {
		return Token{}, err
	}
	rt := newRefreshToken()
	exp := now.Add(s.refreshTTL)
	err = s.sessions.CreateSession(ctx,
		store.Session{ID: sid, UserID: userID, CreatedAt: now, UserAgent: c.UserAgent, ClientAddr: c.Addr, AccessExpiresAt: claims.ExpiresAt},
		store.RefreshToken{Hash: hashToken(rt), IssuedAt: now, ExpiresAt: exp})
	if err != nil {
		return Token{}, err
	}
	s.logger.InfoContext(ctx, "session started", "user_id", userID, "sid", sid)
	return Token{Token: tok, Claims: claims, RefreshToken: rt, RefreshExpiresAt: exp}, nil
}

// RefreshOutcome names what a refresh found, for metrics.
func RefreshOutcome(err error, replay bool) string {
	switch {
	case err == nil && replay:
		return "grace_replay"
	case err == nil:
		return "rotated"
	case Code(err) == CodeRefreshTokenReused:
		return "reused"
	case Code(err) == CodeInvalidGrant:
		return "invalid"
	}
	return "error"
}

// Refresh rotates a refresh token: a live one is spent and answered a new
// pair; one spent within the grace window gets the same successor pair
// again; one spent earlier is reuse, which revokes its session
// (ErrRefreshTokenReused once enforced, a 503 until then). Token.Replay is
// set on a grace replay.
func (s *Service) Refresh(ctx context.Context, token string) (Token, error) {
	if !s.sessionsEnabled() || !wellFormed(token) {
		return Token{}, ErrInvalidGrant
	}
	h := hashToken(token)
	next := s.successor(token)
	nextHash := hashToken(next)
	r, err := s.sessions.Rotate(ctx, store.RotateRequest{
		Hash: h, SuccessorHash: nextHash, SuccessorJTI: uuid.NewString(), Now: s.now(),
		Grace: s.reuseGrace, RefreshTTL: s.refreshTTL, AccessTTL: s.issuer.TTL(),
	})
	if err != nil {
		return Token{}, err
	}
	if r.Status != store.RotateUnknown && subtle.ConstantTimeCompare(r.Token.Hash, h) != 1 {
		return Token{}, ErrInvalidGrant
	}
	switch r.Status {
	case store.Rotated, store.RotateGrace:
		if subtle.ConstantTimeCompare(r.SuccessorHash, nextHash) != 1 {
			s.logger.WarnContext(ctx, "refresh: the stored successor does not match the derived one (signing key changed?)",
				"sid", r.Session.ID)
			return Token{}, ErrInvalidGrant
		}
		tok, claims, err := s.grants.IssueGrant(jwtx.Grant{Subject: r.Token.UserID, SessionID: r.Session.ID,
			Version: r.Grant.Version, ID: r.Grant.JTI, IssuedAt: r.Grant.IssuedAt})
		if err != nil {
			return Token{}, err
		}
		return Token{Token: tok, Claims: claims, RefreshToken: next, RefreshExpiresAt: r.SuccessorExpiresAt,
			Replay: r.Status == store.RotateGrace}, nil
	case store.RotateReuse:
		s.logger.WarnContext(ctx, "refresh token reuse; revoking the session", "user_id", r.Token.UserID, "sid", r.Session.ID)
		sess, err := s.sessions.RevokeSession(ctx, r.Token.UserID, r.Session.ID, ReasonRefreshTokenReuse, s.now())
		if err != nil {
			return Token{}, err
		}
		return Token{}, s.enforceDeadSession(ctx, sess)
	case store.RotateRevoked:
		if r.Session.RevocationEnforced || r.Session.RevokeReason == ReasonLogoutAll {
			return Token{}, ErrInvalidGrant
		}
		return Token{}, s.enforceDeadSession(ctx, r.Session)
	}
	return Token{}, ErrInvalidGrant
}

// enforceDeadSession publishes (again) the revocation of a session revoked
// in the store and waits for it: the refusal once enforced, a 503 (retry
// safe) until then.
func (s *Service) enforceDeadSession(ctx context.Context, sess store.Session) error {
	rev, err := s.revokeSessions(ctx, []store.Session{sess})
	refusal := ErrInvalidGrant
	if sess.RevokeReason == ReasonRefreshTokenReuse {
		refusal = ErrRefreshTokenReused
	}
	switch {
	case err != nil:
		return err
	case rev.Outcome != Enforced:
		return &Error{Code: CodeRevocationUnavailable, RetryAfter: time.Second,
			Message: "the session's revocation is durable but not yet enforced; retry shortly"}
	}
	return refusal
}

// actorFor is the actor of a session revocation with reason.
func actorFor(reason, userID string) events.Actor {
	if reason == ReasonRefreshTokenReuse {
		return events.SystemActor(SystemActorID)
	}
	return events.UserActor(userID)
}

// sessionEvent is the SessionRevoked event of sess, with a keyed id (one
// per session, so every retry dedupes).
func (s *Service) sessionEvent(sess store.Session) events.Event {
	ev := events.SessionRevoked{UserID: sess.UserID, SessionID: sess.ID, ExpiresAt: sess.AccessExpiresAt,
		Reason: sess.RevokeReason, Actor: actorFor(sess.RevokeReason, sess.UserID)}.Event(s.now())
	ev.ID = eventID(s.eventIDKey, ev.ID, ev.Type, ev.SessionID)
	return ev
}

// revokeSessions publishes the SessionRevoked events of sessions (revoked
// in the store already), concurrently with at most publishConcurrency in
// flight, plus extra events, and waits for them; enforced sessions are
// marked so. Sessions whose access tokens have all expired need no event.
// The Revocation's Event is the first event; its Outcome the least of all.
func (s *Service) revokeSessions(ctx context.Context, sessions []store.Session, extra ...events.Event) (Revocation, error) {
	type job struct {
		ev  events.Event
		sid string
	}
	var jobs []job
	for _, ev := range extra {
		jobs = append(jobs, job{ev: ev})
	}
	now := s.now()
	for _, sess := range sessions {
		if !sess.AccessExpiresAt.After(now) {
			s.markEnforced(ctx, sess.ID)
			continue
		}
		jobs = append(jobs, job{ev: s.sessionEvent(sess), sid: sess.ID})
	}
	if len(jobs) == 0 {
		return Revocation{Outcome: Enforced}, nil
	}
	results := make([]Revocation, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, publishConcurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ack, err := s.revoker.Publish(ctx, j.ev)
			if err != nil {
				results[i], errs[i] = Revocation{Event: j.ev, Outcome: Unavailable}, err
				return
			}
			results[i] = s.await(ctx, j.ev, ack)
			if results[i].Outcome == Enforced && j.sid != "" {
				s.markEnforced(ctx, j.sid)
			}
		})
	}
	wg.Wait()
	out := results[0]
	for _, r := range results[1:] {
		out.Outcome = min(out.Outcome, r.Outcome)
	}
	if err := errors.Join(errs...); err != nil {
		out.Outcome = Unavailable
		return out, err
	}
	return out, nil
}

func (s *Service) markEnforced(ctx context.Context, sid string) {
	if err := s.sessions.MarkRevocationEnforced(context.WithoutCancel(ctx), sid); err != nil {
		s.logger.WarnContext(ctx, "could not record a session revocation as enforced", "sid", sid, "err", err)
	}
}

// Sessions returns the active sessions of the user claims names; Current
// marks the presenting token's.
func (s *Service) Sessions(ctx context.Context, claims *jwtx.Claims) ([]SessionInfo, error) {
	if !s.sessionsEnabled() {
		return []SessionInfo{}, nil
	}
	list, err := s.sessions.ActiveSessions(ctx, claims.Subject, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, 0, len(list))
	for _, ss := range list {
		out = append(out, SessionInfo{Session: ss, Current: ss.ID == claims.SessionID})
	}
	return out, nil
}

// ValidSessionID reports whether sid is a canonical UUID.
func ValidSessionID(sid string) bool {
	u, err := uuid.Parse(sid)
	return err == nil && u.String() == sid
}

// RevokeSession ends one of the user's own sessions (someone else's or an
// unknown one: CodeNotFound; a malformed sid: CodeInvalidRequest) and
// publishes its SessionRevoked. An already revoked session is published
// again (retry safe).
func (s *Service) RevokeSession(ctx context.Context, claims *jwtx.Claims, sid string) (Revocation, error) {
	if !ValidSessionID(sid) {
		return Revocation{}, errorf(CodeInvalidRequest, "the session id must be a UUID")
	}
	if !s.sessionsEnabled() {
		return Revocation{}, errorf(CodeNotFound, "no such session")
	}
	sess, err := s.sessions.RevokeSession(ctx, claims.Subject, sid, ReasonSessionRevoked, s.now())
	if errors.Is(err, store.ErrSessionNotFound) {
		return Revocation{}, &Error{Code: CodeNotFound, Message: "no such session", Err: err}
	}
	if err != nil {
		return Revocation{}, err
	}
	return s.revokeSessions(ctx, []store.Session{sess})
}

// logoutSession revokes the session of a logging-out token in the store
// and returns it (ok false when the token has none or it is unknown).
func (s *Service) logoutSession(ctx context.Context, claims *jwtx.Claims) (store.Session, bool, error) {
	if claims.SessionID == "" || !s.sessionsEnabled() {
		return store.Session{}, false, nil
	}
	sess, err := s.sessions.RevokeSession(ctx, claims.Subject, claims.SessionID, ReasonLogout, s.now())
	if errors.Is(err, store.ErrSessionNotFound) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	// A session whose event was enforced before still covers the token's jti.
	return sess, true, nil
}

// revokeAllSessions marks every session of the user revoked before a
// logout-all publishes its version raise.
func (s *Service) revokeAllSessions(ctx context.Context, userID string) error {
	if !s.sessionsEnabled() {
		return nil
	}
	_, err := s.sessions.RevokeUserSessions(ctx, userID, "", ReasonLogoutAll, s.now())
	return err
}

// ChangePassword replaces the password of the user claims names after
// checking the current one (CodeInvalidCredentials), then revokes every
// other session of the user (reason credential_change). The password is
// changed even when a publish fails (the error); retrying republishes.
func (s *Service) ChangePassword(ctx context.Context, claims *jwtx.Claims, current, next string) (Revocation, error) {
	if current == "" || next == "" {
		return Revocation{}, errorf(CodeInvalidRequest, "current_password and new_password are required")
	}
	u, err := s.User(ctx, claims.Subject)
	if err != nil {
		return Revocation{}, err
	}
	if err := s.passwords.Verify(ctx, u.PasswordHash, current); err != nil {
		if errors.Is(err, password.ErrMismatch) {
			return Revocation{}, &Error{Code: CodeInvalidCredentials, Message: "the current password is wrong"}
		}
		return Revocation{}, err
	}
	if err := ValidatePassword(u.Username, next); err != nil {
		return Revocation{}, err
	}
	hash, err := s.passwords.Hash(ctx, next)
	if err != nil {
		return Revocation{}, err
	}
	if err := s.users.SetPasswordHash(ctx, u.ID, hash); err != nil {
		return Revocation{}, fmt.Errorf("change password: %w", err)
	}
	s.logger.InfoContext(ctx, "password changed", "user_id", u.ID)
	if !s.sessionsEnabled() {
		return Revocation{Outcome: Enforced}, nil
	}
	others, err := s.sessions.RevokeUserSessions(ctx, u.ID, claims.SessionID, ReasonCredentialChange, s.now())
	if err != nil {
		return Revocation{}, err
	}
	return s.revokeSessions(ctx, others)
}

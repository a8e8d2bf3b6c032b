// Package revocationtest holds test vectors for every materialised view of the
// revocation stream: the same sequences of events, and the state each view
// must hold after them. The revocation service's Redis store and the
// validators' near-cache run the same cases, so the two can never drift
// apart on the expiry and merge rules of revocation.Retention.
//
//	for _, c := range revocationtest.MergeCases(now, retention) {
//		for _, ev := range c.Events { view.Apply(ev) }
//		// compare the view's key c.Key with c.Want
//	}
package revocationtest

import (
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// KeyState is what a view holds for one key after a case's revocation.
type KeyState struct {
	// Absent means the key must not exist (or count as expired).
	Absent bool
	// Version is a user key's version (0 for a token key).
	Version int64
	// Expiry is the key's exact expiry (Redis PEXPIRETIME, in milliseconds;
	// a view with a coarser clock rounds it up).
	Expiry time.Time
}

// MergeCase is one sequence of events applied in order to an empty view.
type MergeCase struct {
	Name   string
	Events []revocation.Event
	// JTI is set for a token case: the view's token_blacklist:{JTI}.
	JTI string
	// SessionID is set for a session case: the view's
	// session_revoked:{SessionID}.
	SessionID string
	// UserID is set for a user case: the view's user_token_version:{UserID}.
	UserID string
	Want   KeyState
}

// Fixed ids, so that a failing case names the same keys on every run.
const (
	jti  = "6f1d4a2c-1b3e-4c5d-8e9f-0a1b2c3d4e5f"
	sid  = "3c9a7b1e-5d2f-4e6a-8b0c-1d2e3f4a5b6c"
	user = "0b7e9c1a-2d3f-4a5b-9c8d-7e6f5a4b3c2d"
)

// MergeCases returns the cases for a view whose clock reads now, with
// retention r (the view's REVOCATION_MAX_TOKEN_TTL and leeway).
func MergeCases(now time.Time, r revocation.Retention) []MergeCase {
	now = now.Truncate(time.Millisecond)
	limit := now.Add(r.MaxTokenTTL + r.Leeway)
	tok := func(occurred, exp time.Time) revocation.Event {
		return revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: exp}.Event(occurred)
	}
	usr := func(occurred time.Time, v int64, exp time.Time) revocation.Event {
		return revocation.UserTokensRevoked{UserID: user, Version: v, ExpiresAt: exp}.Event(occurred)
	}
	ses := func(occurred, exp time.Time) revocation.Event {
		return revocation.SessionRevoked{UserID: user, SessionID: sid, ExpiresAt: exp}.Event(occurred)
	}
	far := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	return []MergeCase{
		{
			Name:   "TokenExpiresAtExpPlusLeeway",
			Events: []revocation.Event{tok(now, now.Add(10*time.Minute))},
			JTI:    jti, Want: KeyState{Expiry: now.Add(10*time.Minute + r.Leeway)},
		},
		{
			Name:   "TokenExpiryOnlyExtended",
			Events: []revocation.Event{tok(now, now.Add(70*time.Minute)), tok(now, now.Add(10*time.Minute))},
			JTI:    jti, Want: KeyState{Expiry: now.Add(70*time.Minute + r.Leeway)},
		},
		{
			Name:   "TokenLaterExpiryExtends",
			Events: []revocation.Event{tok(now, now.Add(10*time.Minute)), tok(now, now.Add(70*time.Minute)), tok(now, now.Add(10*time.Minute))},
			JTI:    jti, Want: KeyState{Expiry: now.Add(70*time.Minute + r.Leeway)},
		},
		{
			Name:   "TokenExpiryClampedToLongestLifetime",
			Events: []revocation.Event{tok(now, far)},
			JTI:    jti, Want: KeyState{Expiry: limit},
		},
		{
			Name:   "TokenExpired",
			Events: []revocation.Event{tok(now.Add(-3*time.Hour), now.Add(-2*time.Hour))},
			JTI:    jti, Want: KeyState{Absent: true},
		},
		{
			Name:      "SessionExpiresAtExpPlusLeeway",
			Events:    []revocation.Event{ses(now, now.Add(10*time.Minute))},
			SessionID: sid, Want: KeyState{Expiry: now.Add(10*time.Minute + r.Leeway)},
		},
		{
			Name:      "SessionExpiryOnlyExtended",
			Events:    []revocation.Event{ses(now, now.Add(70*time.Minute)), ses(now, now.Add(10*time.Minute))},
			SessionID: sid, Want: KeyState{Expiry: now.Add(70*time.Minute + r.Leeway)},
		},
		{
			Name:      "SessionExpiryClampedToLongestLifetime",
			Events:    []revocation.Event{ses(now, far)},
			SessionID: sid, Want: KeyState{Expiry: limit},
		},
		{
			Name:      "SessionExpired",
			Events:    []revocation.Event{ses(now.Add(-3*time.Hour), now.Add(-2*time.Hour))},
			SessionID: sid, Want: KeyState{Absent: true},
		},
		{
			// The red-team finding: an issuer with a 5 s TTL must not cut
			// short what an earlier logout-all protects.
			Name:   "UserVersionLivesLongestTokenLifetime",
			Events: []revocation.Event{usr(now, 1, now.Add(5*time.Second))},
			UserID: user, Want: KeyState{Version: 1, Expiry: limit},
		},
		{
			Name:   "UserVersionWithoutExpiresAt",
			Events: []revocation.Event{usr(now, 2, time.Time{})},
			UserID: user, Want: KeyState{Version: 2, Expiry: limit},
		},
		{
			Name:   "UserVersionOnlyRaised",
			Events: []revocation.Event{usr(now, 5, now.Add(20*time.Minute)), usr(now, 4, now.Add(30*time.Minute))},
			UserID: user, Want: KeyState{Version: 5, Expiry: limit},
		},
		{
			// A higher version that occurred earlier (another publisher's
			// clock, a replay out of order) raises the version and keeps
			// the later expiry.
			Name:   "HigherVersionNeverShortensExpiry",
			Events: []revocation.Event{usr(now, 5, time.Time{}), usr(now.Add(-time.Hour), 6, now.Add(5*time.Second))},
			UserID: user, Want: KeyState{Version: 6, Expiry: limit},
		},
		{
			Name:   "LowerVersionExtendsExpiry",
			Events: []revocation.Event{usr(now.Add(-time.Hour), 6, time.Time{}), usr(now, 5, time.Time{})},
			UserID: user, Want: KeyState{Version: 6, Expiry: limit},
		},
		{
			Name:   "FutureOccurredAtCountsAsNow",
			Events: []revocation.Event{usr(far, 3, far)},
			UserID: user, Want: KeyState{Version: 3, Expiry: limit},
		},
		{
			Name:   "UserVersionExpired",
			Events: []revocation.Event{usr(now.Add(-r.MaxTokenTTL-r.Leeway-time.Hour), 2, time.Time{})},
			UserID: user, Want: KeyState{Absent: true},
		},
	}
}

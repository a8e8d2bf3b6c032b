package revocation

import "time"

// Retention holds the two settings that bound how long a revocation
// protects anything. Every materialised view of the stream (the revocation
// service's Redis keys, a validator's near-cache) computes expiries with
// the same Retention and the same rules, so that they give the same
// answers.
type Retention struct {
	// MaxTokenTTL is the longest lifetime of any token an issuer issues
	// (REVOCATION_MAX_TOKEN_TTL). It must be at least every issuer's
	// access-token TTL: a token living longer than it could outlive its
	// revocation.
	MaxTokenTTL time.Duration
	// Leeway is the clock leeway validators allow (REVOCATION_LEEWAY),
	// added to every expiry.
	Leeway time.Duration
}

// Expiry returns when the revocation ev stops protecting anything: the
// instant its key may expire. clamped reports that the event asked for a
// later expiry than Retention allows (a token said to live longer than
// MaxTokenTTL: a misconfigured issuer, or a forged expires_at).
//
// The rules (docs/CONTRACT.md, "Expiry"):
//
//   - every expiry is at most Cap(ev, now): occurred_at (never later than
//     now) + MaxTokenTTL + Leeway, since no token issued before the event
//     lives longer;
//   - token.revoked and session.revoked: expires_at + Leeway, clamped to
//     the cap;
//   - user.tokens_revoked: the cap itself, whatever expires_at says: the
//     version must outlive every token issued before the event, and a
//     shorter expires_at (an issuer with a shorter TTL) must not cut short
//     what an earlier event protects.
//
// A view keeps the later of the expiry it holds and the one computed here:
// an expiry is only ever extended.
func (r Retention) Expiry(ev Event, now time.Time) (at time.Time, clamped bool) {
	limit := r.Cap(ev, now)
	if ev.Type != TypeTokenRevoked && ev.Type != TypeSessionRevoked {
		return limit, false
	}
	at = ev.ExpiresAt.Add(r.Leeway)
	if at.After(limit) {
		return limit, true
	}
	return at, false
}

// Cap returns the latest expiry any key of ev may have: occurred_at + the
// longest token lifetime + leeway, where an occurred_at later than now
// (a publisher's clock ahead, or a forged time) counts as now.
func (r Retention) Cap(ev Event, now time.Time) time.Time {
	at := ev.OccurredAt
	if at.After(now) {
		at = now
	}
	return at.Add(r.MaxTokenTTL + r.Leeway)
}

package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/account"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

// Limiter counts attempts in a store shared by every replica;
// *ratelimit.Limiter implements it.
type Limiter interface {
	Allow(ctx context.Context, rules ...ratelimit.Rule) (ratelimit.Decision, error)
	Refund(ctx context.Context, key string) error
}

// Scopes of a rate limit: the scope label of auth_login_rate_limited_total.
const (
	ScopeUser = "user" // failed logins per username
	ScopeIP   = "ip"   // login and register attempts per client address
)

// limitTimeout bounds one call to the Limiter: a hung Redis costs a login
// half a second, then a 503.
const limitTimeout = 500 * time.Millisecond

// userRule is the counter of failed logins for username: the lower-cased
// name when it is a valid username, else a digest (such a name can never
// log in, but it must cost the same and must not make long keys).
func (s *Server) userRule(username string) ratelimit.Rule {
	key := strings.ToLower(username)
	if account.ValidateUsername(username) != nil {
		sum := sha256.Sum256([]byte(key))
		key = "#" + hex.EncodeToString(sum[:16]) // '#' is not a username character
	}
	return ratelimit.Rule{Key: ScopeUser + ":" + key, Limit: s.limitUser}
}

// ipRule is the counter of attempts from r's client address.
func (s *Server) ipRule(r *http.Request) ratelimit.Rule {
	return ratelimit.Rule{Key: ScopeIP + ":" + addrBucket(clientAddr(r, s.trustedProxies)), Limit: s.limitIP}
}

// allow counts one attempt against rules and returns nil, a 429 *Error
// with RetryAfter, or a 503 *Error when the counters cannot be read: login
// and register fail closed without Redis (see docs/SECURITY.md);
// every token issued then would be rejected by the validators anyway.
func (s *Server) allow(ctx context.Context, rules ...ratelimit.Rule) error {
	if s.limiter == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	d, err := s.limiter.Allow(ctx, rules...)
	if err != nil {
		s.metrics.rateLimitErrors.Inc()
		return &Error{Code: CodeUnavailable, Message: "temporarily unavailable; retry shortly", Err: err}
	}
	if d.Allowed {
		return nil
	}
	scope, _, _ := strings.Cut(rules[d.Rule].Key, ":")
	s.metrics.rateLimited.WithLabelValues(scope).Inc()
	msg := "too many failed logins for this username; retry after the delay in Retry-After"
	if scope == ScopeIP {
		msg = "too many attempts from this address; retry after the delay in Retry-After"
	}
	secs := ratelimit.RetryAfterSeconds(d.RetryAfter)
	return &Error{Code: CodeRateLimited, Message: msg, RetryAfter: time.Duration(secs) * time.Second}
}

// refund gives back the failure counted for a login that did not fail on
// its credentials. It runs detached from the request (the client may be
// gone) and only logs errors: the cost is one failure too many.
func (s *Server) refund(ctx context.Context, rule ratelimit.Rule) {
	if s.limiter == nil || !rule.Limit.Enabled() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limitTimeout)
	defer cancel()
	if err := s.limiter.Refund(ctx, rule.Key); err != nil {
		s.logger.WarnContext(ctx, "could not refund a login attempt", "err", err)
	}
}

// Package ratelimit counts attempts in Redis, so that every replica of the
// auth service shares the same counters: fixed windows, one Redis
// Functions call per check (atomic, one round trip; FCALL, so the auth
// identity needs no EVAL right), keys with a TTL equal to the window.
//
//	l := ratelimit.New(rdb, "auth:ratelimit:")
//	d, err := l.Allow(ctx, ratelimit.Rule{Key: "ip:203.0.113.7", Limit: ratelimit.Limit{Max: 30, Window: time.Minute}})
//	if !d.Allowed { /* 429, Retry-After: d.RetryAfter */ }
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventjwt/eventjwt/internal/redisfn"
	"github.com/redis/go-redis/v9"
)

// KeyPrefix is where the auth service keeps its counters in Redis:
// auth:ratelimit:{rl}:user:<username> and auth:ratelimit:{rl}:ip:<address>.
// The hash tag {rl} puts every counter in one Redis Cluster slot, so that
// one Allow, which checks several counters atomically, is a single-slot
// call (a login's counters are one round trip on one node; the limiter's
// traffic is small enough for one node).
const KeyPrefix = "auth:ratelimit:{rl}:"

// Limit allows Max events per Window. The zero Limit is disabled.
type Limit struct {
	Max    int
	Window time.Duration
}

// Enabled reports whether the limit applies.
func (l Limit) Enabled() bool { return l.Max > 0 && l.Window > 0 }

// String returns the form ParseLimit reads: "10/15m0s", or "off".
func (l Limit) String() string {
	if !l.Enabled() {
		return "off"
	}
	return strconv.Itoa(l.Max) + "/" + l.Window.String()
}

// Bounds of ParseLimit.
const (
	MaxMax    = 1_000_000
	MinWindow = time.Second
	MaxWindow = 24 * time.Hour
)

// ParseLimit reads "N/duration" (for example "10/15m": 10 per 15 minutes)
// or "off". N is 1 to MaxMax, the duration MinWindow to MaxWindow.
func ParseLimit(s string) (Limit, error) {
	if s == "off" {
		return Limit{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, errors.New(`want "N/duration" (like 10/15m) or "off"`)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 || count > MaxMax {
		return Limit{}, fmt.Errorf("count %q must be an integer from 1 to %d", n, MaxMax)
	}
	w, err := time.ParseDuration(d)
	if err != nil {
		return Limit{}, fmt.Errorf("window: %w", err)
	}
	if w < MinWindow || w > MaxWindow {
		return Limit{}, fmt.Errorf("window %s must be between %s and %s", w, MinWindow, MaxWindow)
	}
	return Limit{Max: count, Window: w}, nil
}

// Rule is one counter Allow checks: Key (under the Limiter's prefix) may be
// counted Limit.Max times per Limit.Window.
type Rule struct {
	Key   string
	Limit Limit
}

// Decision is the answer of Allow.
type Decision struct {
	// Allowed is true when every rule had room left; each was counted.
	Allowed bool
	// Rule is the index, in the rules given to Allow, of the counter at its
	// limit when not Allowed.
	Rule int
	// RetryAfter is when that counter's window ends, from now.
	RetryAfter time.Duration
}

// allowBody checks every counter and counts nothing unless all have room,
// so a refused attempt neither uses up another limit nor extends a window.
// KEYS: the counters. ARGV: max and window (ms) of each, in order.
// Returns {0, 0} when allowed, or {i, ms left} for the first full counter.
const allowBody = `
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= tonumber(ARGV[2*i-1]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2*i])
      ttl = tonumber(ARGV[2*i])
    end
    return {i, ttl}
  end
end
for i = 1, #KEYS do
  if redis.call('INCR', KEYS[i]) == 1 or redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2*i])
  end
end
return {0, 0}
`

// refundBody takes one count back: decrements, deleting at zero.
const refundBody = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 1 then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
return 0
`

// LibraryPrefix names the rate limiter's Redis Functions library; the
// file deploy/redis/functions/<LibraryPrefix>.lua holds its code for
// operators whose auth identity may not load it.
const LibraryPrefix = "eventjwt_ratelimit"

// Library is the rate limiter's Lua code as a Redis Functions library.
var Library = redisfn.New(LibraryPrefix, "", map[string]string{"allow": allowBody, "refund": refundBody})

// Limiter counts attempts in Redis. It is safe for concurrent use.
type Limiter struct {
	rdb    redisfn.Client
	prefix string
}

// New returns a Limiter storing its counters in rdb under prefix (for
// example "auth:ratelimit:").
func New(rdb redisfn.Client, prefix string) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix}
}

// Allow checks every enabled rule atomically: when all have room, each is
// counted and the Decision is Allowed; otherwise nothing is counted and the
// Decision names the first full rule and when its window ends. A Redis
// failure is returned as an error (the caller decides to fail open or
// closed).
func (l *Limiter) Allow(ctx context.Context, rules ...Rule) (Decision, error) {
	keys := make([]string, 0, len(rules))
	args := make([]any, 0, 2*len(rules))
	index := make([]int, 0, len(rules))
	for i, r := range rules {
		if !r.Limit.Enabled() {
			continue
		}
		keys = append(keys, l.prefix+r.Key)
		args = append(args, r.Limit.Max, r.Limit.Window.Milliseconds())
		index = append(index, i)
	}
	if len(keys) == 0 {
		return Decision{Allowed: true}, nil
	}
	res, err := l.run(ctx, "allow", keys, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: allow: %w", err)
	}
	if len(res) != 2 || res[0] < 0 || res[0] > int64(len(keys)) {
		return Decision{}, fmt.Errorf("ratelimit: allow: unexpected reply %v", res)
	}
	if res[0] == 0 {
		return Decision{Allowed: true}, nil
	}
	return Decision{Rule: index[res[0]-1], RetryAfter: time.Duration(res[1]) * time.Millisecond}, nil
}

// Refund takes back one count of key, as when an attempt turns out not to
// be one the limit is about (a successful login, under a limit on
// failures).
func (l *Limiter) Refund(ctx context.Context, key string) error {
	if err := l.run(ctx, "refund", []string{l.prefix + key}).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("ratelimit: refund: %w", err)
	}
	return nil
}

// run runs function fn, once more after a connection error (not after an error
// Redis answered): a client built with retries off (jwtx.RedisOptions)
// would otherwise fail the first call on each pooled connection Redis
// closed, as after a restart. A retry may count an attempt twice if the
// first call ran but its answer was lost: an error on the safe side.
func (l *Limiter) run(ctx context.Context, fn string, keys []string, args ...any) *redis.Cmd {
	cmd := Library.Call(ctx, l.rdb, fn, keys, args...)
	var replied redis.Error
	if err := cmd.Err(); err == nil || errors.Is(err, redis.Nil) || errors.As(err, &replied) || ctx.Err() != nil {
		return cmd
	}
	return Library.Call(ctx, l.rdb, fn, keys, args...)
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1: the value of
// a Retry-After header.
func RetryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

package jwtx

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis client defaults applied by RedisOptions.
const (
	redisTimeout      = 500 * time.Millisecond
	redisMinIdleConns = 2
)

// RedisOptions parses a redis:// or rediss:// URL (redis.ParseURL) and
// tunes the options for revocation checks:
//
//   - ContextTimeoutEnabled: the validator's deadline bounds every call
//     (without it go-redis ignores context deadlines and a hung Redis holds
//     a request for the full read timeout);
//   - MaxRetries -1 and DialerRetries 1: no retries, the validator has a
//     budget and fails closed instead;
//   - Dial, read, write and pool timeouts of 500ms, unless the URL sets them;
//   - PoolSize 10 per CPU and 2 idle connections kept warm, unless set;
//   - MaxActiveConns = PoolSize: a ceiling on pooled connections; at it a
//     check fails closed (ErrRevocationUnavailable) instead of dialing.
//     go-redis may still hold a short-lived unpooled connection per caller
//     that owns a pool turn while it discards broken ones, so a client holds
//     at most 2 x PoolSize connections.
func RedisOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("jwtx: parse redis URL: %w", err)
	}
	o.ContextTimeoutEnabled = true
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	for _, d := range []*time.Duration{&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout} {
		if *d == 0 {
			*d = redisTimeout
		}
	}
	if o.PoolSize == 0 {
		o.PoolSize = 10 * runtime.GOMAXPROCS(0)
	}
	if o.MinIdleConns == 0 {
		o.MinIdleConns = redisMinIdleConns
	}
	if o.MaxActiveConns == 0 {
		o.MaxActiveConns = o.PoolSize
	}
	return o, nil
}

// RedisStore defaults, applied when RedisStoreOptions leaves a bound at 0.
const (
	// DefaultMaxBatch bounds the MGETs one coalesced pipeline carries.
	DefaultMaxBatch = 64
	// DefaultMaxInFlight bounds the round trips a coalescing RedisStore has
	// in flight at once: well below the pool size RedisOptions sets (10 per
	// CPU), so a hung Redis cannot take the whole pool.
	DefaultMaxInFlight = 4
)

// RedisStoreOptions tunes a RedisStore. The zero value is the production
// default: coalescing on, DefaultMaxBatch, DefaultMaxInFlight.
type RedisStoreOptions struct {
	// DisableCoalescing makes every check send its own MGET on its own
	// pooled connection, however many run at once; only the client's pool
	// bounds them. Coalescing is on by default: it costs nothing when
	// checks do not overlap and saves Redis and client CPU when they do.
	DisableCoalescing bool
	// MaxBatch bounds the MGETs sent in one pipeline; 0 (or less) means
	// DefaultMaxBatch.
	MaxBatch int
	// MaxInFlight bounds the round trips (single MGETs and pipelines) in
	// flight at once; 0 (or less) means DefaultMaxInFlight. Keep it below
	// the client's pool size. Checks that find every slot taken wait in
	// the queue, each until its own deadline.
	MaxInFlight int
}

// RedisStore reads revocation state from Redis: one MGET per check, the
// only command a check sends.
//
// By default it coalesces concurrent checks (leader/follower): a check
// that finds no round trip in flight sends its MGET at once, in its own
// goroutine, exactly as without coalescing; checks that arrive while a
// round trip is in flight queue up and are sent together, each still its
// own MGET, in one pipeline as soon as a round trip completes or a full
// batch (MaxBatch) is waiting, with at most MaxInFlight round trips in
// flight. Every check still honours its own context: it fails with the
// context's error when its deadline passes, even while its pipeline is in
// flight. A Redis or connection error fails every check of the pipeline;
// a corrupt value fails only the check that read it.
//
// Give it a client built from RedisOptions (or any client with
// ContextTimeoutEnabled set). It is safe for concurrent use.
type RedisStore struct {
	rdb redis.UniversalClient
	co  *coalescer // nil when coalescing is disabled
}

var _ RevocationStore = (*RedisStore)(nil)

// NewRedisStore returns a RevocationStore reading from rdb with the default
// options (coalescing on, see RedisStore). The client is not closed by the
// store.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore {
	return NewRedisStoreWithOptions(rdb, RedisStoreOptions{})
}

// NewRedisStoreWithOptions returns a RevocationStore reading from rdb,
// tuned by opts. The client is not closed by the store.
func NewRedisStoreWithOptions(rdb redis.UniversalClient, opts RedisStoreOptions) *RedisStore {
	s := &RedisStore{rdb: rdb}
	if !opts.DisableCoalescing {
		if opts.MaxBatch <= 0 {
			opts.MaxBatch = DefaultMaxBatch
		}
		if opts.MaxInFlight <= 0 {
			opts.MaxInFlight = DefaultMaxInFlight
		}
		s.co = newCoalescer(rdb, opts.MaxBatch, opts.MaxInFlight)
	}
	return s
}

// RevocationState reads token_blacklist:{jti}, session_revoked:{sid},
// user_token_version:{userID} and revocation:checkpoint in one round trip
// (one MGET; the blacklist and session keys are left out when the token
// has no jti or no sid). A user version or checkpoint that is not a
// non-negative integer is reported as an error: the caller fails closed.
func (s *RedisStore) RevocationState(ctx context.Context, q RevocationQuery) (RevocationState, error) {
	if q.UserID == "" {
		return RevocationState{}, errors.New("jwtx: revocation state without a user id")
	}
	var buf [4]string
	keys := buf[:0]
	if q.JTI != "" {
		keys = append(keys, BlacklistKey(q.JTI))
	}
	if q.SessionID != "" {
		keys = append(keys, SessionKey(q.SessionID))
	}
	keys = append(keys, UserVersionKey(q.UserID), KeyCheckpoint)
	vals, err := s.mget(ctx, keys)
	if err != nil {
		return RevocationState{}, fmt.Errorf("jwtx: redis MGET: %w", err)
	}
	if len(vals) != len(keys) {
		return RevocationState{}, fmt.Errorf("jwtx: redis MGET returned %d values for %d keys", len(vals), len(keys))
	}
	var st RevocationState
	if q.JTI != "" {
		st.TokenRevoked = vals[0] != nil
		vals = vals[1:]
	}
	if q.SessionID != "" {
		st.SessionRevoked = vals[0] != nil
		vals = vals[1:]
	}
	if vals[0] != nil {
		ver, err := parseCounter(vals[0])
		if err != nil {
			return RevocationState{}, fmt.Errorf("jwtx: corrupt %s value: %w", KeyPrefixUserTokenVersion, err)
		}
		st.UserVersion = ver
	}
	if vals[1] != nil {
		if _, err := parseCounter(vals[1]); err != nil {
			return RevocationState{}, fmt.Errorf("jwtx: corrupt %s value: %w", KeyCheckpoint, err)
		}
		st.Initialized = true
	}
	return st, nil
}

// mget reads keys with one MGET, coalesced with concurrent checks unless
// coalescing is disabled.
func (s *RedisStore) mget(ctx context.Context, keys []string) ([]any, error) {
	if s.co != nil {
		return s.co.mget(ctx, keys)
	}
	return s.rdb.MGet(ctx, keys...).Result()
}

// parseCounter parses an MGET value that must be a non-negative integer.
func parseCounter(v any) (int64, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected type %T", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative integer")
	}
	return n, nil
}

package jwtx

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
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
//
// It takes the single-server form only; NewRedisClient takes the Sentinel
// and Cluster forms too, with the same defaults.
func RedisOptions(url string) (*redis.Options, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("jwtx: parse redis URL: %w", err)
	}
	tunables{&o.ClientName, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout,
		&o.MaxRetries, &o.DialerRetries, &o.PoolSize, &o.MinIdleConns, &o.MaxActiveConns, &o.ContextTimeoutEnabled}.apply(RedisClientOptions{})
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
	// DefaultMaxStaleness is the oldest heartbeat a RedisStore accepts.
	DefaultMaxStaleness = 30 * time.Second
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
	// MaxStaleness is the oldest revocation:heartbeat accepted (0 means
	// DefaultMaxStaleness; negative turns the check off). An older one
	// fails the check with ErrRevocationStale: that Redis has stopped
	// receiving the revocation service's writes (the service is down or
	// stuck, or this client reads a server the service no longer writes
	// to). It is the bound on how long a revocation answered 202 can stay
	// unenforced at the validators, plus the clock difference between the
	// revocation service's host and this one. A Redis without a heartbeat
	// (written by a revocation service before v0.5) is not checked.
	MaxStaleness time.Duration
	// Now is the clock the heartbeat is compared with; time.Now when nil.
	Now func() time.Time
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
	rdb      redis.UniversalClient
	co       *coalescer // nil when coalescing is disabled
	layout   revocation.Layout
	maxStale int64 // milliseconds; 0: no check
	now      func() time.Time
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
	s := &RedisStore{rdb: rdb, layout: LayoutFor(rdb), now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case opts.MaxStaleness == 0:
		s.maxStale = DefaultMaxStaleness.Milliseconds()
	case opts.MaxStaleness > 0:
		s.maxStale = max(1, opts.MaxStaleness.Milliseconds())
	}
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

// Layout returns the key layout the store reads (LayoutFor its client).
func (s *RedisStore) Layout() revocation.Layout { return s.layout }

// RevocationState reads token_blacklist:{jti}, session_revoked:{sid},
// user_token_version:{userID}, revocation:checkpoint and
// revocation:heartbeat in one round trip (one MGET; the blacklist and
// session keys are left out when the token has no jti or no sid). In
// Cluster mode they are the keys of the user's partition
// (revocation.PartitionedLayout), all in one slot. A user version,
// checkpoint or heartbeat that is not a non-negative integer is reported
// as an error, and a heartbeat older than MaxStaleness as
// ErrRevocationStale: the caller fails closed.
func (s *RedisStore) RevocationState(ctx context.Context, q RevocationQuery) (RevocationState, error) {
	if q.UserID == "" {
		return RevocationState{}, errors.New("jwtx: revocation state without a user id")
	}
	p := s.layout.Partition(q.UserID)
	var buf [5]string
	keys := buf[:0]
	if q.JTI != "" {
		keys = append(keys, s.layout.BlacklistKey(p, q.JTI))
	}
	if q.SessionID != "" {
		keys = append(keys, s.layout.SessionKey(p, q.SessionID))
	}
	keys = append(keys, s.layout.UserVersionKey(p, q.UserID), s.layout.CheckpointKey(p), s.layout.HeartbeatKey(p))
	vals, err := s.mget(ctx, keys)
	if err != nil {
		if cc, ok := s.rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(ctx) // a failover moves slots without a MOVED to the dead node's clients
		}
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
	if vals[2] != nil {
		hb, err := parseCounter(vals[2])
		if err != nil {
			return RevocationState{}, fmt.Errorf("jwtx: corrupt %s value: %w", revocation.KeyHeartbeat, err)
		}
		if age := s.now().UnixMilli() - hb; s.maxStale > 0 && age > s.maxStale {
			return RevocationState{}, fmt.Errorf("jwtx: heartbeat %s old, allowed %s: %w",
				time.Duration(age)*time.Millisecond, time.Duration(s.maxStale)*time.Millisecond, ErrRevocationStale)
		}
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

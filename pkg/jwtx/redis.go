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

// RedisStore reads revocation state from Redis with one MGET per check.
// Give it a client built from RedisOptions (or any client with
// ContextTimeoutEnabled set).
type RedisStore struct {
	rdb redis.UniversalClient
}

var _ RevocationStore = (*RedisStore)(nil)

// NewRedisStore returns a RevocationStore reading from rdb. The client is
// not closed by the store.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore {
	return &RedisStore{rdb: rdb}
}

// RevocationState reads token_blacklist:{jti}, user_token_version:{userID}
// and revocation:checkpoint in one round trip (MGET; the blacklist key is
// left out when jti is ""). A user version or checkpoint that is not a
// non-negative integer is reported as an error: the caller fails closed.
func (s *RedisStore) RevocationState(ctx context.Context, jti, userID string) (RevocationState, error) {
	if userID == "" {
		return RevocationState{}, errors.New("jwtx: revocation state without a user id")
	}
	keys := make([]string, 0, 3)
	if jti != "" {
		keys = append(keys, BlacklistKey(jti))
	}
	keys = append(keys, UserVersionKey(userID), KeyCheckpoint)
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return RevocationState{}, fmt.Errorf("jwtx: redis MGET: %w", err)
	}
	if len(vals) != len(keys) {
		return RevocationState{}, fmt.Errorf("jwtx: redis MGET returned %d values for %d keys", len(vals), len(keys))
	}
	var st RevocationState
	if jti != "" {
		st.TokenRevoked = vals[0] != nil
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

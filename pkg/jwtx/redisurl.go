package jwtx

import (
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/redis/go-redis/v9"
)

// RedisMode is the deployment a Redis URL names.
type RedisMode string

// The three forms NewRedisClient accepts.
const (
	// RedisSingle is one server: redis://[user:password@]host:port/db
	// (rediss:// for TLS), parsed by redis.ParseURL.
	RedisSingle RedisMode = "single"
	// RedisSentinel is a primary found through Sentinel:
	// redis://[user:password@]sentinel1:port/db?master_name=NAME&addr=sentinel2:port&addr=...
	// parsed by redis.ParseFailoverURL. The user information authenticates
	// to the sentinels and, unless the username= and password= query
	// parameters say otherwise, to the data nodes too.
	RedisSentinel RedisMode = "sentinel"
	// RedisCluster is a Redis Cluster: redis://[user:password@]seed1:port?addr=seed2:port&addr=...
	// (any addr= parameter), or redis://seed:port?cluster=true with one
	// seed, parsed by redis.ParseClusterURL. It stores the revocation keys
	// in revocation.PartitionedLayout.
	RedisCluster RedisMode = "cluster"
)

// ParseRedisMode tells which form a Redis URL has, without validating the
// rest: master_name= makes it Sentinel, addr= or cluster=true Cluster,
// otherwise a single server.
func ParseRedisMode(rawURL string) (RedisMode, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("jwtx: redis URL does not parse") // the URL may hold a password: not echoed
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		if q.Has("cluster") {
			return "", errors.New("jwtx: redis URL has both master_name and cluster")
		}
		return RedisSentinel, nil
	case q.Has("addr") || q.Get("cluster") == "true":
		return RedisCluster, nil
	case q.Has("cluster") && q.Get("cluster") != "false":
		return "", fmt.Errorf("jwtx: redis URL: cluster=%q, want true or false", q.Get("cluster"))
	}
	return RedisSingle, nil
}

// RedisClientOptions are the settings NewRedisClient applies to every
// form, over the validator defaults RedisOptions documents. A zero field
// keeps what the URL says or, when it says nothing, the default.
type RedisClientOptions struct {
	// ClientName is sent with CLIENT SETNAME (it shows in CLIENT LIST); the
	// Redis user then needs that command (deploy/redis/users.acl grants it
	// to the revocation service only). Empty sends none.
	ClientName string
	// DialTimeout, ReadTimeout, WriteTimeout and PoolTimeout default to
	// 500ms.
	DialTimeout, ReadTimeout, WriteTimeout, PoolTimeout time.Duration
	// MaxRetries defaults to -1 (no retries: callers have budgets).
	MaxRetries int
	// PoolSize defaults to 10 per CPU (per node in Cluster mode).
	PoolSize int
}

// clusterReload is how often a Cluster client reloads the slot map.
const clusterReload = time.Second

// tunables points at the fields every go-redis options type shares.
type tunables struct {
	clientName                    *string
	dial, read, write, poolTimout *time.Duration
	maxRetries, dialerRetries     *int
	poolSize, minIdle, maxActive  *int
	contextTimeout                *bool
}

// apply sets the validator defaults (RedisOptions) and then o's settings.
func (t tunables) apply(o RedisClientOptions) {
	*t.contextTimeout = true
	set := func(d *time.Duration, v time.Duration) {
		switch {
		case v != 0:
			*d = v
		case *d == 0:
			*d = redisTimeout
		}
	}
	set(t.dial, o.DialTimeout)
	set(t.read, o.ReadTimeout)
	set(t.write, o.WriteTimeout)
	set(t.poolTimout, o.PoolTimeout)
	switch {
	case o.MaxRetries != 0:
		*t.maxRetries = o.MaxRetries
	case *t.maxRetries == 0:
		*t.maxRetries = -1
	}
	if *t.dialerRetries == 0 {
		*t.dialerRetries = 1
	}
	switch {
	case o.PoolSize > 0:
		*t.poolSize = o.PoolSize
	case *t.poolSize == 0:
		*t.poolSize = 10 * runtime.GOMAXPROCS(0)
	}
	if *t.minIdle == 0 {
		*t.minIdle = redisMinIdleConns
	}
	if *t.maxActive == 0 {
		*t.maxActive = *t.poolSize
	}
	if o.ClientName != "" {
		*t.clientName = o.ClientName
	}
}

// NewRedisClient returns a client for any of the three URL forms
// (RedisSingle, RedisSentinel, RedisCluster), tuned for revocation checks
// as RedisOptions describes and then by o. It does no I/O. Hand the client
// to NewRedisStore: the store reads the keys in the layout the client's
// form implies (LayoutFor).
func NewRedisClient(rawURL string, o RedisClientOptions) (redis.UniversalClient, error) {
	mode, err := ParseRedisMode(rawURL)
	if err != nil {
		return nil, err
	}
	switch mode {
	case RedisSentinel:
		fo, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("jwtx: parse Sentinel redis URL: %w", err)
		}
		if fo.Username == "" && fo.Password == "" {
			fo.Username, fo.Password = fo.SentinelUsername, fo.SentinelPassword
		}
		tunables{&fo.ClientName, &fo.DialTimeout, &fo.ReadTimeout, &fo.WriteTimeout, &fo.PoolTimeout,
			&fo.MaxRetries, &fo.DialerRetries, &fo.PoolSize, &fo.MinIdleConns, &fo.MaxActiveConns, &fo.ContextTimeoutEnabled}.apply(o)
		return redis.NewFailoverClient(fo), nil
	case RedisCluster:
		u, _ := url.Parse(rawURL) // parsed by ParseRedisMode
		q := u.Query()
		q.Del("cluster")
		u.RawQuery = q.Encode()
		co, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("jwtx: parse Cluster redis URL: %w", err)
		}
		tunables{&co.ClientName, &co.DialTimeout, &co.ReadTimeout, &co.WriteTimeout, &co.PoolTimeout,
			&co.MaxRetries, &co.DialerRetries, &co.PoolSize, &co.MinIdleConns, &co.MaxActiveConns, &co.ContextTimeoutEnabled}.apply(o)
		if co.ClusterStateReloadInterval == 0 {
			// go-redis's default (60 s) keeps sending a dead master's slots
			// to it for up to a minute after a replica took over.
			co.ClusterStateReloadInterval = clusterReload
		}
		return redis.NewClusterClient(co), nil
	default:
		so, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("jwtx: parse redis URL: %w", err)
		}
		tunables{&so.ClientName, &so.DialTimeout, &so.ReadTimeout, &so.WriteTimeout, &so.PoolTimeout,
			&so.MaxRetries, &so.DialerRetries, &so.PoolSize, &so.MinIdleConns, &so.MaxActiveConns, &so.ContextTimeoutEnabled}.apply(o)
		return redis.NewClient(so), nil
	}
}

// LayoutFor returns the key layout of the revocation keys behind rdb:
// revocation.PartitionedLayout for a *redis.ClusterClient, else
// revocation.FlatLayout (one server, or the primary of a Sentinel
// FailoverClient). The revocation service and every validator use it, so
// both sides agree without a setting.
func LayoutFor(rdb redis.UniversalClient) revocation.Layout {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return revocation.PartitionedLayout
	}
	return revocation.FlatLayout
}

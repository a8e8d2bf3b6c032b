package app

import (
	"fmt"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/redis/go-redis/v9"
)

// Connection settings (NATS's are internal/service's, the same for every
// service).
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = 2 * time.Second
	redisPoolTimeout = 3 * time.Second
	clientName       = "revocation"
)

// newRedis returns a client for any REDIS_URL form (one server,
// Sentinel, Cluster) whose commands honour context deadlines and time out
// quickly: the caller retries with backoff.
func newRedis(cfg config.Config) (redis.UniversalClient, error) {
	rdb, err := jwtx.NewRedisClient(cfg.RedisURL, jwtx.RedisClientOptions{
		ClientName:  clientName,
		DialTimeout: redisDialTimeout, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout,
		PoolTimeout: redisPoolTimeout,
		MaxRetries:  -1, // ingest retries with backoff and counts failures
	})
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return rdb, nil
}

// waitReplicas is REVOCATION_REDIS_WAIT_REPLICAS, or its default for the
// REDIS_URL form: behind Sentinel every replica (the one Sentinel promotes
// must have every announced write: with one of two, chaos scenario 13
// saw 204s undone), in a Cluster 1 (its masters have one replica each),
// for one server none.
func waitReplicas(cfg config.Config) int {
	switch v := cfg.RedisWaitReplicas; v {
	case "all":
		return store.WaitAll
	case "":
	default:
		n, _ := strconv.Atoi(v) // checked by config
		return n
	}
	switch mode, _ := jwtx.ParseRedisMode(cfg.RedisURL); mode {
	case jwtx.RedisSentinel:
		return store.WaitAll
	case jwtx.RedisCluster:
		return 1
	}
	return 0
}

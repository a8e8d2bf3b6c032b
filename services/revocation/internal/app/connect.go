package app

import (
	"fmt"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
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
// REDIS_URL form: 1 behind Sentinel or in a Cluster (a replica must have
// every announced write), 0 for one server.
func waitReplicas(cfg config.Config) int {
	if cfg.RedisWaitReplicas >= 0 {
		return cfg.RedisWaitReplicas
	}
	if mode, err := jwtx.ParseRedisMode(cfg.RedisURL); err == nil && mode != jwtx.RedisSingle {
		return 1
	}
	return 0
}

package app

import (
	"fmt"
	"time"

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

// newRedis returns a client whose commands honour context deadlines and
// time out quickly: the caller retries with backoff.
func newRedis(cfg config.Config) (*redis.Client, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.ClientName = clientName
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisIOTimeout
	opt.WriteTimeout = redisIOTimeout
	opt.PoolTimeout = redisPoolTimeout
	opt.MaxRetries = -1 // ingest retries with backoff and counts failures
	return redis.NewClient(opt), nil
}

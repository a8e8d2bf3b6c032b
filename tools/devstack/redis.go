package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// startRedis picks the Redis the services use: REDIS_URL when set, else a
// redis-server process of this machine with an fsynced append-only file in
// c.redisDir(), else miniredis in this process, announced loudly because it
// keeps nothing across restarts and is not a production Redis.
func startRedis(ctx context.Context, c config, logger *slog.Logger) (url string, stop func(), err error) {
	if c.redisURL != "" {
		logger.Info("using Redis from REDIS_URL", "url", c.redisURL)
		return c.redisURL, func() {}, nil
	}
	if c.redisMode != "standin" {
		_, err := exec.LookPath("redis-server")
		if err == nil {
			return startRedisServer(ctx, c, logger)
		}
		if c.redisMode == "server" {
			return "", nil, fmt.Errorf("-redis=server: redis-server is not installed: %w", err)
		}
	}
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true)
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return "", nil, fmt.Errorf("start in-process Redis stand-in: %w", err)
	}
	logger.Warn("!!! redis-server is not installed: using an IN-PROCESS DEVELOPMENT STAND-IN (miniredis). " +
		"It keeps nothing across restarts and is not Redis. Install redis-server or set REDIS_URL for anything real.")
	fmt.Fprintln(os.Stderr, "\n*** DEVELOPMENT REDIS STAND-IN (miniredis) at "+m.Addr()+" — not for production ***")
	return "redis://" + m.Addr() + "/0", m.Close, nil
}

func startRedisServer(ctx context.Context, c config, logger *slog.Logger) (string, func(), error) {
	if err := os.MkdirAll(c.redisDir(), 0o700); err != nil {
		return "", nil, fmt.Errorf("create %s: %w", c.redisDir(), err)
	}
	port := 6380
	for !portFree(port) {
		port++
	}
	r, err := testkit.NewRedis(ctx, c.redisDir(), testkit.RedisPort(port), testkit.RedisPersistent(),
		testkit.RedisArgs("--logfile", "redis.log"))
	if err != nil {
		return "", nil, fmt.Errorf("%w; see %s/redis.log", err, c.redisDir())
	}
	r.Proc.StopTimeout = 5 * time.Second
	stop := func() { _ = r.Proc.Stop() } // SIGTERM: redis-server shuts down cleanly
	logger.Info("local redis-server (appendfsync always, noeviction)", "addr", r.Addr, "dir", c.redisDir())
	return r.URL, stop, nil
}

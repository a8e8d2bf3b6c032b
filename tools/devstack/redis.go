package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
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
		path, err := exec.LookPath("redis-server")
		if err == nil {
			return startRedisServer(ctx, path, c, logger)
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

func startRedisServer(ctx context.Context, path string, c config, logger *slog.Logger) (string, func(), error) {
	if err := os.MkdirAll(c.redisDir(), 0o700); err != nil {
		return "", nil, fmt.Errorf("create %s: %w", c.redisDir(), err)
	}
	port := 6380
	for !portFree(port) {
		port++
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.CommandContext(context.WithoutCancel(ctx), path,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--dir", c.redisDir(),
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--maxmemory-policy", "noeviction",
		"--logfile", "redis.log")
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt) // redis-server shuts down cleanly on SIGINT
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-done:
			return "", nil, fmt.Errorf("redis-server exited; see %s/redis.log", c.redisDir())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server not listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	logger.Info("local redis-server (appendfsync always, noeviction)", "addr", addr, "dir", c.redisDir())
	return "redis://" + addr + "/0", stop, nil
}

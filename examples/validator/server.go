package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// run starts the service and blocks until ctx is done, then shuts down
// gracefully.
func run(ctx context.Context, getenv func(string) string, args []string) error {
	cfg, err := parseConfig(getenv, args, os.Stderr)
	if err != nil {
		return err
	}
	log := service.NewLogger(os.Stderr, "validator", cfg.LogLevel, cfg.LogFormat)

	keys, err := followJWKS(ctx, cfg.JWKSURL, cfg.JWKSTimeout)
	if err != nil {
		return err
	}
	// One server, Sentinel or Cluster: whatever form REDIS_URL has.
	poolSize := 10 * runtime.GOMAXPROCS(0)
	// No client name: the validator ACL user may not CLIENT SETNAME.
	rdb, err := jwtx.NewRedisClient(cfg.RedisURL, jwtx.RedisClientOptions{PoolSize: poolSize})
	if err != nil {
		return err
	}
	defer func() { _ = rdb.Close() }()

	reg := prometheus.NewRegistry()
	registerPoolMetrics(reg, rdb, poolSize)
	skew := cfg.ClockSkew
	v, err := jwtx.NewValidator(jwtx.Config{
		Resolver: keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway,
		Revocation: jwtx.NewRedisStore(rdb),
		Now:        func() time.Time { return time.Now().Add(skew) },
		Metrics:    reg,
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /v1/orders", v.Middleware(http.HandlerFunc(orders)))
	mux.HandleFunc("GET /healthz", service.Health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	servers, err := service.Listen(ctx, service.Listener{Env: "VALIDATOR_HTTP_ADDR", Addr: cfg.HTTPAddr,
		Server: service.NewHTTPServer(mux, service.HTTPLimits{IdleTimeout: time.Minute}, log)})
	if err != nil {
		return err
	}
	errc := servers.Serve()
	log.Info("validator listening", "addr", servers.Addr(0), "jwks", cfg.JWKSURL, "clock_skew", skew.String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := servers.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("validator stopped")
	return nil
}

// orders is the protected route: it only runs for a valid, unrevoked token.
func orders(w http.ResponseWriter, r *http.Request) {
	c, _ := jwtx.ClaimsFromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"user_id": c.Subject, "jti": c.ID, "orders": []string{}})
}

// registerPoolMetrics exposes the Redis connection pool, so an operator (or
// the chaos harness) can see that it stays bounded during an outage.
func registerPoolMetrics(reg prometheus.Registerer, rdb redis.UniversalClient, size int) {
	gauge := func(name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		gauge("validator_redis_pool_size", "Configured maximum of Redis connections.", func() float64 { return float64(size) }),
		gauge("validator_redis_pool_total_conns", "Redis connections open now.", func() float64 { return float64(rdb.PoolStats().TotalConns) }),
		gauge("validator_redis_pool_idle_conns", "Idle Redis connections.", func() float64 { return float64(rdb.PoolStats().IdleConns) }),
		gauge("validator_redis_pool_timeouts", "Waits for a pooled connection that timed out.", func() float64 { return float64(rdb.PoolStats().Timeouts) }),
	)
}

// followJWKS returns a RemoteKeySet on url (cached, refreshed at most once
// per interval on an unknown kid) after a first successful fetch, retried
// until timeout so that the service can start before the auth service.
func followJWKS(ctx context.Context, url string, timeout time.Duration) (*jwtx.RemoteKeySet, error) {
	keys, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: url})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := keys.RefreshUntilLoaded(ctx, 0); err != nil {
		return nil, fmt.Errorf("fetch JWKS from %s: %w", url, err)
	}
	return keys, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/internal/service/natsconn"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
)

// run starts the service and blocks until ctx is done, then shuts down
// gracefully.
func run(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer) error {
	cfg, err := parseConfig(getenv, args, stderr)
	if err != nil {
		return err
	}
	log := service.NewLogger(stderr, "broadcast", cfg.LogLevel, cfg.LogFormat)
	a, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	select {
	case err := <-a.errc:
		a.release()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.close(sctx); err != nil {
		return err
	}
	log.Info("broadcast stopped")
	return nil
}

// app is one running replica.
type app struct {
	log       *slog.Logger
	heartbeat time.Duration
	hub       *hub
	ended     *prometheus.CounterVec

	nc      *nats.Conn
	cache   *nearcache.Cache
	v       *jwtx.Validator
	sub     *events.Subscription
	servers *service.Servers
	errc    <-chan error

	closeOnce sync.Once
	closeErr  error
}

// start connects, waits for the near-cache to replay the stream, starts
// the Broadcast subscriber and serves HTTP on cfg.HTTPAddr.
func start(ctx context.Context, cfg config, log *slog.Logger) (_ *app, err error) {
	a := &app{log: log, heartbeat: cfg.Heartbeat, hub: newHub()}
	defer func() {
		if err != nil {
			a.release()
		}
	}()
	keys, err := followJWKS(ctx, cfg.JWKSURL, cfg.StartTimeout)
	if err != nil {
		return nil, err
	}
	if a.nc, err = natsconn.Connect(natsconn.Config{URL: cfg.NATSURL, Name: "broadcast", InboxPrefix: cfg.InboxPrefix, Logger: log}); err != nil {
		return nil, err
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	reg := prometheus.NewRegistry()
	if err := a.startCache(ctx, js, cfg, reg); err != nil {
		return nil, err
	}
	a.v, err = jwtx.NewValidator(jwtx.Config{
		Resolver: keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway,
		Revocation: a.cache, Metrics: reg,
	})
	if err != nil {
		return nil, err
	}
	a.registerMetrics(reg)
	// From now: the near-cache already holds what came before, and the
	// streams opened from here on are checked against it.
	a.sub, err = events.Broadcast(ctx, js, events.BroadcastConfig{Logger: log}, a.hub.handle)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /v1/stream", a.v.Middleware(http.HandlerFunc(a.serveStream)))
	mux.HandleFunc("GET /healthz", service.Health)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := service.NewHTTPServer(mux, cfg.limits, log)
	srv.RegisterOnShutdown(a.hub.shutdown) // open streams would hold Shutdown until its deadline
	a.servers, err = service.Listen(ctx, service.Listener{Env: "BROADCAST_HTTP_ADDR", Addr: cfg.HTTPAddr, Server: srv})
	if err != nil {
		return nil, err
	}
	a.errc = a.servers.Serve()
	log.Info("broadcast listening", "addr", a.servers.Addr(0), "jwks", cfg.JWKSURL)
	return a, nil
}

// startCache starts the near-cache, retrying while the stream cannot be
// found (NATS or the stream not there yet) until cfg.StartTimeout, and
// waits for its replay.
func (a *app) startCache(ctx context.Context, js jetstream.JetStream, cfg config, reg prometheus.Registerer) error {
	c, err := nearcache.New(nearcache.Config{JetStream: js, Leeway: cfg.RevLeeway, MaxTokenTTL: cfg.MaxTokenTTL, Logger: a.log, Metrics: reg})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	for {
		err = c.Start(sctx)
		if err == nil {
			break
		}
		select {
		case <-sctx.Done():
			return fmt.Errorf("start the near-cache: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	a.cache = c
	if err := c.WaitReady(sctx); err != nil {
		return fmt.Errorf("near-cache replay: %w", err)
	}
	return nil
}

// registerMetrics exposes the streams: open now, and ended by reason.
func (a *app) registerMetrics(reg prometheus.Registerer) {
	a.ended = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "broadcast_streams_ended_total",
		Help: "Streams ended by the server, by reason: an event type (revoked), expired or shutdown.",
	}, []string{"reason"})
	reg.MustRegister(a.ended, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "broadcast_streams_open",
		Help: "Streams open now.",
	}, func() float64 { return float64(a.hub.openStreams()) }))
}

// close shuts the HTTP server down (ending every stream with a shutdown
// event), then the subscriber, the near-cache and the connection. Later
// calls return the first one's result.
func (a *app) close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.closeErr = a.servers.Shutdown(ctx)
		a.release()
	})
	return a.closeErr
}

// release stops what start started, in reverse order.
func (a *app) release() {
	if a.sub != nil {
		a.sub.Stop()
	}
	if a.cache != nil {
		_ = a.cache.Close()
	}
	if a.nc != nil {
		a.nc.Close()
	}
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

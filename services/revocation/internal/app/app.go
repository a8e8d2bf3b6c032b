// Package app wires the revocation service: configuration, logging, NATS,
// Redis, the ingest loop and the HTTP endpoints: /healthz and /readyz on
// REVOCATION_HTTP_ADDR, /metrics alone on REVOCATION_METRICS_ADDR
// (loopback by default). cmd/revocation only calls Run; tests call it too,
// on 127.0.0.1:0, and learn the addresses with OnListen and
// OnMetricsListen.
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	err := app.Run(ctx, os.Getenv, os.Args[1:], os.Stderr)
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/internal/service/natsconn"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/config"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// ErrUsage marks an invalid command line or environment (exit status 2).
var ErrUsage = config.ErrUsage

// Option adjusts Run for tests and embedding.
type Option func(*options)

type options struct {
	onListen        func(addr string)
	onMetricsListen func(addr string)
	now             func() time.Time
}

// OnListen registers f to receive the HTTP server's bound address (useful
// with REVOCATION_HTTP_ADDR=127.0.0.1:0) once it accepts connections.
func OnListen(f func(addr string)) Option {
	return func(o *options) { o.onListen = f }
}

// OnMetricsListen registers f to receive the metrics server's bound
// address (useful with REVOCATION_METRICS_ADDR=127.0.0.1:0) once it
// accepts connections; it is called before the OnListen function.
func OnMetricsListen(f func(addr string)) Option {
	return func(o *options) { o.onMetricsListen = f }
}

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Run starts the service and blocks until ctx is done, then shuts down
// gracefully: it stops fetching, finishes and acks the batch in flight,
// drains NATS, closes Redis and stops both HTTP servers. It returns nil after
// a clean stop, flag.ErrHelp after printing the usage, an error wrapping
// ErrUsage for a bad configuration, or the failure that stopped it.
func Run(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer, opts ...Option) error {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := config.Parse(getenv, args, stderr)
	if err != nil {
		return err
	}
	s, err := open(ctx, cfg, service.NewLogger(stderr, "revocation", cfg.LogLevel, cfg.LogFormat), o.now)
	if err != nil {
		return err
	}
	serveErr := s.servers.Serve()
	s.log.Info("revocation service started", "http_addr", s.servers.Addr(0), "metrics_addr", s.servers.Addr(1),
		"nats_url", service.RedactURLs(cfg.NATSURL), "redis_url", service.RedactURLs(cfg.RedisURL), "durable", cfg.Durable)
	if cfg.PprofAddr != "" {
		s.log.Info("net/http/pprof served", "pprof_addr", s.servers.Addr(2))
	}
	if o.onMetricsListen != nil {
		o.onMetricsListen(s.servers.Addr(1))
	}
	if o.onListen != nil {
		o.onListen(s.servers.Addr(0))
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ingestErr := make(chan error, 1)
	go func() { ingestErr <- s.in.Run(runCtx) }()
	var runErr error
	select {
	case runErr = <-ingestErr:
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
		cancel()
		if err := <-ingestErr; err != nil {
			s.log.Warn("ingest stopped with an error", "err", err)
		}
	}
	s.shutdown(context.WithoutCancel(ctx))
	if runErr != nil {
		s.log.Error("stopped", "err", runErr)
	} else {
		s.log.Info("stopped")
	}
	return runErr
}

// svc holds what Run opened.
type svc struct {
	log *slog.Logger
	// servers are REVOCATION_HTTP_ADDR (/healthz, /readyz; index 0),
	// REVOCATION_METRICS_ADDR (/metrics; index 1) and, when set,
	// REVOCATION_PPROF_ADDR (net/http/pprof; index 2).
	servers  *service.Servers
	nc       *nats.Conn
	rdb      redis.UniversalClient
	in       *ingest.Ingester
	stopping atomic.Bool
}

// open connects to NATS and Redis, builds the ingester and the HTTP
// servers, and listens; nothing runs yet.
func open(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*svc, error) {
	s := &svc{log: log}
	var err error
	if s.nc, err = natsconn.Connect(natsconn.Config{URL: cfg.NATSURL, Name: clientName, InboxPrefix: cfg.InboxPrefix, Logger: log}); err != nil {
		return nil, err
	}
	js, err := jetstream.New(s.nc)
	if err == nil {
		s.rdb, err = newRedis(cfg)
	}
	if err != nil {
		s.nc.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st := store.New(s.rdb, store.Options{Leeway: cfg.Leeway, MaxTokenTTL: cfg.MaxTokenTTL, Now: now,
		WaitReplicas: waitReplicas(cfg), WaitTimeout: cfg.RedisWaitTimeout})
	log.Info("redis", "layout", st.Layout(), "wait_replicas", waitReplicas(cfg))
	s.in = ingest.New(js, st, ingestConfig(cfg), ingest.Options{Logger: log, Registerer: reg, Now: now})
	ls := append([]service.Listener{
		{Env: "REVOCATION_HTTP_ADDR", Addr: cfg.HTTPAddr,
			Server: newServer(newHandler([]service.Check{check("nats", s.natsReady), check("ingest", s.in.Ready)}), log)},
		{Env: "REVOCATION_METRICS_ADDR", Addr: cfg.MetricsAddr, Server: newServer(newMetricsHandler(reg), log)},
	}, service.PprofListeners("REVOCATION_PPROF_ADDR", cfg.PprofAddr, log)...)
	s.servers, err = service.Listen(ctx, ls...)
	if err != nil {
		s.nc.Close()
		_ = s.rdb.Close()
		return nil, err
	}
	return s, nil
}

// natsReady is the "nats" check of /readyz: false while shutting down.
func (s *svc) natsReady() error {
	if s.stopping.Load() {
		return errors.New("shutting down")
	}
	return natsconn.Ready(s.nc)
}

// shutdown runs after the ingester stopped: it lets pending acks and
// announcements out, then closes Redis and both HTTP servers.
func (s *svc) shutdown(ctx context.Context) {
	s.stopping.Store(true)
	s.log.Info("shutting down")
	if err := natsconn.Drain(s.nc); err != nil {
		s.log.Warn("nats drain", "err", err)
	}
	if err := s.rdb.Close(); err != nil {
		s.log.Warn("closing redis", "err", err)
	}
	ctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
	defer cancel()
	if err := s.servers.Shutdown(ctx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
}

func ingestConfig(cfg config.Config) ingest.Config {
	return ingest.Config{
		Durable:         cfg.Durable,
		BatchSize:       cfg.BatchSize,
		AckWait:         cfg.AckWait,
		CheckInterval:   cfg.CheckInterval,
		ReadyMaxPending: cfg.ReadyMaxPending,
		Stream: events.StreamConfig{
			MinMaxAge: cfg.MaxTokenTTL, MaxAge: cfg.StreamMaxAge,
			Replicas: cfg.StreamReplicas, ReplicasSetting: config.StreamReplicasEnv,
		},
		RebuildWindow: cfg.MaxTokenTTL + cfg.Leeway + ingest.ReplayMargin,
		LookupOnly:    !cfg.ManageStream,
		PinnedTTL:     cfg.PinnedTTL,
	}
}

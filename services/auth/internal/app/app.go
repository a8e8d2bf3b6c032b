// Package app wires the auth service: configuration, SQLite users, the
// signing key, NATS JetStream, Redis, the revocation waiter and the HTTP
// server, with a graceful shutdown.
//
//	err := app.Run(ctx, os.Getenv, os.Args[1:], os.Stderr)
//
// The API listens on AUTH_HTTP_ADDR and /metrics on AUTH_METRICS_ADDR
// alone (loopback by default), so the API never serves the counters.
// Tests start the real thing in-process and learn both addresses:
//
//	m, err := app.NewMain(getenv, nil, io.Discard)
//	err = m.Open(ctx) // AUTH_HTTP_ADDR=127.0.0.1:0, AUTH_METRICS_ADDR=127.0.0.1:0
//	url, metrics := "http://"+m.Addr(), "http://"+m.MetricsAddr()+"/metrics"
//	defer m.Close()
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/internal/service/natsconn"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// Timeouts of the process.
const (
	startTimeout    = 15 * time.Second // EnsureStream and other start-up calls
	shutdownTimeout = 15 * time.Second // in-flight requests, NATS drain
)

// Main is one auth service process: NewMain, Open, then Close.
type Main struct {
	// Config is the parsed configuration; it may be changed before Open.
	Config Config
	// Now is the clock; time.Now unless a test sets it before Open.
	Now func() time.Time
	// Logger writes to the stderr given to NewMain.
	Logger *slog.Logger
	// Registry holds every metric served on /metrics (the metrics
	// listener).
	Registry *prometheus.Registry

	db     *store.DB
	nc     *nats.Conn
	annSub *nats.Subscription
	// streamOK is set once the REVOCATIONS stream is known to be there
	// (ensureStream); the "nats" readiness check waits for it.
	streamOK atomic.Bool
	// stop ends what Open started in the background (ensureStream).
	stop   context.CancelFunc
	bgDone chan struct{}
	// stopSweep ends the sweeper of expired sessions (startSweeper).
	stopSweep context.CancelFunc
	sweepDone chan struct{}
	rdb       redis.UniversalClient
	// servers are AUTH_HTTP_ADDR (the API; index 0) and AUTH_METRICS_ADDR
	// (/metrics alone; index 1).
	servers  *service.Servers
	serveErr <-chan error
	// readHeaderTimeout overrides DefaultReadHeaderTimeout when set (tests).
	readHeaderTimeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

// NewMain parses the configuration (see ParseConfig) and returns a Main
// ready to Open.
func NewMain(getenv func(string) string, args []string, stderr io.Writer) (*Main, error) {
	cfg, err := ParseConfig(getenv, args, stderr)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Main{
		Config:   cfg,
		Now:      time.Now,
		Logger:   service.NewLogger(stderr, "auth", cfg.LogLevel, cfg.LogFormat),
		Registry: reg,
	}, nil
}

// Run runs the auth service until ctx is done, then shuts it down
// gracefully. Configuration errors wrap ErrUsage; -h returns flag.ErrHelp.
func Run(ctx context.Context, getenv func(string) string, args []string, stderr io.Writer) error {
	m, err := NewMain(getenv, args, stderr)
	if err != nil {
		return err
	}
	redis.SetLogger(RedisLogger{Logger: m.Logger})
	if err := m.Open(ctx); err != nil {
		return errors.Join(err, m.Close())
	}
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
		return m.Close()
	case err := <-m.serveErr:
		return errors.Join(err, m.Close())
	}
}

// Addr returns the address the API server listens on (after Open).
func (m *Main) Addr() string { return m.listenAddr(0) }

// MetricsAddr returns the address the metrics server listens on (after
// Open): the only place /metrics is served.
func (m *Main) MetricsAddr() string { return m.listenAddr(1) }

func (m *Main) listenAddr(i int) string {
	if m.servers == nil {
		return ""
	}
	return m.servers.Addr(i)
}

// Err delivers an error if the API or the metrics server stops serving on
// its own (after Open).
func (m *Main) Err() <-chan error { return m.serveErr }

// Close shuts down gracefully: stops accepting requests on both listeners
// and waits for those in flight, drains NATS, closes Redis and the
// database. It is safe to call more than once and after a failed Open.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if m.servers != nil {
		if err := m.servers.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if m.stopSweep != nil {
		m.stopSweep()
		<-m.sweepDone
	}
	if m.annSub != nil {
		_ = m.annSub.Unsubscribe() // gone already if the connection closed
	}
	if m.stop != nil {
		m.stop()
		<-m.bgDone
	}
	if m.nc != nil {
		if err := natsconn.Drain(m.nc); err != nil {
			errs = append(errs, err)
		}
	}
	if m.rdb != nil {
		if err := m.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("redis close: %w", err))
		}
	}
	if m.db != nil {
		if err := m.db.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

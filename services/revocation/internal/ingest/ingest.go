// Package ingest consumes the REVOCATIONS stream and materialises it into
// Redis through package store: a durable pull consumer processed in stream
// order by one goroutine, in batches; a rebuild when Redis lost its data; a
// catch-up replay when Redis went back in time; and an events.Applied
// announcement after every write.
//
//	in := ingest.New(js, store.New(rdb, storeOpts), ingest.Config{Durable: "revocation"}, ingest.Options{})
//	err := in.Run(ctx) // until ctx is done
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/backoff"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures an Ingester. Zero fields take the defaults shown.
type Config struct {
	// Durable is the durable consumer's name. Required.
	Durable string
	// BatchSize bounds the events written in one Redis call (256).
	BatchSize int
	// AckWait is the consumer's ack wait (30s).
	AckWait time.Duration
	// CheckInterval is how often the checkpoint (present, not below what
	// this process wrote) and the consumer's backlog are checked (1s).
	CheckInterval time.Duration
	// ReadyMaxPending is the backlog above which Ready fails.
	ReadyMaxPending int64
	// Stream is what EnsureStream requires and creates.
	Stream events.StreamConfig
	// Backoff paces retries of Redis writes and NATS calls (backoff.Default).
	Backoff backoff.Policy
	// WriteTimeout bounds one Redis or NATS call (2s).
	WriteTimeout time.Duration
	// ReplayIdle is how long a replay waits for a message before it asks
	// the server whether anything is left (500ms).
	ReplayIdle time.Duration
	// RebuildWindow is how far back a rebuild starts: at the first message
	// stored at or after now - RebuildWindow (by the Now clock and the
	// stream's storage timestamps), not at the stream's first message. Set
	// it to MaxTokenTTL + Leeway + ReplayMargin: an event stored earlier
	// wrote no key that is still alive (see rebuildFrom). Zero replays the
	// whole stream.
	RebuildWindow time.Duration
	// LookupOnly means an administrator manages the stream and the durable
	// consumer: they are looked up and checked (events.CheckStream,
	// events.CheckConsumer), never created, updated or deleted, and replay
	// consumers are left to expire instead of being deleted. The service
	// then needs no JetStream management permission. The consumer must
	// have the pinned priority group PriorityGroup (checkPinned).
	LookupOnly bool
	// PinnedTTL is how long JetStream keeps the durable pinned to an
	// instance that stopped pulling before a standby takes over
	// (DefaultPinnedTTL, at least MinPinnedTTL). With LookupOnly it is the
	// administrator's consumer's setting instead.
	PinnedTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.CheckInterval <= 0 {
		c.CheckInterval = time.Second
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff = backoff.Default
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Second
	}
	if c.ReplayIdle <= 0 {
		c.ReplayIdle = 500 * time.Millisecond
	}
	if c.PinnedTTL <= 0 {
		c.PinnedTTL = DefaultPinnedTTL
	}
	c.PinnedTTL = max(c.PinnedTTL, MinPinnedTTL)
}

// ReplayMargin is added to MaxTokenTTL + Leeway to make Config.RebuildWindow:
// room for publishers whose clocks run ahead of the NATS server's (the
// stream's timestamps are the server's, occurred_at is the publisher's).
const ReplayMargin = 5 * time.Minute

// Options are the Ingester's injected dependencies.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the metrics; defaults to a private registry.
	Registerer prometheus.Registerer
	// Now defaults to time.Now.
	Now func() time.Time
}

// phase is what the Ingester is doing, for readiness.
type phase int32

const (
	phaseStarting phase = iota
	phaseCatchingUp
	phaseFollowing
)

// notCheckedYet is the Redis status before the first check.
var notCheckedYet = "not checked yet"

// Ingester applies the stream to Redis. Run it once.
type Ingester struct {
	cfg   Config
	js    jetstream.JetStream
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	m     *metrics

	stream jetstream.Stream // set by Run before anything reads it
	// lastWritten is the highest checkpoint this process wrote or found
	// when it synced; a lower stored checkpoint means Redis went back in
	// time. Only the Run goroutine writes it; the monitor reads it.
	lastWritten atomic.Uint64

	phase    atomic.Int32
	redisErr atomic.Pointer[string] // nil after a successful check
	pending  atomic.Int64           // -1 until known

	role role // active or standby (standby.go)

	rebuild background // the rebuild running beside the consumer, if any
}

// New returns an Ingester; it does no I/O.
func New(js jetstream.JetStream, st *store.Store, cfg Config, opts Options) *Ingester {
	cfg.setDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	in := &Ingester{cfg: cfg, js: js, store: st, log: opts.Logger, now: opts.Now, m: newMetrics(opts.Registerer)}
	in.pending.Store(-1)
	in.redisErr.Store(&notCheckedYet)
	return in
}

// Ready returns nil when the service is caught up and healthy: the start-up
// sync finished, no rebuild or catch-up is running, Redis answered the last
// check and the consumer's backlog is at most ReadyMaxPending. Otherwise
// the error says why.
func (in *Ingester) Ready() error {
	if in.rebuild.running() {
		return errors.New("rebuilding Redis from the stream")
	}
	switch phase(in.phase.Load()) {
	case phaseStarting:
		return errors.New("start-up sync with the stream has not finished")
	case phaseCatchingUp:
		return errors.New("replaying the stream into Redis")
	}
	if msg := in.redisErr.Load(); msg != nil {
		return fmt.Errorf("redis: %s", *msg)
	}
	p := in.pending.Load()
	if p < 0 {
		return errors.New("consumer backlog not known yet")
	}
	if p > in.cfg.ReadyMaxPending {
		return fmt.Errorf("consumer backlog %d exceeds %d", p, in.cfg.ReadyMaxPending)
	}
	return nil
}

// Run ensures the stream and the durable consumer exist, syncs Redis with
// the stream (rebuild or catch-up), then applies new events until ctx is
// done. It returns nil after a clean stop, or an error that retrying cannot
// fix (a misconfigured stream).
func (in *Ingester) Run(ctx context.Context) error {
	if err := in.setup(ctx); err != nil {
		return ignoreCanceled(ctx, err)
	}
	cons, err := in.ensureConsumer(ctx)
	if err != nil {
		return ignoreCanceled(ctx, err)
	}
	// A rebuild in the background ends with Run.
	var stopRebuild context.CancelFunc
	in.rebuild.ctx, stopRebuild = context.WithCancel(ctx)
	defer in.rebuild.wg.Wait()
	defer stopRebuild()
	sig := newSignals()
	monCtx, stopMonitor := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { in.monitor(monCtx, cons, sig) })
	defer wg.Wait()
	defer stopMonitor()

	if err := in.startupSync(ctx, cons); err != nil {
		return ignoreCanceled(ctx, err)
	}
	return ignoreCanceled(ctx, in.follow(ctx, sig))
}

// setup ensures the stream exists, retrying while NATS is unreachable.
func (in *Ingester) setup(ctx context.Context) error {
	return in.retry(ctx, "ensure stream", func(ctx context.Context) error {
		ensure := events.EnsureStream
		if in.cfg.LookupOnly {
			ensure = events.CheckStream
		}
		s, err := ensure(ctx, in.js, in.cfg.Stream)
		if errors.Is(err, events.ErrStreamMisconfigured) {
			return permanent{err}
		}
		in.stream = s
		return err
	})
}

// consumerConfig is the durable consumer's configuration.
func (in *Ingester) consumerConfig() jetstream.ConsumerConfig {
	cc := events.SubscribeConfig{Durable: in.cfg.Durable, AckWait: in.cfg.AckWait}.ConsumerConfig()
	cc.Description = "revocation service: stream -> Redis"
	cc.MaxAckPending = max(1000, 4*in.cfg.BatchSize)
	// One active instance, hot standbys (standby.go).
	cc.PriorityGroups = []string{PriorityGroup}
	cc.PriorityPolicy = jetstream.PriorityPolicyPinned
	cc.PinnedTTL = in.cfg.PinnedTTL
	return cc
}

// ensureConsumer creates or updates the durable consumer.
func (in *Ingester) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := in.retry(ctx, "ensure consumer", func(ctx context.Context) error {
		var err error
		cons, err = in.durable(ctx)
		return err
	})
	return cons, err
}

// durable creates or updates the durable consumer, or with LookupOnly looks
// it up and checks it (a misconfigured one is a permanent error: acking
// into it could lose revocations; without the pinned priority group,
// instances would split its events).
func (in *Ingester) durable(ctx context.Context) (jetstream.Consumer, error) {
	if !in.cfg.LookupOnly {
		return in.js.CreateOrUpdateConsumer(ctx, events.StreamName, in.consumerConfig())
	}
	cons, err := events.CheckConsumer(ctx, in.js, events.SubscribeConfig{Durable: in.cfg.Durable})
	if err == nil {
		err = checkPinned(cons, in.cfg.Durable)
	}
	if errors.Is(err, events.ErrConsumerMisconfigured) {
		return nil, permanent{err}
	}
	return cons, err
}

// permanent marks an error that retry must not retry.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// retry calls f until it succeeds, returns a permanent error, or ctx is
// done, waiting with backoff in between. Each call gets WriteTimeout.
func (in *Ingester) retry(ctx context.Context, what string, f func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, in.cfg.WriteTimeout)
		err := f(actx)
		cancel()
		var p permanent
		if err == nil || errors.As(err, &p) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d := in.cfg.Backoff.Delay(attempt)
		in.log.Warn("retrying", "op", what, "attempt", attempt+1, "in", d, "err", err)
		if err := backoff.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// ignoreCanceled turns an error caused by the end of ctx into a clean stop.
func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

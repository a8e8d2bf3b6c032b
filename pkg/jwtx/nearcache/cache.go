package nearcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Defaults of Config.
const (
	// DefaultMaxStaleness bounds how old the proof of freshness of the view
	// may be for the Cache to answer from memory.
	DefaultMaxStaleness = 2 * time.Second
	// DefaultLeeway is the revocation service's default REVOCATION_LEEWAY.
	DefaultLeeway = time.Minute
	// DefaultMaxTokenTTL is the revocation service's default
	// REVOCATION_MAX_TOKEN_TTL.
	DefaultMaxTokenTTL = 24 * time.Hour
	// DefaultSweepInterval is how often expired entries are removed.
	DefaultSweepInterval = time.Minute
	// ReplayMargin is added to MaxTokenTTL + Leeway to make the default
	// ReplayWindow: room for publishers whose clocks run ahead of the NATS
	// server's (an event's occurred_at later than the time it was stored).
	ReplayMargin = 5 * time.Minute
	// ReplayAll, as Config.ReplayWindow, replays the stream from its first
	// message, whatever its retention.
	ReplayAll time.Duration = -1
)

// Sentinel errors.
var (
	// ErrStale is returned by RevocationState when the view is not proven
	// fresh within Config.MaxStaleness (or not ready yet) and there is no
	// Fallback. The Validator reports it as jwtx.ErrRevocationUnavailable:
	// the token is rejected, fail closed.
	ErrStale = errors.New("nearcache: revocation view is stale or not ready")
	// ErrClosed is returned by WaitReady after Close.
	ErrClosed = errors.New("nearcache: cache closed")
)

// Config configures a Cache.
type Config struct {
	// JetStream is where the stream is read; required.
	JetStream jetstream.JetStream
	// Stream is the stream name; default revocation.StreamName.
	Stream string

	// MaxStaleness bounds staleness: the Cache answers from memory only if
	// a probe sent at most MaxStaleness ago proved that every event stored
	// in the stream by then was applied. Default DefaultMaxStaleness.
	MaxStaleness time.Duration
	// ProbeInterval is how often the stream's last sequence is asked for
	// (one stream info request); default MaxStaleness/4. It must be below
	// MaxStaleness.
	ProbeInterval time.Duration
	// Fallback answers when the view is stale or not ready, for example
	// jwtx.NewRedisStore. Nil means fail closed: RevocationState returns
	// ErrStale.
	Fallback jwtx.RevocationStore

	// Leeway must equal the revocation service's REVOCATION_LEEWAY; default
	// DefaultLeeway. It is added to every expiry, as in Redis.
	Leeway time.Duration
	// MaxTokenTTL must equal the revocation service's
	// REVOCATION_MAX_TOKEN_TTL; default DefaultMaxTokenTTL. A user version
	// expires MaxTokenTTL + Leeway after the event occurred, and no entry
	// lives longer than that (revocation.Retention).
	MaxTokenTTL time.Duration
	// SweepInterval is how often expired entries are removed; default
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// ReplayWindow is how far back a replay starts: at the first message
	// stored at or after now - ReplayWindow (by the Now clock), not at the
	// first message of a stream whose retention (days, by default) is far
	// longer than any token lives. An older event can no longer protect
	// anything: every expiry is at most occurred_at + MaxTokenTTL + Leeway
	// (revocation.Retention.Cap). The default, when 0, is MaxTokenTTL +
	// Leeway + ReplayMargin; ReplayAll (any negative value) replays from
	// the first message.
	ReplayWindow time.Duration

	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the jwtx_nearcache_* collectors (see the
	// package documentation). One Cache per registerer.
	Metrics prometheus.Registerer
}

// Cache is an in-memory view of the revocation stream, kept fresh by
// following it. It implements jwtx.LocalRevocationStore; it is safe for
// concurrent use. Create it with New, then Start it.
type Cache struct {
	js          jetstream.JetStream
	stream      string
	maxStale    int64 // nanoseconds
	probeEvery  time.Duration
	sweepEvery  time.Duration
	window      time.Duration // replays start at now - window; 0: at the first message
	fallback    jwtx.RevocationStore
	rules       rules
	now         func() time.Time
	log         *slog.Logger
	metrics     *metrics
	resyncAsked chan string // probe -> syncer: reason for a full replay

	cur     atomic.Pointer[state] // the view answering lookups
	applied atomic.Uint64         // last stream sequence applied to cur
	freshAt atomic.Int64          // Unix ns of the last probe proving cur fresh; 0: not fresh

	fmu       sync.Mutex // serialises freshness bookkeeping, not lookups
	gen       uint64     // bumped by every invalidate
	following bool       // cur is caught up and following the stream
	pending   *probeMark // a probe not yet satisfied by applied
	hasPend   atomic.Bool
	created   time.Time // creation time of the stream being followed

	ready     chan struct{}
	readyOnce sync.Once

	// notify, when a WaitApplied waits, is closed (and cleared) the next
	// time applied moves; nothing is allocated while nobody waits.
	notify atomic.Pointer[chan struct{}]

	startOnce sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// probeMark is a probe sent at Unix ns at that found the stream's last
// sequence last.
type probeMark struct {
	at   int64
	last uint64
}

var _ jwtx.LocalRevocationStore = (*Cache)(nil)

// New returns a Cache for cfg; it reads nothing until Start.
func New(cfg Config) (*Cache, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("nearcache: Config.JetStream is required")
	}
	if cfg.Stream == "" {
		cfg.Stream = revocation.StreamName
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = DefaultMaxStaleness
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = cfg.MaxStaleness / 4
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxTokenTTL == 0 {
		cfg.MaxTokenTTL = DefaultMaxTokenTTL
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	switch {
	case cfg.ReplayWindow == 0:
		cfg.ReplayWindow = cfg.MaxTokenTTL + cfg.Leeway + ReplayMargin
	case cfg.ReplayWindow < 0:
		cfg.ReplayWindow = 0
	}
	switch {
	case cfg.MaxStaleness < 0 || cfg.ProbeInterval <= 0 || cfg.Leeway < 0 || cfg.MaxTokenTTL < 0 || cfg.SweepInterval < 0:
		return nil, errors.New("nearcache: negative duration in Config")
	case cfg.ProbeInterval >= cfg.MaxStaleness:
		return nil, fmt.Errorf("nearcache: ProbeInterval %s must be below MaxStaleness %s", cfg.ProbeInterval, cfg.MaxStaleness)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cache{
		js:          cfg.JetStream,
		stream:      cfg.Stream,
		maxStale:    int64(cfg.MaxStaleness),
		probeEvery:  cfg.ProbeInterval,
		sweepEvery:  cfg.SweepInterval,
		window:      cfg.ReplayWindow,
		fallback:    cfg.Fallback,
		rules:       rules{Leeway: cfg.Leeway, MaxTokenTTL: cfg.MaxTokenTTL},
		now:         cfg.Now,
		log:         cfg.Logger.With("component", "nearcache", "stream", cfg.Stream),
		resyncAsked: make(chan string, 1),
		ready:       make(chan struct{}),
		done:        make(chan struct{}),
	}
	c.cur.Store(newState(0))
	m, err := newMetrics(c, cfg.Metrics)
	if err != nil {
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// Start checks that the stream exists, then replays it from now -
// ReplayWindow (or its first message) and follows it in the background
// until Close. ctx bounds only
// the check. Use WaitReady to wait for the replay to catch up.
func (c *Cache) Start(ctx context.Context) error {
	if _, err := c.js.Stream(ctx, c.stream); err != nil {
		return fmt.Errorf("nearcache: look up stream %s: %w", c.stream, err)
	}
	started := false
	c.startOnce.Do(func() {
		started = true
		rctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		c.wg.Add(3)
		go c.syncLoop(rctx)
		go c.probeLoop(rctx)
		go c.sweepLoop(rctx)
	})
	if !started {
		return errors.New("nearcache: Start called twice")
	}
	return nil
}

// WaitReady waits until the first replay caught up with the stream's last
// sequence as read when it began, or ctx is done, or the Cache is closed.
func (c *Cache) WaitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("nearcache: wait for the replay: %w", ctx.Err())
	}
}

// Close stops following the stream and waits for the background work to
// end. Afterwards the view is stale: lookups go to the fallback or fail
// closed. It is safe to call more than once.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.startOnce.Do(func() {}) // a later Start does nothing
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.invalidate()
	})
	return nil
}

// LocalRevocationState answers from memory when the view is proven fresh
// within MaxStaleness; otherwise, or when the jti, sid or user id is not a
// canonical UUID, it returns ok == false. It does not allocate, block on
// I/O or take a context.
func (c *Cache) LocalRevocationState(q jwtx.RevocationQuery) (st jwtx.RevocationState, ok bool) {
	fresh := c.freshAt.Load()
	if fresh == 0 || c.now().UnixNano()-fresh > c.maxStale {
		return st, false
	}
	var k query
	if k.user, ok = parseUUID(q.UserID); !ok {
		return st, false
	}
	if k.hasJTI = q.JTI != ""; k.hasJTI {
		if k.jti, ok = parseUUID(q.JTI); !ok {
			return st, false
		}
	}
	if k.hasSID = q.SessionID != ""; k.hasSID {
		if k.sid, ok = parseUUID(q.SessionID); !ok {
			return st, false
		}
	}
	tok, ses, version := c.cur.Load().lookup(k)
	return jwtx.RevocationState{Initialized: true, TokenRevoked: tok, SessionRevoked: ses, UserVersion: version}, true
}

// RevocationState answers from memory like LocalRevocationState; when it
// cannot, it asks the Fallback, or returns an error wrapping ErrStale when
// there is none.
func (c *Cache) RevocationState(ctx context.Context, q jwtx.RevocationQuery) (jwtx.RevocationState, error) {
	if st, ok := c.LocalRevocationState(q); ok {
		return st, nil
	}
	if c.fallback != nil {
		c.metrics.fallbacks.Inc()
		return c.fallback.RevocationState(ctx, q)
	}
	c.metrics.failClosed.Inc()
	if s, ok := c.Staleness(); ok {
		return jwtx.RevocationState{}, fmt.Errorf("%w: last proven fresh %s ago, bound %s", ErrStale, s.Round(time.Millisecond), time.Duration(c.maxStale))
	}
	return jwtx.RevocationState{}, fmt.Errorf("%w: replaying the stream", ErrStale)
}

// Staleness returns how long ago the view was last proven fresh; ok is
// false when it never was, or is being replayed.
func (c *Cache) Staleness() (d time.Duration, ok bool) {
	fresh := c.freshAt.Load()
	if fresh == 0 {
		return 0, false
	}
	return time.Duration(c.now().UnixNano() - fresh), true
}

// Entries returns the number of revoked token ids, revoked sessions and
// user versions held.
func (c *Cache) Entries() (tokens, sessions, users int) { return c.cur.Load().counts() }

// AppliedSequence returns the last stream sequence applied to the view.
func (c *Cache) AppliedSequence() uint64 { return c.applied.Load() }

// WaitApplied waits until the view has applied the stream sequence seq (a
// PubAck's Sequence), or ctx is done, or the Cache is closed. A service
// that publishes a revocation itself can wait for its own view to enforce
// it before answering.
func (c *Cache) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		// Install the channel before reading applied: a setApplied after the
		// read then closes it.
		fresh := make(chan struct{})
		ch := &fresh
		if !c.notify.CompareAndSwap(nil, ch) {
			if ch = c.notify.Load(); ch == nil {
				continue
			}
		}
		if c.applied.Load() >= seq {
			return nil
		}
		select {
		case <-*ch:
		case <-c.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("nearcache: wait for sequence %d: %w", seq, ctx.Err())
		}
	}
}

// setApplied records the last sequence applied and wakes WaitApplied.
func (c *Cache) setApplied(seq uint64) {
	c.applied.Store(seq)
	if ch := c.notify.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (c *Cache) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// invalidate marks the view stale until the next install, and forgets
// probes in flight.
func (c *Cache) invalidate() {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	c.gen++
	c.following = false
	c.pending = nil
	c.hasPend.Store(false)
	c.freshAt.Store(0)
}

// install makes st the view, caught up with the stream through sequence
// last, which was the stream's last sequence at Unix ns at or later.
func (c *Cache) install(st *state, last uint64, at int64, created time.Time) {
	c.fmu.Lock()
	c.cur.Store(st)
	c.setApplied(last)
	c.following = true
	c.created = created
	c.freshAt.Store(max(at, 1))
	c.fmu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
}

// advanced records that the view applied everything through seq while
// following, and honours a pending probe it satisfies.
func (c *Cache) advanced(seq uint64) {
	c.setApplied(seq)
	if !c.hasPend.Load() {
		return
	}
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if p := c.pending; p != nil && c.following && seq >= p.last {
		c.markFreshLocked(p.at)
		c.pending = nil
		c.hasPend.Store(false)
	}
}

// probed records a probe sent at Unix ns at, during generation gen, that
// found the stream's last sequence last.
func (c *Cache) probed(gen uint64, at int64, last uint64) {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if gen != c.gen || !c.following {
		return
	}
	if c.applied.Load() >= last {
		c.markFreshLocked(at)
		return
	}
	if c.pending == nil {
		c.pending = &probeMark{at: at, last: last}
		c.hasPend.Store(true)
	}
}

func (c *Cache) markFreshLocked(at int64) {
	if at > c.freshAt.Load() {
		c.freshAt.Store(at)
	}
}

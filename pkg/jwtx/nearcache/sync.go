package nearcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Reasons for a full replay.
var (
	errGap       = errors.New("nearcache: stream sequence jumped while following (messages deleted before they were applied)")
	errBackwards = errors.New("nearcache: stream sequence went backwards (stream recreated)")
	errResync    = errors.New("nearcache: full replay requested")
)

// Backoff between failed attempts to start a replay.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// syncLoop replays the stream and follows it, starting over (from now -
// window, or the first message) whenever following can no longer be trusted, until ctx is done.
func (c *Cache) syncLoop(ctx context.Context) {
	defer c.wg.Done()
	backoff := minBackoff
	for {
		caughtUp, err := c.syncOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		c.invalidate()
		c.metrics.resyncs.Inc()
		c.log.Warn("nearcache: view stale, replaying the stream", "err", err)
		if caughtUp {
			backoff = minBackoff
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// syncOnce replays the stream into a new state with an ordered consumer,
// installs it once caught up, and keeps applying what follows until an
// error, a requested replay, or ctx is done. caughtUp reports whether it
// got as far as installing the view.
func (c *Cache) syncOnce(ctx context.Context) (caughtUp bool, err error) {
	select {
	case <-c.resyncAsked: // meant for the previous view
	default:
	}
	at := c.now().UnixNano()
	ictx, cancel := context.WithTimeout(ctx, max(c.probeEvery, time.Second))
	s, err := c.js.Stream(ictx, c.stream)
	cancel()
	if err != nil {
		return false, fmt.Errorf("nearcache: stream info: %w", err)
	}
	info := s.CachedInfo()
	f := &follower{
		c:       c,
		st:      newState(info.State.Msgs),
		until:   info.State.LastSeq,
		at:      at,
		created: info.Created,
		errc:    make(chan error, 1),
	}
	if info.State.Msgs == 0 {
		f.catchUp(info.State.LastSeq)
	}
	oc, err := c.js.OrderedConsumer(ctx, c.stream, c.replayFrom(at))
	if err != nil {
		return f.isFollowing(), fmt.Errorf("nearcache: ordered consumer: %w", err)
	}
	cc, err := oc.Consume(f.handle,
		jetstream.PullMaxMessages(1024),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Debug("nearcache: consumer", "err", err)
		}))
	if err != nil {
		return f.isFollowing(), fmt.Errorf("nearcache: consume: %w", err)
	}
	defer func() {
		cc.Stop()
		<-cc.Closed()
		c.deleteConsumer(oc)
	}()
	// Consume created the consumer: its info says what it had to deliver.
	// Nothing means that nothing was stored after the start (every message
	// is older than the window): caught up, although no message will say
	// so.
	if ci := oc.CachedInfo(); ci != nil && ci.NumPending == 0 {
		f.nothingPending(ci.Delivered.Stream)
	}
	select {
	case <-ctx.Done():
		return false, nil
	case err := <-f.errc:
		return f.isFollowing(), err
	case reason := <-c.resyncAsked:
		return f.isFollowing(), fmt.Errorf("%w: %s", errResync, reason)
	}
}

// replayFrom returns the ordered consumer of a replay that began at Unix
// ns at: from now - window, or from the first message.
func (c *Cache) replayFrom(at int64) jetstream.OrderedConsumerConfig {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{revocation.SubjectAll},
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		InactiveThreshold: time.Minute,
	}
	if c.window > 0 {
		from := time.Unix(0, at).Add(-c.window)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	return cfg
}

// deleteConsumer removes the ordered consumer's server state now rather
// than after its inactivity threshold.
func (c *Cache) deleteConsumer(oc jetstream.Consumer) {
	info := oc.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.js.DeleteConsumer(ctx, c.stream, info.Name); err != nil {
		c.log.Debug("nearcache: delete ordered consumer", "name", info.Name, "err", err)
	}
}

// askResync asks syncLoop for a full replay, unless one is already asked.
func (c *Cache) askResync(reason string) {
	select {
	case c.resyncAsked <- reason:
	default:
	}
}

// follower applies the messages of one ordered consumer, in order, on the
// consumer's callback goroutine; mu serialises that with syncOnce's own
// catch-up when nothing is pending.
type follower struct {
	c       *Cache
	st      *state
	until   uint64    // the stream's last sequence when the replay began
	at      int64     // Unix ns when the replay began (before reading until)
	created time.Time // the stream's creation time
	errc    chan error

	mu       sync.Mutex
	last     uint64 // last stream sequence seen
	replayed int    // messages read before catching up
	failed   bool   // errc was sent to; ignore what follows

	following atomic.Bool // caught up: cur is st, gaps are errors
}

// nothingPending catches up when the consumer, just created, had nothing
// to deliver: everything the stream held through delivered (the sequence
// before its start) is older than the replay's start.
func (f *follower) nothingPending(delivered uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed || f.isFollowing() {
		return
	}
	f.catchUp(max(f.last, f.until, delivered))
}

// handle applies one message.
func (f *follower) handle(msg jetstream.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed {
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		f.c.log.Warn("nearcache: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	if err := f.step(md.Sequence.Stream, md.NumPending, msg.Subject(), msg.Data()); err != nil {
		f.failed = true
		f.c.invalidate() // stale from now on, not from when the consumer stops
		f.errc <- err
	}
}

// step checks the sequence of a message and applies it. During the replay
// a jump in the sequence is a deleted or aged-out message: tolerated.
// Once following, a jump means messages vanished before they were applied
// and a sequence at or below the last one means the stream was recreated:
// both return an error, and the view must be replayed.
func (f *follower) step(seq, pending uint64, subject string, data []byte) error {
	following := f.isFollowing()
	switch {
	case seq <= f.last:
		return fmt.Errorf("%w: %d after %d", errBackwards, seq, f.last)
	case following && seq != f.last+1:
		f.c.metrics.gaps.Inc()
		f.c.log.Warn("nearcache: gap in the stream", "after", f.last, "seq", seq)
		return fmt.Errorf("%w: %d after %d", errGap, seq, f.last)
	}
	f.apply(seq, subject, data)
	f.last = seq
	if !following {
		f.replayed++
	}
	switch {
	case following:
		f.c.advanced(seq)
	case seq >= f.until || pending == 0:
		f.catchUp(max(seq, f.until))
	}
	return nil
}

// apply decodes and applies one event; an invalid one is dropped, logged
// and counted.
func (f *follower) apply(seq uint64, subject string, data []byte) {
	evs, invalid := revocation.DecodeBatch([]revocation.Message{{Subject: subject, Data: data, Seq: seq}})
	for _, inv := range invalid {
		f.c.metrics.invalid.Inc()
		f.c.log.Warn("nearcache: dropping invalid event", "subject", inv.Subject, "seq", inv.Seq, "err", inv.Err)
	}
	nowMS := f.c.now().UnixMilli()
	for _, d := range evs {
		f.st.apply(f.c.rules, d.Event, nowMS)
	}
}

// catchUp installs the replayed state: it holds everything the stream
// held through last (from the replay's start), and last was the stream's
// last sequence at f.at or later.
func (f *follower) catchUp(last uint64) {
	f.last = last
	f.following.Store(true)
	f.c.metrics.replayed.Add(float64(f.replayed))
	f.c.install(f.st, last, f.at, f.created)
	tokens, sessions, users := f.st.counts()
	f.c.log.Info("nearcache: caught up with the stream", "seq", last, "replayed", f.replayed,
		"window", f.c.window.String(), "tokens", tokens, "sessions", sessions, "users", users)
}

func (f *follower) isFollowing() bool { return f.following.Load() }

// probeLoop proves the view fresh, or notices that it cannot be, once per
// probe interval. This is the Cache's heartbeat: one stream info request,
// whatever the validation rate.
func (c *Cache) probeLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.probeEvery)
	defer t.Stop()
	var p progress
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.probe(ctx, &p)
		}
	}
}

// progress tracks whether applying is stuck behind the stream.
type progress struct {
	applied uint64
	since   int64 // Unix ns of the last progress or catch-up seen
}

// probe sends one stream info request. When the view had applied the
// stream's last sequence, it is fresh as of the moment the request was
// sent; otherwise it becomes so when it applies that sequence.
func (c *Cache) probe(ctx context.Context, p *progress) {
	c.fmu.Lock()
	gen, following, created := c.gen, c.following, c.created
	c.fmu.Unlock()
	at := c.now().UnixNano()
	pctx, cancel := context.WithTimeout(ctx, c.probeEvery)
	defer cancel()
	s, err := c.js.Stream(pctx, c.stream)
	if err != nil {
		if ctx.Err() == nil {
			c.metrics.probeFails.Inc()
			c.log.Debug("nearcache: probe failed", "err", err)
		}
		return
	}
	if !following {
		return
	}
	info := s.CachedInfo()
	last, applied := info.State.LastSeq, c.applied.Load()
	switch {
	case !info.Created.Equal(created):
		c.askResync("stream recreated")
		return
	case last < applied:
		c.askResync(fmt.Sprintf("stream's last sequence %d below the applied %d", last, applied))
		return
	}
	c.probed(gen, at, last)
	if applied >= last || applied != p.applied || p.since == 0 {
		p.applied, p.since = applied, at
		return
	}
	if at-p.since > 2*c.maxStale {
		c.askResync(fmt.Sprintf("no progress past sequence %d while the stream is at %d", applied, last))
		p.since = at
	}
}

// sweepLoop removes expired entries once per sweep interval.
func (c *Cache) sweepLoop(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(c.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := c.cur.Load().sweep(c.now().Unix()); n > 0 {
				c.metrics.evicted.Add(float64(n))
			}
		}
	}
}

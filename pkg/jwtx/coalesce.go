package jwtx

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// coalescer sends the MGETs of concurrent checks together. A check that
// finds no round trip in flight sends its own MGET at once, in its own
// goroutine: no hand-off, so a check that overlaps no other costs what a
// plain MGET costs. Checks that arrive while a round trip is in flight
// queue up; when a round trip completes (or a full batch waits and a slot
// is free) the queue leaves in one pipeline, each check still its own
// MGET. A flusher goroutine sends the pipeline and keeps sending the next
// batch while checks keep queueing, so under load there is one goroutine
// per pipeline in flight, not one per check.
//
// Waiting checks select on their own context: one whose deadline passes
// returns at once and is marked abandoned, so a pipeline leaving later
// skips it. A pipeline runs under the latest deadline of its checks, not
// under any one caller's cancellation, so a caller that goes away does not
// fail the others.
type coalescer struct {
	rdb         redis.UniversalClient
	maxBatch    int
	maxInFlight int

	mu       sync.Mutex
	inFlight int        // round trips (direct MGETs and pipelines) in flight
	queue    []*pending // checks waiting for a pipeline, oldest first
}

// pending is one queued check. vals and err are written by the flusher
// before it closes done; the waiter reads them only after done is closed.
type pending struct {
	keys        []string
	deadline    time.Time
	hasDeadline bool
	abandoned   atomic.Bool // the waiter returned without a result
	done        chan struct{}
	vals        []any
	err         error
}

func newCoalescer(rdb redis.UniversalClient, maxBatch, maxInFlight int) *coalescer {
	return &coalescer{rdb: rdb, maxBatch: maxBatch, maxInFlight: maxInFlight}
}

// mget returns the values of keys, read with one MGET.
func (c *coalescer) mget(ctx context.Context, keys []string) ([]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("jwtx: redis MGET not sent: %w", err)
	}
	c.mu.Lock()
	if c.inFlight == 0 { // nothing to wait for: lead with a direct MGET
		c.inFlight++
		c.mu.Unlock()
		vals, err := c.rdb.MGet(ctx, keys...).Result()
		if batch := c.finish(); batch != nil {
			go c.flush(batch)
		}
		return vals, err
	}
	p := &pending{keys: keys, done: make(chan struct{})}
	p.deadline, p.hasDeadline = ctx.Deadline()
	c.queue = append(c.queue, p)
	var batch []*pending
	if len(c.queue) >= c.maxBatch {
		batch = c.takeLocked()
	}
	c.mu.Unlock()
	if batch != nil {
		go c.flush(batch)
	}
	select {
	case <-p.done:
		return p.vals, p.err
	case <-ctx.Done():
		p.abandoned.Store(true)
		return nil, fmt.Errorf("jwtx: gave up waiting for a coalesced redis MGET: %w", ctx.Err())
	}
}

// finish ends a round trip and returns the next batch to send, if any.
func (c *coalescer) finish() []*pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	return c.takeLocked()
}

// takeLocked removes up to maxBatch checks that still wait from the head
// of the queue, dropping abandoned ones, and claims an in-flight slot for
// them. It returns nil when nothing waits or every slot is taken. c.mu
// must be held.
func (c *coalescer) takeLocked() []*pending {
	if len(c.queue) == 0 || c.inFlight >= c.maxInFlight {
		return nil
	}
	batch := make([]*pending, 0, min(len(c.queue), c.maxBatch))
	i := 0
	for ; i < len(c.queue) && len(batch) < c.maxBatch; i++ {
		if p := c.queue[i]; !p.abandoned.Load() {
			batch = append(batch, p)
		}
	}
	n := copy(c.queue, c.queue[i:])
	clear(c.queue[n:])
	c.queue = c.queue[:n]
	if len(batch) == 0 {
		return nil
	}
	c.inFlight++
	return batch
}

// flush sends batch, then the batches that queued meanwhile, until the
// queue is empty or every slot is taken.
func (c *coalescer) flush(batch []*pending) {
	for batch != nil {
		c.send(batch)
		batch = c.finish()
	}
}

// send reads every check of batch in one round trip and hands each its
// result. A connection or Redis error fails every check of the batch.
func (c *coalescer) send(batch []*pending) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	if len(batch) == 1 {
		p := batch[0]
		p.vals, p.err = c.rdb.MGet(ctx, p.keys...).Result()
		close(p.done)
		return
	}
	cmds := make([]*redis.SliceCmd, len(batch))
	_, err := c.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, p := range batch {
			cmds[i] = pipe.MGet(ctx, p.keys...)
		}
		return nil
	})
	for i, p := range batch {
		switch {
		case err == nil:
			p.vals = cmds[i].Val()
		case cmds[i].Err() != nil:
			p.err = fmt.Errorf("jwtx: coalesced redis pipeline: %w", cmds[i].Err())
		default:
			p.err = fmt.Errorf("jwtx: coalesced redis pipeline: %w", err)
		}
		close(p.done)
	}
}

// batchContext bounds a round trip made for batch by the latest deadline
// of its checks (every check leaves at its own deadline anyway), or only by
// the client's timeouts when one of them has none. It carries no caller's
// cancellation or values: the round trip serves many callers.
func batchContext(batch []*pending) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		if !p.hasDeadline {
			return context.WithCancel(context.Background())
		}
		if p.deadline.After(latest) {
			latest = p.deadline
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

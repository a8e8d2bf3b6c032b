package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// signals are what the monitor tells the consumer loop. Each channel has
// room for one pending signal; more are dropped.
type signals struct {
	// resync: the checkpoint is missing or below what this process wrote.
	resync chan struct{}
	// reopen: the durable consumer is gone (deleted by an operator).
	reopen chan struct{}
}

func newSignals() signals {
	return signals{resync: make(chan struct{}, 1), reopen: make(chan struct{}, 1)}
}

func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// monitor checks, every CheckInterval, that every checkpoint is still
// there and not below what this process wrote (a Redis restarted empty,
// flushed or failed over to a stale replica is noticed even when no event
// arrives), and how many messages wait in the durable consumer. It signals
// the consumer loop, which rebuilds, replays or recreates the consumer.
// While following, the same call raises the checkpoints to the
// consumer's ack floor and the heartbeat validators read (marks).
func (in *Ingester) monitor(ctx context.Context, cons jetstream.Consumer, sig signals) {
	t := time.NewTicker(in.cfg.CheckInterval)
	defer t.Stop()
	var m marks
	for {
		// The time first, then the stream's last sequence: every message
		// stored before at has a sequence at most last.
		at := in.now()
		if last, ok := in.streamLast(ctx); ok {
			m.add(at, last)
		}
		floor, ok := in.checkPending(ctx, cons, sig.reopen)
		// What this process applied counts too: the checkpoint it wrote is
		// a contiguous floor (in-order batches, a catch-up on takeover),
		// while the ack floor can wait an AckWait for messages a killed
		// instance held and this one already replayed.
		floor = max(floor, in.lastWritten.Load())
		hb := time.Time{}
		if ok {
			hb = m.covered(floor)
		}
		in.checkRedis(ctx, sig.resync, floor, hb)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// marks remembers, for the last few checks, the time of the check and the
// stream's last sequence then. Once the consumer's ack floor reaches a
// mark's sequence, every event stored before the mark's time is in Redis:
// that time is the heartbeat.
type marks struct {
	at   []time.Time
	last []uint64
}

// maxMarks bounds the marks: a consumer more than that many checks behind
// gets no heartbeat until it catches up (validators fail closed).
const maxMarks = 120

func (m *marks) add(at time.Time, last uint64) {
	if len(m.at) == maxMarks {
		m.at, m.last = m.at[1:], m.last[1:]
	}
	m.at = append(m.at, at)
	m.last = append(m.last, last)
}

// covered returns the time of the latest mark whose sequence is at most
// floor (zero when none is), and forgets the marks before it.
func (m *marks) covered(floor uint64) time.Time {
	i := -1
	for j, l := range m.last {
		if l <= floor {
			i = j
		}
	}
	if i < 0 {
		return time.Time{}
	}
	at := m.at[i]
	m.at, m.last = m.at[i:], m.last[i:]
	return at
}

// streamLast reads the stream's last sequence.
func (in *Ingester) streamLast(ctx context.Context) (uint64, bool) {
	if in.stream == nil {
		return 0, false
	}
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	info, err := in.stream.Info(cctx)
	if err != nil {
		return 0, false
	}
	return info.State.LastSeq, true
}

// checkTimeout bounds one check so that a hung Redis or NATS is reported.
func (in *Ingester) checkTimeout() time.Duration {
	return min(max(in.cfg.CheckInterval, 500*time.Millisecond), 2*time.Second)
}

// checkRedis checks the checkpoints and, while this instance follows the
// stream (and no other instance is active), raises them to floor and the
// heartbeat to hb (zero: not raised).
func (in *Ingester) checkRedis(ctx context.Context, resync chan<- struct{}, floor uint64, hb time.Time) {
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	following := phase(in.phase.Load()) == phaseFollowing && in.mayResync()
	if err := in.store.RefreshReplicas(cctx); err != nil {
		in.log.Debug("redis replicas", "err", err)
	}
	var err error
	if following {
		err = in.store.Heartbeat(cctx, floor, hb)
	} else {
		_, _, err = in.store.Checkpoint(cctx) // the sync in progress deals with what it finds
	}
	if ctx.Err() != nil {
		return
	}
	lost, regressed := errors.Is(err, store.ErrCheckpointLost), errors.Is(err, store.ErrCheckpointRegressed)
	if err != nil && !lost && !regressed {
		msg := err.Error()
		if in.redisErr.Swap(&msg) == nil {
			in.log.Warn("redis check failed", "err", err)
		}
		in.m.redisErrors.Inc()
		return
	}
	if prev := in.redisErr.Swap(nil); prev != nil && prev != &notCheckedYet {
		in.log.Info("redis answers again")
	}
	switch {
	case err != nil:
		in.log.Warn("Redis lost data or writes: resyncing", "err", err)
		notify(resync)
	case following && !hb.IsZero():
		in.m.heartbeatAge.Set(in.now().Sub(hb).Seconds())
	}
}

// checkPending reads the consumer's backlog and returns its ack floor
// (every message through it is applied), ok false when unknown.
func (in *Ingester) checkPending(ctx context.Context, cons jetstream.Consumer, reopen chan<- struct{}) (floor uint64, ok bool) {
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	info, err := cons.Info(cctx)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		in.pending.Store(-1)
		if errors.Is(err, jetstream.ErrConsumerNotFound) && phase(in.phase.Load()) == phaseFollowing {
			in.log.Warn("durable consumer not found", "durable", in.cfg.Durable)
			notify(reopen)
			return
		}
		in.log.Debug("consumer info", "err", err)
		return
	}
	p := int64(info.NumPending) + int64(info.NumAckPending)
	in.pending.Store(p)
	in.m.pending.Set(float64(p))
	return info.AckFloor.Stream, true
}

package ingest

import (
	"context"
	"errors"
	"time"

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

// monitor checks, every CheckInterval, that the checkpoint is still there
// and not below what this process wrote (a Redis restarted empty, flushed
// or failed over to a stale replica is noticed even when no event
// arrives), and how many messages wait in the durable consumer. It signals
// the consumer loop, which rebuilds, replays or recreates the consumer.
func (in *Ingester) monitor(ctx context.Context, cons jetstream.Consumer, sig signals) {
	t := time.NewTicker(in.cfg.CheckInterval)
	defer t.Stop()
	for {
		in.checkRedis(ctx, sig.resync)
		in.checkPending(ctx, cons, sig.reopen)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkTimeout bounds one check so that a hung Redis or NATS is reported.
func (in *Ingester) checkTimeout() time.Duration {
	return min(max(in.cfg.CheckInterval, 500*time.Millisecond), 2*time.Second)
}

func (in *Ingester) checkRedis(ctx context.Context, resync chan<- struct{}) {
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	// Read lastWritten first: a checkpoint read afterwards can only be
	// lower if Redis lost writes.
	written := in.lastWritten.Load()
	cp, ok, err := in.store.Checkpoint(cctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
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
	if phase(in.phase.Load()) != phaseFollowing {
		return // the sync in progress deals with it
	}
	switch {
	case !ok:
		in.log.Warn("checkpoint missing: Redis lost its data")
	case cp < written:
		in.log.Warn("checkpoint went backwards: Redis lost writes", "checkpoint", cp, "last_written", written)
	default:
		return
	}
	notify(resync)
}

func (in *Ingester) checkPending(ctx context.Context, cons jetstream.Consumer, reopen chan<- struct{}) {
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
}

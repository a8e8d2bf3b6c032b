package ingest

import (
	"context"
	"errors"
	"sync"

	"github.com/eventjwt/eventjwt/services/revocation/internal/backoff"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// errResync means Redis is not where this process left it (checkpoint
// missing or lower); the batch was negatively acknowledged and Redis must
// be synced with the stream before following again.
var errResync = errors.New("ingest: redis needs a resync")

// follow applies the durable consumer's messages until ctx is done. On a
// lost or regressed checkpoint, it stops fetching, resyncs and resumes; if
// the consumer disappears, it recreates it. A standby waits here for
// messages that JetStream delivers to the active instance only; the first
// batch under a new pin makes it the active one (takeOver).
func (in *Ingester) follow(ctx context.Context, sig signals) error {
	var src *source
	// Stop fetching on the way out; what is already delivered goes back,
	// and a standby takes over at once.
	defer func() {
		if src != nil {
			src.stop(true)
		}
		in.handOver()
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { in.watchRole(watchCtx, sig.reopen) })
	defer wg.Wait()
	defer stopWatch()
	reopened := 0
	for {
		if src == nil {
			next, err := in.openDurable(ctx, reopened)
			if err != nil {
				return err
			}
			src = next
			select { // the consumer exists now: a pending signal is stale
			case <-sig.reopen:
			default:
			}
			in.phase.Store(int32(phaseFollowing))
		}
		var err error
		reopen := false
		select {
		case <-ctx.Done():
			return nil
		case <-sig.resync:
			if !in.mayResync() {
				continue // the active instance deals with Redis
			}
			err = errResync
		case <-sig.reopen:
			in.log.Warn("recreating the durable consumer")
			reopen = true
		case m, ok := <-src.ch:
			if !ok {
				in.log.Warn("durable consumer iterator closed; reopening")
				reopen = true
				break
			}
			reopened = 0
			msgs := src.collect(m, in.cfg.BatchSize)
			if err = in.takeOver(ctx, msgs); err != nil {
				for _, m := range msgs {
					_ = m.Nak()
				}
				return err
			}
			err = in.processDurable(ctx, msgs)
		}
		if !reopen && !errors.Is(err, errResync) {
			if err != nil {
				return err
			}
			continue
		}
		src.stop(true)
		src = nil
		if reopen {
			reopened++
			continue
		}
		if err := in.sync(ctx); err != nil {
			return err
		}
		select { // a signal sent before the sync is stale
		case <-sig.resync:
		default:
		}
	}
}

// openDurable (re)creates (or, with LookupOnly, looks up) the durable
// consumer and starts fetching from it, after a backoff delay when
// reopening after a failure.
func (in *Ingester) openDurable(ctx context.Context, reopened int) (*source, error) {
	if reopened > 0 {
		if err := backoff.Sleep(ctx, in.cfg.Backoff.Delay(reopened-1)); err != nil {
			return nil, err
		}
	}
	var it jetstream.MessagesContext
	err := in.retry(ctx, "open durable consumer", func(ctx context.Context) error {
		cons, err := in.durable(ctx)
		if err != nil {
			return err
		}
		cons = in.role.keep(cons)
		it, err = cons.Messages(jetstream.PullMaxMessages(in.cfg.BatchSize),
			jetstream.PullPriorityGroup(PriorityGroup), jetstream.PullExpiry(pullExpiry(cons)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return newSource(it, in.cfg.BatchSize, in.log), nil
}

// processDurable writes one batch from the durable consumer, then acks it
// and announces it. Nothing is acked before it is written.
func (in *Ingester) processDurable(ctx context.Context, msgs []jetstream.Msg) error {
	b := in.decode(msgs, true)
	if b.maxSeq == 0 {
		return nil
	}
	res, err := in.write(ctx, store.Batch{
		Mode:          store.Normal,
		Events:        b.events(),
		MaxSeq:        b.maxSeq,
		MinCheckpoint: in.lastWritten.Load(),
	}, b.items)
	switch {
	case err == nil:
	case errors.Is(err, store.ErrCheckpointLost), errors.Is(err, store.ErrCheckpointRegressed), errors.Is(err, store.ErrRebuildAborted):
		in.log.Warn("redis is not where this process left it; resyncing", "last_written", in.lastWritten.Load(), "err", err)
		nak(b.items)
		return errResync
	default:
		return err // ctx done; write already sent the batch back
	}
	for _, it := range b.items {
		if err := it.msg.Ack(); err != nil {
			in.log.Warn("ack failed; the event will be redelivered and applied again", "seq", it.seq, "err", err)
		}
	}
	in.written(b, res)
	return nil
}

package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// errRestartSync asks sync to look at the checkpoint again.
var errRestartSync = errors.New("ingest: restart sync")

// sync brings Redis in line with the stream: it starts a rebuild of the
// partitions whose checkpoint is missing (all of Redis in the flat
// layout), which runs beside the consumer (rebuildInBackground), and
// catches the others up from their lowest checkpoint+1 to the stream's
// last sequence (events the durable consumer acked but Redis lost). It
// starts over whenever Redis changes under it, and returns when the
// partitions that kept their data are caught up, or when ctx ends.
func (in *Ingester) sync(ctx context.Context) error {
	for {
		cps, err := in.checkpoints(ctx)
		if err != nil {
			return err
		}
		lost, cp, ok := in.store.Missing(cps)
		switch {
		case len(lost) > 0 && in.rebuild.running():
			// Lost while another rebuild runs: once it ends, start over.
			in.log.Warn("more partitions lost during a rebuild; waiting for it to end", "partitions", len(lost))
			err = in.rebuild.wait(ctx)
		case len(lost) > 0:
			err = in.startRebuild(ctx)
		case ok:
			in.store.Adopt(cps)
			err = in.catchUp(ctx, cp)
			if err == nil {
				return nil
			}
		default:
			return nil // every partition is being rebuilt
		}
		if err == nil {
			continue
		}
		if !isStoreSignal(err) && !errors.Is(err, errRestartSync) {
			return err
		}
		in.log.Warn("redis changed during sync; starting over", "reason", err)
	}
}

// checkpoints reads every partition's checkpoint, retrying while Redis
// fails.
func (in *Ingester) checkpoints(ctx context.Context) ([]store.PartitionCheckpoint, error) {
	var cps []store.PartitionCheckpoint
	err := in.retryRedis(ctx, "read checkpoint", func(ctx context.Context) error {
		var err error
		cps, err = in.store.Checkpoints(ctx)
		return err
	})
	return cps, err
}

// startRebuild registers a rebuild of every partition whose checkpoint is
// missing and runs it in the background (runRebuild): the durable
// consumer goes on meanwhile, writing those partitions in rebuild mode
// (their keys, not their checkpoints: validators keep failing closed for
// their users only) and the others as usual, heartbeat included.
func (in *Ingester) startRebuild(ctx context.Context) error {
	id := rand.Text()
	var started bool
	err := in.retryRedis(ctx, "begin rebuild", func(ctx context.Context) error {
		var err error
		started, err = in.store.BeginRebuild(ctx, id)
		return err
	})
	if err != nil {
		return err
	}
	if !started {
		return fmt.Errorf("%w: the checkpoint is back", errRestartSync)
	}
	in.rebuild.start(func() {
		if err := in.runRebuild(in.rebuild.ctx, id); err != nil && in.rebuild.ctx.Err() == nil {
			// The monitor finds the partitions still missing and starts
			// another.
			in.log.Warn("rebuild ended early; it will start over", "err", err)
		}
	})
	return nil
}

// runRebuild refills the partitions of rebuild id from the stream (from
// rebuildFrom on) without writing their checkpoints (validators keep
// failing closed for their users), then sets their checkpoints to the
// stream's last sequence taken at the start.
func (in *Ingester) runRebuild(ctx context.Context, id string) error {
	start := time.Now()
	in.m.rebuilds.Inc()
	in.m.rebuildInProgress.Set(1)
	defer in.m.rebuildInProgress.Set(0)

	state, err := in.streamState(ctx)
	if err != nil {
		return in.abandon(id, err)
	}
	from, err := in.rebuildFrom(ctx, state)
	if err != nil {
		return in.abandon(id, err)
	}
	skipped := uint64(0)
	if state.Msgs > 0 {
		skipped = min(from, state.LastSeq+1) - state.FirstSeq
	}
	in.m.rebuildSkipped.Set(float64(skipped))
	in.log.Warn("checkpoint missing: rebuilding Redis from the stream", "partitions", len(in.store.RebuildPartitions(id)), "first", state.FirstSeq, "from", from, "last", state.LastSeq, "messages", state.Msgs, "skipped", skipped, "window", in.cfg.RebuildWindow)
	if state.Msgs > 0 && from <= state.LastSeq {
		err = in.replay(ctx, from, state.LastSeq, func(ctx context.Context, b batch) error {
			_, err := in.write(ctx, store.Batch{Mode: store.Rebuild, RebuildID: id, Events: b.events()}, nil)
			return err
		})
		if err != nil {
			return in.abandon(id, err)
		}
	}
	var cp uint64
	err = in.retryRedis(ctx, "finish rebuild", func(ctx context.Context) error {
		var err error
		cp, err = in.store.FinishRebuild(ctx, id, state.LastSeq)
		if errors.Is(err, store.ErrRebuildAborted) {
			return permanent{err}
		}
		return err
	})
	if err != nil {
		return in.abandon(id, err)
	}
	in.lastWritten.Store(max(in.lastWritten.Load(), cp))
	in.m.rebuildDuration.Observe(time.Since(start).Seconds())
	in.log.Info("rebuild finished", "checkpoint", cp, "took", time.Since(start).Round(time.Millisecond))
	if state.Msgs > 0 && from <= state.LastSeq {
		in.announce([][2]uint64{{from, state.LastSeq}}, cp)
	}
	return nil
}

// rebuildFrom returns the sequence a rebuild starts at: the stream's first
// sequence without a RebuildWindow, else the first message stored at or
// after now - RebuildWindow, found by an ordered consumer with
// DeliverByStartTimePolicy (nats.go's jetstream has no message-by-time
// lookup). Nothing stored since then gives state.LastSeq+1: nothing to
// apply, and the checkpoint still becomes state.LastSeq.
//
// Skipping what is older is safe: an event's keys never outlive
// revocation.Retention.Cap, min(occurred_at, now) + MaxTokenTTL + Leeway
// (user versions are the cap itself; blacklist and session keys are
// expires_at + Leeway clamped to it; store.apply uses Retention.Expiry).
// An event stored at T with occurred_at <= T + ReplayMargin (a publisher's
// clock at most ReplayMargin ahead of the server's) wrote keys that expire
// by T + ReplayMargin + MaxTokenTTL + Leeway, which is before now when T is
// before now - RebuildWindow. Only an occurred_at more than ReplayMargin
// ahead of the server's clock could have left a key alive; the same
// assumption bounds the validators' near-cache (nearcache.ReplayMargin).
func (in *Ingester) rebuildFrom(ctx context.Context, state jetstream.StreamState) (uint64, error) {
	if in.cfg.RebuildWindow <= 0 || state.Msgs == 0 {
		return state.FirstSeq, nil
	}
	since := in.now().Add(-in.cfg.RebuildWindow)
	var info *jetstream.ConsumerInfo
	err := in.retry(ctx, "find rebuild start", func(ctx context.Context) error {
		oc, err := in.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
			FilterSubjects:    []string{events.SubjectAll},
			DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
			OptStartTime:      &since,
			InactiveThreshold: time.Minute,
		})
		if err != nil {
			return err
		}
		defer in.deleteReplayConsumer(oc)
		if info = oc.CachedInfo(); info == nil {
			return errors.New("ingest: ordered consumer without info")
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if info.NumPending == 0 {
		return state.LastSeq + 1, nil
	}
	// A new consumer reports the sequence before its first as delivered.
	return max(info.Delivered.Stream+1, state.FirstSeq), nil
}

// abandon removes this rebuild's mark (best effort) and returns err.
func (in *Ingester) abandon(id string, err error) error {
	if errors.Is(err, store.ErrRebuildAborted) {
		in.store.ForgetRebuild(id) // its marker is gone with what it wrote
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.checkTimeout())
	defer cancel()
	if aerr := in.store.AbandonRebuild(ctx, id); aerr != nil {
		in.log.Debug("abandon rebuild", "err", aerr)
	}
	return err
}

// catchUp replays the stream after cp in normal mode.
func (in *Ingester) catchUp(ctx context.Context, cp uint64) error {
	in.lastWritten.Store(cp)
	in.m.checkpoint.Set(float64(cp))
	state, err := in.streamState(ctx)
	if err != nil {
		return err
	}
	if state.Msgs == 0 || state.LastSeq <= cp {
		if cp > state.LastSeq {
			in.log.Warn("checkpoint is ahead of the stream (was the stream recreated?)", "checkpoint", cp, "stream_last", state.LastSeq)
		}
		return nil
	}
	in.phase.Store(int32(phaseCatchingUp))
	in.log.Info("catching up with the stream", "from", cp+1, "to", state.LastSeq)
	return in.replay(ctx, cp+1, state.LastSeq, func(ctx context.Context, b batch) error {
		res, err := in.write(ctx, store.Batch{
			Mode:          store.Normal,
			Events:        b.events(),
			MaxSeq:        b.maxSeq,
			MinCheckpoint: in.lastWritten.Load(),
		}, nil)
		if err != nil {
			return err
		}
		in.written(b, res)
		return nil
	})
}

// streamState reads the stream's current first and last sequences.
func (in *Ingester) streamState(ctx context.Context) (jetstream.StreamState, error) {
	var state jetstream.StreamState
	err := in.retry(ctx, "stream info", func(ctx context.Context) error {
		info, err := in.stream.Info(ctx)
		if err != nil {
			return err
		}
		state = info.State
		return nil
	})
	return state, err
}

// retryRedis is retry for Redis calls: failures are counted.
func (in *Ingester) retryRedis(ctx context.Context, what string, f func(context.Context) error) error {
	return in.retry(ctx, what, func(ctx context.Context) error {
		err := f(ctx)
		var p permanent
		if err != nil && !errors.As(err, &p) {
			in.m.redisErrors.Inc()
		}
		return err
	})
}

// replayConsumer creates an ordered consumer on the revocation subjects
// starting at sequence from.
func (in *Ingester) replayConsumer(ctx context.Context, from uint64) (jetstream.Consumer, error) {
	var oc jetstream.Consumer
	err := in.retry(ctx, "create replay consumer", func(ctx context.Context) error {
		var err error
		oc, err = in.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
			FilterSubjects:    []string{events.SubjectAll},
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       from,
			InactiveThreshold: time.Minute,
		})
		return err
	})
	return oc, err
}

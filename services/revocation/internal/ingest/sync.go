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

// sync brings Redis in line with the stream: a rebuild when the checkpoint
// is missing, else a catch-up replay from checkpoint+1 to the stream's last
// sequence (events the durable consumer acked but Redis lost). It starts
// over whenever Redis changes under it, and returns only when done or when
// ctx ends.
func (in *Ingester) sync(ctx context.Context) error {
	for {
		var cp uint64
		var ok bool
		err := in.retryRedis(ctx, "read checkpoint", func(ctx context.Context) error {
			var err error
			cp, ok, err = in.store.Checkpoint(ctx)
			return err
		})
		if err != nil {
			return err
		}
		if ok {
			err = in.catchUp(ctx, cp)
		} else {
			err = in.rebuild(ctx)
		}
		if err == nil {
			return nil
		}
		if !isStoreSignal(err) && !errors.Is(err, errRestartSync) {
			return err
		}
		in.log.Warn("redis changed during sync; starting over", "reason", err)
	}
}

// rebuild refills an emptied Redis from the whole stream without writing
// the checkpoint (validators keep failing closed), then sets the
// checkpoint to the stream's last sequence taken at the start.
func (in *Ingester) rebuild(ctx context.Context) error {
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
	start := time.Now()
	in.phase.Store(int32(phaseRebuilding))
	in.m.rebuilds.Inc()
	in.m.rebuildInProgress.Set(1)
	defer in.m.rebuildInProgress.Set(0)

	state, err := in.streamState(ctx)
	if err != nil {
		return in.abandon(id, err)
	}
	in.log.Warn("checkpoint missing: rebuilding Redis from the stream", "first", state.FirstSeq, "last", state.LastSeq, "messages", state.Msgs)
	if state.Msgs > 0 {
		err = in.replay(ctx, state.FirstSeq, state.LastSeq, func(ctx context.Context, b batch) error {
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
	in.lastWritten.Store(cp)
	in.m.checkpoint.Set(float64(cp))
	in.m.rebuildDuration.Observe(time.Since(start).Seconds())
	in.log.Info("rebuild finished", "checkpoint", cp, "took", time.Since(start).Round(time.Millisecond))
	if state.Msgs > 0 {
		in.announce([][2]uint64{{state.FirstSeq, state.LastSeq}}, cp)
	}
	return nil
}

// abandon removes this rebuild's mark (best effort) and returns err.
func (in *Ingester) abandon(id string, err error) error {
	if !errors.Is(err, store.ErrRebuildAborted) {
		ctx, cancel := context.WithTimeout(context.Background(), in.checkTimeout())
		defer cancel()
		if aerr := in.store.AbandonRebuild(ctx, id); aerr != nil {
			in.log.Debug("abandon rebuild", "err", aerr)
		}
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
		in.written(b, res.Checkpoint)
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

package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// replay reads the stream from sequence from through last with an ordered
// consumer and hands it to apply in batches of what is already buffered.
// It ends after the message with sequence >= last, or when nothing is left
// to read (the last messages were deleted or aged out meanwhile). Invalid
// events are skipped: the durable consumer terminates and counts them.
func (in *Ingester) replay(ctx context.Context, from, last uint64, apply func(context.Context, batch) error) error {
	oc, err := in.replayConsumer(ctx, from)
	if err != nil {
		return err
	}
	defer in.deleteReplayConsumer(oc)
	if info := oc.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(in.cfg.BatchSize))
	if err != nil {
		return fmt.Errorf("%w: replay: %w", errRestartSync, err)
	}
	src := newSource(it, in.cfg.BatchSize, in.log)
	defer src.stop(false)

	processed := from - 1
	idle := time.NewTimer(in.cfg.ReplayIdle)
	defer idle.Stop()
	for {
		var first jetstream.Msg
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m, ok := <-src.ch:
			if !ok {
				return fmt.Errorf("%w: replay consumer closed", errRestartSync)
			}
			first = m
		case <-idle.C:
			if in.replayDone(ctx, oc, processed) {
				return nil
			}
			idle.Reset(in.cfg.ReplayIdle)
			continue
		}
		msgs, done := cutAt(src.collect(first, in.cfg.BatchSize), last)
		if b := in.decode(msgs, false); b.maxSeq > 0 {
			if err := apply(ctx, b); err != nil {
				return err
			}
			processed = b.maxSeq
		}
		if done {
			return nil
		}
		idle.Reset(in.cfg.ReplayIdle)
	}
}

// cutAt keeps the messages up to the first one at or after last, or the
// first one after which the server had nothing more; done reports whether
// it found it.
func cutAt(msgs []jetstream.Msg, last uint64) ([]jetstream.Msg, bool) {
	for i, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		if md.Sequence.Stream >= last || md.NumPending == 0 {
			return msgs[:i+1], true
		}
	}
	return msgs, false
}

// replayDone asks the server whether the ordered consumer has nothing left
// and everything it delivered was processed.
func (in *Ingester) replayDone(ctx context.Context, oc jetstream.Consumer, processed uint64) bool {
	cctx, cancel := context.WithTimeout(ctx, in.checkTimeout())
	defer cancel()
	info, err := oc.Info(cctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && (info.Delivered.Consumer == 0 || info.Delivered.Stream <= processed)
}

// deleteReplayConsumer removes the ordered consumer's server-side state
// now rather than after its inactivity threshold.
func (in *Ingester) deleteReplayConsumer(oc jetstream.Consumer) {
	info := oc.CachedInfo()
	if info == nil || in.cfg.LookupOnly { // no permission: it expires by itself
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), in.checkTimeout())
	defer cancel()
	if err := in.js.DeleteConsumer(ctx, events.StreamName, info.Name); err != nil {
		in.log.Debug("delete replay consumer", "name", info.Name, "err", err)
	}
}

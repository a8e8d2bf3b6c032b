package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/nats-io/nats.go/jetstream"
)

// replay reads the stream from sequence from through last with an ordered
// consumer and hands it to apply in batches of what is already buffered,
// in stream order, one apply at a time; the next batch is decoded while
// apply runs (decodeAhead). It ends after the message with sequence >=
// last, or when nothing is left to read (the last messages were deleted
// or aged out meanwhile). Invalid events are skipped: the durable
// consumer terminates and counts them.
func (in *Ingester) replay(ctx context.Context, from, last uint64, apply func(context.Context, batch) error) error {
	oc, err := in.replayConsumer(ctx, from)
	if err != nil {
		return err
	}
	defer in.deleteReplayConsumer(oc)
	if info := oc.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(replayPull * in.cfg.BatchSize))
	if err != nil {
		return fmt.Errorf("%w: replay: %w", errRestartSync, err)
	}
	src := newSource(it, in.cfg.BatchSize, in.log)
	defer src.stop(false)
	batches, stop := in.decodeAhead(src, last)
	defer stop()

	processed := from - 1
	idle := time.NewTimer(in.cfg.ReplayIdle)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-batches:
			if !ok {
				return fmt.Errorf("%w: replay consumer closed", errRestartSync)
			}
			if d.b.maxSeq > 0 {
				if err := apply(ctx, d.b); err != nil {
					return err
				}
				processed = d.b.maxSeq
			}
			if d.done {
				return nil
			}
			idle.Reset(in.cfg.ReplayIdle)
		case <-idle.C:
			// A batch decoded but not applied yet was delivered: the
			// server's delivered sequence is above processed.
			if in.replayDone(ctx, oc, processed) {
				return nil
			}
			idle.Reset(in.cfg.ReplayIdle)
		}
	}
}

// replayPull is how many batches a replay asks JetStream for at a time:
// an ordered consumer delivers what it is asked for without acks, so a
// larger request costs only buffer memory and saves pull round trips.
const replayPull = 4

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

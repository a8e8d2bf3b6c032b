package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/eventjwt/eventjwt/internal/redisfn"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/eventjwt/eventjwt/services/revocation/internal/backoff"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/nats-io/nats.go/jetstream"
)

// item is a decoded message.
type item struct {
	msg    jetstream.Msg
	seq    uint64
	stored time.Time // when JetStream stored it
}

// batch is what one Redis write covers.
type batch struct {
	items  []item
	evs    []events.Event // the items' events, in the same order
	maxSeq uint64         // highest sequence, invalid messages included
}

func (b batch) events() []events.Event { return b.evs }

func (b batch) seqs() []uint64 {
	seqs := make([]uint64, len(b.items))
	for i, it := range b.items {
		seqs[i] = it.seq
	}
	return seqs
}

// decode turns messages into a batch, decoding them with
// revocation.DecodeBatch. Messages that can never be processed are left
// out; from the durable consumer (terminate true) they are also
// terminated, logged and counted, so that they are never redelivered.
func (in *Ingester) decode(msgs []jetstream.Msg, terminate bool) batch {
	var b batch
	held := make([]jetstream.Msg, 0, len(msgs))
	stored := make([]time.Time, 0, len(msgs))
	raw := make([]revocation.Message, 0, len(msgs))
	for _, msg := range msgs {
		md, err := msg.Metadata()
		if err != nil {
			in.log.Warn("dropping message without JetStream metadata", "subject", msg.Subject(), "err", err)
			continue
		}
		b.maxSeq = max(b.maxSeq, md.Sequence.Stream)
		held = append(held, msg)
		stored = append(stored, md.Timestamp)
		raw = append(raw, revocation.Message{Subject: msg.Subject(), Data: msg.Data(), Seq: md.Sequence.Stream})
	}
	evs, invalid := revocation.DecodeBatch(raw)
	b.items = make([]item, 0, len(evs))
	b.evs = make([]events.Event, 0, len(evs))
	for _, d := range evs {
		b.items = append(b.items, item{msg: held[d.Index], seq: d.Seq, stored: stored[d.Index]})
		b.evs = append(b.evs, d.Event)
	}
	for _, inv := range invalid {
		if !terminate {
			in.log.Debug("skipping invalid event in replay", "subject", inv.Subject, "seq", inv.Seq, "err", inv.Err)
			continue
		}
		in.m.invalid.WithLabelValues(invalidReason(inv.Err)).Inc()
		in.log.Warn("dropping invalid event", "subject", inv.Subject, "seq", inv.Seq, "size", len(raw[inv.Index].Data), "err", inv.Err)
		if err := held[inv.Index].TermWithReason(inv.Reason()); err != nil {
			in.log.Warn("terminating invalid event", "seq", inv.Seq, "err", err)
		}
	}
	return b
}

func invalidReason(err error) string {
	switch {
	case errors.Is(err, revocation.ErrUnsupportedSchema):
		return reasonUnsupportedSchema
	case errors.Is(err, revocation.ErrSubjectMismatch):
		return reasonSubjectMismatch
	default:
		return reasonInvalid
	}
}

// write applies a batch, retrying Redis failures in place with backoff.
// Messages in held are kept alive with InProgress while it waits, and
// negatively acknowledged if ctx ends first (so that another instance takes
// them at once). The attempt in flight is not cancelled by ctx: a stop
// lets it finish. The store's sentinel errors are returned as they are.
func (in *Ingester) write(ctx context.Context, sb store.Batch, held []item) (store.Result, error) {
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.WriteTimeout)
		start := time.Now()
		res, err := in.store.Apply(actx, sb)
		cancel()
		if err == nil {
			in.m.applyDuration.Observe(time.Since(start).Seconds())
			in.m.batchSize.Observe(float64(len(sb.Events)))
			in.m.expired.Add(float64(res.Expired))
			if res.Clamped > 0 {
				in.m.clamped.Add(float64(res.Clamped))
				in.log.Warn("event expiries cut to the longest token lifetime; is REVOCATION_MAX_TOKEN_TTL below an issuer's token TTL?",
					"events", res.Clamped)
			}
			for typ, n := range res.Written {
				in.m.applied.WithLabelValues(typ).Add(float64(n))
			}
			return res, nil
		}
		if isStoreSignal(err) {
			return res, err
		}
		in.m.redisErrors.Inc()
		d := in.cfg.Backoff.Delay(attempt)
		if errors.Is(err, redisfn.ErrNotLoaded) {
			in.log.Error("redis write refused; retrying", "attempt", attempt+1, "in", d, "err", err)
		} else {
			in.log.Warn("redis write failed; retrying", "mode", sb.Mode, "events", len(sb.Events), "attempt", attempt+1, "in", d, "err", err)
		}
		progress := func() {
			for _, it := range held {
				_ = it.msg.InProgress()
			}
		}
		progress()
		if err := backoff.SleepTicking(ctx, d, in.cfg.AckWait/3, progress); err != nil {
			nak(held)
			return store.Result{}, err
		}
	}
}

func isStoreSignal(err error) bool {
	return errors.Is(err, store.ErrCheckpointLost) ||
		errors.Is(err, store.ErrCheckpointRegressed) ||
		errors.Is(err, store.ErrRebuildAborted)
}

func nak(items []item) {
	for _, it := range items {
		_ = it.msg.Nak()
	}
}

// written records a successful write: metrics, the checkpoint, and the
// announcement of the sequences now visible to validators, which turns
// into 204s. A write that did not reach the replicas it should have
// (Options.WaitReplicas) is not announced: a failover could still lose it
// for as long as the service takes to notice and replay it, so the auth
// service answers 202 for it.
func (in *Ingester) written(b batch, res store.Result) {
	checkpoint := res.Checkpoint
	if checkpoint > 0 {
		in.lastWritten.Store(max(in.lastWritten.Load(), checkpoint))
		in.m.checkpoint.Set(float64(checkpoint))
	}
	if len(b.items) == 0 {
		return
	}
	newest := b.items[0].stored
	for _, it := range b.items[1:] {
		if it.stored.After(newest) {
			newest = it.stored
		}
	}
	in.m.lastEventAge.Set(in.now().Sub(newest).Seconds())
	if res.Rebuilding {
		// Not announced: validators of those users refuse every token
		// until the rebuild finishes, whose own announcement (or auth's
		// poll of Redis) then reports them.
		in.log.Debug("events written into partitions being rebuilt: not announced", "events", len(b.items))
		return
	}
	if !res.Replicated {
		in.m.unreplicated.Add(float64(len(b.items)))
		in.log.Warn("events written but not acknowledged by the replicas in time: not announced (logout answers 202)", "events", len(b.items))
		return
	}
	in.announce(events.RangesOf(b.seqs()), checkpoint)
}

// announce publishes an events.Applied on core NATS. Losing one is
// harmless: the auth service also polls Redis.
func (in *Ingester) announce(ranges [][2]uint64, checkpoint uint64) {
	body, err := events.EncodeApplied(events.Applied{Ranges: ranges, Checkpoint: checkpoint, At: in.now().UTC()})
	if err == nil {
		err = in.js.Conn().Publish(events.SubjectApplied, body)
	}
	if err != nil {
		in.log.Warn("announcing applied events", "ranges", ranges, "err", err)
	}
}

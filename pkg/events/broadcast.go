package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// DefaultHandlerTimeout bounds the context of one handler call of a
// Broadcast subscriber when BroadcastConfig.HandlerTimeout is 0.
const DefaultHandlerTimeout = 10 * time.Second

// ErrBadStart means a BroadcastConfig sets more than one start (StartNew,
// StartAt, StartSequence).
var ErrBadStart = errors.New("events: broadcast: set at most one of StartNew, StartAt and StartSequence")

// BroadcastConfig configures a Broadcast subscriber. At most one start is
// set; none means StartNew.
type BroadcastConfig struct {
	// StartNew begins with the first event stored after Broadcast is
	// called: what every replica must react to from now on. It is the
	// default.
	StartNew bool
	// StartAt, when set, begins at the first event stored at or after this
	// time: a replay of what may still matter, for example from now -
	// (longest token lifetime + leeway), instead of from the first message
	// of a stream with a long retention. JetStream turns it into a
	// starting sequence when the consumer is created, so a time ahead of
	// the server's clock is the same as StartNew.
	StartAt time.Time
	// StartSequence, when set, begins at this stream sequence (one after
	// the last Meta.Sequence handled, to resume).
	StartSequence uint64

	// UserID, when set, delivers only that user's revocations
	// (UserSubjects): a user id, or revocation.ExternalID(iss, sub) for
	// another issuer's subject. It must be a canonical UUID
	// (ErrBadUserID).
	UserID string

	// HandlerTimeout bounds the context each handler call gets; default
	// DefaultHandlerTimeout. A handler must return when its context ends:
	// the next event waits for it.
	HandlerTimeout time.Duration
	// Logger receives a line for each invalid message and each handler
	// error; defaults to slog.Default().
	Logger *slog.Logger
	// OnInvalid, if set, is called for each message dropped because it can
	// never be processed (use it to count them in a metric).
	OnInvalid func(subject string, err error)
	// OnError, if set, is called for each event the handler returned an
	// error for. The event is not delivered again: a broadcast has no
	// acks.
	OnError func(meta Meta, err error)
}

// consumerConfig returns the ordered consumer configuration for cfg; a
// StartNew start needs the stream's last sequence, read from js.
func (c BroadcastConfig) consumerConfig(ctx context.Context, js jetstream.JetStream) (jetstream.OrderedConsumerConfig, error) {
	starts := 0
	for _, set := range []bool{c.StartNew, !c.StartAt.IsZero(), c.StartSequence > 0} {
		if set {
			starts++
		}
	}
	if starts > 1 {
		return jetstream.OrderedConsumerConfig{}, ErrBadStart
	}
	cc := jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectAll}, InactiveThreshold: time.Minute}
	if c.UserID != "" {
		if !revocation.IsUUID(c.UserID) {
			return cc, fmt.Errorf("events: broadcast: %w: %q", ErrBadUserID, short(c.UserID))
		}
		cc.FilterSubjects = UserSubjects(c.UserID)
	}
	switch {
	case !c.StartAt.IsZero():
		at := c.StartAt
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &at
	case c.StartSequence > 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.StartSequence
	default:
		// "New" as a sequence, not DeliverNewPolicy: should the ordered
		// consumer be recreated (a reconnect) before its first message, it
		// starts again from this sequence instead of from a later "now",
		// and misses nothing stored meanwhile.
		s, err := js.Stream(ctx, StreamName)
		if err != nil {
			return cc, fmt.Errorf("events: broadcast: stream info: %w", err)
		}
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, s.CachedInfo().State.LastSeq+1
	}
	return cc, nil
}

// Broadcast is the way for every replica to see every event: it reads the
// stream with an ordered consumer of its own (no durable, no acks, in
// stream order, recreated from the next sequence after a reconnect) from
// the start cfg names, and calls h for each event, one at a time, until
// Stop. Replicas that each call Broadcast each get every event, for
// example to close the connections of a revoked user wherever they are
// open. An error from h is logged and reported to OnError; the stream
// goes on. Messages that can never be processed are dropped, logged and
// reported to OnInvalid.
func Broadcast(ctx context.Context, js jetstream.JetStream, cfg BroadcastConfig, h HandlerFunc) (*Subscription, error) {
	occ, err := cfg.consumerConfig(ctx, js)
	if err != nil {
		return nil, err
	}
	oc, err := js.OrderedConsumer(ctx, StreamName, occ)
	if err != nil {
		return nil, fmt.Errorf("events: broadcast: ordered consumer: %w", err)
	}
	b := &broadcaster{cfg: cfg, h: h, log: cfg.Logger, timeout: cfg.HandlerTimeout}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.timeout <= 0 {
		b.timeout = DefaultHandlerTimeout
	}
	var cancel context.CancelFunc
	b.ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	cc, err := oc.Consume(b.handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		b.log.Debug("events: broadcast consumer", "err", err)
	}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("events: broadcast: consume: %w", err)
	}
	return &Subscription{cc: cc, cancel: cancel, cleanup: func() { deleteOrdered(js, oc) }}, nil
}

// broadcaster hands the messages of one ordered consumer to a handler.
type broadcaster struct {
	ctx     context.Context // ends at Stop; the parent of every handler call's
	cfg     BroadcastConfig
	h       HandlerFunc
	log     *slog.Logger
	timeout time.Duration
}

// handle decodes one message and calls the handler for it.
func (b *broadcaster) handle(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		b.log.Warn("events: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	evs, invalid := revocation.DecodeBatch([]revocation.Message{{Subject: msg.Subject(), Data: msg.Data(), Seq: md.Sequence.Stream}})
	for _, inv := range invalid {
		b.log.Warn("events: dropping invalid event", "subject", inv.Subject, "seq", inv.Seq, "err", inv.Err)
		if b.cfg.OnInvalid != nil {
			b.cfg.OnInvalid(inv.Subject, inv.Err)
		}
	}
	for _, d := range evs {
		meta := Meta{Subject: d.Subject, Sequence: d.Seq, NumDelivered: md.NumDelivered, Timestamp: md.Timestamp}
		hctx, cancel := context.WithTimeout(b.ctx, b.timeout)
		err := b.h(hctx, d.Event, meta)
		cancel()
		if err != nil {
			b.log.Warn("events: broadcast handler failed; going on", "subject", meta.Subject, "seq", meta.Sequence, "err", err)
			if b.cfg.OnError != nil {
				b.cfg.OnError(meta, err)
			}
		}
	}
}

// deleteOrdered removes a stopped ordered consumer's server state now
// rather than after its inactivity threshold.
func deleteOrdered(js jetstream.JetStream, oc jetstream.Consumer) {
	info := oc.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = js.DeleteConsumer(ctx, StreamName, info.Name) // best effort: it expires anyway
}

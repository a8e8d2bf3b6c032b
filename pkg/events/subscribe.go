package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Meta describes where a consumed event sits in the stream.
type Meta struct {
	Subject      string
	Sequence     uint64 // stream sequence
	NumDelivered uint64 // 1 on first delivery
	Timestamp    time.Time
}

// HandlerFunc processes one event. Returning nil acks it; returning an error
// asks for redelivery after SubscribeConfig.RetryDelay.
type HandlerFunc func(ctx context.Context, ev Event, meta Meta) error

// SubscribeConfig configures a durable pull consumer on the stream: the
// shared way to consume, where every replica of a service subscribes with
// the same Durable and JetStream splits the messages between them, so that
// each event is handled (and acked) by one of them.
type SubscribeConfig struct {
	// Durable is the consumer name; it survives restarts. Required.
	Durable string
	// FilterSubject narrows the subjects; defaults to SubjectAll. It
	// excludes UserID.
	FilterSubject string
	// UserID, when set, narrows the consumer to one user's revocations
	// (UserSubjects): a user id, or revocation.ExternalID(iss, sub) for
	// another issuer's subject. It must be a canonical UUID
	// (ErrBadUserID).
	UserID string
	// StartAt, when set, makes a new durable begin at the first message
	// stored at or after this time instead of the first message of the
	// stream (for example now - (longest token lifetime + leeway)). It is
	// used only when the durable is created: an existing durable keeps the
	// start it was created with and resumes where it left off.
	StartAt time.Time
	// AckWait is how long the server waits for an ack before redelivering;
	// defaults to 30s.
	AckWait time.Duration
	// RetryDelay is the NakWithDelay used when the handler fails; defaults
	// to 1s.
	RetryDelay time.Duration
	// Logger receives a line for each invalid message; defaults to
	// slog.Default().
	Logger *slog.Logger
	// OnInvalid, if set, is called for each message terminated because it
	// can never be processed (use it to count them in a metric).
	OnInvalid func(subject string, err error)
}

// Subscription is a running consumer (Subscribe, SubscribeExisting or
// Broadcast); Stop ends it.
type Subscription struct {
	cc      jetstream.ConsumeContext
	cancel  context.CancelFunc
	cleanup func() // after the consumer stopped; may be nil
	once    sync.Once
}

// ConsumerConfig returns the durable consumer configuration Subscribe
// creates: the filter (FilterSubject, the UserID's subjects, or
// SubjectAll), explicit acks, unlimited deliveries, and the start
// (StartAt, or the first message).
func (c SubscribeConfig) ConsumerConfig() jetstream.ConsumerConfig {
	ackWait := c.AckWait
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	cc := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	}
	switch {
	case c.UserID != "":
		cc.FilterSubjects = UserSubjects(c.UserID)
	case c.FilterSubject != "":
		cc.FilterSubject = c.FilterSubject
	default:
		cc.FilterSubject = SubjectAll
	}
	if !c.StartAt.IsZero() {
		at := c.StartAt
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &at
	}
	return cc
}

// check reports what makes c unusable.
func (c SubscribeConfig) check(op string) error {
	switch {
	case c.Durable == "":
		return fmt.Errorf("events: %s: Durable is required", op)
	case c.UserID != "" && c.FilterSubject != "":
		return fmt.Errorf("events: %s %s: FilterSubject and UserID exclude each other", op, c.Durable)
	case c.UserID != "" && !revocation.IsUUID(c.UserID):
		return fmt.Errorf("events: %s %s: %w: %q", op, c.Durable, ErrBadUserID, short(c.UserID))
	}
	return nil
}

// Subscribe is the shared way to consume: it creates (or reuses) the
// durable consumer cfg.Durable and calls h for each event, in stream
// order, one at a time, acking it when h returns nil. Replicas that
// subscribe with the same Durable split the messages: each event is
// handled by one of them (again, by any of them, after a failure or an
// AckWait without an ack). Messages that can never be processed
// (undecodable, invalid, on the wrong subject) are terminated with a
// reason, logged and reported to OnInvalid; they never stall the consumer.
func Subscribe(ctx context.Context, js jetstream.JetStream, cfg SubscribeConfig, h HandlerFunc) (*Subscription, error) {
	if err := cfg.check("subscribe"); err != nil {
		return nil, err
	}
	want := cfg.ConsumerConfig()
	if want.OptStartTime != nil {
		// The server refuses to change a durable's start: an existing one
		// keeps its own and resumes where it was.
		switch existing, err := js.Consumer(ctx, StreamName, cfg.Durable); {
		case err == nil:
			got := existing.CachedInfo().Config
			want.DeliverPolicy, want.OptStartTime, want.OptStartSeq = got.DeliverPolicy, got.OptStartTime, got.OptStartSeq
		case !errors.Is(err, jetstream.ErrConsumerNotFound):
			return nil, fmt.Errorf("events: subscribe %s: %w", cfg.Durable, err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, want)
	if err != nil {
		return nil, fmt.Errorf("events: subscribe %s: %w", cfg.Durable, err)
	}
	return consume(ctx, cons, cfg, h)
}

// consume delivers the consumer's messages to h, one at a time, until Stop.
func consume(ctx context.Context, cons jetstream.Consumer, cfg SubscribeConfig, h HandlerFunc) (*Subscription, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	retry := cfg.RetryDelay
	if retry == 0 {
		retry = time.Second
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		handleMsg(hctx, msg, h, retry, logger, cfg.OnInvalid)
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("events: subscribe %s: %w", cfg.Durable, err)
	}
	return &Subscription{cc: cc, cancel: cancel}, nil
}

func handleMsg(ctx context.Context, msg jetstream.Msg, h HandlerFunc, retry time.Duration, logger *slog.Logger, onInvalid func(string, error)) {
	md, err := msg.Metadata()
	if err != nil {
		// Not a JetStream message; nothing to ack.
		logger.Warn("events: message without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	evs, invalid := revocation.DecodeBatch([]revocation.Message{{Subject: msg.Subject(), Data: msg.Data(), Seq: md.Sequence.Stream}})
	for _, inv := range invalid {
		logger.Warn("events: dropping invalid event", "subject", inv.Subject, "seq", inv.Seq, "err", inv.Err)
		if onInvalid != nil {
			onInvalid(inv.Subject, inv.Err)
		}
		_ = msg.TermWithReason(inv.Reason())
	}
	for _, d := range evs {
		meta := Meta{Subject: d.Subject, Sequence: d.Seq, NumDelivered: md.NumDelivered, Timestamp: md.Timestamp}
		if err := h(ctx, d.Event, meta); err != nil {
			logger.Warn("events: handler failed; will retry", "subject", meta.Subject, "seq", meta.Sequence, "err", err)
			_ = msg.NakWithDelay(retry)
			return
		}
		_ = msg.Ack()
	}
}

// Stop stops delivering messages and waits for the handler in flight. It
// is safe to call more than once, and from several goroutines: every call
// returns once the subscription is stopped.
func (s *Subscription) Stop() {
	s.once.Do(func() {
		s.cc.Stop()
		<-s.cc.Closed()
		s.cancel()
		if s.cleanup != nil {
			s.cleanup()
		}
	})
}

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

// SubscribeConfig configures a durable pull consumer on the stream.
type SubscribeConfig struct {
	// Durable is the consumer name; it survives restarts. Required.
	Durable string
	// FilterSubject narrows the subjects; defaults to SubjectAll.
	FilterSubject string
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

// Subscription is a running consumer; Stop ends it.
type Subscription struct {
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
}

// ConsumerConfig returns the durable consumer configuration Subscribe uses.
func (c SubscribeConfig) ConsumerConfig() jetstream.ConsumerConfig {
	filter := c.FilterSubject
	if filter == "" {
		filter = SubjectAll
	}
	ackWait := c.AckWait
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	return jetstream.ConsumerConfig{
		Durable:       c.Durable,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	}
}

// Subscribe creates (or reuses) the durable consumer and calls h for each
// event, in stream order, one at a time. Messages that can never be
// processed (undecodable, invalid, on the wrong subject) are terminated with
// a reason, logged and reported to OnInvalid; they never stall the consumer.
func Subscribe(ctx context.Context, js jetstream.JetStream, cfg SubscribeConfig, h HandlerFunc) (*Subscription, error) {
	if cfg.Durable == "" {
		return nil, errors.New("events: subscribe: Durable is required")
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName, cfg.ConsumerConfig())
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

// Stop stops delivering messages and waits for the handler in flight.
func (s *Subscription) Stop() {
	s.cc.Stop()
	<-s.cc.Closed()
	s.cancel()
}

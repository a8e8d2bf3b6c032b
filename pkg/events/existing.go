package events

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// This file serves identities that may not manage JetStream: in a
// least-privilege deployment (deploy/nats/nats-server.conf) an administrator
// creates the REVOCATIONS stream and the durable consumers, and the services
// only look them up. Nothing here creates, updates or deletes anything.

// ErrConsumerMisconfigured means an existing durable consumer would not
// deliver every revocation reliably: acks not explicit, a limited number of
// deliveries (an event could be dropped), or a filter other than the one
// asked for.
var ErrConsumerMisconfigured = errors.New("events: consumer misconfigured")

// CheckStream looks the REVOCATIONS stream up and checks it as EnsureStream
// does, but never creates it: it needs only the permission to publish on
// $JS.API.STREAM.INFO.REVOCATIONS. A missing stream is an error wrapping
// jetstream.ErrStreamNotFound (the administrator has not created it yet;
// retrying later is the cure). A stream with fewer replicas than
// cfg.Replicas is refused (ErrStreamMisconfigured), and one with a single
// copy on a cluster while cfg.Replicas is unset too (ErrReplicasUnset).
func CheckStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("events: check stream %s: %w", StreamName, err)
	}
	return checkStream(js, s, cfg)
}

// CheckConsumer looks up the durable consumer cfg.Durable and checks that
// it delivers what Subscribe's own would: explicit acks, unlimited
// deliveries, and cfg's filter (FilterSubject, the subjects of UserID, or
// SubjectAll by default). Its start is the administrator's choice. It never creates or
// updates the consumer: it needs only the permission to publish on
// $JS.API.CONSUMER.INFO.REVOCATIONS.<durable>. A missing consumer is an
// error wrapping jetstream.ErrConsumerNotFound.
func CheckConsumer(ctx context.Context, js jetstream.JetStream, cfg SubscribeConfig) (jetstream.Consumer, error) {
	if err := cfg.check("check consumer"); err != nil {
		return nil, err
	}
	cons, err := js.Consumer(ctx, StreamName, cfg.Durable)
	if err != nil {
		return nil, fmt.Errorf("events: check consumer %s: %w", cfg.Durable, err)
	}
	info := cons.CachedInfo()
	if info == nil {
		return nil, fmt.Errorf("events: check consumer %s: no consumer info", cfg.Durable)
	}
	if err := compatible(info.Config, cfg.ConsumerConfig()); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConsumerMisconfigured, cfg.Durable, err)
	}
	return cons, nil
}

// compatible reports why got, an existing consumer's configuration, cannot
// stand in for want, the one Subscribe would create.
func compatible(got, want jetstream.ConsumerConfig) error {
	if got.AckPolicy != jetstream.AckExplicitPolicy {
		return fmt.Errorf("ack policy is %s, want explicit", got.AckPolicy)
	}
	if got.MaxDeliver > 0 {
		return fmt.Errorf("max deliver is %d: an event failing that often would be dropped; want -1 (unlimited)", got.MaxDeliver)
	}
	have, need := filters(got), filters(want)
	if len(have) == 0 && slices.Equal(need, []string{SubjectAll}) {
		return nil // the whole stream, which is SubjectAll
	}
	if !slices.Equal(have, need) {
		return fmt.Errorf("filters are %q, want %q", have, need)
	}
	return nil
}

// filters returns the sorted subject filters of a consumer configuration.
func filters(c jetstream.ConsumerConfig) []string {
	fs := slices.Clone(c.FilterSubjects)
	if c.FilterSubject != "" {
		fs = append(fs, c.FilterSubject)
	}
	slices.Sort(fs)
	return fs
}

// SubscribeExisting is Subscribe for a durable consumer that an
// administrator created: it checks the consumer with CheckConsumer instead
// of creating or updating it, then calls h for each event exactly as
// Subscribe does. It needs only the permissions to publish on
// $JS.API.CONSUMER.INFO.REVOCATIONS.<durable>,
// $JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.<durable> and
// $JS.ACK.REVOCATIONS.<durable>.>, and to subscribe to the connection's
// inbox prefix. cfg.AckWait is the administrator's choice and is ignored.
func SubscribeExisting(ctx context.Context, js jetstream.JetStream, cfg SubscribeConfig, h HandlerFunc) (*Subscription, error) {
	cons, err := CheckConsumer(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	return consume(ctx, cons, cfg, h)
}

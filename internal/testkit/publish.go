package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishWindow is how many asynchronous publishes PublishAsync keeps in
// flight.
const publishWindow = 1024

// PublishAsync stores msgs in their stream with asynchronous publishes, a
// window of them in flight, and fails tb on the first error: the way to
// preload a stream with many messages (js's default limit of pending
// asynchronous publishes, 4000, is above the window).
func PublishAsync(tb testing.TB, js jetstream.JetStream, msgs []*nats.Msg) {
	tb.Helper()
	futures := make([]jetstream.PubAckFuture, 0, publishWindow)
	check := func() {
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				tb.Fatalf("testkit: publish: %v", err)
			case <-time.After(2 * time.Minute):
				tb.Fatal("testkit: publish: no PubAck within 2 minutes")
			}
		}
		futures = futures[:0]
	}
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			tb.Fatalf("testkit: publish: %v", err)
		}
		if futures = append(futures, f); len(futures) == cap(futures) {
			check()
		}
	}
	check()
}

// ReadAll reads stream with a raw ordered consumer until it has the
// message at sequence last: the baseline of benchmarks that replay a
// stream.
func ReadAll(tb testing.TB, js jetstream.JetStream, stream string, last uint64) {
	tb.Helper()
	ctx := context.Background()
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatalf("testkit: ordered consumer: %v", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		tb.Fatalf("testkit: messages: %v", err)
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			tb.Fatalf("testkit: next message: %v", err)
		}
		md, err := m.Metadata()
		if err != nil {
			tb.Fatalf("testkit: metadata: %v", err)
		}
		if md.Sequence.Stream >= last {
			return
		}
	}
}

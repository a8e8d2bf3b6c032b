package testkit

import (
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

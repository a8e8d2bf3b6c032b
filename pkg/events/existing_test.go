package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

func TestCheckStream(t *testing.T) {
	js := testkit.StartNATS(t).JetStream(t)
	ctx := t.Context()
	_, err := events.CheckStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour})
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("CheckStream before the stream exists = %v, want ErrStreamNotFound", err)
	}
	if _, err := js.Stream(ctx, events.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("CheckStream created the stream (lookup: %v)", err)
	}
	if _, err := js.CreateStream(ctx, events.StreamConfig{}.JetStreamConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := events.CheckStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
		t.Fatalf("CheckStream on the administrator's stream: %v", err)
	}
	_, err = events.CheckStream(ctx, js, events.StreamConfig{MinMaxAge: 30 * 24 * time.Hour})
	if !errors.Is(err, events.ErrStreamMisconfigured) {
		t.Fatalf("CheckStream with a longer token lifetime = %v, want ErrStreamMisconfigured", err)
	}
}

func TestCheckConsumer(t *testing.T) {
	js := testkit.StartNATS(t).JetStream(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, events.StreamConfig{}.JetStreamConfig()); err != nil {
		t.Fatal(err)
	}
	good := events.SubscribeConfig{Durable: "ok"}.ConsumerConfig()
	tests := []struct {
		name string
		edit func(c *jetstream.ConsumerConfig)
		want error
	}{
		{"OK", func(*jetstream.ConsumerConfig) {}, nil},
		{"OKWholeStream", func(c *jetstream.ConsumerConfig) { c.FilterSubject = "" }, nil},
		{"ErrAckNone", func(c *jetstream.ConsumerConfig) { c.AckPolicy = jetstream.AckNonePolicy }, events.ErrConsumerMisconfigured},
		{"ErrMaxDeliver", func(c *jetstream.ConsumerConfig) { c.MaxDeliver = 5 }, events.ErrConsumerMisconfigured},
		{"ErrFilter", func(c *jetstream.ConsumerConfig) { c.FilterSubject = "revocation.token.>" }, events.ErrConsumerMisconfigured},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := good
			cc.Durable = "c" + string(rune('a'+i))
			tt.edit(&cc)
			if _, err := js.CreateConsumer(ctx, events.StreamName, cc); err != nil {
				t.Fatal(err)
			}
			_, err := events.CheckConsumer(ctx, js, events.SubscribeConfig{Durable: cc.Durable})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckConsumer = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := events.CheckConsumer(ctx, js, events.SubscribeConfig{Durable: "absent"})
		if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("CheckConsumer = %v, want ErrConsumerNotFound", err)
		}
		if _, err := js.Consumer(ctx, events.StreamName, "absent"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("CheckConsumer created the consumer (lookup: %v)", err)
		}
	})
}

func TestSubscribeExistingDeliversAndAcks(t *testing.T) {
	js := testkit.StartNATS(t).JetStream(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, events.StreamConfig{}.JetStreamConfig()); err != nil {
		t.Fatal(err)
	}
	cfg := events.SubscribeConfig{Durable: "chat"}
	if _, err := events.SubscribeExisting(ctx, js, cfg, nil); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("SubscribeExisting without the consumer = %v, want ErrConsumerNotFound", err)
	}
	if _, err := js.CreateConsumer(ctx, events.StreamName, cfg.ConsumerConfig()); err != nil {
		t.Fatal(err)
	}
	ev := events.UserTokensRevoked{UserID: uuid.NewString(), Version: 2}.Event(time.Now())
	if _, err := events.NewPublisher(js).Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	got := make(chan events.Event, 1)
	sub, err := events.SubscribeExisting(ctx, js, cfg, func(_ context.Context, e events.Event, _ events.Meta) error {
		got <- e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case e := <-got:
		if e.ID != ev.ID {
			t.Fatalf("got event %s, want %s", e.ID, ev.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered")
	}
	cons, err := js.Consumer(ctx, events.StreamName, "chat")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the event is acked", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream == 1 && info.NumAckPending == 0
	})
}

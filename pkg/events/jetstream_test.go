package events_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestEnsureStream(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	ctx := t.Context()

	s, err := events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Name != "REVOCATIONS" || cfg.Storage != jetstream.FileStorage || cfg.MaxAge != events.DefaultMaxAge ||
		cfg.Duplicates != events.DefaultDuplicateWindow || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "revocation.>" {
		t.Fatalf("stream config: %+v", cfg)
	}
	// A second call accepts the existing stream.
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// A caller whose tokens outlive the retention refuses the stream.
	_, err = events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: 30 * 24 * time.Hour})
	if !errors.Is(err, events.ErrStreamMisconfigured) {
		t.Fatalf("EnsureStream with a longer token lifetime = %v, want ErrStreamMisconfigured", err)
	}
}

func TestEnsureStreamRaisesMaxAgeToTokenLifetime(t *testing.T) {
	js := testkit.StartNATS(t).JetStream(t)
	s, err := events.EnsureStream(t.Context(), js, events.StreamConfig{MinMaxAge: 48 * time.Hour, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != 48*time.Hour {
		t.Fatalf("MaxAge = %s, want 48h", got)
	}
}

func TestPublishIsDurableAndDeduplicated(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	ctx := t.Context()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(js)
	ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
	first, err := p.Publish(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Publish(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("first %+v, again %+v: want one stored copy", first, again)
	}
	// The stored message carries the event id as Nats-Msg-Id, and survives a restart.
	nt.Restart(t)
	stream, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get(jetstream.MsgIDHeader) != ev.ID {
		t.Fatalf("Nats-Msg-Id = %q, want %q", msg.Header.Get(jetstream.MsgIDHeader), ev.ID)
	}
	if got, err := events.DecodeMsg(msg.Subject, msg.Data); err != nil || got.ID != ev.ID {
		t.Fatalf("stored event: %+v, %v", got, err)
	}
}

func TestPublishRefusesInvalidEventAndMissingStream(t *testing.T) {
	js := testkit.StartNATS(t).JetStream(t)
	p := events.NewPublisher(js)
	bad := events.TokenRevoked{UserID: "alice", JTI: uuid.NewString(), ExpiresAt: time.Now()}.Event(time.Now())
	if _, err := p.Publish(t.Context(), bad); !errors.Is(err, events.ErrInvalidEvent) {
		t.Fatalf("Publish(non-UUID user) = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	good := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now()}.Event(time.Now())
	if _, err := p.Publish(ctx, good); err == nil {
		t.Fatalf("Publish without a stream succeeded; durability cannot have been confirmed")
	}
}

func TestSubscribeSkipsPoisonAndRetriesFailures(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	ctx := t.Context()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	user := uuid.NewString()
	for _, raw := range []struct{ subject, body string }{
		{"revocation.token." + user, "garbage"},
		{"revocation.user.nope", "{}"},
	} {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: raw.subject, Data: []byte(raw.body)}); err != nil {
			t.Fatal(err)
		}
	}
	p := events.NewPublisher(js)
	want := events.UserTokensRevoked{UserID: user, Version: 2}.Event(time.Now())
	if _, err := p.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		invalid  int
		attempts int
		got      []events.Event
	)
	sub, err := events.Subscribe(ctx, js, events.SubscribeConfig{
		Durable:    "test",
		RetryDelay: 10 * time.Millisecond,
		OnInvalid:  func(string, error) { mu.Lock(); invalid++; mu.Unlock() },
	}, func(_ context.Context, ev events.Event, meta events.Meta) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			return errors.New("transient")
		}
		if meta.NumDelivered != 2 || meta.Sequence != 3 {
			t.Errorf("meta %+v, want second delivery of sequence 3", meta)
		}
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	testkit.Eventually(t, 10*time.Second, "event handled after one retry", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && invalid == 2
	})
	if got[0].ID != want.ID {
		t.Fatalf("handled %+v", got[0])
	}
	cons, err := js.Consumer(ctx, events.StreamName, "test")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "nothing pending", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

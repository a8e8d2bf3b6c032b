package app_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// adminConsumer is the durable consumer an administrator creates for the
// service (deploy/nats/nats-server.conf), with edit applied.
func (e *env) adminConsumer(t *testing.T, edit func(*jetstream.ConsumerConfig)) {
	t.Helper()
	cc := events.SubscribeConfig{Durable: "revocation"}.ConsumerConfig()
	// One active instance, hot standbys (ingest.PriorityGroup).
	cc.PriorityGroups = []string{ingest.PriorityGroup}
	cc.PriorityPolicy = jetstream.PriorityPolicyPinned
	cc.PinnedTTL = 5 * time.Second
	if edit != nil {
		edit(&cc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.js.CreateConsumer(ctx, events.StreamName, cc); err != nil {
		t.Fatalf("admin: create consumer: %v", err)
	}
}

// With REVOCATION_MANAGE_STREAM=false the service waits for the
// administrator's durable consumer instead of creating it, then follows
// it without changing it.
func TestLookupOnlyWaitsForAndKeepsTheAdministratorsConsumer(t *testing.T) {
	e := newEnv(t)
	s := e.start(t, "REVOCATION_MANAGE_STREAM=false")
	time.Sleep(300 * time.Millisecond) // several lookups at CHECK_INTERVAL 50ms
	if code, _, _ := s.do(t, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d without the consumer, want 503", code)
	}
	ctx := t.Context()
	if _, err := e.js.Consumer(ctx, events.StreamName, "revocation"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the service created its consumer (lookup: %v)", err)
	}
	e.adminConsumer(t, nil)
	s.waitReady(t)
	before := someEvents(3)
	e.waitAll(t, before, e.publishAll(t, before))

	cons, err := e.js.Consumer(ctx, events.StreamName, "revocation")
	if err != nil {
		t.Fatal(err)
	}
	if d := cons.CachedInfo().Config.Description; d != "" {
		t.Fatalf("the service updated the administrator's consumer (description %q)", d)
	}
	// No replay consumer is deleted either (no permission): they expire.
}

// A consumer that could drop events (limited deliveries) is refused: the
// service stops instead of following it.
func TestLookupOnlyRefusesAMisconfiguredConsumer(t *testing.T) {
	e := newEnv(t)
	e.adminConsumer(t, func(cc *jetstream.ConsumerConfig) { cc.MaxDeliver = 3 })
	s := e.start(t, "REVOCATION_MANAGE_STREAM=false")
	select {
	case err := <-s.done:
		if !errors.Is(err, events.ErrConsumerMisconfigured) {
			t.Fatalf("Run = %v, want ErrConsumerMisconfigured", err)
		}
		s.done <- nil // for the cleanup's stop
	case <-time.After(waitFor):
		t.Fatal("the service runs on a misconfigured consumer")
	}
}

// Without the stream, the service waits for it and never creates it.
func TestLookupOnlyDoesNotCreateTheStream(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.js.DeleteStream(ctx, events.StreamName); err != nil {
		t.Fatal(err)
	}
	e.start(t, "REVOCATION_MANAGE_STREAM=false")
	time.Sleep(300 * time.Millisecond)
	if _, err := e.js.Stream(ctx, events.StreamName); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the service created the stream (lookup: %v)", err)
	}
}

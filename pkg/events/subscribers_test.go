package events_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// bus is one embedded JetStream with the stream and a publisher.
type bus struct {
	t   *testing.T
	nt  *testkit.NATS
	js  jetstream.JetStream
	pub *events.Publisher
}

func newBus(t *testing.T) *bus {
	t.Helper()
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return &bus{t: t, nt: nt, js: js, pub: events.NewPublisher(js)}
}

// publish stores ev and returns its stream sequence.
func (b *bus) publish(ev events.Event) uint64 {
	b.t.Helper()
	ack, err := b.pub.Publish(b.t.Context(), ev)
	if err != nil {
		b.t.Fatal(err)
	}
	return ack.Sequence
}

// revoke publishes a TokenRevoked event of user and returns it.
func (b *bus) revoke(user string) (events.Event, uint64) {
	b.t.Helper()
	ev := events.TokenRevoked{UserID: user, JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
	return ev, b.publish(ev)
}

// stored returns the time JetStream stored the message at seq.
func (b *bus) stored(seq uint64) time.Time {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), events.StreamName)
	if err != nil {
		b.t.Fatal(err)
	}
	m, err := s.GetMsg(b.t.Context(), seq)
	if err != nil {
		b.t.Fatal(err)
	}
	return m.Time
}

// consumers returns the number of consumers on the stream.
func (b *bus) consumers() int {
	b.t.Helper()
	s, err := b.js.Stream(b.t.Context(), events.StreamName)
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(b.t.Context())
	if err != nil {
		b.t.Fatal(err)
	}
	return info.State.Consumers
}

// collector records what a handler was given.
type collector struct {
	mu   sync.Mutex
	seqs []uint64
	ids  []string
}

func (c *collector) handle(_ context.Context, ev events.Event, meta events.Meta) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, meta.Sequence)
	c.ids = append(c.ids, ev.ID)
	return nil
}

func (c *collector) sequences() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seqs)
}

// waitFor polls until c got exactly want, in order, and fails if it got
// anything else.
func (c *collector) waitFor(t *testing.T, what string, want []uint64) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, what, func() bool { return len(c.sequences()) >= len(want) })
	if got := c.sequences(); !slices.Equal(got, want) {
		t.Fatalf("%s: sequences %v, want %v", what, got, want)
	}
}

// broadcast starts a Broadcast subscriber on a connection of its own.
func (b *bus) broadcast(cfg events.BroadcastConfig) (*collector, *events.Subscription) {
	b.t.Helper()
	var c collector
	sub, err := events.Broadcast(b.t.Context(), b.nt.JetStream(b.t), cfg, c.handle)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(sub.Stop)
	return &c, sub
}

// TestBroadcastEveryReplicaGetsEveryEvent: two replicas each get every
// event stored after they started, in order, and nothing from before.
func TestBroadcastEveryReplicaGetsEveryEvent(t *testing.T) {
	b := newBus(t)
	b.revoke(uuid.NewString()) // before: not for StartNew
	one, _ := b.broadcast(events.BroadcastConfig{})
	two, _ := b.broadcast(events.BroadcastConfig{StartNew: true})
	var want []uint64
	for range 20 {
		_, seq := b.revoke(uuid.NewString())
		want = append(want, seq)
	}
	one.waitFor(t, "replica one", want)
	two.waitFor(t, "replica two", want)
}

// TestSharedSplitsEvents: two replicas on one durable handle each event
// once between them.
func TestSharedSplitsEvents(t *testing.T) {
	b := newBus(t)
	var one, two collector
	for _, c := range []*collector{&one, &two} {
		sub, err := events.Subscribe(t.Context(), b.nt.JetStream(t), events.SubscribeConfig{Durable: "shared"}, c.handle)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Stop)
	}
	var want []uint64
	for range 50 {
		_, seq := b.revoke(uuid.NewString())
		want = append(want, seq)
	}
	testkit.Eventually(t, 10*time.Second, "every event handled", func() bool {
		return len(one.sequences())+len(two.sequences()) >= len(want)
	})
	got := append(one.sequences(), two.sequences()...)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("handled %v, want each of %v once", got, want)
	}
	t.Logf("split: %d and %d events", len(one.sequences()), len(two.sequences()))
	if n := b.consumers(); n != 1 {
		t.Fatalf("%d consumers on the stream, want the one durable", n)
	}
}

// TestBroadcastStarts: StartAt skips what was stored before the time,
// StartSequence what is below the sequence.
func TestBroadcastStarts(t *testing.T) {
	b := newBus(t)
	var seqs []uint64
	for range 5 {
		_, seq := b.revoke(uuid.NewString())
		seqs = append(seqs, seq)
	}
	at, _ := b.broadcast(events.BroadcastConfig{StartAt: b.stored(seqs[3])})
	at.waitFor(t, "from the time of the fourth event", seqs[3:])
	from, _ := b.broadcast(events.BroadcastConfig{StartSequence: seqs[1]})
	from.waitFor(t, "from the second event's sequence", seqs[1:])
	// JetStream turns the time into a starting sequence when the consumer
	// is created: a time ahead is the same as StartNew.
	ahead, _ := b.broadcast(events.BroadcastConfig{StartAt: time.Now().Add(time.Hour)})
	_, next := b.revoke(uuid.NewString())
	at.waitFor(t, "the time start follows", append(slices.Clone(seqs[3:]), next))
	from.waitFor(t, "the sequence start follows", append(slices.Clone(seqs[1:]), next))
	ahead.waitFor(t, "a start ahead of now", []uint64{next})
}

// TestBroadcastUserFilter: a user filter delivers that user's token, user
// and session events, and no one else's.
func TestBroadcastUserFilter(t *testing.T) {
	b := newBus(t)
	alice, bob := uuid.NewString(), uuid.NewString()
	mine, _ := b.broadcast(events.BroadcastConfig{UserID: alice})
	var want []uint64
	for _, ev := range []events.Event{
		events.UserTokensRevoked{UserID: alice, Version: 2}.Event(time.Now()),
		events.SessionRevoked{UserID: alice, SessionID: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()),
	} {
		b.revoke(bob)
		want = append(want, b.publish(ev))
	}
	_, seq := b.revoke(alice)
	want = append(want, seq)
	b.revoke(bob)
	mine.waitFor(t, "alice's events", want)

	// The shared form filters the same way.
	var shared collector
	sub, err := events.Subscribe(t.Context(), b.js, events.SubscribeConfig{Durable: "alice", UserID: alice}, shared.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	shared.waitFor(t, "alice's events, shared", want)
	if _, err := events.CheckConsumer(t.Context(), b.js, events.SubscribeConfig{Durable: "alice", UserID: alice}); err != nil {
		t.Fatalf("CheckConsumer of the user's durable: %v", err)
	}
	if _, err := events.CheckConsumer(t.Context(), b.js, events.SubscribeConfig{Durable: "alice"}); !errors.Is(err, events.ErrConsumerMisconfigured) {
		t.Fatalf("CheckConsumer wanting the whole stream of a user's durable: %v, want ErrConsumerMisconfigured", err)
	}
}

// TestSharedStartAt: a new durable with StartAt begins at the time; an
// existing one keeps its start and position, whatever StartAt says now.
func TestSharedStartAt(t *testing.T) {
	b := newBus(t)
	var seqs []uint64
	for range 4 {
		_, seq := b.revoke(uuid.NewString())
		seqs = append(seqs, seq)
	}
	var first collector
	cfg := events.SubscribeConfig{Durable: "late", StartAt: b.stored(seqs[2])}
	sub, err := events.Subscribe(t.Context(), b.js, cfg, first.handle)
	if err != nil {
		t.Fatal(err)
	}
	first.waitFor(t, "a new durable from the time", seqs[2:])
	sub.Stop()
	_, next := b.revoke(uuid.NewString())

	var again collector
	cfg.StartAt = time.Now().Add(time.Hour) // a later start, as a restart computes it
	sub, err = events.Subscribe(t.Context(), b.js, cfg, again.handle)
	if err != nil {
		t.Fatalf("resubscribing to the existing durable with another StartAt: %v", err)
	}
	t.Cleanup(sub.Stop)
	again.waitFor(t, "the existing durable resumes", []uint64{next})
}

// TestSubscriberConfigErrors: a bad user id, conflicting starts or
// filters are refused before anything is created.
func TestSubscriberConfigErrors(t *testing.T) {
	b := newBus(t)
	nop := func(context.Context, events.Event, events.Meta) error { return nil }
	user := uuid.NewString()
	for _, tc := range []struct {
		name string
		cfg  events.BroadcastConfig
		want error
	}{
		{"ErrNewAndTime", events.BroadcastConfig{StartNew: true, StartAt: time.Now()}, events.ErrBadStart},
		{"ErrTimeAndSequence", events.BroadcastConfig{StartAt: time.Now(), StartSequence: 3}, events.ErrBadStart},
		{"ErrNewAndSequence", events.BroadcastConfig{StartNew: true, StartSequence: 3}, events.ErrBadStart},
		{"ErrUserNotUUID", events.BroadcastConfig{UserID: "alice"}, events.ErrBadUserID},
		{"ErrUserWildcard", events.BroadcastConfig{UserID: "*"}, events.ErrBadUserID},
		{"ErrUserUpperCase", events.BroadcastConfig{UserID: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}, events.ErrBadUserID},
	} {
		t.Run("Broadcast"+tc.name, func(t *testing.T) {
			if sub, err := events.Broadcast(t.Context(), b.js, tc.cfg, nop); !errors.Is(err, tc.want) {
				if sub != nil {
					sub.Stop()
				}
				t.Fatalf("Broadcast(%+v) = %v, want %v", tc.cfg, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cfg  events.SubscribeConfig
		want error
	}{
		{"ErrUserNotUUID", events.SubscribeConfig{Durable: "d", UserID: "revocation.>"}, events.ErrBadUserID},
		{"ErrFilterAndUser", events.SubscribeConfig{Durable: "d", UserID: user, FilterSubject: events.SubjectAll}, nil},
		{"ErrNoDurable", events.SubscribeConfig{UserID: user}, nil},
	} {
		t.Run("Subscribe"+tc.name, func(t *testing.T) {
			sub, err := events.Subscribe(t.Context(), b.js, tc.cfg, nop)
			if sub != nil {
				sub.Stop()
			}
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Subscribe(%+v) = %v, want %v", tc.cfg, err, tc.want)
			}
		})
	}
	if n := b.consumers(); n != 0 {
		t.Fatalf("refused configurations left %d consumers", n)
	}
}

// TestBroadcastHandlerErrorsAndInvalid: a failing handler is reported and
// the stream goes on; garbage is dropped and reported.
func TestBroadcastHandlerErrorsAndInvalid(t *testing.T) {
	b := newBus(t)
	var (
		mu              sync.Mutex
		failed, invalid []uint64
		handled         []uint64
	)
	cfg := events.BroadcastConfig{
		OnError:   func(m events.Meta, _ error) { mu.Lock(); failed = append(failed, m.Sequence); mu.Unlock() },
		OnInvalid: func(string, error) { mu.Lock(); invalid = append(invalid, 0); mu.Unlock() },
	}
	sub, err := events.Broadcast(t.Context(), b.js, cfg, func(_ context.Context, _ events.Event, m events.Meta) error {
		mu.Lock()
		defer mu.Unlock()
		handled = append(handled, m.Sequence)
		if len(handled) == 1 {
			return errors.New("cannot close connections right now")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	_, s1 := b.revoke(uuid.NewString())
	if _, err := b.js.Publish(t.Context(), events.SubjectTokenPrefix+uuid.NewString(), []byte("{garbage")); err != nil {
		t.Fatal(err)
	}
	_, s3 := b.revoke(uuid.NewString())
	testkit.Eventually(t, 10*time.Second, "both events handled, garbage reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 2 && len(invalid) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(handled, []uint64{s1, s3}) || !slices.Equal(failed, []uint64{s1}) {
		t.Fatalf("handled %v, failed %v; want %v and %v", handled, failed, []uint64{s1, s3}, []uint64{s1})
	}
}

// TestSubscriptionStop: Stop ends delivery, removes the broadcast's
// consumer, and may be called again and concurrently.
func TestSubscriptionStop(t *testing.T) {
	b := newBus(t)
	c, sub := b.broadcast(events.BroadcastConfig{})
	_, seq := b.revoke(uuid.NewString())
	c.waitFor(t, "before Stop", []uint64{seq})
	if n := b.consumers(); n != 1 {
		t.Fatalf("%d consumers while broadcasting, want 1", n)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(sub.Stop)
	}
	wg.Wait()
	sub.Stop()
	if n := b.consumers(); n != 0 {
		t.Fatalf("%d consumers after Stop, want 0", n)
	}
	_, after := b.revoke(uuid.NewString())
	// Another subscriber proves the event was delivered to whoever
	// listens; the stopped one must not have seen it.
	probe, _ := b.broadcast(events.BroadcastConfig{StartSequence: after})
	probe.waitFor(t, "a live subscriber", []uint64{after})
	if got := c.sequences(); !slices.Equal(got, []uint64{seq}) {
		t.Fatalf("a stopped subscriber got %v", got)
	}
}

// TestUserRevocationsSince: a history replay with Since starts at the
// first message stored at or after that time, not at the first message.
func TestUserRevocationsSince(t *testing.T) {
	b := newBus(t)
	alice := uuid.NewString()
	var seqs []uint64
	for range 4 {
		_, seq := b.revoke(alice)
		seqs = append(seqs, seq)
		b.revoke(uuid.NewString())
	}
	recs, more, err := events.UserRevocations(t.Context(), b.js, alice, events.HistoryOptions{Since: b.stored(seqs[2])})
	if err != nil || more {
		t.Fatalf("history: more %v, err %v", more, err)
	}
	var got []uint64
	for _, r := range recs {
		got = append(got, r.Sequence)
	}
	if !slices.Equal(got, seqs[2:]) {
		t.Fatalf("history since the third event: sequences %v, want %v", got, seqs[2:])
	}
}

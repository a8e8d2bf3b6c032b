package permissions

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
)

// publish stores ev through c (the auth identity) and waits for the PubAck.
func publish(tb testing.TB, c *natsClient, ev events.Event) uint64 {
	tb.Helper()
	ack, err := events.NewPublisher(c.JS).Publish(context.Background(), ev)
	if err != nil {
		tb.Fatalf("%s: publish %s: %v", c.User, ev.Type, err)
	}
	return ack.Sequence
}

func tokenRevoked() events.Event {
	return events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
}

// fetchAndAck pulls what waits in the durable through c and acks it all.
func fetchAndAck(tb testing.TB, c *natsClient, durable string) int {
	tb.Helper()
	ctx := context.Background()
	cons, err := events.CheckConsumer(ctx, c.JS, events.SubscribeConfig{Durable: durable})
	if err != nil {
		tb.Fatalf("%s: consumer %s: %v", c.User, durable, err)
	}
	batch, err := cons.FetchNoWait(100)
	if durable == "revocation" { // pinned priority group: pulls must name it
		batch, err = cons.Fetch(100, jetstream.FetchMaxWait(200*time.Millisecond), jetstream.FetchPriorityGroup("revocation"))
	}
	if err != nil {
		tb.Fatalf("%s: fetch from %s: %v", c.User, durable, err)
	}
	n := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil { // waits for the server's confirmation
			tb.Fatalf("%s: ack: %v", c.User, err)
		}
		n++
	}
	if err := batch.Error(); err != nil {
		tb.Fatalf("%s: fetch from %s: %v", c.User, durable, err)
	}
	return n
}

// ackFloor is the durable's highest stream sequence acked, as admin sees it.
func ackFloor(tb testing.TB, admin *natsClient, durable string) uint64 {
	tb.Helper()
	cons, err := admin.JS.Consumer(context.Background(), events.StreamName, durable)
	if err != nil {
		tb.Fatalf("admin: consumer %s: %v", durable, err)
	}
	return cons.CachedInfo().AckFloor.Stream
}

func TestNATSRevocationIdentity(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	admin, auth, rev := n.connect(t, "admin"), n.connect(t, "auth"), n.connect(t, "revocation")
	setupJetStream(t, admin)
	ctx := t.Context()
	for range 3 {
		publish(t, auth, tokenRevoked())
	}
	// A message no decoder accepts: the service terminates it.
	if _, err := auth.JS.Publish(ctx, "revocation.token."+uuid.NewString(), []byte("garbage")); err != nil {
		t.Fatal(err)
	}

	t.Run("OKFollowsItsDurableAndAcks", func(t *testing.T) {
		if _, err := events.CheckStream(ctx, rev.JS, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
		cons, err := events.CheckConsumer(ctx, rev.JS, events.SubscribeConfig{Durable: "revocation"})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(4, jetstream.FetchMaxWait(2*time.Second), jetstream.FetchPriorityGroup("revocation"))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) != 4 {
			t.Fatalf("fetched %d messages, want 4 (%v)", len(msgs), batch.Error())
		}
		if err := msgs[0].InProgress(); err != nil { // what a slow Redis write sends
			t.Fatal(err)
		}
		for _, m := range msgs[:3] {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
		if err := msgs[3].TermWithReason("invalid event"); err != nil {
			t.Fatal(err)
		}
		if _, err := cons.Info(ctx); err != nil { // the backlog check
			t.Fatal(err)
		}
		testkit.Eventually(t, 5*time.Second, "acks and the term reach the consumer", func() bool {
			return ackFloor(t, admin, "revocation") == 4
		})
	})
	t.Run("OKReplaysWithOrderedConsumer", func(t *testing.T) {
		s, err := events.CheckStream(ctx, rev.JS, events.StreamConfig{MinMaxAge: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx) // the rebuild's bounds
		if err != nil {
			t.Fatal(err)
		}
		oc, err := rev.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{events.SubjectAll}, DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq: 1, InactiveThreshold: time.Minute,
		})
		if err != nil {
			t.Fatalf("ordered consumer: %v", err)
		}
		batch, err := oc.Fetch(int(info.State.Msgs), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for range batch.Messages() {
			got++
		}
		if uint64(got) != info.State.Msgs {
			t.Fatalf("replayed %d of %d messages (%v)", got, info.State.Msgs, batch.Error())
		}
		if _, err := oc.Info(ctx); err != nil { // replayDone asks it
			t.Fatal(err)
		}
	})
	t.Run("ErrForgesRevocations", func(t *testing.T) {
		ev := tokenRevoked()
		rev.refusedCall(t, ev.Subject(), func(ctx context.Context) error {
			_, err := events.NewPublisher(rev.JS).Publish(ctx, ev)
			return err
		})
		rev.refusedPublish(t, "revocation.user."+uuid.NewString())
	})
	t.Run("ErrUnrevokesOrRedefinesConsumers", func(t *testing.T) {
		before := streamMsgs(t, admin)
		for _, subj := range managementSubjects {
			rev.refusedCall(t, subj, request(rev, subj))
		}
		// What the service would send with REVOCATION_MANAGE_STREAM=true.
		rev.refusedCall(t, "$JS.API.CONSUMER.CREATE.REVOCATIONS.revocation.revocation.>", func(ctx context.Context) error {
			_, err := rev.JS.CreateOrUpdateConsumer(ctx, events.StreamName, events.SubscribeConfig{Durable: "revocation"}.ConsumerConfig())
			return err
		})
		if got := streamMsgs(t, admin); got != before {
			t.Fatalf("stream holds %d messages, had %d", got, before)
		}
	})
	t.Run("ErrTouchesOtherServicesQueues", func(t *testing.T) {
		rev.refusedCall(t, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.chat", request(rev, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.chat"))
		rev.refusedPublish(t, "$JS.ACK.REVOCATIONS.chat.1.1.1.1.0")
		for _, subj := range []string{"revocation.>", "_INBOX_auth.>", "_INBOX_chat.>", "_INBOX.>"} {
			rev.refusedSubscribe(t, subj)
		}
	})
}

func TestNATSMicroserviceIdentity(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	admin, auth, chat := n.connect(t, "admin"), n.connect(t, "auth"), n.connect(t, "chat")
	setupJetStream(t, admin)
	ctx := t.Context()

	t.Run("OKConsumesItsDurable", func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		sub, err := events.SubscribeExisting(ctx, chat.JS, events.SubscribeConfig{Durable: "chat"},
			func(_ context.Context, ev events.Event, _ events.Meta) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, ev.ID)
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Stop()
		publish(t, auth, tokenRevoked())
		last := publish(t, auth, events.UserTokensRevoked{UserID: uuid.NewString(), Version: 3}.Event(time.Now()))
		testkit.Eventually(t, 5*time.Second, "both events handled and acked", func() bool {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			return n == 2 && ackFloor(t, admin, "chat") == last
		})
	})
	t.Run("ErrCreatesOrUpdatesItsConsumer", func(t *testing.T) {
		chat.refusedCall(t, "$JS.API.CONSUMER.CREATE.REVOCATIONS.chat.revocation.>", func(ctx context.Context) error {
			sub, err := events.Subscribe(ctx, chat.JS, events.SubscribeConfig{Durable: "chat"},
				func(context.Context, events.Event, events.Meta) error { return nil })
			if err == nil {
				sub.Stop()
			}
			return err
		})
	})
	t.Run("ErrForgesRevocationsOrAnnouncements", func(t *testing.T) {
		chat.refusedPublish(t, "revocation.token."+uuid.NewString())
		chat.refusedPublish(t, "revocation.user."+uuid.NewString())
		chat.refusedPublish(t, events.SubjectApplied)
	})
	t.Run("ErrUnrevokes", func(t *testing.T) {
		before := streamMsgs(t, admin)
		for _, subj := range managementSubjects {
			chat.refusedCall(t, subj, request(chat, subj))
		}
		if got := streamMsgs(t, admin); got != before || !consumerExists(t, admin, "chat") {
			t.Fatalf("stream holds %d messages (had %d), or the consumer is gone", got, before)
		}
	})
	t.Run("ErrStealsFromTheRevocationService", func(t *testing.T) {
		chat.refusedCall(t, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.revocation", request(chat, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.revocation"))
		chat.refusedPublish(t, "$JS.ACK.REVOCATIONS.revocation.1.1.1.1.0")
		for _, subj := range []string{"revocation.>", "_INBOX_revocation.>", events.SubjectApplied} {
			chat.refusedSubscribe(t, subj)
		}
	})
}

func TestNATSNearCacheIdentity(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	admin, auth, nc := n.connect(t, "admin"), n.connect(t, "auth"), n.connect(t, "nearcache")
	setupJetStream(t, admin)
	ctx := t.Context()

	t.Run("OKReplaysAndFollows", func(t *testing.T) {
		before := tokenRevoked()
		publish(t, auth, before)
		c, err := nearcache.New(nearcache.Config{JetStream: nc.JS, ProbeInterval: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := c.WaitReady(wctx); err != nil {
			t.Fatal(err)
		}
		after := tokenRevoked()
		if err := c.WaitApplied(wctx, publish(t, auth, after)); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []events.Event{before, after} {
			if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: ev.JTI, UserID: ev.UserID}); !ok || !st.TokenRevoked {
				t.Fatalf("near-cache under its identity: %s = %+v, %v; want revoked", ev.JTI, st, ok)
			}
		}
		// Freshness probes keep working under the identity.
		testkit.Eventually(t, 5*time.Second, "view proven fresh by a probe", func() bool {
			s, ok := c.Staleness()
			return ok && s < time.Second
		})
	})
	t.Run("ErrForgesRevocationsOrAnnouncements", func(t *testing.T) {
		nc.refusedPublish(t, "revocation.token."+uuid.NewString())
		nc.refusedPublish(t, "revocation.user."+uuid.NewString())
		nc.refusedPublish(t, events.SubjectApplied)
	})
	t.Run("ErrUnrevokes", func(t *testing.T) {
		before := streamMsgs(t, admin)
		for _, subj := range managementSubjects {
			nc.refusedCall(t, subj, request(nc, subj))
		}
		if got := streamMsgs(t, admin); got != before || !consumerExists(t, admin, "chat") {
			t.Fatalf("stream holds %d messages (had %d), or the consumer is gone", got, before)
		}
	})
	t.Run("ErrStealsFromDurables", func(t *testing.T) {
		for _, d := range []string{"revocation", "chat"} {
			subj := "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS." + d
			nc.refusedCall(t, subj, request(nc, subj))
			nc.refusedPublish(t, "$JS.ACK.REVOCATIONS."+d+".1.1.1.1.0")
		}
		for _, subj := range []string{"revocation.>", "_INBOX_revocation.>", "_INBOX_chat.>", events.SubjectApplied} {
			nc.refusedSubscribe(t, subj)
		}
	})
}

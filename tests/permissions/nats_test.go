package permissions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// managementSubjects are JetStream API calls that change the stream or its
// consumers. Only admin may publish on them: each lets a caller undo a
// revocation (delete or purge the events, delete a consumer, move a
// consumer past events) or stop the system.
var managementSubjects = []string{
	"$JS.API.STREAM.CREATE.REVOCATIONS",
	"$JS.API.STREAM.UPDATE.REVOCATIONS",
	"$JS.API.STREAM.DELETE.REVOCATIONS",
	"$JS.API.STREAM.PURGE.REVOCATIONS",
	"$JS.API.STREAM.MSG.DELETE.REVOCATIONS",
	"$JS.API.CONSUMER.CREATE.REVOCATIONS.revocation.revocation.>",
	"$JS.API.CONSUMER.CREATE.REVOCATIONS.chat.revocation.>",
	"$JS.API.CONSUMER.DURABLE.CREATE.REVOCATIONS.revocation",
	"$JS.API.CONSUMER.DELETE.REVOCATIONS.revocation",
	"$JS.API.CONSUMER.DELETE.REVOCATIONS.chat",
}

func TestNATSConfigFile(t *testing.T) {
	opts, err := server.ProcessConfigFile(natsConf(t))
	if err != nil {
		t.Fatal(err)
	}
	if !opts.JetStream || !opts.SyncAlways {
		t.Fatalf("jetstream %v, sync_interval always %v: both must stay on", opts.JetStream, opts.SyncAlways)
	}
	if opts.NoAuthUser != "" {
		t.Fatalf("no_auth_user %q lets anonymous clients in", opts.NoAuthUser)
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		seen[u.Username] = true
		if !strings.HasPrefix(u.Password, "$2a$") {
			t.Errorf("user %s: password is not a bcrypt hash", u.Username)
		}
		if u.Username == "admin" {
			continue
		}
		if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Fatalf("user %s has no publish and subscribe permissions: it may do anything", u.Username)
		}
		for _, allow := range u.Permissions.Publish.Allow {
			for _, subj := range managementSubjects {
				if server.SubjectMatchesFilter(subj, allow) && !denied(u.Permissions.Publish.Deny, subj) {
					t.Errorf("user %s: publish allow %q grants %s", u.Username, allow, subj)
				}
			}
		}
	}
	for _, name := range []string{"admin", "auth", "revocation", "chat"} {
		if !seen[name] {
			t.Errorf("user %s missing from the config", name)
		}
	}
}

func denied(deny []string, subject string) bool {
	for _, d := range deny {
		if server.SubjectMatchesFilter(subject, d) {
			return true
		}
	}
	return false
}

func TestNATSRefusesAnonymousAndWrongPassword(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	for name, opts := range map[string][]nats.Option{
		"Anonymous":     nil,
		"WrongPassword": {nats.UserInfo("auth", "guess")},
		"UnknownUser":   {nats.UserInfo("root", "root")},
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect("nats://"+n.Host, append(opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("err = %v, want an authorization violation", err)
			}
		})
	}
}

func TestNATSAdminManagesJetStreamOnly(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	admin := n.connect(t, "admin")
	setupJetStream(t, admin) // creating the stream and consumers works
	admin.refusedPublish(t, "revocation.token."+uuid.NewString())
	admin.refusedPublish(t, events.SubjectApplied)
	expectNothing(t, admin.refusedSubscribe(t, "revocation.>"))
}

func TestNATSAuthIdentity(t *testing.T) {
	n := startNATS(t, natsConf(t), nil)
	admin := n.connect(t, "admin")
	auth := n.connect(t, "auth")
	rev := n.connect(t, "revocation")
	ctx := t.Context()

	t.Run("StreamMissingCannotBeCreated", func(t *testing.T) {
		_, err := events.CheckStream(ctx, auth.JS, events.StreamConfig{MinMaxAge: time.Hour})
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("CheckStream = %v, want ErrStreamNotFound", err)
		}
		auth.refusedCall(t, "$JS.API.STREAM.CREATE.REVOCATIONS", func(ctx context.Context) error {
			_, err := events.EnsureStream(ctx, auth.JS, events.StreamConfig{MinMaxAge: time.Hour})
			return err
		})
	})
	setupJetStream(t, admin)

	t.Run("OKChecksStreamAndPublishesWithPubAck", func(t *testing.T) {
		if _, err := events.CheckStream(ctx, auth.JS, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
		// AUTH_MANAGE_STREAM=true works too once the stream exists: a lookup.
		if _, err := events.EnsureStream(ctx, auth.JS, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
		pub := events.NewPublisher(auth.JS)
		for _, ev := range []events.Event{
			events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()),
			events.UserTokensRevoked{UserID: uuid.NewString(), Version: 1}.Event(time.Now()),
		} {
			ack, err := pub.Publish(ctx, ev)
			if err != nil || ack.Sequence == 0 {
				t.Fatalf("publish %s: ack %+v, %v", ev.Type, ack, err)
			}
		}
	})
	t.Run("OKHearsAppliedAnnouncements", func(t *testing.T) {
		sub, err := auth.NC.SubscribeSync(events.SubjectApplied)
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.NC.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := rev.NC.Publish(events.SubjectApplied, []byte(`{"ranges":[[1,1]]}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(2 * time.Second); err != nil {
			t.Fatalf("announcement not received: %v", err)
		}
	})
	t.Run("ErrForgesAppliedAnnouncement", func(t *testing.T) {
		auth.refusedPublish(t, events.SubjectApplied)
	})
	t.Run("ErrPublishesOutsideRevocationSubjects", func(t *testing.T) {
		auth.refusedPublish(t, "revocation.token.a.b")
		auth.refusedPublish(t, "revocation.other")
		auth.refusedPublish(t, "billing.charge")
	})
	t.Run("ErrReadsEventsOrOtherInboxes", func(t *testing.T) {
		var subs []*nats.Subscription
		for _, subj := range []string{"revocation.>", "_INBOX.>", "_INBOX_revocation.>", "_INBOX_chat.>", "$JS.ACK.>"} {
			subs = append(subs, auth.refusedSubscribe(t, subj))
		}
		// Traffic on each: an event, and the revocation service consuming it.
		publish(t, auth, events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()))
		fetchAndAck(t, rev, "revocation")
		for _, sub := range subs {
			expectNothing(t, sub)
		}
		auth.refusedCall(t, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.revocation", request(auth, "$JS.API.CONSUMER.MSG.NEXT.REVOCATIONS.revocation"))
	})
	t.Run("ErrManagesJetStream", func(t *testing.T) {
		before := streamMsgs(t, admin)
		for _, subj := range managementSubjects {
			auth.refusedCall(t, subj, request(auth, subj))
		}
		auth.refusedCall(t, "$JS.API.STREAM.DELETE.REVOCATIONS", func(ctx context.Context) error {
			return auth.JS.DeleteStream(ctx, events.StreamName)
		})
		if got := streamMsgs(t, admin); got != before {
			t.Fatalf("stream holds %d messages, had %d", got, before)
		}
		if !consumerExists(t, admin, "revocation") || !consumerExists(t, admin, "chat") {
			t.Fatal("a durable consumer is gone")
		}
	})
}

// request returns a call that sends an empty JSON request on subject.
func request(c *natsClient, subject string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.NC.RequestWithContext(ctx, subject, []byte(`{}`))
		return err
	}
}

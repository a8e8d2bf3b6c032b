package permissions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// deployPath returns the absolute path of a file under deploy/.
func deployPath(tb testing.TB, parts ...string) string {
	tb.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", "..", "deploy"}, parts...)...))
	if err != nil {
		tb.Fatalf("deploy path: %v", err)
	}
	return p
}

// natsConf is the configuration under test.
func natsConf(tb testing.TB) string {
	tb.Helper()
	return deployPath(tb, "nats", "nats-server.conf")
}

// natsPassword is the public test password of a NATS user of the config.
func natsPassword(user string) string { return "nats-" + user + "-TEST-ONLY" }

// inboxPrefix is the reply-subject prefix each identity may subscribe to
// (NATS_INBOX_PREFIX of the services).
var inboxPrefix = map[string]string{
	"admin":      "_INBOX",
	"auth":       "_INBOX_auth",
	"revocation": "_INBOX_revocation",
	"chat":       "_INBOX_chat",
	"nearcache":  "_INBOX_nearcache",
}

// natsServer is an embedded nats-server running a configuration file.
type natsServer struct {
	Host string // 127.0.0.1:<port>
}

// startNATS runs the configuration file at path with two overrides: a
// random port and a temporary JetStream directory. edit, if not nil, may
// change more (the TLS test adds its certificates).
func startNATS(tb testing.TB, path string, edit func(*server.Options)) *natsServer {
	tb.Helper()
	opts := []testkit.NATSOption{testkit.NATSConfigFile(path)}
	if edit != nil {
		opts = append(opts, testkit.NATSEdit(edit))
	}
	return &natsServer{Host: testkit.StartNATS(tb, opts...).Addr()}
}

// URL returns the server's URL with user's credentials in it, as a service
// gets it in NATS_URL.
func (n *natsServer) URL(user string) string {
	return fmt.Sprintf("nats://%s:%s@%s", user, natsPassword(user), n.Host)
}

// natsClient is one identity's connection. Errs receives the asynchronous
// errors the server sends, among them every permissions violation.
type natsClient struct {
	User string
	NC   *nats.Conn
	JS   jetstream.JetStream
	Errs chan error
}

// connect logs in as user with its own inbox prefix.
func (n *natsServer) connect(tb testing.TB, user string, extra ...nats.Option) *natsClient {
	tb.Helper()
	c := &natsClient{User: user, Errs: make(chan error, 64)}
	opts := append([]nats.Option{
		nats.UserInfo(user, natsPassword(user)),
		nats.CustomInboxPrefix(inboxPrefix[user]),
		nats.Timeout(10 * time.Second), // -race on a loaded machine
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.Errs <- err:
			default:
			}
		}),
	}, extra...)
	nc, err := nats.Connect("nats://"+n.Host, opts...)
	if err != nil {
		tb.Fatalf("connect as %s: %v", user, err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream for %s: %v", user, err)
	}
	c.NC, c.JS = nc, js
	return c
}

// waitViolation waits for the server to report that c may not publish on
// (kind "Publish") or subscribe to (kind "Subscription") subject.
func (c *natsClient) waitViolation(tb testing.TB, kind, subject string) {
	tb.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", kind, subject)
	timeout := time.After(5 * time.Second)
	for {
		select {
		case err := <-c.Errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), want) {
				return
			}
		case <-timeout:
			tb.Fatalf("%s: no %q from the server", c.User, want)
		}
	}
}

// refusedPublish publishes a message on subject and expects a violation.
func (c *natsClient) refusedPublish(tb testing.TB, subject string) {
	tb.Helper()
	if err := c.NC.Publish(subject, []byte(`{}`)); err != nil {
		tb.Fatalf("%s: publish %s: %v", c.User, subject, err)
	}
	c.waitViolation(tb, "Publish", subject)
}

// refusedCall runs a JetStream call that publishes on subject and expects
// the server to refuse that publish and the call to fail.
func (c *natsClient) refusedCall(tb testing.TB, subject string, call func(ctx context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- call(ctx) }()
	c.waitViolation(tb, "Publish", subject)
	cancel() // no answer is coming: the request never reached JetStream
	if err := <-res; err == nil {
		tb.Fatalf("%s: the call publishing on %s succeeded", c.User, subject)
	}
}

// refusedSubscribe subscribes to subject, expects a violation, and checks
// that nothing published there (by admin's stream or anyone) arrives.
func (c *natsClient) refusedSubscribe(tb testing.TB, subject string) *nats.Subscription {
	tb.Helper()
	sub, err := c.NC.SubscribeSync(subject)
	if err != nil {
		tb.Fatalf("%s: subscribe %s: %v", c.User, subject, err)
	}
	c.waitViolation(tb, "Subscription", subject)
	return sub
}

// expectNothing fails if sub receives a message within a short wait.
func expectNothing(tb testing.TB, sub *nats.Subscription) {
	tb.Helper()
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		tb.Fatalf("received %s on a refused subscription to %s", m.Subject, sub.Subject)
	}
}

// setupJetStream is the administrator's job: the REVOCATIONS stream and
// the durable consumers "revocation" (as the revocation service would
// create it) and "chat" (a microservice).
func setupJetStream(tb testing.TB, admin *natsClient) {
	tb.Helper()
	ctx := context.Background()
	if _, err := admin.JS.CreateStream(ctx, events.StreamConfig{MinMaxAge: 24 * time.Hour}.JetStreamConfig()); err != nil {
		tb.Fatalf("admin: create stream: %v", err)
	}
	rev := events.SubscribeConfig{Durable: "revocation", AckWait: 30 * time.Second}.ConsumerConfig()
	rev.MaxAckPending = 1024
	// One active revocation service, hot standbys: the pinned priority
	// group the service requires (docs/SECURITY.md).
	rev.PriorityGroups = []string{"revocation"}
	rev.PriorityPolicy = jetstream.PriorityPolicyPinned
	rev.PinnedTTL = 5 * time.Second
	for _, cc := range []jetstream.ConsumerConfig{rev, events.SubscribeConfig{Durable: "chat"}.ConsumerConfig()} {
		if _, err := admin.JS.CreateConsumer(ctx, events.StreamName, cc); err != nil {
			tb.Fatalf("admin: create consumer %s: %v", cc.Durable, err)
		}
	}
}

// streamMsgs returns how many messages the stream holds, as admin sees it.
func streamMsgs(tb testing.TB, admin *natsClient) uint64 {
	tb.Helper()
	s, err := admin.JS.Stream(context.Background(), events.StreamName)
	if err != nil {
		tb.Fatalf("admin: stream info: %v", err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		tb.Fatalf("admin: stream info: %v", err)
	}
	return info.State.Msgs
}

// consumerExists reports whether admin still sees the durable name.
func consumerExists(tb testing.TB, admin *natsClient, name string) bool {
	tb.Helper()
	_, err := admin.JS.Consumer(context.Background(), events.StreamName, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		tb.Fatalf("admin: consumer %s: %v", name, err)
	}
	return err == nil
}

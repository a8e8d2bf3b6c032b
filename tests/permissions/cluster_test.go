package permissions

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
)

// TestClusterConfig runs deploy/nats/cluster/nats-server.conf as three
// nodes (only the ports, routes and store directories overridden): the
// nodes form a JetStream cluster, the administrator creates the stream at
// R3, the auth user publishes a revocation and gets its PubAck, and the
// revocation user's check sees a cluster and three replicas.
func TestClusterConfig(t *testing.T) {
	const routePassword = "route-TEST-ONLY"
	path := deployPath(t, "nats", "cluster", "nats-server.conf")
	clientPorts, routes := make([]int, 3), make([]*url.URL, 3)
	routePorts := make([]int, 3)
	for i := range 3 {
		clientPorts[i], routePorts[i] = testkit.FreePort(t), testkit.FreePort(t)
		routes[i] = &url.URL{Scheme: "nats", User: url.UserPassword("route", routePassword), Host: "127.0.0.1:" + strconv.Itoa(routePorts[i])}
	}
	t.Setenv("NATS_ROUTE_PASSWORD", routePassword)
	for i, r := range routes {
		t.Setenv(fmt.Sprintf("NATS_ROUTE_%d", i+1), r.String())
	}
	c := &testkit.NATSCluster{}
	hosts := make([]string, 3)
	for i := range 3 {
		t.Setenv("NATS_SERVER_NAME", fmt.Sprintf("nats-%d", i+1)) // read when the file is parsed
		routePort := routePorts[i]
		n := testkit.StartNATS(t, testkit.NATSConfigFile(path), testkit.NATSPort(clientPorts[i]),
			testkit.NATSEdit(func(o *server.Options) {
				o.Host, o.Cluster.Host, o.Cluster.Port = "127.0.0.1", "127.0.0.1", routePort
				o.Routes = routes
			}))
		if got, want := n.Server().Name(), fmt.Sprintf("nats-%d", i+1); got != want {
			t.Fatalf("server name %q, want %q (NATS_SERVER_NAME)", got, want)
		}
		c.Nodes = append(c.Nodes, n)
		hosts[i] = n.Addr()
	}
	c.WaitMetaLeader(t)

	natsURL := func(user string) string {
		urls := make([]string, len(hosts))
		for i, h := range hosts {
			urls[i] = fmt.Sprintf("nats://%s:%s@%s", user, natsPassword(user), h)
		}
		return strings.Join(urls, ",")
	}
	connect := func(user string) jetstream.JetStream {
		t.Helper()
		nc, err := nats.Connect(natsURL(user), nats.CustomInboxPrefix(inboxPrefix[user]))
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	ctx := t.Context()
	cfg := events.StreamConfig{MinMaxAge: time.Hour, Replicas: 3}
	s, err := events.EnsureStream(ctx, connect("admin"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info := s.CachedInfo(); info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Name != "revocation-nats" {
		t.Fatalf("stream replicas %d, cluster %+v; want R3 on revocation-nats", info.Config.Replicas, info.Cluster)
	}

	auth := connect("auth")
	if _, err := events.CheckStream(ctx, auth, cfg); err != nil {
		t.Fatalf("auth's check of the R3 stream: %v", err)
	}
	user := uuid.NewString()
	ev := events.TokenRevoked{UserID: user, JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour),
		Reason: events.ReasonLogout, Actor: events.UserActor(user)}.Event(time.Now())
	ack, err := events.NewPublisher(auth).Publish(ctx, ev)
	if err != nil {
		t.Fatalf("auth publishes on the cluster: %v", err)
	}
	if ack.Sequence != 1 {
		t.Fatalf("PubAck sequence %d, want 1", ack.Sequence)
	}

	rev := connect("revocation")
	if name, _ := events.Clustered(rev.Conn()); name != "revocation-nats" {
		t.Fatalf("revocation sees cluster %q, want revocation-nats", name)
	}
	if _, err := events.CheckStream(ctx, rev, events.StreamConfig{MinMaxAge: time.Hour}); err != nil {
		t.Fatalf("revocation's check (replicas unset) of an R3 stream: %v", err)
	}
}

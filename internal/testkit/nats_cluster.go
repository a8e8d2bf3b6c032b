package testkit

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
)

// ClusterName is the cluster name of StartNATSCluster's servers.
const ClusterName = "testkit"

// clusterWait bounds the waits for a meta leader and a stream leader:
// an election takes a few seconds (nats-server's Raft timers), a cold
// start of three servers on a busy machine a few more.
const clusterWait = 30 * time.Second

// NATSCluster is a cluster of embedded nats-servers with JetStream, each
// with its own store directory, routed to each other on loopback.
type NATSCluster struct {
	// Nodes are the servers, named n1, n2, ... in start order.
	Nodes []*NATS
	// URL lists every server's client URL, comma-separated: what NATS_URL
	// says in a clustered deployment.
	URL string
}

// StartNATSCluster starts size servers (3 for a stream at R3) in one
// cluster, each on random loopback client and route ports (kept across
// Restart) with JetStream fsyncing every write in a tb.TempDir() of its
// own, waits until the cluster has a JetStream meta leader, and shuts
// every server down when the test ends. opts apply to every server after
// the cluster settings.
func StartNATSCluster(tb testing.TB, size int, opts ...NATSOption) *NATSCluster {
	tb.Helper()
	if size < 1 {
		tb.Fatalf("testkit: nats cluster of %d servers", size)
	}
	clientPorts, routePorts := make([]int, size), make([]int, size)
	routes := make([]*url.URL, size)
	for i := range size {
		clientPorts[i], routePorts[i] = procs.FreePort(tb), procs.FreePort(tb)
		routes[i] = &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(routePorts[i])}
	}
	c := &NATSCluster{}
	urls := make([]string, size)
	for i := range size {
		routePort := routePorts[i]
		nodeOpts := append([]NATSOption{
			NATSStoreDir(tb.TempDir()),
			NATSName("n" + strconv.Itoa(i+1)),
			NATSPort(clientPorts[i]),
			NATSEdit(func(o *server.Options) {
				o.Cluster = server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: routePort}
				o.Routes = routes
			}),
		}, opts...)
		n, err := NewNATS(nodeOpts...)
		if err != nil {
			c.Shutdown()
			tb.Fatalf("testkit: nats cluster node %d: %v", i+1, err)
		}
		c.Nodes = append(c.Nodes, n)
		urls[i] = n.URL
	}
	tb.Cleanup(c.Shutdown)
	c.URL = strings.Join(urls, ",")
	c.WaitMetaLeader(tb)
	return c
}

// Shutdown stops every server; it is safe to call more than once.
func (c *NATSCluster) Shutdown() {
	for _, n := range c.Nodes {
		n.Shutdown()
	}
}

// WaitMetaLeader waits until a running server is the JetStream meta
// leader and every running server is current with it.
func (c *NATSCluster) WaitMetaLeader(tb testing.TB) {
	tb.Helper()
	procs.Eventually(tb, clusterWait, "the NATS cluster has a JetStream meta leader", func() bool {
		leader := false
		for _, n := range c.Nodes {
			srv := n.Server()
			if srv == nil {
				continue
			}
			if !srv.JetStreamIsCurrent() {
				return false
			}
			leader = leader || srv.JetStreamIsLeader()
		}
		return leader
	})
}

// StreamLeader returns the node leading stream (of the global account),
// or nil when none does (an election is under way).
func (c *NATSCluster) StreamLeader(stream string) *NATS {
	for _, n := range c.Nodes {
		if srv := n.Server(); srv != nil && srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return n
		}
	}
	return nil
}

// WaitStreamLeader waits until a running node leads stream and every
// running node holds a current copy of it, and returns the leader.
func (c *NATSCluster) WaitStreamLeader(tb testing.TB, stream string) *NATS {
	tb.Helper()
	var leader *NATS
	procs.Eventually(tb, clusterWait, "stream "+stream+" has a leader and current replicas", func() bool {
		leader = c.StreamLeader(stream)
		if leader == nil {
			return false
		}
		for _, n := range c.Nodes {
			if srv := n.Server(); srv != nil && !srv.JetStreamIsStreamCurrent(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				return false
			}
		}
		return true
	})
	return leader
}

// KillStreamLeader shuts down the node leading stream (as a crash would:
// its clients see the connection drop) and returns it, to Restart later.
func (c *NATSCluster) KillStreamLeader(tb testing.TB, stream string) *NATS {
	tb.Helper()
	leader := c.WaitStreamLeader(tb, stream)
	leader.Shutdown()
	return leader
}

// Connect returns a client connection to every server of the cluster that
// reconnects forever and is closed when the test ends.
func (c *NATSCluster) Connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(c.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("testkit: connect to nats cluster: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection to the
// cluster.
func (c *NATSCluster) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(c.Connect(tb))
	if err != nil {
		tb.Fatalf("testkit: jetstream: %v", err)
	}
	return js
}

// Name returns the server name of n (n1, n2, ... in a NATSCluster).
func (n *NATS) Name() string { return n.opts.ServerName }

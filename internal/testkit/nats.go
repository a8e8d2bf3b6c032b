package testkit

import (
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an embedded nats-server with JetStream in a temporary directory.
type NATS struct {
	mu       sync.Mutex
	srv      *server.Server
	opts     server.Options
	URL      string // nats://127.0.0.1:<port>
	StoreDir string
}

// StartNATS starts a server on a random port with JetStream file storage in
// tb.TempDir(), fsyncing every write (sync_interval: always), and shuts it
// down when the test ends.
func StartNATS(tb testing.TB) *NATS {
	tb.Helper()
	return startNATS(tb, true)
}

// StartNATSBulk is StartNATS without an fsync per write (nats-server's
// default sync interval): for benchmarks that preload a stream with a
// million messages, which at one fsync each takes many minutes. What such
// a benchmark measures must be reading, not durable writing; tests of
// durability use StartNATS.
func StartNATSBulk(tb testing.TB) *NATS {
	tb.Helper()
	return startNATS(tb, false)
}

func startNATS(tb testing.TB, syncAlways bool) *NATS {
	tb.Helper()
	n := &NATS{StoreDir: tb.TempDir()}
	n.opts = server.Options{
		ServerName: "testkit",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   n.StoreDir,
		SyncAlways: syncAlways,
		NoLog:      true,
		NoSigs:     true,
	}
	n.start(tb)
	// Keep the port so that Restart comes back where clients reconnect.
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	n.URL = "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.Port))
	tb.Cleanup(n.Shutdown)
	return n
}

func (n *NATS) start(tb testing.TB) {
	tb.Helper()
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		tb.Fatalf("testkit: nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		tb.Fatalf("testkit: nats-server not ready")
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
}

// Shutdown stops the server (as a crash would: clients see the connection
// drop). It is safe to call more than once.
func (n *NATS) Shutdown() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart shuts the server down and starts it again on the same port and
// store directory; JetStream recovers its streams from disk.
func (n *NATS) Restart(tb testing.TB) {
	tb.Helper()
	n.Shutdown()
	n.start(tb)
}

// Server returns the running server, or nil.
func (n *NATS) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Connect returns a client connection that reconnects forever and is closed
// when the test ends.
func (n *NATS) Connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(n.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("testkit: connect to nats: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// JetStream returns a JetStream context on a new connection.
func (n *NATS) JetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(n.Connect(tb))
	if err != nil {
		tb.Fatalf("testkit: jetstream: %v", err)
	}
	return js
}

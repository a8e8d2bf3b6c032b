package testkit

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is an embedded nats-server with JetStream in a directory of its own.
type NATS struct {
	mu       sync.Mutex
	srv      *server.Server
	opts     server.Options
	URL      string // nats://127.0.0.1:<port>
	StoreDir string
}

// NATSOption changes how StartNATS and NewNATS configure the server.
type NATSOption func(*natsConfig)

type natsConfig struct {
	conf       string
	edit       []func(*server.Options)
	name       string
	port       int
	storeDir   string
	syncAlways bool
	log        bool
}

// NATSConfigFile starts from the configuration file path instead of
// testkit's settings; only the port (random unless NATSPort), the
// JetStream store directory and signal handling are overridden.
func NATSConfigFile(path string) NATSOption {
	return func(c *natsConfig) { c.conf = path }
}

// NATSEdit changes the server options last, after every other option
// (the TLS test raises its handshake timeout).
func NATSEdit(edit func(*server.Options)) NATSOption {
	return func(c *natsConfig) { c.edit = append(c.edit, edit) }
}

// NATSPort listens on port (server.RANDOM_PORT, the default, for any).
func NATSPort(port int) NATSOption {
	return func(c *natsConfig) { c.port = port }
}

// NATSStoreDir keeps JetStream in dir (StartNATS: tb.TempDir() by default).
func NATSStoreDir(dir string) NATSOption {
	return func(c *natsConfig) { c.storeDir = dir }
}

// NATSName sets the server name ("testkit" by default).
func NATSName(name string) NATSOption {
	return func(c *natsConfig) { c.name = name }
}

// NATSBulk turns off the fsync per write (nats-server's default sync
// interval instead of sync_interval: always).
func NATSBulk() NATSOption {
	return func(c *natsConfig) { c.syncAlways = false }
}

// NATSLogging turns the server's own log (to stderr) on.
func NATSLogging() NATSOption {
	return func(c *natsConfig) { c.log = true }
}

// StartNATS starts a server on a random port with JetStream file storage in
// tb.TempDir(), fsyncing every write (sync_interval: always), and shuts it
// down when the test ends.
func StartNATS(tb testing.TB, opts ...NATSOption) *NATS {
	tb.Helper()
	n, err := NewNATS(append([]NATSOption{NATSStoreDir(tb.TempDir())}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Shutdown)
	return n
}

// StartNATSBulk is StartNATS without an fsync per write (nats-server's
// default sync interval): for benchmarks that preload a stream with a
// million messages, which at one fsync each takes many minutes. What such
// a benchmark measures must be reading, not durable writing; tests of
// durability use StartNATS.
func StartNATSBulk(tb testing.TB) *NATS {
	tb.Helper()
	return StartNATS(tb, NATSBulk())
}

// NewNATS starts a server (by default on a random loopback port, JetStream
// fsyncing every write) with its store in the NATSStoreDir directory,
// which it requires. The caller calls Shutdown.
func NewNATS(opts ...NATSOption) (*NATS, error) {
	c := natsConfig{name: "testkit", port: server.RANDOM_PORT, syncAlways: true}
	for _, o := range opts {
		o(&c)
	}
	if c.storeDir == "" {
		return nil, errors.New("testkit: nats-server: no store directory (NATSStoreDir)")
	}
	n := &NATS{StoreDir: c.storeDir}
	if c.conf != "" {
		fromFile, err := server.ProcessConfigFile(c.conf)
		if err != nil {
			return nil, fmt.Errorf("testkit: nats config %s: %w", c.conf, err)
		}
		n.opts = *fromFile
	} else {
		n.opts = server.Options{ServerName: c.name, Host: "127.0.0.1", JetStream: true, SyncAlways: c.syncAlways}
	}
	n.opts.Port, n.opts.StoreDir = c.port, c.storeDir
	n.opts.NoSigs, n.opts.NoLog = true, !c.log
	for _, edit := range c.edit {
		edit(&n.opts)
	}
	if err := n.start(); err != nil {
		return nil, err
	}
	// Keep the port so that Restart comes back where clients reconnect.
	n.opts.Port = n.srv.Addr().(*net.TCPAddr).Port
	n.URL = "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.Port))
	return n, nil
}

func (n *NATS) start() error {
	opts := n.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		return fmt.Errorf("testkit: nats-server: %w", err)
	}
	if !opts.NoLog {
		srv.ConfigureLogger()
	}
	go srv.Start()
	// JetStream recovers its store before clients are accepted: a large
	// one (the full chaos run) takes a while.
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return errors.New("testkit: nats-server not ready")
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
	return nil
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
	if err := n.start(); err != nil {
		tb.Fatal(err)
	}
}

// Server returns the running server, or nil.
func (n *NATS) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Addr returns 127.0.0.1:<port>, the server's address without a scheme.
func (n *NATS) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.opts.Port))
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

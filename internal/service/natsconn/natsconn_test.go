package natsconn_test

import (
	"log/slog"
	"net"
	"testing"

	"github.com/eventjwt/eventjwt/internal/service/natsconn"
)

// TestConnectNATSDown: a server that is not up at start is no error; the
// connection keeps trying and readiness is false until it connects.
func TestConnectNATSDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	nc, err := natsconn.Connect(natsconn.Config{URL: "nats://" + addr, Name: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("ConnectNATS: %v", err)
	}
	defer nc.Close()
	if err := natsconn.Ready(nc); err == nil {
		t.Fatal("ready without a server")
	}
	if nc.IsClosed() {
		t.Fatal("gave up at once")
	}
	if _, err := natsconn.Connect(natsconn.Config{URL: "nats://a b", Name: "test"}); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
}

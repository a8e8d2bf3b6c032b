// Package testkit starts the real parts integration tests need: an embedded
// nats-server with JetStream on a random port and a redis-server process on
// a free port, both cleaned up with the test. It is imported only by test
// code.
//
//	nt := testkit.StartNATS(t)
//	rd := testkit.StartRedis(t)
package testkit

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testkit: free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatalf("testkit: free port: %v", err)
	}
	return port
}

// FreeAddr returns "127.0.0.1:<port>" for a port that was free a moment ago.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}

// Eventually polls cond every few milliseconds until it returns true or the
// timeout passes, then fails the test with msg.
func Eventually(tb testing.TB, timeout time.Duration, msg string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("testkit: not true after %s: %s", timeout, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package testkit

import (
	"context"
	"net"
	"testing"
)

// FreeAddrOn returns "host:<port>" for a port that was free on host a
// moment ago. A test that checks a listener is closed after a shutdown
// binds it on a loopback address no other test uses (127.0.0.2 and up:
// every other helper binds 127.0.0.1), so that no other test's listener
// can take the freed port and answer the check.
func FreeAddrOn(tb testing.TB, host string) string {
	tb.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatalf("testkit: free port on %s: %v", host, err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatalf("testkit: free port on %s: %v", host, err)
	}
	return addr
}

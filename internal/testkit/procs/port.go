package procs

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
)

// PickPort returns a TCP port on 127.0.0.1 that was free a moment ago.
func PickPort() (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testkit: free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("testkit: free port: %w", err)
	}
	return port, nil
}

// PickAddr returns "127.0.0.1:<port>" for a port that was free a moment
// ago.
func PickAddr() (string, error) {
	port, err := PickPort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// FreePort is PickPort failing the test on an error.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := PickPort()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

// FreeAddr is PickAddr failing the test on an error.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}

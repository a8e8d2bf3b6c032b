package app

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServerLimits checks that the HTTP server has every timeout and a
// header limit, and that they hold against an oversized header and a
// client trickling its headers (slowloris).
func TestServerLimits(t *testing.T) {
	srv := newServer(newHandler(nil), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %s, read %s, write %s, idle %s; want all set",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Fatalf("MaxHeaderBytes %d, want set and at most 64 KiB", srv.MaxHeaderBytes)
	}
	const timeout = 300 * time.Millisecond
	srv.ReadHeaderTimeout = timeout // the real 5s would make a slow test
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-served })

	t.Run("HeaderTooLarge", func(t *testing.T) {
		conn := dialServer(t, ln.Addr().String())
		go func() {
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: r\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\n\r\n")
		}()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", res.StatusCode)
		}
	})
	t.Run("Slowloris", func(t *testing.T) {
		conn := dialServer(t, ln.Addr().String())
		start := time.Now()
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: r\r\nX-Slow: "); err != nil {
				return
			}
			for range 500 {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
		defer func() { close(stop); <-done }()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(make([]byte, 512))
		took := time.Since(start)
		if errors.Is(err, os.ErrDeadlineExceeded) || n != 0 || err == nil {
			t.Fatalf("read %d bytes, %v after %s: want the connection closed", n, err, took)
		}
		if took < timeout-50*time.Millisecond || took > 3*time.Second {
			t.Fatalf("connection closed after %s, want about %s", took, timeout)
		}
	})
}

func dialServer(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

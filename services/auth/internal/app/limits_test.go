package app_test

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

	"github.com/eventjwt/eventjwt/services/auth/internal/app"
)

func TestHeaderTooLarge(t *testing.T) {
	s := startStack(t, nil)
	conn := dial(t, s.main.Addr())
	go func() {
		// The server stops reading at the limit; the rest of the write
		// may fail, which is the point.
		_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: auth\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\n\r\n")
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a 1 MiB header: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", res.StatusCode)
	}
	if st := s.get("/healthz", "").status; st != http.StatusOK {
		t.Fatalf("/healthz %d after the oversized request", st)
	}
}

func TestSlowlorisCutOffByReadHeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := startStack(t, nil)
	s.beforeOpen = func(m *app.Main) { app.SetReadHeaderTimeout(m, timeout) }
	s.restart(nil)

	conn := dial(t, s.main.Addr())
	start := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A request line, then a header one byte every 20 ms, for up to
		// 10 s: far longer than the timeout, never finishing the headers.
		if _, err := io.WriteString(conn, "POST /v1/auth/login HTTP/1.1\r\nHost: auth\r\nX-Slow: "); err != nil {
			return
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range 500 {
			select {
			case <-stop:
				return
			case <-tick.C:
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
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept a trickling client for %s", took)
	}
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v: want the connection closed without an answer", n, err)
	}
	if took < timeout-50*time.Millisecond || took > 3*time.Second {
		t.Fatalf("connection closed after %s, want about %s", took, timeout)
	}
	if st := s.get("/healthz", "").status; st != http.StatusOK {
		t.Fatalf("/healthz %d", st)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

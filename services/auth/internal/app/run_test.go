package app_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/services/auth/internal/app"
)

func TestRun(t *testing.T) {
	nt := testkit.StartNATS(t)
	rd := testkit.StartRedis(t)
	// A loopback address of its own: the closed-listener check below must
	// not meet another test's listener on a reused port.
	addr, metricsAddr := testkit.FreeAddrOn(t, "127.0.0.4"), testkit.FreeAddrOn(t, "127.0.0.4")
	env := map[string]string{
		"NATS_URL": nt.URL, "REDIS_URL": rd.URL, "AUTH_HTTP_ADDR": addr, "AUTH_METRICS_ADDR": metricsAddr,
		"AUTH_DB_PATH":           filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_ITERATIONS": "1", "AUTH_ARGON2_PARALLELISM": "1",
		"LOG_FORMAT": "text",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs testkit.Buffer
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, func(k string) string { return env[k] }, nil, &logs) }()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	status := func(url string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := hc.Do(req)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	testkit.Eventually(t, 15*time.Second, "healthz answers", func() bool {
		return status("http://"+addr+"/healthz") == http.StatusOK
	})
	if st := status("http://" + metricsAddr + "/metrics"); st != http.StatusOK {
		t.Errorf("GET /metrics on AUTH_METRICS_ADDR: %d, want 200", st)
	}
	if st := status("http://" + addr + "/metrics"); st != http.StatusNotFound {
		t.Errorf("GET /metrics on AUTH_HTTP_ADDR: %d, want 404", st)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancel", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, a := range []string{addr, metricsAddr} {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Run returned", a)
		}
	}
	for _, want := range []string{"level=WARN", "AUTH_SIGNING_KEY_FILE is not set", "listening", "metrics_addr=" + metricsAddr, "shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestRunErrors(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr error
	}{
		{"ErrUsageEnv", map[string]string{"AUTH_ACCESS_TOKEN_TTL": "forever"}, nil, app.ErrUsage},
		{"ErrUsageFlag", nil, []string{"-no-such-flag"}, app.ErrUsage},
		{"Help", nil, []string{"-h"}, flag.ErrHelp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := app.Run(context.Background(), func(k string) string { return tc.env[k] }, tc.args, &out)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	t.Run("ErrBadSigningKey", func(t *testing.T) {
		nt := testkit.StartNATS(t)
		env := map[string]string{
			"NATS_URL": nt.URL, "AUTH_HTTP_ADDR": "127.0.0.1:0", "AUTH_SIGNING_KEY_FILE": filepath.Join(t.TempDir(), "missing.pem"),
			"AUTH_DB_PATH": filepath.Join(t.TempDir(), "auth.db"),
		}
		err := app.Run(context.Background(), func(k string) string { return env[k] }, nil, &testkit.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "AUTH_SIGNING_KEY_FILE") {
			t.Fatalf("err = %v, want an AUTH_SIGNING_KEY_FILE error", err)
		}
	})
}

// TestRunNATSDownAtStart: auth starts while NATS is down (as revocation
// does), answers /readyz 503 naming nats meanwhile, and becomes ready once
// NATS comes up, with the stream created in the background.
func TestRunNATSDownAtStart(t *testing.T) {
	rd := testkit.StartRedis(t)
	natsAddr, addr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	_, portStr, _ := net.SplitHostPort(natsAddr)
	port, _ := strconv.Atoi(portStr)
	env := map[string]string{
		"NATS_URL": "nats://" + natsAddr, "REDIS_URL": rd.URL, "AUTH_HTTP_ADDR": addr, "AUTH_METRICS_ADDR": "127.0.0.1:0",
		"AUTH_DB_PATH":           filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_ITERATIONS": "1", "AUTH_ARGON2_PARALLELISM": "1",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, func(k string) string { return env[k] }, nil, &testkit.Buffer{}) }()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	readyz := func() (int, string) {
		res, err := hc.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, ""
		}
		defer func() { _ = res.Body.Close() }()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	testkit.Eventually(t, 20*time.Second, "/readyz answers 503 naming nats while NATS is down", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"message":"unavailable: nats"`)
	})
	select {
	case err := <-done:
		t.Fatalf("Run returned while NATS was down: %v", err)
	default:
	}
	testkit.StartNATS(t, testkit.NATSPort(port))
	testkit.Eventually(t, 20*time.Second, "/readyz answers 200 once NATS is up", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after a clean stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

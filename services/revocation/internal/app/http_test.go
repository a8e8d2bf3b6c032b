package app_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/services/revocation/internal/app"
)

func TestReadiness(t *testing.T) {
	e := newEnv(t)
	e.rd.Pause(t) // the start-up sync cannot finish
	svc := e.start(t)

	code, hdr, body := svc.do(t, http.MethodGet, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before sync = %d %s, want 503", code, body)
	}
	if got := jsonBody(t, body); got["error"] != "not_ready" || got["message"] == "" {
		t.Fatalf("/readyz body = %s", body)
	}
	if msg := jsonBody(t, body)["message"]; !strings.HasPrefix(msg, "unavailable: ingest: ") {
		t.Fatalf("/readyz message %q does not name the ingest check and its reason", msg)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	code, _, body = svc.do(t, http.MethodGet, "/healthz")
	if code != http.StatusOK || jsonBody(t, body)["status"] != "ok" {
		t.Fatalf("/healthz = %d %s", code, body)
	}

	e.rd.Resume(t)
	waitReady := func(want int, contains string) {
		t.Helper()
		testkit.Eventually(t, waitFor, "/readyz answers "+http.StatusText(want), func() bool {
			code, _, body := svc.do(t, http.MethodGet, "/readyz")
			return code == want && strings.Contains(string(body), contains)
		})
	}
	waitReady(http.StatusOK, `"checks":{"ingest":"ok","nats":"ok"}`)
	e.rd.Pause(t)
	waitReady(http.StatusServiceUnavailable, "redis")
	e.rd.Resume(t)
	waitReady(http.StatusOK, "")
}

func TestHTTPRoutes(t *testing.T) {
	e := newEnv(t)
	svc := e.start(t)
	tests := []struct {
		name, method, path string
		code               int
		errCode            string
	}{
		{"ErrNotFound", http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{"ErrMethodNotAllowed", http.MethodPost, "/readyz", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"ErrMetricsNotHere", http.MethodGet, "/metrics", http.StatusNotFound, "not_found"},
		{"Healthz", http.MethodGet, "/healthz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := svc.do(t, tt.method, tt.path)
			if code != tt.code {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.code)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", hdr.Get("Content-Type"))
			}
			if tt.errCode != "" {
				if got := jsonBody(t, body); got["error"] != tt.errCode || got["message"] == "" {
					t.Fatalf("body = %s, want error %q", body, tt.errCode)
				}
			}
			if code == http.StatusMethodNotAllowed && hdr.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

// TestMetricsListener: /metrics is served on REVOCATION_METRICS_ADDR only;
// the health listener answers it 404 like any unknown route, and a
// graceful stop closes both listeners.
func TestMetricsListener(t *testing.T) {
	e := newEnv(t)
	// On a loopback address of its own: the closed-listener check below
	// must not meet another test's listener on a reused port.
	svc := e.start(t, "REVOCATION_HTTP_ADDR="+testkit.FreeAddrOn(t, "127.0.0.2"), "REVOCATION_METRICS_ADDR="+testkit.FreeAddrOn(t, "127.0.0.2"))
	if svc.addr == svc.metricsAddr {
		t.Fatalf("health and metrics share %s", svc.addr)
	}
	svc.waitReady(t)
	t.Run("ErrNotOnHealthListener", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			code, _, body := svc.do(t, method, "/metrics")
			if code != http.StatusNotFound || jsonBody(t, body)["error"] != "not_found" {
				t.Fatalf("%s /metrics on REVOCATION_HTTP_ADDR = %d %s, want 404 not_found", method, code, body)
			}
		}
	})
	t.Run("Exposition", func(t *testing.T) {
		code, hdr, body := svc.doMetrics(t, http.MethodGet, "/metrics")
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("/metrics = %d %q", code, hdr.Get("Content-Type"))
		}
		if !bytes.Contains(body, []byte("# TYPE revocation_checkpoint gauge")) {
			t.Errorf("/metrics is not a Prometheus exposition of the service:\n%s", body)
		}
		for _, name := range []string{
			"revocation_events_invalid_total", "revocation_redis_errors_total",
			"revocation_rebuilds_total", "revocation_rebuild_duration_seconds",
			"revocation_rebuild_in_progress", "revocation_checkpoint",
			"revocation_events_applied_total", "revocation_events_expired_total",
			"revocation_apply_batch_size", "revocation_apply_duration_seconds",
			"revocation_consumer_pending", "revocation_last_applied_event_age_seconds",
			"go_goroutines",
		} {
			if !bytes.Contains(body, []byte("\n"+name)) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})
	t.Run("ErrNothingElseOnMetrics", func(t *testing.T) {
		for _, path := range []string{"/", "/healthz", "/readyz"} {
			code, _, body := svc.doMetrics(t, http.MethodGet, path)
			if code != http.StatusNotFound || jsonBody(t, body)["error"] != "not_found" {
				t.Fatalf("GET %s on REVOCATION_METRICS_ADDR = %d %s, want 404 not_found", path, code, body)
			}
		}
		code, hdr, _ := svc.doMetrics(t, http.MethodDelete, "/metrics")
		if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
			t.Fatalf("DELETE /metrics = %d, Allow %q; want 405 with Allow", code, hdr.Get("Allow"))
		}
	})
	// A graceful stop closes both listeners.
	if err := svc.stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{svc.addr, svc.metricsAddr} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after a graceful stop", addr)
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	noenv := func(string) string { return "" }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := app.Run(ctx, noenv, []string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Run(--help) = %v, want flag.ErrHelp", err)
	}
	for _, v := range []string{"REVOCATION_HTTP_ADDR", "REVOCATION_METRICS_ADDR"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("help does not list %s:\n%s", v, out.String())
		}
	}
	err := app.Run(ctx, func(k string) string {
		if k == "REVOCATION_BATCH_SIZE" {
			return "lots"
		}
		return ""
	}, nil, &out)
	if !errors.Is(err, app.ErrUsage) || !strings.Contains(err.Error(), "REVOCATION_BATCH_SIZE") {
		t.Fatalf("Run with a bad value = %v, want ErrUsage naming the variable", err)
	}
}

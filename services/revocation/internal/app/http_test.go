package app_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
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
	waitReady(http.StatusOK, "")
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
		{"ErrMethodNotAllowedMetrics", http.MethodDelete, "/metrics", http.StatusMethodNotAllowed, "method_not_allowed"},
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
	t.Run("Metrics", func(t *testing.T) {
		svc.waitReady(t)
		code, _, body := svc.do(t, http.MethodGet, "/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
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
	if !strings.Contains(out.String(), "REVOCATION_HTTP_ADDR") {
		t.Errorf("help does not list REVOCATION_HTTP_ADDR:\n%s", out.String())
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

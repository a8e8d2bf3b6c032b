package app_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// TestMetricsListener: /metrics is served on AUTH_METRICS_ADDR only; the
// API listener answers it 404 like any unknown route, and Close shuts
// both listeners.
func TestMetricsListener(t *testing.T) {
	// On a loopback address of its own: the closed-listener check below
	// must not meet another test's listener on a reused port.
	s := startStack(t, map[string]string{
		"AUTH_HTTP_ADDR": testkit.FreeAddrOn(t, "127.0.0.3"), "AUTH_METRICS_ADDR": testkit.FreeAddrOn(t, "127.0.0.3"),
	})
	if s.main.Addr() == s.main.MetricsAddr() {
		t.Fatalf("API and metrics share %s", s.main.Addr())
	}
	t.Run("ErrNotOnAPI", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			wantError(t, s.do(method, "/metrics", "", nil), http.StatusNotFound, "not_found")
		}
		if res := s.fetch(http.MethodHead, s.base+"/metrics"); res.status != http.StatusNotFound {
			t.Fatalf("HEAD /metrics on the API: %d, want 404", res.status)
		}
	})
	t.Run("Exposition", func(t *testing.T) {
		s.post("/v1/auth/login", "", creds("nobody", "whatever1"))
		res := s.fetch(http.MethodGet, s.metricsBase+"/metrics")
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET /metrics on the metrics listener: %d %q", res.status, res.header.Get("Content-Type"))
		}
		for _, name := range []string{
			"# TYPE auth_login_failures_total counter",
			`auth_http_requests_total{method="POST",route="/v1/auth/login",status="401"} 1`,
			`auth_http_requests_total{method="GET",route="unmatched",status="404"}`, // the API's /metrics
			`auth_login_failures_total{reason="unknown_user"} 1`,
			`auth_logout_outcomes_total{endpoint="logout",status="204"} 0`,
			"auth_http_request_duration_seconds_bucket",
			"jwtx_validations_total",
			"auth_applied_announcements_invalid_total 0",
			"go_goroutines",
		} {
			if !strings.Contains(string(res.body), name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})
	t.Run("ErrNothingElseOnMetrics", func(t *testing.T) {
		for _, path := range []string{"/", "/healthz", "/readyz", "/v1/auth/me", "/.well-known/jwks.json"} {
			wantError(t, s.fetch(http.MethodGet, s.metricsBase+path), http.StatusNotFound, "not_found")
		}
		res := s.fetch(http.MethodPost, s.metricsBase+"/metrics")
		wantError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
		if res.header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("Allow %q", res.header.Get("Allow"))
		}
	})
	// Close shuts both listeners.
	if err := s.main.Close(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{s.main.Addr(), s.main.MetricsAddr()} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", addr)
		}
	}
}

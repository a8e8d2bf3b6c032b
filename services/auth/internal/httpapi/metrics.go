package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler serves g on GET /metrics (Prometheus text exposition) and
// nothing else: other paths get a JSON 404, other methods a JSON 405. It
// is meant for a listener of its own (AUTH_METRICS_ADDR), not the API's:
// login failures and logout outcomes are for operators only.
func MetricsHandler(g prometheus.Gatherer, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, logger, errorf(CodeMethodNotAllowed, "use GET or HEAD"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, logger, errorf(CodeNotFound, "no such route; this listener serves /metrics only"))
	})
	return mux
}

// metrics are the Server's collectors.
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	logouts       *prometheus.CounterVec
	loginFailures *prometheus.CounterVec
	// rateLimited counts 429 answers by scope (user, ip).
	rateLimited *prometheus.CounterVec
	// rateLimitErrors counts attempts refused with 503 because the
	// rate-limit counters could not be read.
	rateLimitErrors prometheus.Counter
	panics          prometheus.Counter
	// refreshes counts refreshes by outcome (rotated, grace_replay,
	// reused, invalid, error).
	refreshes *prometheus.CounterVec
	// sessionsRevoked counts session-ending answers by reason.
	sessionsRevoked *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_http_requests_total",
			Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "auth_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		logouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_logout_outcomes_total",
			Help: "Answers of logout and logout-all-devices by status: 204 enforced, 202 durable but pending, 503 not durable.",
		}, []string{"endpoint", "status"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_login_failures_total",
			Help: "Failed logins by reason: unknown_user, wrong_password.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_login_rate_limited_total",
			Help: "Login and register attempts answered 429, by scope: user (failed logins per username), ip (attempts per client address).",
		}, []string{"scope"}),
		rateLimitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auth_login_rate_limit_errors_total",
			Help: "Login and register attempts answered 503 because the rate-limit counters in Redis could not be read (fail closed).",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auth_http_panics_total",
			Help: "Handler panics turned into 500 answers (should stay 0).",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_refreshes_total",
			Help: "Refresh requests by outcome: rotated, grace_replay, reused (session revoked), invalid, error.",
		}, []string{"outcome"}),
		sessionsRevoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_sessions_revoked_total",
			Help: "Requests that ended sessions (durable), by reason: logout, logout_all, session_revoked, credential_change, refresh_token_reuse.",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.logouts, m.loginFailures, m.rateLimited, m.rateLimitErrors, m.panics, m.refreshes, m.sessionsRevoked} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	for _, e := range []string{"logout", "logout_all_devices"} {
		for _, st := range []string{"204", "202", "503"} {
			m.logouts.WithLabelValues(e, st)
		}
	}
	for _, o := range []string{"rotated", "grace_replay", "reused", "invalid", "error"} {
		m.refreshes.WithLabelValues(o)
	}
	for _, r := range []string{"unknown_user", "wrong_password"} {
		m.loginFailures.WithLabelValues(r)
	}
	for _, sc := range []string{ScopeUser, ScopeIP} {
		m.rateLimited.WithLabelValues(sc)
	}
	return m, nil
}

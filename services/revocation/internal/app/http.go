package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventjwt/eventjwt/internal/service"
)

// HTTP limits beyond internal/service's defaults, and the shutdown bound.
const (
	readTimeout     = 10 * time.Second
	maxHeaderBytes  = 16 << 10
	shutdownTimeout = 5 * time.Second
)

// newHandler routes /healthz and /readyz (GET and HEAD only); everything
// else, /metrics included, gets a JSON 404 or 405. /readyz runs checks,
// and names the reason of a failure (this listener is for operators and
// orchestrators).
func newHandler(checks []service.Check) http.Handler {
	return route(map[string]http.Handler{
		"/healthz": http.HandlerFunc(service.Health),
		"/readyz":  service.Ready(checks, time.Second, nil, true),
	})
}

// newMetricsHandler routes /metrics (GET and HEAD only) for the metrics
// listener, apart from the health endpoints; everything else gets a JSON
// 404 or 405.
func newMetricsHandler(gatherer prometheus.Gatherer) http.Handler {
	return route(map[string]http.Handler{
		"/metrics": promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}),
	})
}

// route serves routes by exact path, for GET and HEAD.
func route(routes map[string]http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := routes[r.URL.Path]
		if !ok {
			service.WriteError(w, http.StatusNotFound, "not_found", "no such route: "+r.URL.Path)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			service.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return service.NewHTTPServer(h, service.HTTPLimits{ReadTimeout: readTimeout, MaxHeaderBytes: maxHeaderBytes}, log)
}

// check adapts a readiness function that needs no context.
func check(name string, fn func() error) service.Check {
	return service.Check{Name: name, Fn: func(context.Context) error { return fn() }}
}

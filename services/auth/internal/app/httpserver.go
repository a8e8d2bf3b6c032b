package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

// Limits of the HTTP server, against slow and oversized clients: the
// chassis's (internal/service). Bodies are limited separately
// (httpapi.MaxBodyBytes, 16 KiB).
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers: a
	// client trickling them byte by byte (slowloris) is cut off.
	DefaultReadHeaderTimeout = service.DefaultReadHeaderTimeout
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = service.DefaultReadTimeout
	// IdleTimeout closes keep-alive connections left unused.
	IdleTimeout = service.DefaultIdleTimeout
	// MaxHeaderBytes bounds the request line and headers (a bearer token
	// is at most 8 KiB); beyond it net/http answers 431.
	MaxHeaderBytes = service.DefaultMaxHeaderBytes
)

// writeTimeout bounds writing an answer, from the end of the headers:
// logout may take the publish timeout plus the revocation wait.
func writeTimeout(revocationWait time.Duration) time.Duration {
	return 30*time.Second + revoke.DefaultPublishTimeout + revocationWait
}

// newHTTPServer returns the server for h with every limit set;
// readHeaderTimeout 0 means DefaultReadHeaderTimeout.
func newHTTPServer(h http.Handler, readHeaderTimeout, revocationWait time.Duration, log *slog.Logger) *http.Server {
	return service.NewHTTPServer(h, service.HTTPLimits{ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: writeTimeout(revocationWait)}, log)
}

// MetricsWriteTimeout bounds writing one scrape of /metrics.
const MetricsWriteTimeout = 30 * time.Second

// newMetricsServer returns the server of the metrics listener, with the
// same header, read and idle limits as the API's.
func newMetricsServer(h http.Handler, readHeaderTimeout time.Duration, log *slog.Logger) *http.Server {
	return service.NewHTTPServer(h, service.HTTPLimits{ReadHeaderTimeout: readHeaderTimeout, WriteTimeout: MetricsWriteTimeout}, log)
}

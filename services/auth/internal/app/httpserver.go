package app

import (
	"log"
	"net/http"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

// Limits of the HTTP server, against slow and oversized clients. Bodies
// are limited separately (httpapi.MaxBodyBytes, 16 KiB).
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers: a
	// client trickling them byte by byte (slowloris) is cut off.
	DefaultReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout = 15 * time.Second
	// IdleTimeout closes keep-alive connections left unused.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds the request line and headers (a bearer token
	// is at most 8 KiB); beyond it net/http answers 431.
	MaxHeaderBytes = 64 << 10
)

// writeTimeout bounds writing an answer, from the end of the headers:
// logout may take the publish timeout plus the revocation wait.
func writeTimeout(revocationWait time.Duration) time.Duration {
	return 30*time.Second + revoke.DefaultPublishTimeout + revocationWait
}

// newHTTPServer returns the server for h with every limit set;
// readHeaderTimeout 0 means DefaultReadHeaderTimeout.
func newHTTPServer(h http.Handler, readHeaderTimeout, revocationWait time.Duration, errorLog *log.Logger) *http.Server {
	if readHeaderTimeout <= 0 {
		readHeaderTimeout = DefaultReadHeaderTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      writeTimeout(revocationWait),
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// MetricsWriteTimeout bounds writing one scrape of /metrics.
const MetricsWriteTimeout = 30 * time.Second

// newMetricsServer returns the server of the metrics listener, with the
// same header, read and idle limits as the API's.
func newMetricsServer(h http.Handler, readHeaderTimeout time.Duration, errorLog *log.Logger) *http.Server {
	if readHeaderTimeout <= 0 {
		readHeaderTimeout = DefaultReadHeaderTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      MetricsWriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

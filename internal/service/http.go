package service

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Limits of the HTTP servers, against slow and oversized clients; the
// zero value of a field of HTTPLimits means the default here.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers: a
	// client trickling them byte by byte (slowloris) is cut off.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds writing an answer.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout closes keep-alive connections left unused.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes bounds the request line and headers (a bearer
	// token is at most 8 KiB); beyond it net/http answers 431.
	DefaultMaxHeaderBytes = 64 << 10
)

// HTTPLimits are the limits of one http.Server.
type HTTPLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// NewHTTPServer returns the server for h with every limit set, logging
// net/http's own errors (TLS handshakes, malformed requests) to log at
// WARN.
func NewHTTPServer(h http.Handler, l HTTPLimits, log *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(l.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       orDefault(l.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      orDefault(l.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       orDefault(l.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    orDefault(l.MaxHeaderBytes, DefaultMaxHeaderBytes),
	}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return srv
}

// NewLogger returns the logger of the service name: JSON (format "json")
// or text lines on w from level up, each with service=name.
func NewLogger(w io.Writer, name string, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", name)
}

// WriteJSON writes v as a JSON answer that no cache keeps.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// WriteError answers {"error": code, "message": message} with status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	WriteJSON(w, status, ErrorBody{Error: code, Message: message})
}

// Check is one readiness condition: Fn returns nil when Name is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health answers /healthz: the process is alive, {"status":"ok"}.
func Health(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyBody is the 200 answer of /readyz: every check by name, "ok".
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Ready returns the /readyz handler: every check runs, each within
// timeout (1s when 0); 200 {"status":"ready","checks":{"nats":"ok",...}}
// when all pass, else 503 with Retry-After and the error body of every
// other error, {"error":"not_ready","message":"unavailable: NAMES"}, and
// one WARN line per failed check on log. With detail, the message also
// gives each failed check's error ("unavailable: ingest: redis: ..."):
// for a listener only operators reach.
func Ready(checks []Check, timeout time.Duration, log *slog.Logger, detail bool) http.HandlerFunc {
	timeout = orDefault(timeout, time.Second)
	return func(w http.ResponseWriter, r *http.Request) {
		body := readyBody{Status: "ready", Checks: make(map[string]string, len(checks))}
		var failed []string
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			err := c.Fn(ctx)
			cancel()
			if err != nil {
				if log != nil {
					log.WarnContext(r.Context(), "not ready", "check", c.Name, "err", err)
				}
				if detail {
					failed = append(failed, c.Name+": "+err.Error())
				} else {
					failed = append(failed, c.Name)
				}
				continue
			}
			body.Checks[c.Name] = "ok"
		}
		if len(failed) > 0 {
			w.Header().Set("Retry-After", "1")
			WriteError(w, http.StatusServiceUnavailable, "not_ready", "unavailable: "+strings.Join(failed, ", "))
			return
		}
		WriteJSON(w, http.StatusOK, body)
	}
}

package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

var discard = slog.New(slog.DiscardHandler)

func TestWriteError(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter bool
		wwwAuth    bool
	}{
		{"InvalidRequest", errorf(CodeInvalidRequest, "bad"), 400, CodeInvalidRequest, false, false},
		{"WrappedAPIError", fmt.Errorf("ctx: %w", errorf(CodeUsernameTaken, "taken")), 409, CodeUsernameTaken, false, false},
		{"InvalidCredentials", errorf(CodeInvalidCredentials, "no"), 401, CodeInvalidCredentials, false, true},
		{"TooLarge", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), 413, CodeRequestTooLarge, false, false},
		{"UnsupportedMediaType", errNotJSON, 415, CodeUnsupportedMediaType, false, false},
		{"JWTInvalid", fmt.Errorf("x: %w", jwtx.ErrExpired), 401, "invalid_token", false, true},
		{"JWTMissing", jwtx.ErrMissingToken, 401, "invalid_token", false, true},
		{"JWTRevoked", jwtx.ErrRevoked, 401, "token_revoked", false, true},
		{"JWTUnavailable", jwtx.ErrRevocationUnavailable, 503, "revocation_unavailable", true, false},
		{"PublishFailed", fmt.Errorf("%w: nats: timeout", revoke.ErrUnavailable), 503, CodeRevocationUnavailable, true, false},
		{"NotReady", errorf(CodeNotReady, "nats"), 503, CodeNotReady, true, false},
		{"Unknown", errors.New("disk on fire"), 500, CodeInternal, false, false},
		{"WeakPassword", errorf(CodeWeakPassword, "too common"), 400, CodeWeakPassword, false, false},
		{"RateLimited", &Error{Code: CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, CodeRateLimited, true, false},
		{"LimiterDown", &Error{Code: CodeUnavailable, Message: "retry", Err: errors.New("redis: down")}, 503, CodeUnavailable, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), discard, tc.err)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tc.code || body["message"] == "" || len(body) != 2 {
				t.Fatalf("body %s (%v), want code %s", rec.Body, err, tc.code)
			}
			if (rec.Header().Get("Retry-After") != "") != tc.retryAfter {
				t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
			}
			if (rec.Header().Get("WWW-Authenticate") != "") != tc.wwwAuth {
				t.Fatalf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("RetryAfterRoundsUp", func(t *testing.T) {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest(http.MethodPost, "/", nil), discard,
			&Error{Code: CodeRateLimited, Message: "slow down", RetryAfter: 1500 * time.Millisecond})
		if got := rec.Header().Get("Retry-After"); got != "2" {
			t.Fatalf("Retry-After %q, want 2", got)
		}
	})
	t.Run("UnknownCauseNotLeaked", func(t *testing.T) {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest(http.MethodGet, "/", nil), discard, errors.New("secret dsn"))
		if strings.Contains(rec.Body.String(), "secret") {
			t.Fatalf("cause leaked: %s", rec.Body)
		}
	})
}

func TestRecoverPanics(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{logger: discard, metrics: m}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		status  int
	}{
		{"BeforeWriting", func(http.ResponseWriter, *http.Request) { panic("boom") }, 500},
		{"AfterWriting", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			panic("boom")
		}, http.StatusAccepted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.recoverPanics(tc.handler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 500 && rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("500 is not JSON: %q", rec.Body)
			}
		})
	}
	if got := testutil.ToFloat64(m.panics); got != 2 {
		t.Fatalf("auth_http_panics_total = %v, want 2", got)
	}
	t.Run("AbortHandlerPropagates", func(t *testing.T) {
		defer func() {
			if p, _ := recover().(error); !errors.Is(p, http.ErrAbortHandler) {
				t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
			}
		}()
		s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	})
}

// TestVersionExhaustedStatus: the client is not at fault and a retry
// cannot help.
func TestVersionExhaustedStatus(t *testing.T) {
	if st := Status(CodeVersionExhausted); st != http.StatusInternalServerError {
		t.Fatalf("Status(%s) = %d, want 500: the client is not at fault and a retry cannot help", CodeVersionExhausted, st)
	}
}

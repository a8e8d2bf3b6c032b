package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventjwt/eventjwt/pkg/events"
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

func TestTargetVersion(t *testing.T) {
	const maxVer = events.MaxVersion
	cases := []struct {
		name             string
		stored, tokenVer int64
		want             int64 // 0: exhausted, ok false
	}{
		{"CurrentToken", 0, 0, 1},
		{"CurrentTokenLater", 4, 4, 5},
		{"AlreadyRevokedToken", 5, 3, 5},
		{"TokenAheadOfStore", 2, 7, 8},
		{"LastVersion", maxVer - 1, maxVer - 1, maxVer},
		{"AlreadyRevokedAtMax", maxVer, 3, maxVer},
		// Red-team finding 2: max(stored, ver)+1 overflowed to a negative
		// version, and every logout-all answered 503 "retry" for good.
		{"ErrStoredAtMax", maxVer, maxVer, 0},
		{"ErrTokenAtMax", 2, maxVer, 0},
		{"ErrStoredMaxInt64", math.MaxInt64, math.MaxInt64, 0},
		{"ErrStoredMaxInt64OldToken", math.MaxInt64, 3, 0},
		{"ErrTokenMaxInt64", 0, math.MaxInt64, 0},
		{"ErrStoredAboveMax", maxVer + 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := targetVersion(tc.stored, tc.tokenVer)
			if tc.want == 0 {
				if ok {
					t.Fatalf("targetVersion(%d, %d) = %d, want exhausted", tc.stored, tc.tokenVer, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("targetVersion(%d, %d) = %d, %v; want %d", tc.stored, tc.tokenVer, got, ok, tc.want)
			}
			if got > maxVer || got < 1 {
				t.Fatalf("targetVersion(%d, %d) = %d outside 1..events.MaxVersion", tc.stored, tc.tokenVer, got)
			}
		})
	}
	if st := Status(CodeVersionExhausted); st != http.StatusInternalServerError {
		t.Fatalf("Status(%s) = %d, want 500: the client is not at fault and a retry cannot help", CodeVersionExhausted, st)
	}
}

// TestEventID: with a key, one revocation has one id (a repeated logout is
// stored once) that nobody without the key can compute; without a key,
// the random id events gave the event is kept.
func TestEventID(t *testing.T) {
	a := &Server{eventIDKey: []byte("key a")}
	b := &Server{eventIDKey: []byte("key b")}
	id1 := a.eventID("r1", "token.revoked", "jti", "1")
	if id1 != a.eventID("r2", "token.revoked", "jti", "1") {
		t.Fatal("the same revocation got two ids")
	}
	for name, other := range map[string]string{
		"OtherKey":    b.eventID("r1", "token.revoked", "jti", "1"),
		"OtherExpiry": a.eventID("r1", "token.revoked", "jti", "2"),
		"OtherType":   a.eventID("r1", "user.tokens_revoked", "jti", "1"),
		"Joined":      a.eventID("r1", "token.revoked", "jti\x001"),
	} {
		if other == id1 {
			t.Errorf("%s: same id %s", name, id1)
		}
	}
	if !events.IsUUID(id1) {
		t.Fatalf("id %q is not a canonical UUID", id1)
	}
	if got := (&Server{}).eventID("random", "token.revoked", "jti", "1"); got != "random" {
		t.Fatalf("without a key: %q, want the random id kept", got)
	}
}

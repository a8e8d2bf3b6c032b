package app_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

// TestJSONBodyRoutesRequireJSONContentType: register and login refuse a
// body not declared application/json with 415 before the rate limiter
// counts the attempt (and so before any password hashing), so a page on
// another site cannot post them as a "simple" cross-origin request (login
// CSRF, locking a username out from many visitors' addresses).
func TestJSONBodyRoutesRequireJSONContentType(t *testing.T) {
	s := startStack(t, map[string]string{"AUTH_LOGIN_RATE_IP": "5/1m", "AUTH_LOGIN_RATE_USER": "1/1m"})
	s.register("alice", "correct horse") // attempt 1 of the address's 5
	cases := []struct {
		name, path, contentType, body string
		status                        int
	}{
		// One failure would lock alice (1/1m) and the accepted logins below
		// would get 429; every other attempt would spend the address's 5.
		{"ErrLoginMissing", "/v1/auth/login", "", creds("alice", "wrong horse"), http.StatusUnsupportedMediaType},
		{"ErrLoginTextPlain", "/v1/auth/login", "text/plain", creds("alice", "wrong horse"), http.StatusUnsupportedMediaType},
		{"ErrLoginForm", "/v1/auth/login", "application/x-www-form-urlencoded", creds("alice", "wrong horse"), http.StatusUnsupportedMediaType},
		{"ErrLoginMultipart", "/v1/auth/login", "multipart/form-data; boundary=x", creds("alice", "wrong horse"), http.StatusUnsupportedMediaType},
		{"ErrRegisterMissing", "/v1/auth/register", "", creds("mallory1", "correct horse"), http.StatusUnsupportedMediaType},
		{"ErrRegisterTextPlain", "/v1/auth/register", "text/plain;charset=UTF-8", creds("mallory2", "correct horse"), http.StatusUnsupportedMediaType},
		{"ErrRegisterForm", "/v1/auth/register", "application/x-www-form-urlencoded", creds("mallory3", "correct horse"), http.StatusUnsupportedMediaType},
		{"ErrRegisterMultipart", "/v1/auth/register", "multipart/form-data; boundary=x", creds("mallory4", "correct horse"), http.StatusUnsupportedMediaType},
		// Attempts 2 to 5.
		{"RegisterJSON", "/v1/auth/register", "application/json", creds("carol", "correct horse"), http.StatusCreated},
		{"RegisterJSONCharset", "/v1/auth/register", "application/json; charset=utf-8", creds("dave", "correct horse"), http.StatusCreated},
		{"LoginJSON", "/v1/auth/login", "application/json", creds("alice", "correct horse"), http.StatusOK},
		{"LoginJSONCharset", "/v1/auth/login", "application/json; charset=utf-8", creds("alice", "correct horse"), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.rateCounters()
			res := s.postAs(tc.path, tc.contentType, tc.body)
			after := s.rateCounters()
			ipKey := ratelimit.KeyPrefix + "ip:127.0.0.1"
			if tc.status != http.StatusUnsupportedMediaType {
				if res.status != tc.status {
					t.Fatalf("status %d, want %d; body %s", res.status, tc.status, res.body)
				}
				if atoi(after[ipKey]) != atoi(before[ipKey])+1 {
					t.Fatalf("%s went from %q to %q, want one attempt counted", ipKey, before[ipKey], after[ipKey])
				}
				return
			}
			wantError(t, res, http.StatusUnsupportedMediaType, "unsupported_media_type")
			if got := res.header.Get("Accept"); got != "application/json" {
				t.Fatalf("Accept %q, want application/json", got)
			}
			if !maps.Equal(before, after) {
				t.Fatalf("rate-limit counters changed: %v -> %v", before, after)
			}
		})
	}
	m := s.scrape()
	for _, name := range []string{"unknown_user", "wrong_password"} {
		if !strings.Contains(m, `auth_login_failures_total{reason="`+name+`"} 0`) {
			t.Fatalf("auth_login_failures_total{reason=%q} is not 0: a refused login hashed a password", name)
		}
	}
	// The address's 5 attempts are spent by the accepted requests alone.
	wantRateLimited(t, s.postAs("/v1/auth/login", "application/json", creds("alice", "correct horse")), 60)
}

// postAs posts body with the given Content-Type; "" sends none.
func (s *stack) postAs(path, contentType, body string) response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("POST %s: read body: %v", path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// rateCounters returns every rate-limit counter in Redis.
func (s *stack) rateCounters() map[string]string {
	s.t.Helper()
	ctx := context.Background()
	keys, err := s.rdb.Keys(ctx, ratelimit.KeyPrefix+"*").Result()
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		v, err := s.rdb.Get(ctx, k).Result()
		if err != nil {
			s.t.Fatalf("GET %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// from returns headers making a trusted proxy (127.0.0.1) say the request
// came from addr.
func from(addr string) http.Header {
	return http.Header{"X-Forwarded-For": {addr}}
}

// loginFrom tries a login that a trusted proxy forwarded from addr.
func (s *stack) loginFrom(addr, user, pw string) response {
	s.t.Helper()
	return s.doHeader(http.MethodPost, "/v1/auth/login", "", []byte(creds(user, pw)), from(addr))
}

// wantRateLimited checks a 429: JSON rate_limited and a Retry-After of 1
// to maxSeconds seconds.
func wantRateLimited(tb testing.TB, res response, maxSeconds int) {
	tb.Helper()
	wantError(tb, res, http.StatusTooManyRequests, "rate_limited")
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > maxSeconds {
		tb.Fatalf("Retry-After %q, want 1 to %d seconds", res.header.Get("Retry-After"), maxSeconds)
	}
}

// metric returns the line of /metrics starting with name.
func (s *stack) metric(name string) string {
	s.t.Helper()
	for line := range strings.Lines(s.scrape()) {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func TestLoginRateLimitPerUsername(t *testing.T) {
	s := startStack(t, map[string]string{
		"AUTH_LOGIN_RATE_USER": "3/1m", "AUTH_TRUSTED_PROXIES": "127.0.0.1, ::1",
	})
	s.register("alice", "correct horse")
	s.register("bob", "battery staple")

	t.Run("FailuresFromDifferentAddresses", func(t *testing.T) {
		for i, addr := range []string{"198.51.100.1", "198.51.100.2", "2001:db8:1::1"} {
			wantError(t, s.loginFrom(addr, "alice", "wrong horse "+strconv.Itoa(i)), http.StatusUnauthorized, "invalid_credentials")
		}
		// The right password from a fourth address is refused too: the
		// account is locked for the rest of the window, whoever asks.
		wantRateLimited(t, s.loginFrom("203.0.113.9", "ALICE", "correct horse"), 60)
	})
	t.Run("UnknownUserAnsweredTheSame", func(t *testing.T) {
		for range 3 {
			wantError(t, s.loginFrom("198.51.100.1", "mallory", "guess guess"), http.StatusUnauthorized, "invalid_credentials")
		}
		locked := s.loginFrom("198.51.100.1", "mallory", "guess guess")
		wantRateLimited(t, locked, 60)
		if want := s.loginFrom("198.51.100.1", "alice", "guess guess"); string(want.body) != string(locked.body) {
			t.Fatalf("an unknown and a known user are locked with different answers:\n%s\n%s", locked.body, want.body)
		}
	})
	t.Run("SuccessesDoNotCount", func(t *testing.T) {
		for range 6 {
			s.login("bob", "battery staple")
		}
		wantError(t, s.post("/v1/auth/login", "", creds("bob", "wrong staple")), http.StatusUnauthorized, "invalid_credentials")
		s.login("bob", "battery staple")
	})
	t.Run("Metric", func(t *testing.T) {
		if got := s.metric(`auth_login_rate_limited_total{scope="user"}`); got != `auth_login_rate_limited_total{scope="user"} 3` {
			t.Fatalf("metric line %q, want 3 user refusals", got)
		}
	})
	t.Run("KeysExpire", func(t *testing.T) {
		keys, err := s.rdb.Keys(t.Context(), "auth:ratelimit:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("rate-limit keys %v, %v", keys, err)
		}
		for _, k := range keys {
			ttl, err := s.rdb.PTTL(t.Context(), k).Result()
			if err != nil || ttl <= 0 || ttl > time.Minute {
				t.Fatalf("key %s has TTL %s (%v), want within its 1m window", k, ttl, err)
			}
		}
		if n, _ := s.rdb.Exists(t.Context(), "auth:ratelimit:{rl}:user:alice").Result(); n != 1 {
			t.Fatal("no auth:ratelimit:{rl}:user:alice key")
		}
	})
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Run("BehindTrustedProxy", func(t *testing.T) {
		s := startStack(t, map[string]string{"AUTH_LOGIN_RATE_IP": "4/1m", "AUTH_TRUSTED_PROXIES": "127.0.0.0/8"})
		s.register("alice", "correct horse") // counts for 127.0.0.1, not for the addresses below
		wantError(t, s.loginFrom("198.51.100.7", "bob", "battery staple"), http.StatusUnauthorized, "invalid_credentials")
		wantError(t, s.loginFrom("198.51.100.7", "carol", "battery staple"), http.StatusUnauthorized, "invalid_credentials")
		if res := s.loginFrom("198.51.100.7", "alice", "correct horse"); res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		wantError(t, s.loginFrom("198.51.100.7", "dave", "battery staple"), http.StatusUnauthorized, "invalid_credentials")
		wantRateLimited(t, s.loginFrom("198.51.100.7", "alice", "correct horse"), 60)
		wantRateLimited(t, s.doHeader(http.MethodPost, "/v1/auth/register", "", []byte(creds("erin", "correct horse")), from("198.51.100.7")), 60)
		// Spoofed entries left of the proxy's are the client's own words.
		wantRateLimited(t, s.loginFrom("1.2.3.4, 198.51.100.7", "alice", "correct horse"), 60)
		if res := s.loginFrom("198.51.100.8", "alice", "correct horse"); res.status != http.StatusOK {
			t.Fatalf("another address: %d %s", res.status, res.body)
		}
		// IPv6 clients count per /64.
		for i := range 4 {
			s.loginFrom("2001:db8:7:7::"+strconv.Itoa(i+1), "bob", "battery staple")
		}
		wantRateLimited(t, s.loginFrom("2001:db8:7:7:ffff::1", "alice", "correct horse"), 60)
		if got := s.metric(`auth_login_rate_limited_total{scope="ip"}`); got != `auth_login_rate_limited_total{scope="ip"} 4` {
			t.Fatalf("metric line %q, want 4 ip refusals", got)
		}
	})
	t.Run("XForwardedForIgnoredWithoutTrustedProxies", func(t *testing.T) {
		s := startStack(t, map[string]string{"AUTH_LOGIN_RATE_IP": "2/1m"})
		wantError(t, s.loginFrom("198.51.100.1", "bob", "battery staple"), http.StatusUnauthorized, "invalid_credentials")
		wantError(t, s.loginFrom("198.51.100.2", "carol", "battery staple"), http.StatusUnauthorized, "invalid_credentials")
		wantRateLimited(t, s.loginFrom("198.51.100.3", "dave", "battery staple"), 60)
	})
}

func TestLoginRateLimitSharedByReplicas(t *testing.T) {
	a := startStack(t, map[string]string{"AUTH_LOGIN_RATE_USER": "4/1m"})
	b := a.another()
	a.register("alice", "correct horse")
	for i := range 4 {
		replica := []*stack{a, b}[i%2]
		wantError(t, replica.post("/v1/auth/login", "", creds("alice", "wrong horse")), http.StatusUnauthorized, "invalid_credentials")
	}
	for _, replica := range []*stack{a, b} {
		wantRateLimited(t, replica.post("/v1/auth/login", "", creds("alice", "correct horse")), 60)
	}
}

func TestLoginRateLimitWindowEnds(t *testing.T) {
	s := startStack(t, map[string]string{"AUTH_LOGIN_RATE_USER": "2/2s"})
	s.register("alice", "correct horse")
	for range 2 {
		wantError(t, s.post("/v1/auth/login", "", creds("alice", "wrong horse")), http.StatusUnauthorized, "invalid_credentials")
	}
	wantRateLimited(t, s.post("/v1/auth/login", "", creds("alice", "correct horse")), 2)
	var token string
	testkit.Eventually(t, 10*time.Second, "login allowed again once the window ends", func() bool {
		token, _ = s.tryLogin("alice", "correct horse")
		return token != ""
	})
	if st := s.meStatus(token); st != http.StatusOK {
		t.Fatalf("/me %d", st)
	}
}

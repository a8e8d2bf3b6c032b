package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

func TestNATSDown(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	token := s.login("alice", "correct horse")
	s.nats.Shutdown()

	t.Run("LogoutUnavailable", func(t *testing.T) {
		start := time.Now()
		wantError(t, s.post("/v1/auth/logout", token, ""), http.StatusServiceUnavailable, "revocation_unavailable")
		wantError(t, s.post("/v1/auth/logout-all-devices", token, ""), http.StatusServiceUnavailable, "revocation_unavailable")
		if took := time.Since(start); took > 12*time.Second {
			t.Fatalf("503 took %s", took)
		}
		if v := payloadOf(t, s.login("alice", "correct horse"))["ver"]; v != float64(0) {
			t.Fatalf("a failed logout-all changed the version: %v", v)
		}
	})
	t.Run("NotReady", func(t *testing.T) {
		wantError(t, s.get("/readyz", ""), http.StatusServiceUnavailable, "not_ready")
	})
	t.Run("ValidationStillWorks", func(t *testing.T) {
		if st := s.meStatus(token); st != http.StatusOK {
			t.Fatalf("/me %d", st)
		}
	})
	t.Run("RetryAfterRestartSucceeds", func(t *testing.T) {
		s.nats.Restart(t)
		startApplier(t, s, true)
		testkit.Eventually(t, 20*time.Second, "logout accepted after NATS restart", func() bool {
			return s.post("/v1/auth/logout", token, "").status != http.StatusServiceUnavailable
		})
		testkit.Eventually(t, 20*time.Second, "logout enforced", func() bool {
			return s.meStatus(token) == http.StatusUnauthorized
		})
		if st := s.get("/readyz", "").status; st != http.StatusOK {
			t.Fatalf("/readyz %d after restart", st)
		}
	})
}

func TestRedisDown(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	token := s.login("alice", "correct horse")
	if st := s.meStatus(token); st != http.StatusOK {
		t.Fatalf("/me %d", st)
	}
	t.Run("Paused", func(t *testing.T) {
		s.redis.Pause(t)
		defer s.redis.Resume(t)
		start := time.Now()
		wantError(t, s.get("/v1/auth/me", token), http.StatusServiceUnavailable, "revocation_unavailable")
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("a hung Redis held /me for %s", took)
		}
		wantError(t, s.get("/readyz", ""), http.StatusServiceUnavailable, "not_ready")
	})
	t.Run("Killed", func(t *testing.T) {
		fresh := s.login("alice", "correct horse")
		s.redis.Kill(t)
		for range 3 {
			wantError(t, s.get("/v1/auth/me", token), http.StatusServiceUnavailable, "revocation_unavailable")
		}
		wantError(t, s.get("/readyz", ""), http.StatusServiceUnavailable, "not_ready")
		// Login fails closed without its rate-limit counters (a token
		// issued now would be refused everywhere anyway), and so does
		// register.
		wantError(t, s.post("/v1/auth/login", "", creds("alice", "correct horse")), http.StatusServiceUnavailable, "unavailable")
		wantError(t, s.post("/v1/auth/register", "", creds("carol", "correct horse")), http.StatusServiceUnavailable, "unavailable")
		if m := s.scrape(); !strings.Contains(m, "auth_login_rate_limit_errors_total 2") {
			t.Fatal("/metrics does not count the two refusals in auth_login_rate_limit_errors_total")
		}
		// Logging out needs no Redis: durable, not yet seen enforced.
		wantPending(t, s.post("/v1/auth/logout-all-devices", fresh, ""))
	})
	t.Run("RestartedEmptyFailsClosedUntilCheckpoint", func(t *testing.T) {
		s.redis.Restart(t)
		var token string
		// go-redis waits up to a second before dialing a server it could
		// not reach; login answers 503 until then.
		testkit.Eventually(t, 10*time.Second, "login answers once Redis is back", func() bool {
			token, _ = s.tryLogin("alice", "correct horse")
			return token != ""
		})
		wantError(t, s.get("/v1/auth/me", token), http.StatusServiceUnavailable, "revocation_unavailable")
		if err := s.redis.Client(t).Set(t.Context(), jwtx.KeyCheckpoint, "0", 0).Err(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 10*time.Second, "/me 200 once the checkpoint is back", func() bool {
			return s.meStatus(token) == http.StatusOK
		})
		if st := s.get("/readyz", "").status; st != http.StatusOK {
			t.Fatalf("/readyz %d", st)
		}
	})
}

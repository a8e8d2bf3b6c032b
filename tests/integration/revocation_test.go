package integration

import (
	"net/http"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// A 204 from logout means the very next validation rejects the token.
func TestLogoutThenImmediateRejection(t *testing.T) {
	s := newStack(t, stackOpts{})
	name, _ := s.Register()
	tok := s.Login(name)
	other := s.Login(name)
	expectStatus(t, "me before logout", s.Me(tok), http.StatusOK)

	expectStatus(t, "logout", s.Logout(tok), http.StatusNoContent)
	r := s.Me(tok)
	expectStatus(t, "me right after 204", r, http.StatusUnauthorized)
	if got := r.Header.Get("WWW-Authenticate"); got == "" {
		t.Fatalf("401 without WWW-Authenticate")
	}
	expectStatus(t, "the same user's other session", s.Me(other), http.StatusOK)

	// Revoking again is harmless.
	if r := s.Logout(tok); r.Status != http.StatusNoContent && r.Status != http.StatusUnauthorized {
		t.Fatalf("second logout: %d %s", r.Status, r.Body)
	}
}

// logout-all-devices revokes every earlier token of that user and none of
// another user's; a login right after it is valid at once.
func TestLogoutAllDevices(t *testing.T) {
	s := newStack(t, stackOpts{})
	alice, _ := s.Register()
	bob, _ := s.Register()
	aliceTokens := []string{s.Login(alice), s.Login(alice), s.Login(alice)}
	bobToken := s.Login(bob)

	expectStatus(t, "logout-all", s.LogoutAll(aliceTokens[1]), http.StatusNoContent)
	for i, tok := range aliceTokens {
		expectStatus(t, "alice's earlier token "+string(rune('0'+i)), s.Me(tok), http.StatusUnauthorized)
	}
	expectStatus(t, "bob's token", s.Me(bobToken), http.StatusOK)

	fresh := s.Login(alice)
	expectStatus(t, "login right after logout-all", s.Me(fresh), http.StatusOK)

	// A second logout-all also revokes the token issued in between.
	expectStatus(t, "second logout-all", s.LogoutAll(fresh), http.StatusNoContent)
	expectStatus(t, "token issued between the two", s.Me(fresh), http.StatusUnauthorized)
	expectStatus(t, "login after the second", s.Me(s.Login(alice)), http.StatusOK)
}

// The revocation service killed with SIGKILL: logout is durable (202) and
// enforced once the service is back, without anyone doing anything.
func TestRevocationServiceKilledLosesNothing(t *testing.T) {
	s := newStack(t, stackOpts{revocationWait: 500 * time.Millisecond})
	name, _ := s.Register()
	before := s.Login(name)
	expectStatus(t, "logout while up", s.Logout(before), http.StatusNoContent)

	s.Revocation.Kill()
	during := s.Login(name)
	r := s.Logout(during)
	if r.Status != http.StatusAccepted {
		t.Fatalf("logout with the revocation service down: %d %s, want 202", r.Status, r.Body)
	}

	mustStart(t, s.Revocation)
	testkit.Eventually(t, 20*time.Second, "revocation made while the service was down is enforced", func() bool {
		return s.Me(during).Status == http.StatusUnauthorized
	})
	expectStatus(t, "earlier revocation", s.Me(before), http.StatusUnauthorized)
	expectStatus(t, "a live token", s.Me(s.Login(name)), http.StatusOK)
}

// Redis down: the validator cannot know, so it answers 503 with
// Retry-After, never 200.
func TestRedisStoppedFailsClosed(t *testing.T) {
	s := newStack(t, stackOpts{})
	name, _ := s.Register()
	tok := s.Login(name)
	expectStatus(t, "me with Redis up", s.Me(tok), http.StatusOK)

	s.Redis.Kill(t)
	for i := range 10 {
		r := s.Me(tok)
		expectStatus(t, "me with Redis down", r, http.StatusServiceUnavailable)
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("attempt %d: 503 without Retry-After", i)
		}
	}
	expectStatus(t, "readyz with Redis down", s.do(http.MethodGet, s.AuthURL+"/readyz", "", nil), http.StatusServiceUnavailable)
}

// Redis restarted empty: validators fail closed until the revocation
// service has replayed the stream; then every earlier revocation holds.
func TestRedisRestartedEmptyIsRebuilt(t *testing.T) {
	s := newStack(t, stackOpts{})
	alice, _ := s.Register()
	bob, _ := s.Register()
	revoked := []string{s.Login(alice), s.Login(alice)}
	for _, tok := range revoked {
		expectStatus(t, "logout", s.Logout(tok), http.StatusNoContent)
	}
	allRevoked := s.Login(bob)
	expectStatus(t, "logout-all", s.LogoutAll(allRevoked), http.StatusNoContent)
	live := s.Login(alice)

	// With nobody to rebuild, an empty Redis must mean "cannot know".
	s.Revocation.Kill()
	s.Redis.Restart(t)
	for _, tok := range append(revoked, allRevoked, live) {
		expectStatus(t, "me against an empty Redis", s.Me(tok), http.StatusServiceUnavailable)
	}

	mustStart(t, s.Revocation)
	testkit.Eventually(t, 20*time.Second, "rebuild finished", func() bool {
		for _, tok := range append(revoked, allRevoked) {
			if st := s.Me(tok).Status; st == http.StatusOK {
				t.Fatalf("a revoked token was accepted during the rebuild")
			} else if st != http.StatusUnauthorized {
				return false
			}
		}
		return true
	})
	expectStatus(t, "live token after the rebuild", s.Me(live), http.StatusOK)

	// While the service runs, a flush is noticed and repaired on its own.
	if err := s.Redis.Client(t).FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "rebuild after FLUSHALL", func() bool {
		st := s.Me(revoked[0]).Status
		if st == http.StatusOK {
			t.Fatalf("a revoked token was accepted after FLUSHALL")
		}
		return st == http.StatusUnauthorized && s.Me(live).Status == http.StatusOK
	})
}

// NATS restarted on the same store directory: the stream and the durable
// consumer come back; nothing acknowledged is lost and new logouts work.
func TestNATSRestartLosesNothing(t *testing.T) {
	s := newStack(t, stackOpts{})
	name, _ := s.Register()
	before := s.Login(name)
	expectStatus(t, "logout before restart", s.Logout(before), http.StatusNoContent)

	s.NATS.Restart(t)
	s.WaitReady(s.AuthURL)
	s.WaitReady(s.RevURL)

	after := s.Login(name)
	testkit.Eventually(t, 20*time.Second, "logout after the NATS restart gets 204", func() bool {
		st := s.Logout(after).Status
		if st != http.StatusNoContent && st != http.StatusServiceUnavailable && st != http.StatusAccepted {
			t.Fatalf("logout after NATS restart: unexpected %d", st)
		}
		return st == http.StatusNoContent
	})
	expectStatus(t, "revoked before the restart", s.Me(before), http.StatusUnauthorized)
	expectStatus(t, "revoked after the restart", s.Me(after), http.StatusUnauthorized)

	// Redis rebuilt from the restarted stream still has the early revocation.
	s.Revocation.Kill()
	s.Redis.Restart(t)
	mustStart(t, s.Revocation)
	testkit.Eventually(t, 20*time.Second, "rebuilt from the restarted stream", func() bool {
		return s.Me(before).Status == http.StatusUnauthorized
	})
}

// NATS down: durability cannot be confirmed, so logout answers 503 and a
// retry once NATS is back succeeds.
func TestLogoutWithNATSDown(t *testing.T) {
	s := newStack(t, stackOpts{})
	name, _ := s.Register()
	tok := s.Login(name)
	s.NATS.Shutdown()
	r := s.Logout(tok)
	expectStatus(t, "logout with NATS down", r, http.StatusServiceUnavailable)
	if r.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After")
	}
	s.NATS.Restart(t)
	testkit.Eventually(t, 20*time.Second, "retry succeeds", func() bool {
		return s.Logout(tok).Status == http.StatusNoContent
	})
	expectStatus(t, "me after the retried logout", s.Me(tok), http.StatusUnauthorized)
}

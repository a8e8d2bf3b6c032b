package app_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// enforcedEnv sets a wait long enough never to expire under -race on a
// busy machine; a 204 returns as soon as the applier has applied the event.
var enforcedEnv = map[string]string{"AUTH_REVOCATION_WAIT": "15s"}

func wantNoContent(tb testing.TB, res response) {
	tb.Helper()
	if res.status != http.StatusNoContent || len(res.body) != 0 {
		tb.Fatalf("status %d body %q, want 204 without body", res.status, res.body)
	}
}

func wantPending(tb testing.TB, res response) {
	tb.Helper()
	if res.status != http.StatusAccepted || res.header.Get("Content-Type") != "application/json" {
		tb.Fatalf("status %d body %s, want 202", res.status, res.body)
	}
	var b struct{ Status, Message string }
	decodeStrict(tb, res.body, &b)
	if b.Status != "pending" || b.Message != "revocation is durable and will be enforced shortly" {
		tb.Fatalf("202 body %s", res.body)
	}
}

func TestLogoutEnforced(t *testing.T) {
	cases := []struct {
		name     string
		announce bool
	}{
		{"Announced", true},
		{"SeenInRedisWithoutAnnouncement", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, enforcedEnv)
			startApplier(t, s, tc.announce)
			s.register("alice", "correct horse")
			token := s.login("alice", "correct horse")
			other := s.login("alice", "correct horse")
			if st := s.meStatus(token); st != http.StatusOK {
				t.Fatalf("me before logout: %d", st)
			}
			wantNoContent(t, s.post("/v1/auth/logout", token, ""))
			wantError(t, s.get("/v1/auth/me", token), http.StatusUnauthorized, "token_revoked")
			if st := s.meStatus(other); st != http.StatusOK {
				t.Fatalf("another token of the same user: %d, want 200", st)
			}
			t.Run("AgainIsIdempotent", func(t *testing.T) {
				wantNoContent(t, s.post("/v1/auth/logout", token, ""))
				wantError(t, s.get("/v1/auth/me", token), http.StatusUnauthorized, "token_revoked")
			})
		})
	}
}

func TestLogoutPendingWithoutApplier(t *testing.T) {
	s := startStack(t, nil) // AUTH_REVOCATION_WAIT=300ms, nobody applies
	s.register("alice", "correct horse")
	token := s.login("alice", "correct horse")
	start := time.Now()
	wantPending(t, s.post("/v1/auth/logout", token, ""))
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("202 after %s, want the 300ms wait", took)
	}
	wantPending(t, s.post("/v1/auth/logout-all-devices", token, ""))
	t.Run("EnforcedOnceApplied", func(t *testing.T) {
		startApplier(t, s, true) // replays the stream from the start
		testkit.Eventually(t, 15*time.Second, "logout applied after the applier started", func() bool {
			return s.meStatus(token) == http.StatusUnauthorized
		})
		wantNoContent(t, s.post("/v1/auth/logout", token, ""))
	})
}

func TestLogoutErrors(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	token := s.login("alice", "correct horse")
	for _, path := range []string{"/v1/auth/logout", "/v1/auth/logout-all-devices"} {
		cases := []struct{ name, token string }{
			{"ErrNoToken", ""},
			{"ErrGarbage", "garbage"},
			{"ErrTampered", token[:len(token)-4] + "AAAA"},
		}
		for _, tc := range cases {
			t.Run(path+"/"+tc.name, func(t *testing.T) {
				wantError(t, s.post(path, tc.token, ""), http.StatusUnauthorized, "invalid_token")
			})
		}
	}
}

func TestLogoutAllDevices(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	alice := s.register("alice", "correct horse")
	s.register("bob", "battery staple")
	a1 := s.login("alice", "correct horse")
	a2 := s.login("alice", "correct horse")
	b1 := s.login("bob", "battery staple")

	wantNoContent(t, s.post("/v1/auth/logout-all-devices", a1, ""))
	for _, tok := range []string{a1, a2} {
		wantError(t, s.get("/v1/auth/me", tok), http.StatusUnauthorized, "token_revoked")
	}
	if st := s.meStatus(b1); st != http.StatusOK {
		t.Fatalf("another user's token: %d, want 200", st)
	}
	a3 := s.login("alice", "correct horse")
	if v := payloadOf(t, a3)["ver"]; v != float64(1) {
		t.Fatalf("ver after logout-all = %v, want 1", v)
	}
	if st := s.meStatus(a3); st != http.StatusOK {
		t.Fatalf("login right after logout-all: /me %d, want 200", st)
	}
	ver, err := s.rdb.Get(t.Context(), jwtx.UserVersionKey(alice)).Int64()
	if err != nil || ver != 1 {
		t.Fatalf("redis user version %d, %v", ver, err)
	}

	t.Run("RevokedTokenDoesNotRaiseAgain", func(t *testing.T) {
		wantNoContent(t, s.post("/v1/auth/logout-all-devices", a2, ""))
		if st := s.meStatus(a3); st != http.StatusOK {
			t.Fatalf("an already revoked token logged out the newer session: %d", st)
		}
	})
	t.Run("CurrentTokenRaises", func(t *testing.T) {
		wantNoContent(t, s.post("/v1/auth/logout-all-devices", a3, ""))
		wantError(t, s.get("/v1/auth/me", a3), http.StatusUnauthorized, "token_revoked")
		a4 := s.login("alice", "correct horse")
		if v := payloadOf(t, a4)["ver"]; v != float64(2) {
			t.Fatalf("ver = %v, want 2", v)
		}
		if st := s.meStatus(a4); st != http.StatusOK {
			t.Fatalf("/me %d", st)
		}
	})
	t.Run("ConcurrentCallsRaiseOnce", func(t *testing.T) {
		a5 := s.login("alice", "correct horse")
		errs := make(chan string, 4)
		for range 4 {
			go func() {
				res := s.post("/v1/auth/logout-all-devices", a5, "")
				errs <- fmt.Sprint(res.status)
			}()
		}
		for range 4 {
			if st := <-errs; st != "204" {
				t.Errorf("status %s, want 204", st)
			}
		}
		if v := payloadOf(t, s.login("alice", "correct horse"))["ver"]; v != float64(3) {
			t.Fatalf("ver = %v after concurrent logout-all with one token, want 3", v)
		}
	})
	if st := s.meStatus(b1); st != http.StatusOK {
		t.Fatalf("bob's token after alice's logouts: %d", st)
	}
}

func TestLegacyTokens(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := jwtx.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	kit := jwtxtest.New(t, jwtxtest.WithKey(key))
	legacy := func(sub string) string {
		now := time.Now().Unix()
		return kit.SignRaw(
			fmt.Sprintf(`{"alg":"EdDSA","typ":"at+jwt","kid":%q}`, kit.Signer.KeyID()),
			fmt.Sprintf(`{"iss":"http://localhost:8080","aud":"api","sub":%q,"iat":%d,"exp":%d}`, sub, now, now+600))
	}
	cases := []struct {
		name   string
		accept string
	}{
		{"Accepted", "true"},
		{"Refused", "false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AUTH_SIGNING_KEY_FILE": keyFile, "AUTH_ACCEPT_LEGACY_TOKENS": tc.accept, "AUTH_REVOCATION_WAIT": "15s"}
			s := startStack(t, env)
			startApplier(t, s, true)
			id := s.register("alice", "correct horse")
			token := s.login("alice", "correct horse")
			if segment(t, token, 0)["kid"] != kit.Signer.KeyID() {
				t.Fatal("the service does not sign with AUTH_SIGNING_KEY_FILE")
			}
			old := legacy(id)
			if tc.accept == "false" {
				wantError(t, s.get("/v1/auth/me", old), http.StatusUnauthorized, "invalid_token")
				wantError(t, s.post("/v1/auth/logout", old, ""), http.StatusUnauthorized, "invalid_token")
				return
			}
			if st := s.meStatus(old); st != http.StatusOK {
				t.Fatalf("legacy token: /me %d", st)
			}
			wantError(t, s.post("/v1/auth/logout", old, ""), http.StatusBadRequest, "unsupported_token")
			if !strings.Contains(string(s.post("/v1/auth/logout", old, "").body), "logout-all-devices") {
				t.Fatal("400 does not point to logout-all-devices")
			}
			wantNoContent(t, s.post("/v1/auth/logout-all-devices", old, ""))
			wantError(t, s.get("/v1/auth/me", old), http.StatusUnauthorized, "token_revoked")
			wantError(t, s.get("/v1/auth/me", token), http.StatusUnauthorized, "token_revoked")
		})
	}
}

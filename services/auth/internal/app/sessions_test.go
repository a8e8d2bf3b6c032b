package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// pair is a token answer of login or refresh.
type pair struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

func (s *stack) loginPair(user, pw string) pair {
	s.t.Helper()
	res := s.post("/v1/auth/login", "", creds(user, pw))
	if res.status != http.StatusOK {
		s.t.Fatalf("login: %d %s", res.status, res.body)
	}
	var p pair
	decodeStrict(s.t, res.body, &p)
	if len(p.RefreshToken) != 43 || p.RefreshExpiresIn <= 0 {
		s.t.Fatalf("login pair %+v", p)
	}
	return p
}

func refreshBody(tok string) string {
	b, _ := json.Marshal(map[string]string{"refresh_token": tok})
	return string(b)
}

func (s *stack) refresh(tok string) (pair, response) {
	s.t.Helper()
	res := s.post("/v1/auth/refresh", "", refreshBody(tok))
	var p pair
	if res.status == http.StatusOK {
		decodeStrict(s.t, res.body, &p)
		if res.header.Get("Cache-Control") != "no-store" {
			s.t.Fatalf("refresh without Cache-Control: no-store: %v", res.header)
		}
	}
	return p, res
}

func (s *stack) mustRefresh(tok string) pair {
	s.t.Helper()
	p, res := s.refresh(tok)
	if res.status != http.StatusOK {
		s.t.Fatalf("refresh: %d %s", res.status, res.body)
	}
	return p
}

// noGrace makes every second presentation of a refresh token reuse.
var noGrace = map[string]string{"AUTH_REVOCATION_WAIT": "15s", "AUTH_REFRESH_REUSE_GRACE": "0s"}

func TestRefreshRotationAndReuse(t *testing.T) {
	s := startStack(t, noGrace)
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	first := s.loginPair("alice", "correct horse")
	other := s.loginPair("alice", "correct horse")
	sid := payloadOf(t, first.AccessToken)["sid"]
	if sid == nil || sid == payloadOf(t, other.AccessToken)["sid"] {
		t.Fatalf("sids %v, %v", sid, payloadOf(t, other.AccessToken)["sid"])
	}
	second := s.mustRefresh(first.RefreshToken)
	third := s.mustRefresh(second.RefreshToken)
	if second.RefreshToken == first.RefreshToken || third.RefreshToken == second.RefreshToken ||
		payloadOf(t, third.AccessToken)["sid"] != sid {
		t.Fatalf("rotation: %+v %+v", second, third)
	}
	if st := s.meStatus(third.AccessToken); st != http.StatusOK {
		t.Fatalf("/me with the refreshed token: %d", st)
	}
	// Reuse of the first token: the whole session dies.
	_, res := s.refresh(first.RefreshToken)
	wantError(t, res, http.StatusUnauthorized, "refresh_token_reused")
	for _, tok := range []string{first.AccessToken, second.AccessToken, third.AccessToken} {
		wantError(t, s.get("/v1/auth/me", tok), http.StatusUnauthorized, "token_revoked")
	}
	if n, err := s.rdb.Exists(context.Background(), jwtx.SessionKey(sid.(string))).Result(); err != nil || n != 1 {
		t.Fatalf("session key: %d, %v", n, err)
	}
	_, res = s.refresh(third.RefreshToken)
	wantError(t, res, http.StatusUnauthorized, "invalid_grant")
	// The other session lives.
	if st := s.meStatus(other.AccessToken); st != http.StatusOK {
		t.Fatalf("other session: /me %d", st)
	}
	s.mustRefresh(other.RefreshToken)
	var ev events.Event
	for _, e := range s.streamEvents() {
		if e.Type == events.TypeSessionRevoked {
			ev = e
		}
	}
	if ev.SessionID != sid || ev.Reason != events.ReasonRefreshTokenReuse || ev.Actor != events.SystemActor("auth") {
		t.Fatalf("session event %+v", ev)
	}
}

func TestRefreshConcurrentWithinGrace(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	p := s.loginPair("alice", "correct horse")
	const n = 8
	var (
		wg  sync.WaitGroup
		out [n]response
	)
	for i := range n {
		wg.Go(func() { out[i] = s.post("/v1/auth/refresh", "", refreshBody(p.RefreshToken)) })
	}
	wg.Wait()
	var first pair
	for i, res := range out {
		if res.status != http.StatusOK {
			t.Fatalf("refresh %d: %d %s", i, res.status, res.body)
		}
		var got pair
		decodeStrict(t, res.body, &got)
		if i == 0 {
			first = got
			continue
		}
		if got.AccessToken != first.AccessToken || got.RefreshToken != first.RefreshToken {
			t.Fatalf("refresh %d answered another pair", i)
		}
	}
	for _, e := range s.streamEvents() {
		t.Fatalf("event %+v after concurrent refreshes", e)
	}
	if st := s.meStatus(first.AccessToken); st != http.StatusOK {
		t.Fatalf("/me %d", st)
	}
	s.mustRefresh(first.RefreshToken)
}

func TestRefreshAfterRevocation(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	cases := []struct {
		name string
		end  func(t *testing.T, p pair)
	}{
		{"Logout", func(t *testing.T, p pair) { wantNoContent(t, s.post("/v1/auth/logout", p.AccessToken, "")) }},
		{"LogoutAll", func(t *testing.T, p pair) {
			wantNoContent(t, s.post("/v1/auth/logout-all-devices", p.AccessToken, ""))
		}},
		{"DeleteSession", func(t *testing.T, p pair) {
			other := s.loginPair("alice", "correct horse")
			sid := payloadOf(t, p.AccessToken)["sid"].(string)
			wantNoContent(t, s.do(http.MethodDelete, "/v1/auth/sessions/"+sid, other.AccessToken, nil))
			wantError(t, s.get("/v1/auth/me", p.AccessToken), http.StatusUnauthorized, "token_revoked")
		}},
		{"PasswordChange", func(t *testing.T, p pair) {
			current := s.loginPair("alice", "correct horse")
			res := s.post("/v1/auth/password", current.AccessToken, `{"current_password":"correct horse","new_password":"battery staple horse"}`)
			wantNoContent(t, res)
			wantError(t, s.get("/v1/auth/me", p.AccessToken), http.StatusUnauthorized, "token_revoked")
			if st := s.meStatus(current.AccessToken); st != http.StatusOK {
				t.Fatalf("the changing session: /me %d", st)
			}
			s.mustRefresh(current.RefreshToken)
			res = s.post("/v1/auth/password", current.AccessToken, `{"current_password":"battery staple horse","new_password":"correct horse"}`)
			if res.status != http.StatusNoContent && res.status != http.StatusUnauthorized {
				t.Fatalf("change back: %d %s", res.status, res.body)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := s.loginPair("alice", "correct horse")
			tc.end(t, p)
			_, res := s.refresh(p.RefreshToken)
			wantError(t, res, http.StatusUnauthorized, "invalid_grant")
		})
	}
}

func TestSessionsList(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	s.register("bob", "correct horse")
	a1 := s.loginPair("alice", "correct horse")
	res := s.doHeader(http.MethodPost, "/v1/auth/login", "", []byte(creds("alice", "correct horse")),
		http.Header{"Content-Type": {"application/json"}, "User-Agent": {"tab-two"}})
	if res.status != http.StatusOK {
		t.Fatalf("login: %d %s", res.status, res.body)
	}
	b1 := s.loginPair("bob", "correct horse")
	res = s.get("/v1/auth/sessions", a1.AccessToken)
	if res.status != http.StatusOK {
		t.Fatalf("sessions: %d %s", res.status, res.body)
	}
	var list struct {
		Sessions []struct {
			SID        string `json:"sid"`
			CreatedAt  string `json:"created_at"`
			LastUsedAt string `json:"last_used_at"`
			UserAgent  string `json:"user_agent"`
			Current    bool   `json:"current"`
		} `json:"sessions"`
	}
	decodeStrict(t, res.body, &list)
	current, ua := 0, false
	for _, ss := range list.Sessions {
		if ss.Current {
			current++
			if ss.SID != payloadOf(t, a1.AccessToken)["sid"] {
				t.Fatalf("current %+v", ss)
			}
		}
		ua = ua || ss.UserAgent == "tab-two"
	}
	if len(list.Sessions) != 2 || current != 1 || !ua {
		t.Fatalf("sessions %s", res.body)
	}
	bobSID := payloadOf(t, b1.AccessToken)["sid"].(string)
	t.Run("ErrOthersSession", func(t *testing.T) {
		wantError(t, s.do(http.MethodDelete, "/v1/auth/sessions/"+bobSID, a1.AccessToken, nil), http.StatusNotFound, "not_found")
		s.mustRefresh(b1.RefreshToken)
	})
	t.Run("ErrUnknownSession", func(t *testing.T) {
		wantError(t, s.do(http.MethodDelete, "/v1/auth/sessions/5a1d0000-0000-4000-8000-000000000001", a1.AccessToken, nil), http.StatusNotFound, "not_found")
	})
	t.Run("ErrMalformedSession", func(t *testing.T) {
		wantError(t, s.do(http.MethodDelete, "/v1/auth/sessions/not-a-uuid", a1.AccessToken, nil), http.StatusBadRequest, "invalid_request")
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		wantError(t, s.get("/v1/auth/sessions", ""), http.StatusUnauthorized, "invalid_token")
	})
	t.Run("ErrWrongCurrentPassword", func(t *testing.T) {
		wantError(t, s.post("/v1/auth/password", a1.AccessToken, `{"current_password":"nope nope","new_password":"battery staple horse"}`),
			http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("ErrWeakPassword", func(t *testing.T) {
		wantError(t, s.post("/v1/auth/password", a1.AccessToken, `{"current_password":"correct horse","new_password":"password"}`),
			http.StatusBadRequest, "weak_password")
	})
}

func TestRefreshBadInput(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	s.register("bob", "correct horse")
	p := s.loginPair("bob", "correct horse")
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"Empty", ``, http.StatusBadRequest, "invalid_request"},
		{"NoField", `{}`, http.StatusBadRequest, "invalid_request"},
		{"BadJSON", `{"refresh_token":`, http.StatusBadRequest, "invalid_request"},
		{"NotString", `{"refresh_token":1}`, http.StatusBadRequest, "invalid_request"},
		{"Extra", `{"refresh_token":"x","a":1}`, http.StatusBadRequest, "invalid_request"},
		{"Short", refreshBody("abc"), http.StatusUnauthorized, "invalid_grant"},
		{"BadAlphabet", refreshBody(strings.Repeat("*", 43)), http.StatusUnauthorized, "invalid_grant"},
		{"Unknown", refreshBody(strings.Repeat("A", 43)), http.StatusUnauthorized, "invalid_grant"},
		{"AccessTokenAsRefresh", refreshBody(p.AccessToken), http.StatusUnauthorized, "invalid_grant"},
		{"Oversized", `{"refresh_token":"` + strings.Repeat("a", 20<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, s.post("/v1/auth/refresh", "", tc.body), tc.status, tc.code)
		})
	}
	t.Run("ErrNotJSON", func(t *testing.T) {
		res := s.doHeader(http.MethodPost, "/v1/auth/refresh", "", []byte(refreshBody(p.RefreshToken)), http.Header{"Content-Type": {"text/plain"}})
		if res.status != http.StatusUnsupportedMediaType {
			t.Fatalf("%d %s", res.status, res.body)
		}
	})
	// Bob's token is still his only: the refusals above spent nothing.
	s.mustRefresh(p.RefreshToken)
}

func TestReuseWhileNATSDown(t *testing.T) {
	s := startStack(t, noGrace)
	s.register("alice", "correct horse")
	p := s.loginPair("alice", "correct horse")
	s.mustRefresh(p.RefreshToken)
	s.nats.Shutdown()
	_, res := s.refresh(p.RefreshToken)
	wantError(t, res, http.StatusServiceUnavailable, "revocation_unavailable")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	s.nats.Restart(t)
	startApplier(t, s, true)
	testkit.Eventually(t, 30*time.Second, "reuse answered once NATS is back", func() bool {
		_, res = s.refresh(p.RefreshToken)
		return res.status != http.StatusServiceUnavailable
	})
	wantError(t, res, http.StatusUnauthorized, "refresh_token_reused")
	wantError(t, s.get("/v1/auth/me", p.AccessToken), http.StatusUnauthorized, "token_revoked")
	// Enforced and recorded: later presentations need no publish.
	_, res = s.refresh(p.RefreshToken)
	if res.status != http.StatusUnauthorized {
		t.Fatalf("after enforcement: %d %s", res.status, res.body)
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	s := startStack(t, nil)
	s.logs = lockedWriter{mu: &mu, w: &buf}
	s.restart(map[string]string{"LOG_LEVEL": "debug", "AUTH_REVOCATION_WAIT": "15s", "AUTH_REFRESH_REUSE_GRACE": "0s"})
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	p := s.loginPair("alice", "correct horse")
	q := s.mustRefresh(p.RefreshToken)
	s.refresh(p.RefreshToken) // reuse
	r := s.loginPair("alice", "correct horse")
	s.post("/v1/auth/password", r.AccessToken, `{"current_password":"correct horse","new_password":"battery staple horse"}`)
	s.post("/v1/auth/password", r.AccessToken, `{"current_password":"wrong wrong","new_password":"battery staple horse"}`)
	s.post("/v1/auth/logout", r.AccessToken, "")
	mu.Lock()
	defer mu.Unlock()
	logs := buf.String()
	if !strings.Contains(logs, "refresh token reuse") {
		t.Fatalf("no reuse line in the log:\n%s", logs)
	}
	for _, secret := range []string{p.RefreshToken, q.RefreshToken, r.RefreshToken, p.RefreshToken[:16], "correct horse", "battery staple", "wrong wrong"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

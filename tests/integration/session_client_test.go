package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// The password Register gives every user.
const testPassword = "correct horse battery"

// pair is what login and refresh answer: an access token, a refresh token
// and the session (sid claim) they belong to.
type pair struct {
	Access, Refresh, SID string
}

// tokenAnswer is the JSON body of login and refresh.
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

// parsePair checks a 200 token answer and returns its pair; what names the
// call in failures.
func parsePair(t testing.TB, what string, r response) pair {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200; body %s", what, r.Status, r.Body)
	}
	var a tokenAnswer
	if err := json.Unmarshal([]byte(r.Body), &a); err != nil {
		t.Fatalf("%s: body %q: %v", what, r.Body, err)
	}
	if a.AccessToken == "" || a.RefreshToken == "" || a.TokenType != "Bearer" || a.ExpiresIn <= 0 || a.RefreshExpiresIn <= 0 {
		t.Fatalf("%s: incomplete token answer %s", what, r.Body)
	}
	sid := sidOf(t, a.AccessToken)
	if sid == "" {
		t.Fatalf("%s: access token without sid claim", what)
	}
	return pair{Access: a.AccessToken, Refresh: a.RefreshToken, SID: sid}
}

// sidOf reads the sid claim of an access token without verifying it (the
// validator verifies; this only tells which session a token claims).
func sidOf(t testing.TB, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token with %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	var c struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("access token payload: %v", err)
	}
	return c.SID
}

// LoginPair logs name in with the test password and returns the session's
// first pair.
func (s *stack) LoginPair(name string) pair {
	s.t.Helper()
	return s.LoginPairWith(name, testPassword)
}

// LoginPairWith logs name in with password.
func (s *stack) LoginPairWith(name, password string) pair {
	s.t.Helper()
	r := s.do(http.MethodPost, s.AuthURL+"/v1/auth/login", "", map[string]string{"username": name, "password": password})
	return parsePair(s.t, "login", r)
}

// Refresh calls POST /v1/auth/refresh with refreshToken.
func (s *stack) Refresh(refreshToken string) response {
	s.t.Helper()
	return s.do(http.MethodPost, s.AuthURL+"/v1/auth/refresh", "", map[string]string{"refresh_token": refreshToken})
}

// MustRefresh refreshes and fails the test unless the answer is a pair.
func (s *stack) MustRefresh(refreshToken string) pair {
	s.t.Helper()
	return parsePair(s.t, "refresh", s.Refresh(refreshToken))
}

// Sessions calls GET /v1/auth/sessions.
func (s *stack) Sessions(token string) response {
	s.t.Helper()
	return s.do(http.MethodGet, s.AuthURL+"/v1/auth/sessions", token, nil)
}

// DeleteSession calls DELETE /v1/auth/sessions/{sid}.
func (s *stack) DeleteSession(token, sid string) response {
	s.t.Helper()
	return s.do(http.MethodDelete, s.AuthURL+"/v1/auth/sessions/"+sid, token, nil)
}

// ChangePassword calls POST /v1/auth/password.
func (s *stack) ChangePassword(token, current, next string) response {
	s.t.Helper()
	return s.do(http.MethodPost, s.AuthURL+"/v1/auth/password", token,
		map[string]string{"current_password": current, "new_password": next})
}

// expectError fails unless r has the status and the JSON error code.
func expectError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	expectStatus(t, what, r, status)
	if got, _ := r.JSON(t)["error"].(string); got != code {
		t.Fatalf("%s: error %q, want %q; body %s", what, got, code, r.Body)
	}
}

// rawPost sends one JSON POST with its own context, safe to call from any
// goroutine (it never touches a testing.TB).
func rawPost(ctx context.Context, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), err
}

// microservice is a validator as another team would run it: pkg/jwtx
// with the auth service's JWKS, reading the same Redis, apart from the
// auth service.
type microservice struct {
	t testing.TB
	v *jwtx.Validator
}

// newMicroservice fetches the auth service's JWKS and builds a Redis-mode
// validator on the stack's Redis.
func newMicroservice(t testing.TB, s *stack) *microservice {
	t.Helper()
	r := s.do(http.MethodGet, s.AuthURL+"/.well-known/jwks.json", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	keys, err := jwtx.ParseJWKS([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := jwtx.RedisOptions(s.Redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	v, err := jwtx.NewValidator(jwtx.Config{Keys: keys, Issuer: "http://auth.test", Audience: "api",
		Revocation: jwtx.NewRedisStore(rdb)})
	if err != nil {
		t.Fatal(err)
	}
	return &microservice{t: t, v: v}
}

// Validate returns the validator's verdict on token.
func (m *microservice) Validate(token string) (*jwtx.Claims, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return m.v.Validate(ctx, token)
}

// MustAccept fails the test unless the validator accepts token.
func (m *microservice) MustAccept(what, token string) {
	m.t.Helper()
	if _, err := m.Validate(token); err != nil {
		m.t.Fatalf("%s: validator rejected a live token: %v", what, err)
	}
}

// MustRevoke fails the test unless the validator rejects token as revoked.
func (m *microservice) MustRevoke(what, token string) {
	m.t.Helper()
	_, err := m.Validate(token)
	if !errors.Is(err, jwtx.ErrRevoked) {
		m.t.Fatalf("%s: validator answered %v, want jwtx.ErrRevoked", what, err)
	}
}

// entry is one revocation of a user's history, reduced to what a test
// compares.
type entry struct {
	Type, Reason, ActorType, ActorID, SID string
}

func (e entry) String() string {
	return fmt.Sprintf("%s/%s by %s:%s sid=%s", e.Type, e.Reason, e.ActorType, e.ActorID, e.SID)
}

// history reads userID's revocations from the stream with
// events.UserRevocations; a record that is not a valid event fails the
// test.
func (s *stack) history(t testing.TB, userID string) []entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, more, err := events.UserRevocations(ctx, s.NATS.JetStream(t), userID, events.HistoryOptions{})
	if err != nil {
		t.Fatalf("history of %s: %v", userID, err)
	}
	if more {
		t.Fatalf("history of %s: more than one page", userID)
	}
	out := make([]entry, 0, len(recs))
	var last uint64
	for _, r := range recs {
		if r.Err != nil {
			t.Fatalf("history of %s: record %d: %v", userID, r.Sequence, r.Err)
		}
		if r.Sequence <= last {
			t.Fatalf("history of %s: sequence %d after %d", userID, r.Sequence, last)
		}
		last = r.Sequence
		if r.Event.UserID != userID {
			t.Fatalf("history of %s: event of user %s", userID, r.Event.UserID)
		}
		out = append(out, entry{Type: r.Event.Type, Reason: r.Event.Reason, ActorType: r.Event.Actor.Type,
			ActorID: r.Event.Actor.ID, SID: r.Event.SessionID})
	}
	return out
}

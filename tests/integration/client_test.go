package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// response is what a test needs of an HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.Body)
	}
	return m
}

func (s *stack) do(method, url, token string, body any) response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	contentType := ""
	if rd != nil {
		contentType = "application/json"
	}
	return s.send(method, url, token, contentType, rd)
}

// doAs sends body with the given Content-Type ("" sends none) and no
// token.
func (s *stack) doAs(method, url, contentType, body string) response {
	s.t.Helper()
	return s.send(method, url, "", contentType, strings.NewReader(body))
}

func (s *stack) send(method, url, token, contentType string, rd io.Reader) response {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(raw)}
}

// Register creates a user with a random name and returns (username, id).
func (s *stack) Register() (string, string) {
	s.t.Helper()
	name := "u" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	r := s.do(http.MethodPost, s.AuthURL+"/v1/auth/register", "", map[string]string{"username": name, "password": "correct horse battery"})
	if r.Status != http.StatusCreated {
		s.t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	id, _ := r.JSON(s.t)["user_id"].(string)
	return name, id
}

// Login returns a fresh access token for the user.
func (s *stack) Login(name string) string {
	s.t.Helper()
	r := s.do(http.MethodPost, s.AuthURL+"/v1/auth/login", "", map[string]string{"username": name, "password": "correct horse battery"})
	if r.Status != http.StatusOK {
		s.t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	tok, _ := r.JSON(s.t)["access_token"].(string)
	if tok == "" {
		s.t.Fatalf("login: no access_token in %s", r.Body)
	}
	return tok
}

// Me calls GET /v1/auth/me, the route validated by pkg/jwtx.
func (s *stack) Me(token string) response {
	s.t.Helper()
	return s.do(http.MethodGet, s.AuthURL+"/v1/auth/me", token, nil)
}

// Logout calls POST /v1/auth/logout.
func (s *stack) Logout(token string) response {
	s.t.Helper()
	return s.do(http.MethodPost, s.AuthURL+"/v1/auth/logout", token, nil)
}

// LogoutAll calls POST /v1/auth/logout-all-devices.
func (s *stack) LogoutAll(token string) response {
	s.t.Helper()
	return s.do(http.MethodPost, s.AuthURL+"/v1/auth/logout-all-devices", token, nil)
}

// expectStatus fails unless r has the status (and, for errors, a JSON body).
func expectStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.Status, want, r.Body)
	}
	if want >= 400 {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s: error Content-Type %q, want application/json", what, ct)
		}
		if code, _ := r.JSON(t)["error"].(string); code == "" {
			t.Fatalf("%s: error body without \"error\": %s", what, r.Body)
		}
	}
}

package integration

import (
	"net/http"
	"strings"
	"testing"
)

// Every route of docs/CONTRACT.md over HTTP against the real binaries, including
// the ways a client can get it wrong; every error is a JSON body.
func TestHTTPRoutes(t *testing.T) {
	s := newStack(t, stackOpts{})
	name, id := s.Register()
	tok := s.Login(name)
	a := s.AuthURL

	t.Run("RegisterDuplicate", func(t *testing.T) {
		r := s.do(http.MethodPost, a+"/v1/auth/register", "", map[string]string{"username": name, "password": "another password"})
		expectStatus(t, "duplicate username", r, http.StatusConflict)
	})
	t.Run("RegisterInvalid", func(t *testing.T) {
		for _, body := range []string{
			`{"username":"x","password":"correct horse battery"}`,
			`{"username":"valid_name","password":"short"}`,
			`{"username":"valid_name"}`,
			`{"username":1,"password":"correct horse battery"}`,
			`{"username":"valid_name","password":"correct horse battery"} trailing`,
			`not json`,
			``,
			`[]`,
		} {
			expectStatus(t, "register "+body, s.do(http.MethodPost, a+"/v1/auth/register", "", body), http.StatusBadRequest)
		}
	})
	t.Run("OversizeBody", func(t *testing.T) {
		big := `{"username":"` + strings.Repeat("a", 1<<20) + `","password":"x"}`
		expectStatus(t, "register 1 MiB", s.do(http.MethodPost, a+"/v1/auth/register", "", big), http.StatusRequestEntityTooLarge)
		expectStatus(t, "login 1 MiB", s.do(http.MethodPost, a+"/v1/auth/login", "", big), http.StatusRequestEntityTooLarge)
	})
	t.Run("LoginBadCredentials", func(t *testing.T) {
		wrong := s.do(http.MethodPost, a+"/v1/auth/login", "", map[string]string{"username": name, "password": "wrong password!"})
		unknown := s.do(http.MethodPost, a+"/v1/auth/login", "", map[string]string{"username": "nobody_here", "password": "wrong password!"})
		expectStatus(t, "wrong password", wrong, http.StatusUnauthorized)
		expectStatus(t, "unknown user", unknown, http.StatusUnauthorized)
		if wrong.Body != unknown.Body {
			t.Fatalf("unknown user and wrong password differ: %q vs %q", unknown.Body, wrong.Body)
		}
	})
	t.Run("Login", func(t *testing.T) {
		r := s.do(http.MethodPost, a+"/v1/auth/login", "", map[string]string{"username": name, "password": "correct horse battery"})
		expectStatus(t, "login", r, http.StatusOK)
		m := r.JSON(t)
		if m["token_type"] != "Bearer" || m["expires_in"] != float64(900) || m["access_token"] == "" {
			t.Fatalf("login body: %s", r.Body)
		}
	})
	t.Run("Me", func(t *testing.T) {
		r := s.Me(tok)
		expectStatus(t, "me", r, http.StatusOK)
		m := r.JSON(t)
		if m["user_id"] != id || m["username"] != name || m["jti"] == "" || m["expires_at"] == "" {
			t.Fatalf("me body: %s", r.Body)
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		for _, path := range []string{"/v1/auth/me", "/v1/auth/logout", "/v1/auth/logout-all-devices"} {
			method := http.MethodPost
			if path == "/v1/auth/me" {
				method = http.MethodGet
			}
			for _, bad := range []string{"", "garbage", tok + "x", strings.Repeat("a", 10000)} {
				r := s.do(method, a+path, bad, nil)
				expectStatus(t, path+" with a bad token", r, http.StatusUnauthorized)
				if !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("%s: WWW-Authenticate %q", path, r.Header.Get("WWW-Authenticate"))
				}
			}
		}
	})
	t.Run("WrongMethod", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/v1/auth/register"},
			{http.MethodGet, "/v1/auth/login"},
			{http.MethodGet, "/v1/auth/logout"},
			{http.MethodDelete, "/v1/auth/logout-all-devices"},
			{http.MethodPost, "/v1/auth/me"},
			{http.MethodPost, "/.well-known/jwks.json"},
		} {
			r := s.do(c.method, a+c.path, "", nil)
			expectStatus(t, c.method+" "+c.path, r, http.StatusMethodNotAllowed)
			if r.Header.Get("Allow") == "" {
				t.Fatalf("%s %s: 405 without Allow", c.method, c.path)
			}
		}
	})
	t.Run("UnknownRoute", func(t *testing.T) {
		expectStatus(t, "unknown", s.do(http.MethodGet, a+"/v1/nope", "", nil), http.StatusNotFound)
	})
	t.Run("JWKS", func(t *testing.T) {
		r := s.do(http.MethodGet, a+"/.well-known/jwks.json", "", nil)
		expectStatus(t, "jwks", r, http.StatusOK)
		keys, _ := r.JSON(t)["keys"].([]any)
		if len(keys) == 0 {
			t.Fatalf("jwks without keys: %s", r.Body)
		}
		k, _ := keys[0].(map[string]any)
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["kid"] == "" || k["d"] != nil {
			t.Fatalf("jwks key: %v", k)
		}
	})
	t.Run("Health", func(t *testing.T) {
		for _, base := range []string{a, s.RevURL} {
			expectStatus(t, "healthz", s.do(http.MethodGet, base+"/healthz", "", nil), http.StatusOK)
			expectStatus(t, "readyz", s.do(http.MethodGet, base+"/readyz", "", nil), http.StatusOK)
		}
	})
	t.Run("MetricsOnTheirOwnListener", func(t *testing.T) {
		for _, base := range []string{a, s.RevURL} {
			expectStatus(t, base+"/metrics", s.do(http.MethodGet, base+"/metrics", "", nil), http.StatusNotFound)
		}
		for _, base := range []string{s.AuthMetricsURL, s.RevMetricsURL} {
			if m := s.Metrics(base); !strings.Contains(m, "# TYPE") {
				t.Fatalf("%s/metrics is not a Prometheus exposition", base)
			}
		}
	})
	t.Run("ErrNotJSON", func(t *testing.T) {
		for _, path := range []string{"/v1/auth/register", "/v1/auth/login"} {
			r := s.doAs(http.MethodPost, a+path, "text/plain", `{"username":"`+name+`","password":"correct horse battery"}`)
			expectStatus(t, path+" as text/plain", r, http.StatusUnsupportedMediaType)
			if code := r.JSON(t)["error"]; code != "unsupported_media_type" {
				t.Fatalf("%s as text/plain: error %v", path, code)
			}
		}
	})
	t.Run("LogoutAndLogoutAll", func(t *testing.T) {
		expectStatus(t, "logout", s.Logout(s.Login(name)), http.StatusNoContent)
		expectStatus(t, "logout-all", s.LogoutAll(s.Login(name)), http.StatusNoContent)
		expectStatus(t, "me with the token issued before logout-all", s.Me(tok), http.StatusUnauthorized)
	})
}

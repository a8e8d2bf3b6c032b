package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

func TestRegister(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	cases := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"ErrTakenSameCase", creds("alice", "another password"), http.StatusConflict, "username_taken"},
		{"ErrTakenOtherCase", creds("ALICE", "another password"), http.StatusConflict, "username_taken"},
		{"ErrUsernameTooShort", creds("ab", "correct horse"), http.StatusBadRequest, "invalid_request"},
		{"ErrUsernameTooLong", creds(strings.Repeat("a", 65), "correct horse"), http.StatusBadRequest, "invalid_request"},
		{"ErrUsernameBadChar", creds("al ice", "correct horse"), http.StatusBadRequest, "invalid_request"},
		{"ErrUsernameNonASCII", creds("alicé", "correct horse"), http.StatusBadRequest, "invalid_request"},
		{"ErrPasswordTooShort", creds("bob", "xk8#qz!"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordTooShortMultibyte", creds("bob", "ééééé"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordCommon", creds("bob", "Password123"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordKeyboardWalk", creds("bob", "1qaz2wsx3edc"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordIsUsername", creds("bobby.tables", "BOBBY.TABLES"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordContainsUsername", creds("bobby", "i am bobby, hello"), http.StatusBadRequest, "weak_password"},
		{"ErrPasswordTooLong", creds("bob", strings.Repeat("p", 257)), http.StatusBadRequest, "invalid_request"},
		{"ErrMissingPassword", `{"username":"bob"}`, http.StatusBadRequest, "invalid_request"},
		{"ErrMissingUsername", `{"password":"correct horse"}`, http.StatusBadRequest, "invalid_request"},
		{"ErrBadJSON", `{"username":"bob",`, http.StatusBadRequest, "invalid_request"},
		{"ErrNotJSON", `username=bob&password=x`, http.StatusBadRequest, "invalid_request"},
		{"ErrEmptyBody", ``, http.StatusBadRequest, "invalid_request"},
		{"ErrNull", `null`, http.StatusBadRequest, "invalid_request"},
		{"ErrArray", `[]`, http.StatusBadRequest, "invalid_request"},
		{"ErrUnknownField", `{"username":"bob","password":"correct horse","admin":true}`, http.StatusBadRequest, "invalid_request"},
		{"ErrTrailingData", `{"username":"bob","password":"correct horse"} {}`, http.StatusBadRequest, "invalid_request"},
		{"ErrTrailingGarbage", `{"username":"bob","password":"correct horse"}x`, http.StatusBadRequest, "invalid_request"},
		{"ErrWrongType", `{"username":"bob","password":12345678}`, http.StatusBadRequest, "invalid_request"},
		{"ErrDuplicateField", `{"username":"bob","password":"correct horse","password":"x"}`, http.StatusBadRequest, "invalid_request"},
		{"ErrDeeplyNested", `{"username":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, http.StatusBadRequest, "invalid_request"},
		{"ErrTooLarge", `{"username":"bob","password":"` + strings.Repeat("x", 17<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, s.post("/v1/auth/register", "", tc.body), tc.status, tc.code)
		})
	}
	t.Run("OKLimits", func(t *testing.T) {
		s.register("a.b", "xk8#qz!m")
		s.register("emoji", "ééééééé€") // 8 characters
		s.register(strings.Repeat("Z", 64), strings.Repeat("p", 256))
		s.register("x_y-z.0", "pass word with spaces")
	})
	t.Run("OKTrailingWhitespace", func(t *testing.T) {
		res := s.post("/v1/auth/register", "", creds("carol", "correct horse")+"\n  \n")
		if res.status != http.StatusCreated || res.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", res.status, res.body)
		}
	})
}

func TestLogin(t *testing.T) {
	s := startStack(t, nil)
	id := s.register("alice", "correct horse")
	t.Run("OK", func(t *testing.T) {
		res := s.post("/v1/auth/login", "", creds("alice", "correct horse"))
		if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" ||
			res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %v %s", res.status, res.header, res.body)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			ExpiresIn   int64  `json:"expires_in"`
			// Sessions (issue #11): the refresh token of the login's session.
			RefreshToken     string `json:"refresh_token"`
			RefreshExpiresIn int64  `json:"refresh_expires_in"`
		}
		decodeStrict(t, res.body, &tok)
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || strings.Count(tok.AccessToken, ".") != 2 {
			t.Fatalf("token answer %+v", tok)
		}
		claims := payloadOf(t, tok.AccessToken)
		if claims["sub"] != id || claims["ver"] != float64(0) || claims["iss"] != "http://localhost:8080" || claims["aud"] != "api" {
			t.Fatalf("claims %v", claims)
		}
	})
	t.Run("OKOtherCase", func(t *testing.T) {
		s.login("ALICE", "correct horse")
	})
	var wrong, unknown response
	t.Run("ErrWrongPassword", func(t *testing.T) {
		wrong = s.post("/v1/auth/login", "", creds("alice", "wrong horse"))
		wantError(t, wrong, http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("ErrUnknownUser", func(t *testing.T) {
		unknown = s.post("/v1/auth/login", "", creds("mallory", "correct horse"))
		wantError(t, unknown, http.StatusUnauthorized, "invalid_credentials")
	})
	t.Run("SameAnswerForUnknownUserAndWrongPassword", func(t *testing.T) {
		if string(wrong.body) != string(unknown.body) || wrong.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
			t.Fatalf("answers differ:\n%s\n%s", wrong.body, unknown.body)
		}
	})
	bad := []struct{ name, body string }{
		{"ErrBadJSON", `{`},
		{"ErrUnknownField", `{"username":"alice","password":"correct horse","x":1}`},
		{"ErrWrongType", `{"username":["alice"],"password":"correct horse"}`},
		{"ErrMissingPassword", `{"username":"alice"}`},
		{"ErrTrailingData", creds("alice", "correct horse") + `[]`},
		{"ErrDeeplyNested", `{"username":"alice","password":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, s.post("/v1/auth/login", "", tc.body), http.StatusBadRequest, "invalid_request")
		})
	}
	t.Run("ErrTooLarge", func(t *testing.T) {
		wantError(t, s.post("/v1/auth/login", "", strings.Repeat(" ", 16<<10+1)), http.StatusRequestEntityTooLarge, "request_too_large")
	})
}

// payloadOf decodes a token's claims without checking anything.
func payloadOf(tb testing.TB, token string) map[string]any {
	tb.Helper()
	return segment(tb, token, 1)
}

func segment(tb testing.TB, token string, i int) map[string]any {
	tb.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestMe(t *testing.T) {
	s := startStack(t, nil)
	id := s.register("Alice", "correct horse")
	token := s.login("alice", "correct horse")
	t.Run("OK", func(t *testing.T) {
		res := s.get("/v1/auth/me", token)
		if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %s", res.status, res.body)
		}
		var me struct {
			UserID    string `json:"user_id"`
			Username  string `json:"username"`
			JTI       string `json:"jti"`
			ExpiresAt string `json:"expires_at"`
		}
		decodeStrict(t, res.body, &me)
		claims := payloadOf(t, token)
		exp, err := time.Parse(time.RFC3339, me.ExpiresAt)
		if err != nil {
			t.Fatalf("expires_at %q: %v", me.ExpiresAt, err)
		}
		if me.UserID != id || me.Username != "Alice" || me.JTI != claims["jti"] || exp.Unix() != int64(claims["exp"].(float64)) {
			t.Fatalf("me %+v, claims %v", me, claims)
		}
	})
	cases := []struct {
		name, header string
	}{
		{"ErrNoToken", ""},
		{"ErrGarbage", "Bearer not.a.token"},
		{"ErrOtherScheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:correct horse"))},
		{"ErrTampered", "Bearer " + token[:len(token)-4] + "AAAA"},
		{"ErrAlgNone", "Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + strings.Split(token, ".")[1] + "."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.base+"/v1/auth/me", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := s.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body []byte
			body, _ = readAll(res)
			wantError(t, response{status: res.StatusCode, header: res.Header, body: body}, http.StatusUnauthorized, "invalid_token")
		})
	}
}

func TestJWKS(t *testing.T) {
	s := startStack(t, nil)
	s.register("alice", "correct horse")
	token := s.login("alice", "correct horse")
	kid := segment(t, token, 0)["kid"]
	res := s.get("/.well-known/jwks.json", "")
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, X, Kid, Alg, Use string
		} `json:"keys"`
	}
	if err := json.Unmarshal(res.body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].Kid != kid || set.Keys[0].Kty != "OKP" || set.Keys[0].Crv != "Ed25519" || set.Keys[0].Alg != "EdDSA" {
		t.Fatalf("jwks %s does not hold the token's kid %v", res.body, kid)
	}
	if segment(t, token, 0)["typ"] != "at+jwt" {
		t.Fatalf("token header %v", segment(t, token, 0))
	}
}

func TestRoutingErrors(t *testing.T) {
	s := startStack(t, nil)
	cases := []struct {
		name, method, path string
		status             int
		code, allow        string
	}{
		{"ErrGetRegister", http.MethodGet, "/v1/auth/register", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"ErrPutLogin", http.MethodPut, "/v1/auth/login", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"ErrGetLogout", http.MethodGet, "/v1/auth/logout", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"ErrDeleteLogoutAll", http.MethodDelete, "/v1/auth/logout-all-devices", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"ErrPostMe", http.MethodPost, "/v1/auth/me", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"ErrPostJWKS", http.MethodPost, "/.well-known/jwks.json", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"ErrPostHealthz", http.MethodPost, "/healthz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"ErrPostReadyz", http.MethodPost, "/readyz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"ErrMetricsOnAPI", http.MethodGet, "/metrics", http.StatusNotFound, "not_found", ""},
		{"ErrUnknownRoute", http.MethodGet, "/v1/auth/nope", http.StatusNotFound, "not_found", ""},
		{"ErrRoot", http.MethodGet, "/", http.StatusNotFound, "not_found", ""},
		{"ErrTrailingSlash", http.MethodPost, "/v1/auth/login/", http.StatusNotFound, "not_found", ""},
		{"ErrOversizeAnyRoute", http.MethodPost, "/v1/auth/logout", http.StatusRequestEntityTooLarge, "request_too_large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.status == http.StatusRequestEntityTooLarge {
				body = make([]byte, 16<<10+1)
			}
			res := s.do(tc.method, tc.path, "", body)
			wantError(t, res, tc.status, tc.code)
			if got := res.header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestHealthReady(t *testing.T) {
	s := startStack(t, nil)
	t.Run("Healthz", func(t *testing.T) {
		res := s.get("/healthz", "")
		if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != `{"status":"ok"}` {
			t.Fatalf("%d %s", res.status, res.body)
		}
	})
	t.Run("Readyz", func(t *testing.T) {
		res := s.get("/readyz", "")
		want := `{"status":"ready","checks":{"database":"ok","nats":"ok","redis":"ok"}}`
		if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != want {
			t.Fatalf("%d %s", res.status, res.body)
		}
	})
}

func TestLoginUpgradesPasswordHash(t *testing.T) {
	s := startStack(t, nil)
	id := s.register("alice", "correct horse")
	s.restart(map[string]string{"AUTH_ARGON2_MEMORY_KIB": "128", "AUTH_ARGON2_ITERATIONS": "2"})
	s.login("alice", "correct horse") // verifies the old hash, stores a new one
	db, err := store.Open(t.Context(), s.vars["AUTH_DB_PATH"], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("hash not upgraded: %s", u.PasswordHash)
	}
	s.login("alice", "correct horse")
	wantError(t, s.post("/v1/auth/login", "", creds("alice", "wrong horse")), http.StatusUnauthorized, "invalid_credentials")
}

package jwtx_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// A browser session carries the token in a cookie (SameSite, and CSRF
// protection by the application), an API client in the Authorization
// header; the admin route also requires a scope.
func ExampleValidator_MiddlewareWith() {
	signer, keys := newExampleSigner()
	v, err := jwtx.NewValidator(jwtx.Config{
		Keys: keys, Issuer: "https://auth.example", Audience: "api",
		Revocation: jwtxtest.NewMemoryStore(),
	})
	if err != nil {
		panic(err)
	}
	auth := v.MiddlewareWith(jwtx.MiddlewareOptions{
		Cookie: "session",
		Logger: slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
			Level:       slog.LevelDebug,
			ReplaceAttr: dropTime,
		})),
	})
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := jwtx.ClaimsFromContext(r.Context())
		fmt.Fprint(w, "hello ", c.Subject)
	})
	mux := http.NewServeMux()
	mux.Handle("/me", auth(me))
	mux.Handle("/admin", auth(jwtx.RequireScope("admin")(me)))

	// The signer's tokens carry no scope: /admin refuses them.
	token, _, _ := signer.Issue("0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70", 0)
	for _, path := range []string{"/me", "/admin"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: token})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(path, rec.Code, rec.Header().Get("WWW-Authenticate"), strings.TrimSpace(rec.Body.String()))
	}

	req := httptest.NewRequest(http.MethodGet, "/me", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	// Output:
	// /me 200  hello 0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70
	// /admin 403 Bearer error="insufficient_scope", scope="admin" {"error":"insufficient_scope","message":"the access token lacks a scope this resource requires"}
	// level=DEBUG msg="jwtx: request refused" reason=malformed status=401 method=GET path=/me
	// 401 {"error":"invalid_token","message":"the access token is invalid"}
}

// newExampleSigner returns a signer and its key set for the examples.
func newExampleSigner() (*jwtx.Signer, *jwtx.KeySet) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	s, err := jwtx.NewSigner(jwtx.SignerConfig{Key: key, Issuer: "https://auth.example", Audience: "api"})
	if err != nil {
		panic(err)
	}
	return s, jwtx.NewKeySet(s.PublicKey())
}

// dropTime removes the time from log lines, so the output is stable.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

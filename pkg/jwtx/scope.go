package jwtx

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// insufficientScopeMessage is the fixed text of a 403 insufficient_scope.
const insufficientScopeMessage = "the access token lacks a scope this resource requires"

// RequireScope returns a middleware that lets a request through only when
// the claims Middleware put in its context (see ClaimsFromContext) carry
// every one of scopes (Claims.HasScope); use it after Middleware or
// MiddlewareWith:
//
//	mux.Handle("/admin", v.Middleware(jwtx.RequireScope("admin")(admin)))
//
// A request without claims (none was authenticated, or
// MiddlewareOptions.Optional let it through without a token) is answered
// as WriteError answers ErrMissingToken: 401. A token lacking a scope is
// answered 403 {"error":"insufficient_scope"} with WWW-Authenticate:
// Bearer error="insufficient_scope", scope="<scopes>" (RFC 6750 sections
// 3 and 3.1). A scope must be a non-empty RFC 6749 scope token (printable
// ASCII without space, '"' or '\'); RequireScope panics on another, as a
// mistake in the program.
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if !validScope(s) {
			panic(fmt.Sprintf("jwtx: RequireScope: %q is not a valid scope token", s))
		}
	}
	scopes = append([]string(nil), scopes...)
	missing := &scopeError{scopes: strings.Join(scopes, " ")}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFromContext(r.Context())
			if !ok {
				WriteError(w, fmt.Errorf("jwtx: no claims in the request context: %w", ErrMissingToken))
				return
			}
			for _, s := range scopes {
				if !c.HasScope(s) {
					WriteError(w, missing)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// scopeError is ErrInsufficientScope with the scopes the route requires,
// for WWW-Authenticate.
type scopeError struct{ scopes string }

func (e *scopeError) Error() string { return "jwtx: insufficient scope, required: " + e.scopes }

// Unwrap makes a scopeError match ErrInsufficientScope.
func (e *scopeError) Unwrap() error { return ErrInsufficientScope }

// insufficientScopeChallenge is the WWW-Authenticate value of a 403.
func insufficientScopeChallenge(err error) string {
	const challenge = `Bearer error="insufficient_scope"`
	var se *scopeError
	if errors.As(err, &se) && se.scopes != "" {
		return challenge + `, scope="` + se.scopes + `"`
	}
	return challenge
}

// validScope reports whether s is a scope-token of RFC 6749 section 3.3:
// one or more of %x21 / %x23-5B / %x5D-7E.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

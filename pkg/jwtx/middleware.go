package jwtx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// claimsKey is the context key of the validated claims.
type claimsKey struct{}

// Middleware authenticates every request with its bearer token: on success
// it calls next with the claims in the request context (see
// ClaimsFromContext); otherwise it answers with WriteError: 401 for a
// missing, invalid or revoked token, 503 with Retry-After when the
// revocation status is unavailable.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := BearerToken(r)
		if err != nil {
			WriteError(w, err)
			return
		}
		c, err := v.Validate(r.Context(), token)
		if err != nil {
			WriteError(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
	})
}

// ContextWithClaims returns a copy of ctx carrying c, as Middleware does.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims Middleware stored in ctx.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (RFC 6750; the scheme is case-insensitive). A missing header,
// another scheme, several Authorization headers or an empty token give an
// error matching ErrMissingToken.
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", fmt.Errorf("jwtx: no Authorization header: %w", ErrMissingToken)
	}
	if len(vals) > 1 {
		return "", fmt.Errorf("jwtx: several Authorization headers: %w", ErrMissingToken)
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("jwtx: Authorization scheme is not Bearer: %w", ErrMissingToken)
	}
	token = strings.Trim(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("jwtx: no bearer token: %w", ErrMissingToken)
	}
	return token, nil
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// HTTPStatus returns the status WriteError answers err with: 200 for nil,
// 503 for ErrRevocationUnavailable, 401 for ErrRevoked and ErrInvalidToken
// (ErrMissingToken included), 500 for anything else.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrRevocationUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// WriteError writes the HTTP answer for an error from this package, a JSON
// body {"error": code, "message": text}:
//
//   - ErrRevocationUnavailable: 503, Retry-After: 1, "revocation_unavailable";
//   - ErrRevoked: 401, "token_revoked";
//   - ErrInvalidToken (ErrMissingToken included): 401, "invalid_token";
//   - anything else: 500, "internal".
//
// Every 401 carries WWW-Authenticate: Bearer error="invalid_token" (RFC
// 6750). Messages are fixed texts: nothing from the token is echoed.
func WriteError(w http.ResponseWriter, err error) {
	status := HTTPStatus(err)
	body := errorBody{Error: "internal", Message: "internal error"}
	switch {
	case status == http.StatusServiceUnavailable:
		body = errorBody{Error: "revocation_unavailable", Message: "token status cannot be verified right now; retry shortly"}
		w.Header().Set("Retry-After", "1")
	case errors.Is(err, ErrRevoked):
		body = errorBody{Error: "token_revoked", Message: "the access token has been revoked"}
	case status == http.StatusUnauthorized:
		body = errorBody{Error: "invalid_token", Message: invalidMessage(err)}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, body.Message))
	}
	writeJSON(w, status, body)
}

// invalidMessage is the fixed text for an invalid token.
func invalidMessage(err error) string {
	switch {
	case errors.Is(err, ErrMissingToken):
		return "a bearer access token is required"
	case errors.Is(err, ErrExpired):
		return "the access token expired"
	case errors.Is(err, ErrNotYetValid):
		return "the access token is not valid yet"
	case errors.Is(err, ErrTokenTooLarge):
		return "the access token is too large"
	}
	return "the access token is invalid"
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

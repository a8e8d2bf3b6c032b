package jwtx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// claimsKey is the context key of the validated claims.
type claimsKey struct{}

// Middleware authenticates every request with its bearer token: on success
// it calls next with the claims in the request context (see
// ClaimsFromContext); otherwise it answers with WriteError: 401 for a
// missing, invalid or revoked token, 503 with Retry-After when the
// revocation status is unavailable. It is MiddlewareWith of the zero
// MiddlewareOptions.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return v.MiddlewareWith(MiddlewareOptions{})(next)
}

// MiddlewareOptions change what MiddlewareWith accepts and how it answers a
// refused request. The zero value is Middleware.
type MiddlewareOptions struct {
	// Cookie, when set, is the name of a cookie the token is read from when
	// the request has no Authorization header (a browser session). The
	// Authorization header wins whenever it is present, even when it is
	// not a usable bearer token. Several cookies of that name are refused
	// (ErrMissingToken); an empty one counts as absent.
	//
	// A browser sends cookies with requests other sites make it send: an
	// application reading the token from a cookie must defend against
	// cross-site request forgery itself (a SameSite=Strict or Lax cookie,
	// plus a CSRF token or an Origin check for state-changing requests).
	// A bearer token in the Authorization header needs none of this.
	Cookie string
	// Optional lets a request without any token through without claims
	// (ClaimsFromContext reports false); a token that is present but
	// invalid, revoked or unverifiable is still refused. "Without any
	// token" means no Authorization header and no (non-empty) Cookie: an
	// Authorization header that is not one well-formed bearer token is
	// refused as by Middleware.
	Optional bool
	// OnError writes the answer for a refused request; default WriteError.
	// It receives the error (match it with errors.Is) to log it or to write
	// a custom body.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger, when set, records every refusal at debug level: the reason
	// code (ErrorCode), the status (HTTPStatus), method and path; never the
	// token or any claim value it carried.
	Logger *slog.Logger
}

// MiddlewareWith returns a middleware that authenticates requests as
// Middleware does, changed by opts.
func (v *Validator) MiddlewareWith(opts MiddlewareOptions) func(http.Handler) http.Handler {
	refuse := func(w http.ResponseWriter, r *http.Request, err error) {
		if opts.Logger != nil {
			logRefusal(r.Context(), opts.Logger, r, err)
		}
		if opts.OnError != nil {
			opts.OnError(w, r, err)
			return
		}
		WriteError(w, err)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, present, err := requestToken(r, opts.Cookie)
			if !present && opts.Optional {
				next.ServeHTTP(w, r)
				return
			}
			if err != nil {
				refuse(w, r, err)
				return
			}
			c, err := v.Validate(r.Context(), token)
			if err != nil {
				refuse(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
		})
	}
}

// requestToken returns the request's token: the Authorization header's
// when there is one (BearerToken), else the cookie's when cookie is set.
// present is false when the request carries neither, the one case
// MiddlewareOptions.Optional lets through.
func requestToken(r *http.Request, cookie string) (token string, present bool, err error) {
	if len(r.Header.Values("Authorization")) > 0 || cookie == "" {
		token, err = BearerToken(r)
		return token, len(r.Header.Values("Authorization")) > 0, err
	}
	cs := r.CookiesNamed(cookie)
	switch {
	case len(cs) > 1:
		return "", true, fmt.Errorf("jwtx: several %q cookies: %w", cookie, ErrMissingToken)
	case len(cs) == 0 || cs[0].Value == "":
		return "", false, fmt.Errorf("jwtx: no Authorization header and no %q cookie: %w", cookie, ErrMissingToken)
	}
	return cs[0].Value, true, nil
}

// logRefusal records a refused request at debug level without anything
// from the token.
func logRefusal(ctx context.Context, l *slog.Logger, r *http.Request, err error) {
	l.LogAttrs(ctx, slog.LevelDebug, "jwtx: request refused",
		slog.String("reason", ErrorCode(err)),
		slog.Int("status", HTTPStatus(err)),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path))
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
// (ErrMissingToken included), 403 for ErrInsufficientScope, 500 for
// anything else.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrRevocationUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// WriteError writes the HTTP answer for an error from this package, a JSON
// body {"error": code, "message": text}:
//
//   - ErrRevocationUnavailable: 503, Retry-After: 1, "revocation_unavailable";
//   - ErrRevoked: 401, "token_revoked";
//   - ErrInvalidToken (ErrMissingToken included): 401, "invalid_token";
//   - ErrInsufficientScope: 403, "insufficient_scope";
//   - anything else: 500, "internal".
//
// Every 401 carries WWW-Authenticate: Bearer error="invalid_token", a 403
// WWW-Authenticate: Bearer error="insufficient_scope" with the scopes the
// route requires when RequireScope refused it (RFC 6750 section 3).
// Messages are fixed texts: nothing from the token is echoed.
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
	case status == http.StatusForbidden:
		body = errorBody{Error: "insufficient_scope", Message: insufficientScopeMessage}
		w.Header().Set("WWW-Authenticate", insufficientScopeChallenge(err))
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

// errorCodes maps the sentinels to their ErrorCode, finest first.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrMissingToken, "missing_token"},
	{ErrMalformedToken, "malformed"},
	{ErrTokenTooLarge, "too_large"},
	{ErrUnknownKey, "unknown_key"},
	{ErrBadSignature, "bad_signature"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrLegacyToken, "legacy_token"},
	{ErrAlgorithmNotAllowed, "algorithm_not_allowed"},
	{ErrWrongType, "wrong_type"},
	{ErrCriticalHeader, "critical_header"},
	{ErrWrongIssuer, "wrong_issuer"},
	{ErrWrongAudience, "wrong_audience"},
	{ErrRevoked, "revoked"},
	{ErrRevocationUnavailable, "unavailable"},
	{ErrInsufficientScope, "insufficient_scope"},
	{ErrInvalidToken, "invalid"},
}

// ErrorCode returns a stable machine-readable reason for an error of this
// package, for logs and metrics: "missing_token", "malformed",
// "too_large", "unknown_key", "bad_signature", "expired",
// "not_yet_valid", "legacy_token", "algorithm_not_allowed", "wrong_type",
// "critical_header", "wrong_issuer", "wrong_audience", "revoked",
// "unavailable", "insufficient_scope", "invalid" (any other
// ErrInvalidToken), "" for nil and "internal" for anything else. It never
// contains anything from the token.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return "internal"
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/account"
)

// Error codes: the "error" field of every error body. The account
// protocol's codes are its own (package account); the others are HTTP's.
const (
	CodeInvalidRequest        = account.CodeInvalidRequest
	CodeUnsupportedToken      = account.CodeUnsupportedToken
	CodeInvalidCredentials    = account.CodeInvalidCredentials
	CodeUsernameTaken         = account.CodeUsernameTaken
	CodeWeakPassword          = account.CodeWeakPassword
	CodeRevocationUnavailable = account.CodeRevocationUnavailable
	CodeVersionExhausted      = account.CodeVersionExhausted
	CodeInvalidGrant          = account.CodeInvalidGrant
	CodeRefreshTokenReused    = account.CodeRefreshTokenReused
	CodeInvalidToken          = "invalid_token"
	CodeNotFound              = account.CodeNotFound
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeRateLimited           = "rate_limited"
	CodeRequestTooLarge       = "request_too_large"
	CodeUnsupportedMediaType  = "unsupported_media_type"
	CodeNotReady              = "not_ready"
	CodeUnavailable           = "unavailable"
	CodeInternal              = "internal"
)

// Error is an answer to the client: a code from the list above and a
// message safe to show; see account.Error, the service's one coded error.
type Error = account.Error

// errorf returns an *Error with a fixed message.
func errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// Status returns the HTTP status of an error code. CodeVersionExhausted
// is a 500 without Retry-After: not the client's fault, and no retry helps.
func Status(code string) int {
	switch code {
	case CodeInvalidRequest, CodeUnsupportedToken, CodeWeakPassword:
		return http.StatusBadRequest
	case CodeInvalidCredentials, CodeInvalidToken, CodeInvalidGrant, CodeRefreshTokenReused:
		return http.StatusUnauthorized
	case CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeUsernameTaken:
		return http.StatusConflict
	case CodeRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeRevocationUnavailable, CodeNotReady, CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeError answers r with err: the one place where errors become HTTP.
// Token errors from jwtx are answered as jwtx.WriteError does for every
// service; a server-side failure is logged here and answered 500 or 503
// without its details.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var (
		apiErr *Error
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &tooBig):
		apiErr = errorf(CodeRequestTooLarge, "the request body exceeds the limit")
	case errors.Is(err, jwtx.ErrInvalidToken), errors.Is(err, jwtx.ErrRevoked), errors.Is(err, jwtx.ErrRevocationUnavailable):
		jwtx.WriteError(w, err)
		return
	case errors.Is(err, account.ErrUnavailable):
		apiErr = &Error{Code: CodeRevocationUnavailable, Message: "the revocation could not be stored; retry shortly (retrying is safe)", Err: err}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		apiErr = &Error{Code: CodeUnavailable, Message: "request canceled", Err: err}
	default:
		apiErr = &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	status := Status(apiErr.Code)
	if status >= http.StatusInternalServerError && !errors.Is(err, context.Canceled) {
		logger.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", status), slog.Any("err", err))
	}
	switch {
	case apiErr.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.FormatInt(int64((apiErr.RetryAfter+time.Second-1)/time.Second), 10))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	case status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	service.WriteError(w, status, apiErr.Code, apiErr.Message)
}

// errorBody is the JSON body of every error.
type errorBody = service.ErrorBody

// writeJSON writes v as a JSON answer that no cache keeps.
func writeJSON(w http.ResponseWriter, status int, v any) { service.WriteJSON(w, status, v) }

package account

import (
	"errors"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

// Codes of the errors the protocol returns: the "error" field httpapi
// sends. httpapi maps each to a status.
const (
	// CodeInvalidRequest: a missing, malformed or overlong field (400).
	CodeInvalidRequest = "invalid_request"
	// CodeWeakPassword: password.CheckPolicy refuses the password (400).
	CodeWeakPassword = "weak_password"
	// CodeUsernameTaken: another user has the username, in any case (409).
	CodeUsernameTaken = "username_taken"
	// CodeInvalidCredentials: unknown user or wrong password, told apart
	// only by Config.OnLoginFailure (401).
	CodeInvalidCredentials = "invalid_credentials"
	// CodeUnsupportedToken: a legacy token (no jti) cannot be logged out
	// by itself; logout-all-devices can revoke it (400).
	CodeUnsupportedToken = "unsupported_token"
	// CodeRevocationUnavailable: the revocation may or may not be
	// durable, or is durable but not recorded; retrying is safe (503).
	CodeRevocationUnavailable = "revocation_unavailable"
	// CodeVersionExhausted: logout-all-devices cannot raise the user's
	// token version, already at events.MaxVersion (or, in data written
	// before the bound existed, above it). Not the client's fault and no
	// retry helps (500, logged at error level); an operator must repair
	// the user's version. Logging out one token at a time still works.
	CodeVersionExhausted = "token_version_exhausted"
	// CodeInvalidGrant: a refresh token that is malformed, unknown,
	// expired or of a revoked session (401).
	CodeInvalidGrant = "invalid_grant"
	// CodeRefreshTokenReused: a spent refresh token presented after the
	// grace window; its session is revoked (401).
	CodeRefreshTokenReused = "refresh_token_reused"
	// CodeNotFound: no such session among the user's own (404).
	CodeNotFound = "not_found"
)

// ErrUnavailable wraps every failure to make a revocation durable: the
// Revoker's publish error. Retrying is safe.
var ErrUnavailable = revoke.ErrUnavailable

// Error is the auth service's one coded error: a refusal of the protocol
// with a Code from the list above (httpapi adds its own codes, and aliases
// the type as httpapi.Error) and a message safe to show. Err, when set, is
// the cause, logged and never sent. RetryAfter, when set, is how long the
// caller should wait before trying again (sent as Retry-After).
type Error struct {
	Code       string
	Message    string
	Err        error
	RetryAfter time.Duration
}

// Error returns the code and message, and the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// Code returns the code of the *Error in err's chain, or "" when there is
// none.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

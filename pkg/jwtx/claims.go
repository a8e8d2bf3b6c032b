package jwtx

import (
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Claims are the validated claims of an access token.
type Claims struct {
	Issuer    string
	Subject   string // user id (UUID, canonical lower-case form)
	Audience  []string
	IssuedAt  time.Time // zero when a legacy token has no iat
	NotBefore time.Time // zero when the token has no nbf
	ExpiresAt time.Time
	ID        string // jti; "" only for a legacy token
	Version   int64  // ver; 0 when absent on a legacy token
	// SessionID is the sid claim: the session (login) the token belongs
	// to, revoked as a whole by a session.revoked event. "" when the token
	// has none (issued before sessions existed, or not by a login).
	SessionID string
}

// Legacy reports whether the token was issued before revocation existed: it
// has no jti, so it cannot be revoked by itself, only by raising the user's
// token version.
func (c *Claims) Legacy() bool { return c.ID == "" }

// IsUUID reports whether s is a UUID in canonical form: 36 characters,
// hyphenated, lower-case hex (revocation.IsUUID). Subjects and token ids
// must have this form so that the Redis keys built from them are the ones
// the revocation service writes.
func IsUUID(s string) bool { return revocation.IsUUID(s) }

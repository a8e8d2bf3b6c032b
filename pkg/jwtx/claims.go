package jwtx

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// MaxIDLength bounds the sub, jti and sid claims, in bytes. Another
// issuer's ids may be any string ("auth0|64f1...", an e-mail address), but
// not an unbounded one, and never one with a control character.
const MaxIDLength = 255

// Claims are the validated claims of an access token.
type Claims struct {
	Issuer string
	// Subject is the sub claim as issued: a UUID for this project's
	// tokens, any string of at most MaxIDLength bytes for another issuer's.
	Subject   string
	Audience  []string
	IssuedAt  time.Time // zero when the token has no iat
	NotBefore time.Time // zero when the token has no nbf
	ExpiresAt time.Time
	ID        string // jti; "" only for a token without one (legacy, or an issuer that sets none)
	Version   int64  // ver; 0 when absent
	// SessionID is the sid claim: the session (login) the token belongs
	// to, revoked as a whole by a session.revoked event. "" when the token
	// has none (issued before sessions existed, or not by a login).
	SessionID string

	// UserID is the id the user's revocations are published and stored
	// under (events' user_id, subjects, Redis keys): Subject itself when it
	// is a UUID, else revocation.ExternalID(Issuer, Subject). Publish a
	// TokenRevoked or UserTokensRevoked for another issuer's user with it.
	UserID string

	// Scopes are the token's scopes: the scope claim split at spaces (RFC
	// 8693 section 4.2, RFC 9068), or else the scp claim (an array of
	// strings or one space-separated string, as Okta and Entra ID write
	// it). Nil when the token has neither.
	Scopes []string
	// Roles is the roles claim (an array of strings, or one string), as
	// Entra ID, ZITADEL and many custom issuers write it. Nested role
	// claims (Keycloak's realm_access.roles) are reachable with
	// DecodeClaim.
	Roles []string

	revJTI, revSID string      // the jti and sid as revocation ids (ExternalID)
	hasVer         bool        // ver was present
	extra          []rawMember // members without a field above, in token order
}

// rawMember is one payload member Claims has no field for.
type rawMember struct {
	name  string
	value string // its JSON text, as signed
}

// Legacy reports whether the token has no jti, so it cannot be revoked by
// itself, only by raising the user's token version.
func (c *Claims) Legacy() bool { return c.ID == "" }

// HasScope reports whether the token was granted scope.
func (c *Claims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// HasRole reports whether role is among the token's Roles.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// Claim returns the JSON text of the member name, as signed, for a member
// Claims has no field for (a tenant id, azp, realm_access, a namespaced
// Auth0 claim); ok is false when the token has no such member. The token
// was parsed once: this only finds the member's bytes.
func (c *Claims) Claim(name string) (raw json.RawMessage, ok bool) {
	for _, m := range c.extra {
		if m.name == name {
			return json.RawMessage(m.value), true
		}
	}
	return nil, false
}

// DecodeClaim decodes the member name (see Claim) into v with
// encoding/json. It returns an error matching ErrClaimMissing when the
// token has no such member.
func (c *Claims) DecodeClaim(name string, v any) error {
	raw, ok := c.Claim(name)
	if !ok {
		return fmt.Errorf("jwtx: claim %s: %w", short(name), ErrClaimMissing)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("jwtx: claim %s: %w", short(name), err)
	}
	return nil
}

// ClaimAs returns the member name (see Claim) decoded as a T: for example
// jwtx.ClaimAs[string](c, "tenant") or jwtx.ClaimAs[struct{ Roles
// []string }](c, "realm_access"). It returns an error matching
// ErrClaimMissing when the token has no such member.
func ClaimAs[T any](c *Claims, name string) (T, error) {
	var v T
	err := c.DecodeClaim(name, &v)
	return v, err
}

// copyClaims returns a deep copy of c the caller may modify.
func copyClaims(c *Claims) *Claims {
	out := *c
	out.Audience = slices.Clone(c.Audience)
	out.Scopes = slices.Clone(c.Scopes)
	out.Roles = slices.Clone(c.Roles)
	out.extra = slices.Clone(c.extra)
	return &out
}

// setRevocationIDs derives the ids the revocation state of c is kept
// under (revocation.ExternalID), once per verified token.
func (c *Claims) setRevocationIDs() {
	c.UserID = revocation.ExternalID(c.Issuer, c.Subject)
	c.revJTI, c.revSID = "", ""
	if c.ID != "" {
		c.revJTI = revocation.ExternalID(c.Issuer, c.ID)
	}
	if c.SessionID != "" {
		c.revSID = revocation.ExternalID(c.Issuer, c.SessionID)
	}
}

// IsUUID reports whether s is a UUID in canonical form: 36 characters,
// hyphenated, lower-case hex (revocation.IsUUID). This project's subjects
// and token ids have this form, so the Redis keys built from them are the
// ones the revocation service writes.
func IsUUID(s string) bool { return revocation.IsUUID(s) }

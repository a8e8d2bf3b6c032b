package jwtx

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// DefaultTTL is the lifetime of an access token when SignerConfig.TTL is 0.
const DefaultTTL = 15 * time.Minute

// TokenType is the typ header of the access tokens this package issues and
// accepts (RFC 9068).
const TokenType = "at+jwt"

// SignerConfig configures a Signer.
type SignerConfig struct {
	Key      ed25519.PrivateKey // required
	Issuer   string             // required: the iss claim
	Audience string             // required: the aud claim
	TTL      time.Duration      // token lifetime; default DefaultTTL
	Now      func() time.Time   // clock; default time.Now
}

// Signer issues EdDSA-signed access tokens. It is safe for concurrent use.
type Signer struct {
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	kid      string
	header   string // encoded header, the same for every token
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// NewSigner returns a Signer for cfg.
func NewSigner(cfg SignerConfig) (*Signer, error) {
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("jwtx: signer needs an Ed25519 private key")
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwtx: signer needs an issuer and an audience")
	}
	if cfg.TTL < 0 {
		return nil, fmt.Errorf("jwtx: negative token TTL %s", cfg.TTL)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("jwtx: token TTL %s is below one second", cfg.TTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pub, ok := cfg.Key.Public().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("jwtx: cannot derive the public key")
	}
	kid := Thumbprint(pub)
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"EdDSA", TokenType, kid})
	if err != nil {
		return nil, fmt.Errorf("jwtx: encode header: %w", err)
	}
	return &Signer{
		key:      cfg.Key,
		pub:      pub,
		kid:      kid,
		header:   b64.EncodeToString(hdr),
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		ttl:      cfg.TTL,
		now:      cfg.Now,
	}, nil
}

// KeyID returns the kid of the signing key (its RFC 7638 thumbprint).
func (s *Signer) KeyID() string { return s.kid }

// PublicKey returns the public half of the signing key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// TTL returns the lifetime of the tokens the signer issues.
func (s *Signer) TTL() time.Duration { return s.ttl }

// payload is the JSON claim set of an issued token, in a fixed order.
type payload struct {
	Issuer    string `json:"iss"`
	Subject   string `json:"sub"`
	Audience  string `json:"aud"`
	IssuedAt  int64  `json:"iat"`
	NotBefore int64  `json:"nbf"`
	ExpiresAt int64  `json:"exp"`
	ID        string `json:"jti"`
	Version   int64  `json:"ver"`
	SessionID string `json:"sid,omitempty"`
}

// Grant is what an access token says about its holder: Issue's subject
// and version, and optionally the session, the token id and the issue
// time.
type Grant struct {
	// Subject is the user id, a canonical lower-case UUID; required.
	Subject string
	// SessionID, when set, is the sid claim (a canonical UUID): the login
	// the token belongs to, revoked as a whole by a session.revoked event.
	SessionID string
	// Version is the user's current token version (ver), >= 0.
	Version int64
	// ID is the jti (a canonical UUID); "" means a fresh random one.
	ID string
	// IssuedAt is the iat (truncated to the second); zero means now. The
	// token expires TTL after it. Ed25519 signatures are deterministic:
	// the same Grant, with ID and IssuedAt set, gives the same token.
	IssuedAt time.Time
}

// Issue signs an access token for subject (a user id, which must be a UUID
// in canonical lower-case form) carrying the user's current token version.
// The token gets a fresh random jti. It returns the compact token and its
// claims.
func (s *Signer) Issue(subject string, version int64) (token string, claims Claims, err error) {
	return s.IssueGrant(Grant{Subject: subject, Version: version})
}

// IssueGrant signs an access token for g and returns the compact token and
// its claims.
func (s *Signer) IssueGrant(g Grant) (token string, claims Claims, err error) {
	if !IsUUID(g.Subject) {
		return "", Claims{}, errors.New("jwtx: subject must be a canonical lower-case UUID")
	}
	if g.Version < 0 {
		return "", Claims{}, fmt.Errorf("jwtx: negative token version %d", g.Version)
	}
	if g.SessionID != "" && !IsUUID(g.SessionID) {
		return "", Claims{}, errors.New("jwtx: session id must be a canonical lower-case UUID")
	}
	jti := g.ID
	switch {
	case jti == "":
		id, err := uuid.NewRandom()
		if err != nil {
			return "", Claims{}, fmt.Errorf("jwtx: generate jti: %w", err)
		}
		jti = id.String()
	case !IsUUID(jti):
		return "", Claims{}, errors.New("jwtx: token id must be a canonical lower-case UUID")
	}
	at := g.IssuedAt
	if at.IsZero() {
		at = s.now()
	}
	iat := time.Unix(at.Unix(), 0).UTC()
	exp := iat.Add(s.ttl.Truncate(time.Second))
	body, err := json.Marshal(payload{
		Issuer:    s.issuer,
		Subject:   g.Subject,
		Audience:  s.audience,
		IssuedAt:  iat.Unix(),
		NotBefore: iat.Unix(),
		ExpiresAt: exp.Unix(),
		ID:        jti,
		Version:   g.Version,
		SessionID: g.SessionID,
	})
	if err != nil {
		return "", Claims{}, fmt.Errorf("jwtx: encode claims: %w", err)
	}
	input := s.header + "." + b64.EncodeToString(body)
	sig := ed25519.Sign(s.key, []byte(input))
	claims = Claims{
		Issuer:    s.issuer,
		Subject:   g.Subject,
		Audience:  []string{s.audience},
		IssuedAt:  iat,
		NotBefore: iat,
		ExpiresAt: exp,
		ID:        jti,
		Version:   g.Version,
		SessionID: g.SessionID,
		hasVer:    true,
	}
	claims.setRevocationIDs()
	return input + "." + b64.EncodeToString(sig), claims, nil
}

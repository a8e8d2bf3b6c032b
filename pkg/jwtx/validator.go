package jwtx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Validator defaults.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultMaxTokenSize bounds a token, in bytes, before any parsing.
	DefaultMaxTokenSize = 8 << 10
	// DefaultRevocationTimeout is the budget of one revocation check.
	DefaultRevocationTimeout = 100 * time.Millisecond
)

// Config configures a Validator.
type Config struct {
	Keys     *KeySet // required: the only keys tokens may be signed with
	Issuer   string  // required: the expected iss
	Audience string  // required: aud must contain it

	// Leeway is the clock skew tolerated on exp, nbf and iat; default
	// DefaultLeeway, a negative value means none.
	Leeway time.Duration

	// AcceptLegacy accepts tokens without jti, issued before revocation
	// existed; a missing ver counts as 0, so logout-all-devices still
	// revokes them.
	AcceptLegacy bool

	// Revocation is where Validate reads revocation state; required unless
	// DisableRevocationCheck.
	Revocation RevocationStore
	// DisableRevocationCheck makes Validate check only signature and
	// claims. For tests and tools only.
	DisableRevocationCheck bool
	// RevocationTimeout bounds one revocation check; default
	// DefaultRevocationTimeout.
	RevocationTimeout time.Duration

	// MaxTokenSize bounds a token, in bytes; default DefaultMaxTokenSize.
	MaxTokenSize int

	// Now is the clock; default time.Now.
	Now func() time.Time

	// Metrics, when set, receives jwtx_validations_total{result="ok",
	// "invalid", "revoked" or "unavailable"}, counting every Validate and
	// Parse call, and the histogram jwtx_revocation_check_duration_seconds.
	// Validators sharing a registerer share the collectors.
	Metrics prometheus.Registerer
}

// Validator validates access tokens: signature and claims following RFC
// 8725, then revocation. It is safe for concurrent use.
type Validator struct {
	keys         *KeySet
	issuer       string
	audience     string
	leeway       time.Duration
	acceptLegacy bool
	store        RevocationStore
	revTimeout   time.Duration
	maxSize      int
	now          func() time.Time
	parser       *jwt.Parser
	metrics      *metrics
}

// NewValidator returns a Validator for cfg.
func NewValidator(cfg Config) (*Validator, error) {
	switch {
	case cfg.Keys == nil:
		return nil, errors.New("jwtx: validator needs a key set")
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("jwtx: validator needs an issuer and an audience")
	case cfg.Revocation == nil && !cfg.DisableRevocationCheck:
		return nil, errors.New("jwtx: validator needs a revocation store (or DisableRevocationCheck)")
	case cfg.Revocation != nil && cfg.DisableRevocationCheck:
		return nil, errors.New("jwtx: revocation store given but DisableRevocationCheck set")
	case cfg.RevocationTimeout < 0 || cfg.MaxTokenSize < 0:
		return nil, errors.New("jwtx: negative revocation timeout or token size")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	cfg.Leeway = max(cfg.Leeway, 0)
	if cfg.RevocationTimeout == 0 {
		cfg.RevocationTimeout = DefaultRevocationTimeout
	}
	if cfg.MaxTokenSize == 0 {
		cfg.MaxTokenSize = DefaultMaxTokenSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Validator{
		keys:         cfg.Keys,
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
		leeway:       cfg.Leeway,
		acceptLegacy: cfg.AcceptLegacy,
		store:        cfg.Revocation,
		revTimeout:   cfg.RevocationTimeout,
		maxSize:      cfg.MaxTokenSize,
		now:          cfg.Now,
		metrics:      m,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithStrictDecoding(),
			jwt.WithTimeFunc(cfg.Now),
		),
	}, nil
}

// Validate checks the token's signature and claims, then its revocation
// status with one bounded call to the store. It returns the claims, or an
// error matching ErrInvalidToken, ErrRevoked or ErrRevocationUnavailable.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	c, err := v.parse(token)
	if err == nil && v.store != nil {
		err = v.checkRevocation(ctx, c)
	}
	v.metrics.result(err)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Parse checks the token's signature and claims only, without asking the
// revocation store. Logout uses it: revoking a token must work while the
// store is down.
func (v *Validator) Parse(token string) (*Claims, error) {
	c, err := v.parse(token)
	v.metrics.result(err)
	return c, err
}

func (v *Validator) parse(token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("jwtx: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTokenTooLarge)
	}
	if strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("jwtx: token does not have 3 segments: %w", ErrMalformedToken)
	}
	hdrPart, payloadPart, _ := strings.Cut(token, ".")
	payloadPart, _, _ = strings.Cut(payloadPart, ".")
	pub, err := v.checkHeader(hdrPart)
	if err != nil {
		return nil, err
	}
	raw, err := b64.DecodeString(payloadPart)
	if err != nil {
		return nil, fmt.Errorf("jwtx: payload is not base64url: %w", ErrMalformedToken)
	}
	c, err := parsePayload(raw)
	if err != nil {
		return nil, err
	}
	if c.ID == "" && !v.acceptLegacy {
		return nil, fmt.Errorf("jwtx: token has no jti: %w", ErrLegacyToken)
	}
	// Signature, exp, nbf, iat, iss and aud. Our checks above guarantee
	// golang-jwt sees one unambiguous, well-typed claim set.
	if _, err := v.parser.Parse(token, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
		return nil, jwtError(err)
	}
	return c, nil
}

// checkHeader decodes and checks the JOSE header and returns the key named
// by its kid. Keys are only ever looked up in the KeySet: jku, x5u, jwk and
// x5c are ignored.
func (v *Validator) checkHeader(seg string) (ed25519.PublicKey, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("jwtx: header is not base64url: %w", ErrMalformedToken)
	}
	h, err := decodeObject(raw, "header", "alg", "typ", "kid", "crit")
	if err != nil {
		return nil, err
	}
	if _, ok := h["crit"]; ok {
		return nil, fmt.Errorf("jwtx: header has crit, no extension is understood: %w", ErrInvalidToken)
	}
	alg, ok := rawString(h["alg"])
	if !ok || alg != jwt.SigningMethodEdDSA.Alg() {
		return nil, fmt.Errorf("jwtx: header alg %s not allowed (only EdDSA): %w", short(alg), ErrInvalidToken)
	}
	typ, ok := rawString(h["typ"])
	if !ok || (!strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType)) {
		return nil, fmt.Errorf("jwtx: header typ %s is not %s: %w", short(typ), TokenType, ErrInvalidToken)
	}
	kid, ok := rawString(h["kid"])
	if !ok || kid == "" {
		return nil, fmt.Errorf("jwtx: header has no kid: %w", ErrUnknownKey)
	}
	pub, ok := v.keys.Lookup(kid)
	if !ok {
		return nil, fmt.Errorf("jwtx: kid %s not in key set: %w", short(kid), ErrUnknownKey)
	}
	return pub, nil
}

// jwtError maps an error from golang-jwt to this package's sentinels,
// without repeating its text (which may quote token content).
func jwtError(err error) error {
	reason, sentinel := "token rejected", ErrInvalidToken
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason, sentinel = "signature does not verify", ErrBadSignature
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason, sentinel = "rejected by the JWT parser", ErrMalformedToken
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = "required claim (exp, iss or aud) missing"
	case errors.Is(err, jwt.ErrTokenExpired):
		reason, sentinel = "exp is past", ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason, sentinel = "nbf is in the future", ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason, sentinel = "iat is in the future", ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		reason = "wrong issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		reason = "wrong audience"
	}
	return fmt.Errorf("jwtx: %s: %w", reason, sentinel)
}

// short quotes attacker-controlled s for an error message, truncated.
func short(s string) string {
	const n = 24
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

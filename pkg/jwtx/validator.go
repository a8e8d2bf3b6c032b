package jwtx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
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

// KeyResolver finds the public key a token names by its kid. *KeySet (keys
// held in memory) and *RemoteKeySet (the issuer's JWKS, fetched and
// cached) implement it; Config.Resolver accepts any implementation.
//
// A resolver is only ever asked about the kid: it must never fetch a key
// from a location the token names (jku, x5u) or take one from the token
// (jwk, x5c), which the Validator does not even pass on.
type KeyResolver interface {
	// Lookup returns the key with the given kid, without blocking on I/O.
	Lookup(kid string) (ed25519.PublicKey, bool)
}

// KeyRefresher is a KeyResolver that can refresh its keys when asked for a
// kid it does not know, as after the issuer rotated its key. The Validator
// calls LookupRefresh instead of Lookup when the resolver implements it.
type KeyRefresher interface {
	KeyResolver
	// LookupRefresh returns the key with the given kid. When it is not
	// known, it may refresh the keys first, waiting at most until ctx is
	// done. Implementations must bound how often a miss causes a refresh:
	// anyone can send tokens with made-up kids.
	LookupRefresh(ctx context.Context, kid string) (ed25519.PublicKey, bool)
}

var (
	_ KeyResolver  = (*KeySet)(nil)
	_ KeyRefresher = (*RemoteKeySet)(nil)
)

// Config configures a Validator.
type Config struct {
	// Keys are the only keys tokens may be signed with. Exactly one of Keys
	// and Resolver is required.
	Keys *KeySet
	// Resolver, instead of Keys, is where keys are looked up by kid, for
	// example a *RemoteKeySet following the issuer's JWKS URL. When it
	// implements KeyRefresher, a kid it does not know lets it refresh
	// (rate-limited) before the token is rejected.
	Resolver KeyResolver

	Issuer   string // required: the expected iss
	Audience string // required: aud must contain it

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
	keys         KeyResolver
	issuer       string
	audience     string
	leeway       time.Duration
	acceptLegacy bool
	store        RevocationStore
	local        LocalRevocationStore // store, when it can answer from memory
	revTimeout   time.Duration
	maxSize      int
	now          func() time.Time
	parser       *jwt.Parser
	metrics      *metrics
}

// NewValidator returns a Validator for cfg.
func NewValidator(cfg Config) (*Validator, error) {
	keys := cfg.Resolver
	switch {
	case cfg.Keys != nil && cfg.Resolver != nil:
		return nil, errors.New("jwtx: validator takes Keys or Resolver, not both")
	case cfg.Keys != nil:
		keys = cfg.Keys
	case cfg.Resolver == nil:
		return nil, errors.New("jwtx: validator needs a key set (Keys or Resolver)")
	}
	switch {
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
	local, _ := cfg.Revocation.(LocalRevocationStore)
	return &Validator{
		local:        local,
		keys:         keys,
		issuer:       cfg.Issuer,
		audience:     cfg.Audience,
		leeway:       cfg.Leeway,
		acceptLegacy: cfg.AcceptLegacy,
		store:        cfg.Revocation,
		revTimeout:   cfg.RevocationTimeout,
		maxSize:      cfg.MaxTokenSize,
		now:          cfg.Now,
		metrics:      m,
		// golang-jwt verifies the signature (a second opinion on the alg
		// too); claim values are checked by checkClaims on the claims
		// parsePayload decoded, not by golang-jwt, which reads exp 0 or
		// aud "" as absent.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		),
	}, nil
}

// Validate checks the token's signature and claims, then its revocation
// status with one bounded call to the store. It returns the claims, or an
// error matching ErrInvalidToken, ErrRevoked or ErrRevocationUnavailable.
// ctx also bounds a key refresh the Resolver may make for an unknown kid.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	c, err := v.parse(ctx, token)
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
// store is down. A key refresh the Resolver makes for an unknown kid is
// bounded by the Resolver's own timeout.
func (v *Validator) Parse(token string) (*Claims, error) {
	c, err := v.parse(context.Background(), token)
	v.metrics.result(err)
	return c, err
}

// parse runs every check that needs no key first (size, alphabet, shape,
// header, encoding, claim types), then looks the key up (the only step
// that may cause I/O, a rate-limited JWKS refresh), then verifies the
// signature and only then the claim values (issuer, audience, time). So a
// badly signed token is reported as such even when it is also expired.
func (v *Validator) parse(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("jwtx: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTokenTooLarge)
	}
	for i := range len(token) {
		if !tokenChars[token[i]] {
			return nil, fmt.Errorf("jwtx: token has a byte outside base64url and '.': %w", ErrMalformedToken)
		}
	}
	if strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("jwtx: token does not have 3 segments: %w", ErrMalformedToken)
	}
	hdrPart, rest, _ := strings.Cut(token, ".")
	payloadPart, sigPart, _ := strings.Cut(rest, ".")
	kid, err := checkHeader(hdrPart)
	if err != nil {
		return nil, err
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil {
		return nil, fmt.Errorf("jwtx: signature is not base64url: %w", ErrMalformedToken)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("jwtx: signature of %d bytes, want %d: %w", len(sig), ed25519.SignatureSize, ErrBadSignature)
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
	pub, err := v.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	// Our checks above guarantee golang-jwt sees one unambiguous claim set.
	if _, err := v.parser.Parse(token, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
		return nil, jwtError(err)
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkClaims checks the claim values of a token whose signature verified.
// A token meant for someone else (iss, aud) is reported as such before its
// time window, so a client is not told to refresh a token that can never
// work here. With leeway L (RFC 7519 4.1.4-4.1.6): now must be before
// exp+L, and nbf and iat at most now+L.
func (v *Validator) checkClaims(c *Claims) error {
	t := v.now()
	switch {
	case c.Issuer != v.issuer:
		return fmt.Errorf("jwtx: iss is missing or not the expected issuer: %w", ErrWrongIssuer)
	case !slices.Contains(c.Audience, v.audience):
		return fmt.Errorf("jwtx: aud is missing or lacks the expected audience: %w", ErrWrongAudience)
	case !t.Before(c.ExpiresAt.Add(v.leeway)):
		return fmt.Errorf("jwtx: exp is past: %w", ErrExpired)
	case c.NotBefore.After(t.Add(v.leeway)):
		return fmt.Errorf("jwtx: nbf is in the future: %w", ErrNotYetValid)
	case c.IssuedAt.After(t.Add(v.leeway)):
		return fmt.Errorf("jwtx: iat is in the future: %w", ErrNotYetValid)
	}
	return nil
}

// tokenChars are the bytes of a compact JWS: the base64url alphabet and
// '.'. encoding/base64 skips CR and LF even in strict mode, so a token
// with line breaks would otherwise decode.
var tokenChars = func() (set [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_." {
		set[c] = true
	}
	return set
}()

// checkHeader decodes and checks the JOSE header and returns its kid. Keys
// are only ever looked up by kid: jku, x5u, jwk and x5c are ignored.
func checkHeader(seg string) (kid string, err error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return "", fmt.Errorf("jwtx: header is not base64url: %w", ErrMalformedToken)
	}
	h, err := decodeObject(raw, "header", "alg", "typ", "kid", "crit")
	if err != nil {
		return "", err
	}
	if _, ok := h["crit"]; ok {
		return "", fmt.Errorf("jwtx: header has crit, no extension is understood: %w", ErrCriticalHeader)
	}
	alg, ok := rawString(h["alg"])
	if !ok || alg != jwt.SigningMethodEdDSA.Alg() {
		return "", fmt.Errorf("jwtx: header alg %s not allowed (only EdDSA): %w", short(alg), ErrAlgorithmNotAllowed)
	}
	typ, ok := rawString(h["typ"])
	if !ok || (!strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType)) {
		return "", fmt.Errorf("jwtx: header typ %s is not %s: %w", short(typ), TokenType, ErrWrongType)
	}
	kid, ok = rawString(h["kid"])
	if !ok || kid == "" {
		return "", fmt.Errorf("jwtx: header has no kid: %w", ErrUnknownKey)
	}
	return kid, nil
}

// lookup returns the key named kid, letting a KeyRefresher refresh once
// (rate-limited) when it does not know the kid.
func (v *Validator) lookup(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	var pub ed25519.PublicKey
	var ok bool
	if r, isRefresher := v.keys.(KeyRefresher); isRefresher {
		pub, ok = r.LookupRefresh(ctx, kid)
	} else {
		pub, ok = v.keys.Lookup(kid)
	}
	if !ok {
		return nil, fmt.Errorf("jwtx: kid %s not in key set: %w", short(kid), ErrUnknownKey)
	}
	return pub, nil
}

// jwtError maps an error from golang-jwt to this package's sentinels,
// without repeating its text (which may quote token content).
func jwtError(err error) error {
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return fmt.Errorf("jwtx: signature does not verify: %w", ErrBadSignature)
	}
	return fmt.Errorf("jwtx: rejected by the JWT parser: %w", ErrMalformedToken)
}

// short quotes attacker-controlled s for an error message, truncated.
func short(s string) string {
	const n = 24
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

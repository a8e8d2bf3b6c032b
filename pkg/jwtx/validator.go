package jwtx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

	// HMACKeys, by kid, are shared secrets (at least 32 bytes) accepted for
	// HS256 tokens, for issuers that sign with a shared secret. HS256 is
	// allowed only when this is set, and an HS256 token is verified only
	// with these secrets: the algorithm of a key is fixed by where it is
	// configured, never by the token, so an Ed25519 public key is never
	// used as an HMAC secret (RFC 8725 section 2.1).
	HMACKeys map[string][]byte

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

	// VerifiedCacheSize is how many verified tokens the Validator
	// remembers, so that a token presented again skips signature
	// verification; default DefaultVerifiedCacheSize, a negative value
	// turns the cache off. Entries are keyed by the exact token bytes and
	// expire with the token; the key's presence in the key set, the claim
	// times and the revocation status are still checked on every call.
	VerifiedCacheSize int

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
	hmacKeys     map[string][]byte
	headers      headerCache
	verified     *verifiedCache // nil when off
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
	case cfg.Resolver == nil && len(cfg.HMACKeys) == 0:
		return nil, errors.New("jwtx: validator needs a key set (Keys, Resolver or HMACKeys)")
	}
	hmacKeys, err := copyHMACKeys(cfg.HMACKeys)
	if err != nil {
		return nil, err
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
	if cfg.VerifiedCacheSize == 0 {
		cfg.VerifiedCacheSize = DefaultVerifiedCacheSize
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
		hmacKeys:     hmacKeys,
		verified:     newVerifiedCache(cfg.VerifiedCacheSize),
		metrics:      m,
	}, nil
}

// copyHMACKeys checks and copies Config.HMACKeys.
func copyHMACKeys(in map[string][]byte) (map[string][]byte, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(in))
	for kid, secret := range in {
		switch {
		case kid == "":
			return nil, errors.New("jwtx: HMAC key with an empty kid")
		case len(secret) < minHMACKeySize:
			return nil, fmt.Errorf("jwtx: HMAC key %q of %d bytes, want at least %d", kid, len(secret), minHMACKeySize)
		}
		out[kid] = slices.Clone(secret)
	}
	return out, nil
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
// badly signed token is reported as such even when it is also expired. A
// token found in the verified-token cache skips decoding and the
// signature; its key must still be in the key set.
func (v *Validator) parse(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("jwtx: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTokenTooLarge)
	}
	if v.verified != nil {
		if e := v.verified.get(token, v.now()); e != nil {
			if v.stillTrusted(e) {
				c := e.claimsCopy()
				if err := v.checkClaims(c); err != nil {
					return nil, err
				}
				return c, nil
			}
			v.verified.remove(token)
		}
	}
	dots := 0
	for i := range len(token) {
		if !tokenChars[token[i]] {
			return nil, fmt.Errorf("jwtx: token has a byte outside base64url and '.': %w", ErrMalformedToken)
		}
		if token[i] == '.' {
			dots++
		}
	}
	if dots != 2 {
		return nil, fmt.Errorf("jwtx: token does not have 3 segments: %w", ErrMalformedToken)
	}
	hdrPart, rest, _ := strings.Cut(token, ".")
	payloadPart, sigPart, _ := strings.Cut(rest, ".")
	h, err := v.header(hdrPart)
	if err != nil {
		return nil, err
	}
	var sigBuf [ed25519.SignatureSize]byte
	sig, err := decodeSignature(sigBuf[:0], sigPart, h.alg)
	if err != nil {
		return nil, err
	}
	raw, err := b64.DecodeString(payloadPart)
	if err != nil {
		return nil, fmt.Errorf("jwtx: payload is not base64url: %w", ErrMalformedToken)
	}
	c, err := parsePayload(string(raw))
	if err != nil {
		return nil, err
	}
	if c.ID == "" && !v.acceptLegacy {
		return nil, fmt.Errorf("jwtx: token has no jti: %w", ErrLegacyToken)
	}
	key, err := v.verifyKey(ctx, h)
	if err != nil {
		return nil, err
	}
	if !verifySignature(h.alg, key, token[:len(hdrPart)+1+len(payloadPart)], sig) {
		return nil, fmt.Errorf("jwtx: signature does not verify: %w", ErrBadSignature)
	}
	v.headers.add(hdrPart, h)
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	if v.verified != nil {
		e := &verifiedEntry{token: token, claims: *c, alg: h.alg, kid: h.kid, key: string(key), expires: c.ExpiresAt.Add(v.leeway)}
		e.claims.Audience = slices.Clone(c.Audience)
		v.verified.add(e, v.now())
	}
	return c, nil
}

// stillTrusted reports whether the key a cached token verified with is
// still the key its kid names: a key removed, retired past its deadline or
// replaced under the same kid ends the entry.
func (v *Validator) stillTrusted(e *verifiedEntry) bool {
	if e.alg == AlgHS256 {
		return true // HMAC keys are fixed for the life of the Validator
	}
	if v.keys == nil {
		return false
	}
	pub, ok := v.keys.Lookup(e.kid)
	return ok && string(pub) == e.key
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

// header returns the checked JOSE header encoded as seg, from the cache
// of headers that verified before, or by checkHeader.
func (v *Validator) header(seg string) (jose, error) {
	if h, ok := v.headers.get(seg); ok {
		return h, nil
	}
	h, err := checkHeader(seg)
	if err != nil {
		return jose{}, err
	}
	if !v.algAllowed(h.alg) {
		return jose{}, fmt.Errorf("jwtx: header alg %s not allowed: %w", short(h.alg), ErrAlgorithmNotAllowed)
	}
	return h, nil
}

// algAllowed reports whether the Validator has keys for alg.
func (v *Validator) algAllowed(alg string) bool {
	switch alg {
	case AlgEdDSA:
		return v.keys != nil
	case AlgHS256:
		return v.hmacKeys != nil
	}
	return false
}

// checkHeader decodes and checks the JOSE header. Keys are only ever
// looked up by kid: jku, x5u, jwk and x5c are ignored.
func checkHeader(seg string) (jose, error) {
	raw, err := b64.DecodeString(seg)
	if err != nil {
		return jose{}, fmt.Errorf("jwtx: header is not base64url: %w", ErrMalformedToken)
	}
	h, err := decodeObject(raw, "header", "alg", "typ", "kid", "crit")
	if err != nil {
		return jose{}, err
	}
	if _, ok := h["crit"]; ok {
		return jose{}, fmt.Errorf("jwtx: header has crit, no extension is understood: %w", ErrCriticalHeader)
	}
	alg, ok := rawString(h["alg"])
	if !ok || (alg != AlgEdDSA && alg != AlgHS256) {
		return jose{}, fmt.Errorf("jwtx: header alg %s not allowed: %w", short(alg), ErrAlgorithmNotAllowed)
	}
	typ, ok := rawString(h["typ"])
	if !ok || (!strings.EqualFold(typ, TokenType) && !strings.EqualFold(typ, "application/"+TokenType)) {
		return jose{}, fmt.Errorf("jwtx: header typ %s is not %s: %w", short(typ), TokenType, ErrWrongType)
	}
	kid, ok := rawString(h["kid"])
	if !ok || kid == "" {
		return jose{}, fmt.Errorf("jwtx: header has no kid: %w", ErrUnknownKey)
	}
	return jose{alg: alg, kid: kid}, nil
}

// verifyKey returns the key that must verify a token with header h: an
// HMAC secret by kid for HS256, else the Ed25519 key named kid, letting a
// KeyRefresher refresh once (rate-limited) when it does not know the kid.
func (v *Validator) verifyKey(ctx context.Context, h jose) ([]byte, error) {
	if h.alg == AlgHS256 {
		if secret, ok := v.hmacKeys[h.kid]; ok {
			return secret, nil
		}
		return nil, fmt.Errorf("jwtx: kid %s not among the HMAC keys: %w", short(h.kid), ErrUnknownKey)
	}
	var pub ed25519.PublicKey
	var ok bool
	if r, isRefresher := v.keys.(KeyRefresher); isRefresher {
		pub, ok = r.LookupRefresh(ctx, h.kid)
	} else {
		pub, ok = v.keys.Lookup(h.kid)
	}
	if !ok {
		return nil, fmt.Errorf("jwtx: kid %s not in key set: %w", short(h.kid), ErrUnknownKey)
	}
	return pub, nil
}

// short quotes attacker-controlled s for an error message, truncated.
func short(s string) string {
	const n = 24
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

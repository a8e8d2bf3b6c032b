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

// Config configures a Validator: the issuers whose tokens it accepts and
// where it reads revocations.
//
// Issuers lists any number of issuers (Keycloak, Auth0, Okta, Entra ID,
// Dex, ZITADEL, this project's auth service). Keys, Resolver, HMACKeys,
// Issuer, Audience and AcceptLegacy are the shorthand for one issuer of
// this project's tokens (UUID claims, typ at+jwt, EdDSA and optionally
// HS256); they may be combined with Issuers. Every iss appears once.
type Config struct {
	// Issuers are the issuers whose tokens are accepted, chosen by iss.
	Issuers []Issuer

	// Keys are the only keys the shorthand issuer's tokens may be signed
	// with. With the shorthand, exactly one of Keys and Resolver is
	// required (or HMACKeys alone).
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

	// KeyWait bounds how long one validation waits for a key refresh
	// caused by a kid the issuer's key source does not know (the refresh
	// goes on in the background); default DefaultKeyWait.
	KeyWait time.Duration

	// Now is the clock; default time.Now.
	Now func() time.Time

	// Metrics, when set, receives jwtx_validations_total{result="ok",
	// "invalid", "revoked" or "unavailable", issuer=the Issuer's Name, or
	// "unknown" when the token names no configured issuer}, counting every
	// Validate and Parse call, and the histogram
	// jwtx_revocation_check_duration_seconds. Validators sharing a
	// registerer share the collectors.
	Metrics prometheus.Registerer
}

// Validator validates access tokens: signature and claims following RFC
// 8725, then revocation. It is safe for concurrent use.
type Validator struct {
	issuers    map[string]*issuer
	only       *issuer // the issuer when there is one
	headerAlgs func(alg string) bool
	store      RevocationStore
	local      LocalRevocationStore // store, when it can answer from memory
	revTimeout time.Duration
	keyWait    time.Duration
	maxSize    int
	now        func() time.Time
	headers    headerCache
	verified   *verifiedCache // nil when off
	metrics    *metrics
}

// NewValidator returns a Validator for cfg.
func NewValidator(cfg Config) (*Validator, error) {
	switch {
	case cfg.Revocation == nil && !cfg.DisableRevocationCheck:
		return nil, errors.New("jwtx: validator needs a revocation store (or DisableRevocationCheck)")
	case cfg.Revocation != nil && cfg.DisableRevocationCheck:
		return nil, errors.New("jwtx: revocation store given but DisableRevocationCheck set")
	case cfg.RevocationTimeout < 0 || cfg.MaxTokenSize < 0 || cfg.KeyWait < 0:
		return nil, errors.New("jwtx: negative revocation timeout, key wait or token size")
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
	if cfg.KeyWait == 0 {
		cfg.KeyWait = DefaultKeyWait
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VerifiedCacheSize == 0 {
		cfg.VerifiedCacheSize = DefaultVerifiedCacheSize
	}
	issuers, err := configIssuers(cfg)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(issuers))
	var algs []string
	byIss := make(map[string]*issuer, len(issuers))
	for _, is := range issuers {
		byIss[is.iss] = is
		names = append(names, is.name)
		algs = append(algs, is.algs...)
	}
	m, err := newMetrics(cfg.Metrics, names)
	if err != nil {
		return nil, err
	}
	local, _ := cfg.Revocation.(LocalRevocationStore)
	v := &Validator{
		issuers:    byIss,
		headerAlgs: algMembership(algs),
		local:      local,
		store:      cfg.Revocation,
		revTimeout: cfg.RevocationTimeout,
		keyWait:    cfg.KeyWait,
		maxSize:    cfg.MaxTokenSize,
		now:        cfg.Now,
		verified:   newVerifiedCache(cfg.VerifiedCacheSize),
		metrics:    m,
	}
	if len(issuers) == 1 {
		v.only = issuers[0]
	}
	return v, nil
}

// configIssuers returns the issuers of cfg: the shorthand's first, when
// used, then cfg.Issuers.
func configIssuers(cfg Config) ([]*issuer, error) {
	var list []Issuer
	if cfg.Keys != nil || cfg.Resolver != nil || len(cfg.HMACKeys) > 0 || cfg.Issuer != "" || cfg.Audience != "" || len(cfg.Issuers) == 0 {
		if cfg.Keys != nil && cfg.Resolver != nil {
			return nil, errors.New("jwtx: validator takes Keys or Resolver, not both")
		}
		list = append(list, Issuer{
			Issuer: cfg.Issuer, Audience: cfg.Audience,
			Keys: cfg.Keys, Resolver: cfg.Resolver, HMACKeys: cfg.HMACKeys,
			AllowNoJTI: cfg.AcceptLegacy, UUIDClaims: true,
		})
		if cfg.Resolver != nil {
			list[0].Algorithms = []string{AlgEdDSA}
			if len(cfg.HMACKeys) > 0 {
				list[0].Algorithms = append(list[0].Algorithms, AlgHS256)
			}
		}
	}
	list = append(list, cfg.Issuers...)
	out := make([]*issuer, 0, len(list))
	seen := map[string]bool{}
	for _, ic := range list {
		if cfg.Keys == nil && cfg.Resolver == nil && ic.Keys == nil && ic.Resolver == nil &&
			len(ic.PublicKeys) == 0 && ic.JWKSURL == "" && !ic.Discovery && len(ic.HMACKeys) == 0 {
			return nil, errors.New("jwtx: validator needs a key set (Keys, Resolver or HMACKeys)")
		}
		is, err := newIssuer(ic, cfg.Leeway)
		if err != nil {
			return nil, err
		}
		if seen[is.iss] {
			return nil, fmt.Errorf("jwtx: issuer %q configured twice", is.iss)
		}
		seen[is.iss] = true
		out = append(out, is)
	}
	return out, nil
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
	c, is, err := v.parse(ctx, token)
	if err == nil && v.store != nil {
		err = v.checkRevocation(ctx, c)
	}
	v.metrics.result(is, err)
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
	c, is, err := v.parse(context.Background(), token)
	v.metrics.result(is, err)
	return c, err
}

// parse runs every check that needs no key first (size, alphabet, shape,
// header, encoding, claim types), then chooses the issuer by iss and
// checks the header and claim forms against it, then looks the key up
// (the only step that may cause I/O, a rate-limited JWKS refresh), then
// verifies the signature and only then the claim values (audience, time).
// So a badly signed token is reported as such even when it is also
// expired. A token found in the verified-token cache skips decoding and
// the signature; its key must still be the one its kid names. is is the
// token's issuer when it names a configured one, for the metrics.
func (v *Validator) parse(ctx context.Context, token string) (c *Claims, is *issuer, err error) {
	if len(token) > v.maxSize {
		return nil, nil, fmt.Errorf("jwtx: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTokenTooLarge)
	}
	if v.verified != nil {
		if e := v.verified.get(token, v.now()); e != nil {
			if e.is.stillKey(e.alg, e.kid, e.key) {
				c := copyClaims(&e.claims)
				if err := v.checkClaims(e.is, c); err != nil {
					return nil, e.is, err
				}
				return c, e.is, nil
			}
			v.verified.remove(token)
		}
	}
	dots := 0
	for i := range len(token) {
		if !tokenChars[token[i]] {
			return nil, nil, fmt.Errorf("jwtx: token has a byte outside base64url and '.': %w", ErrMalformedToken)
		}
		if token[i] == '.' {
			dots++
		}
	}
	if dots != 2 {
		return nil, nil, fmt.Errorf("jwtx: token does not have 3 segments: %w", ErrMalformedToken)
	}
	hdrPart, rest, _ := strings.Cut(token, ".")
	payloadPart, sigPart, _ := strings.Cut(rest, ".")
	h, err := v.header(hdrPart)
	if err != nil {
		return nil, nil, err
	}
	var sigBuf [ed25519.SignatureSize]byte
	sig, err := decodeSignature(sigBuf[:0], sigPart, h.alg)
	if err != nil {
		return nil, nil, err
	}
	raw, err := b64.DecodeString(payloadPart)
	if err != nil {
		return nil, nil, fmt.Errorf("jwtx: payload is not base64url: %w", ErrMalformedToken)
	}
	c, err = parsePayload(string(raw))
	if err != nil {
		return nil, nil, err
	}
	if is = v.issuerOf(c.Issuer); is == nil {
		return nil, nil, fmt.Errorf("jwtx: iss is missing or not a configured issuer: %w", ErrWrongIssuer)
	}
	if err := is.checkForms(h, c); err != nil {
		return nil, is, err
	}
	secret, ed, pk, ok := v.lookupKey(ctx, is, h)
	if !ok {
		if !is.keysLoaded() {
			return nil, is, fmt.Errorf("jwtx: issuer %s has no keys yet: %w", is.name, ErrKeysUnavailable)
		}
		return nil, is, fmt.Errorf("jwtx: kid %s not among the keys of issuer %s: %w", short(h.kid), is.name, ErrUnknownKey)
	}
	input := token[:len(hdrPart)+1+len(payloadPart)]
	var verified bool
	var identity string
	switch {
	case secret != nil:
		verified = verifySignature(AlgHS256, secret, input, sig)
	case ed != nil:
		verified, identity = h.alg == AlgEdDSA && verifySignature(AlgEdDSA, ed, input, sig), string(ed)
	default:
		verified, identity = pk.Verify(h.alg, input, sig), pk.Thumbprint()
	}
	if !verified {
		return nil, is, fmt.Errorf("jwtx: signature does not verify: %w", ErrBadSignature)
	}
	v.headers.add(hdrPart, h)
	if err := v.checkClaims(is, c); err != nil {
		return nil, is, err
	}
	c.setRevocationIDs()
	if v.verified != nil {
		e := &verifiedEntry{token: token, is: is, alg: h.alg, kid: h.kid, key: identity, expires: c.ExpiresAt.Add(is.leeway)}
		e.claims = *copyClaims(c)
		v.verified.add(e, v.now())
	}
	return c, is, nil
}

// issuerOf returns the configured issuer iss, or nil.
func (v *Validator) issuerOf(iss string) *issuer {
	if v.only != nil {
		if v.only.iss == iss {
			return v.only
		}
		return nil
	}
	return v.issuers[iss]
}

// lookupKey returns the key for h of issuer is, waiting at most KeyWait
// (and until ctx is done) for a refresh an unknown kid causes.
func (v *Validator) lookupKey(ctx context.Context, is *issuer, h jose) ([]byte, ed25519.PublicKey, *PublicKey, bool) {
	// The cached keys first, without I/O and without a context of its
	// own (that would cost allocations on every validation).
	if secret, ed, pk, ok := is.key(ctx, h.alg, h.kid, false); ok || !is.canRefresh() {
		return secret, ed, pk, ok
	}
	ctx, cancel := context.WithTimeout(ctx, v.keyWait)
	defer cancel()
	return is.key(ctx, h.alg, h.kid, true)
}

// checkForms checks what depends on the issuer before any key is looked
// up: the header's alg and typ, the forms of the claims, and the jti
// requirement.
func (is *issuer) checkForms(h jose, c *Claims) error {
	switch {
	case !is.allows(h.alg):
		return fmt.Errorf("jwtx: header alg %s not allowed for issuer %s: %w", short(h.alg), is.name, ErrAlgorithmNotAllowed)
	case !is.acceptsType(h.typ):
		return fmt.Errorf("jwtx: header typ %s not accepted for issuer %s: %w", short(h.typ), is.name, ErrWrongType)
	}
	if is.uuidClaims {
		if err := checkOwnForms(c); err != nil {
			return err
		}
	}
	if c.ID == "" && !is.allowNoJTI {
		return fmt.Errorf("jwtx: token has no jti: %w", ErrLegacyToken)
	}
	return nil
}

// checkClaims checks the claim values of a token whose signature verified.
// A token meant for someone else (aud) is reported as such before its
// time window, so a client is not told to refresh a token that can never
// work here. With leeway L (RFC 7519 4.1.4-4.1.6): now must be before
// exp+L, and nbf and iat at most now+L.
func (v *Validator) checkClaims(is *issuer, c *Claims) error {
	t := v.now()
	switch {
	case c.Issuer != is.iss:
		return fmt.Errorf("jwtx: iss is missing or not the expected issuer: %w", ErrWrongIssuer)
	case !slices.Contains(c.Audience, is.aud):
		return fmt.Errorf("jwtx: aud is missing or lacks the expected audience: %w", ErrWrongAudience)
	case !t.Before(c.ExpiresAt.Add(is.leeway)):
		return fmt.Errorf("jwtx: exp is past: %w", ErrExpired)
	case c.NotBefore.After(t.Add(is.leeway)):
		return fmt.Errorf("jwtx: nbf is in the future: %w", ErrNotYetValid)
	case c.IssuedAt.After(t.Add(is.leeway)):
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
	if !v.headerAlgs(h.alg) {
		return jose{}, fmt.Errorf("jwtx: header alg %s not allowed: %w", short(h.alg), ErrAlgorithmNotAllowed)
	}
	return h, nil
}

// maxTypLength bounds the typ header.
const maxTypLength = 64

// checkHeader decodes and checks the JOSE header: alg one this package
// implements, typ a string when present (normalised: lower case, without
// "application/"; the issuer decides which it accepts), kid a non-empty
// string. Keys are only ever looked up by kid: jku, x5u, jwk and x5c are
// ignored.
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
	if !ok || !slices.Contains(supportedAlgs, alg) {
		return jose{}, fmt.Errorf("jwtx: header alg %s not allowed: %w", short(alg), ErrAlgorithmNotAllowed)
	}
	var typ string
	if t, present := h["typ"]; present {
		if typ, ok = rawString(t); !ok || typ == "" || len(typ) > maxTypLength {
			return jose{}, fmt.Errorf("jwtx: header typ is not a short string: %w", ErrWrongType)
		}
		typ = normalType(typ)
	}
	kid, ok := rawString(h["kid"])
	if !ok || kid == "" {
		return jose{}, fmt.Errorf("jwtx: header has no kid: %w", ErrUnknownKey)
	}
	return jose{alg: alg, kid: kid, typ: typ}, nil
}

// short quotes attacker-controlled s for an error message, truncated.
func short(s string) string {
	const n = 24
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

package jwtx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultKeyWait bounds how long one validation waits for a key refresh an
// unknown kid caused (the refresh itself goes on, bounded by its own
// timeout, and later validations find its keys).
const DefaultKeyWait = time.Second

// Issuer configures the tokens of one issuer a Validator accepts: where
// its keys come from, which algorithms and token types it uses, and the
// audience and leeway its tokens are checked against. A Validator takes
// several (Config.Issuers) and chooses by the token's iss, which is read
// before the signature only to choose: a token naming an issuer that is
// not configured is refused without any key lookup or I/O.
//
// Keys come from exactly one of Keys, PublicKeys, Resolver, JWKSURL and
// Discovery; HMACKeys may be added to any of them, or stand alone.
//
//	jwtx.Issuer{
//		Issuer:    "https://kc.example/realms/acme",
//		Audience:  "orders",
//		Discovery: true,            // keys from the issuer's /.well-known/openid-configuration
//		Types:     []string{"JWT"}, // Keycloak does not write at+jwt
//	}
type Issuer struct {
	// Issuer is the iss value, compared exactly: an OIDC issuer such as
	// https://kc.example/realms/acme or https://tenant.auth0.com/ (with
	// its trailing slash). Required.
	Issuer string
	// Audience must be among the token's aud. Required.
	Audience string
	// Name labels the issuer in metrics (jwtx_validations_total{issuer})
	// and logs; default the host of Issuer, or Issuer when it is not a URL.
	Name string

	// Keys are Ed25519 keys held in memory, named by their thumbprint (this
	// project's KeySet).
	Keys *KeySet
	// PublicKeys are keys held in memory, of any supported algorithm
	// (NewPublicKey, ParseJWKSKeys).
	PublicKeys []*PublicKey
	// Resolver looks Ed25519 keys up by kid, as Config.Resolver does. A
	// *RemoteKeySet created with Algorithms serves keys of every algorithm
	// (list them in Algorithms too: a Resolver's default is EdDSA).
	Resolver KeyResolver
	// JWKSURL is the issuer's JWK Set, followed by a RemoteKeySet made
	// with Remote's settings.
	JWKSURL string
	// Discovery finds the JWK Set through the issuer's OpenID Provider
	// metadata (Issuer + "/.well-known/openid-configuration"), whose issuer
	// must be Issuer exactly; fetched, cached and refreshed by a
	// RemoteKeySet with Remote's settings.
	Discovery bool
	// Remote holds the fetch settings of JWKSURL and Discovery (client,
	// timeout, refresh interval, cache ages, AllowInsecureHTTP, logger);
	// its URL, Issuer, Discovery and Algorithms are set from the fields
	// of this Issuer.
	Remote RemoteKeySetConfig
	// HMACKeys, by kid, are shared secrets (at least 32 bytes) for HS256,
	// which is allowed only with them and verified only with them.
	HMACKeys map[string][]byte

	// Algorithms is the allow-list of the header's alg: among EdDSA,
	// RS256, PS256, ES256 and HS256. Default: EdDSA for Keys and
	// Resolver; RS256, PS256, ES256 and EdDSA for PublicKeys, JWKSURL and
	// Discovery; plus HS256 when HMACKeys is
	// set. Whatever the list, a key verifies only the algorithms it is
	// bound to (JWK alg, kty and crv): the token never chooses the key's
	// algorithm.
	Algorithms []string
	// Types are the accepted values of the header's typ, compared without
	// case and with or without "application/"; "" accepts a header without
	// typ. Default at+jwt only (RFC 9068). Issuers that do not write at+jwt
	// need "JWT" (Keycloak, and Auth0 and Okta unless configured for RFC
	// 9068); ID tokens are then told apart only by audience.
	Types []string
	// Leeway is the clock skew tolerated on exp, nbf and iat; default
	// Config.Leeway, a negative value means none.
	Leeway time.Duration
	// AllowNoJTI accepts tokens without jti. They cannot be revoked one by
	// one: only by their session (sid) or their user (a UserTokensRevoked
	// raises the version above their missing ver, which counts as 0).
	AllowNoJTI bool
	// UUIDClaims holds tokens to the forms of this project's auth service:
	// sub, jti and sid canonical UUIDs, ver present with a jti. The Config
	// shorthand (Config.Issuer) sets it. Without it sub, jti and sid may be
	// any string of at most MaxIDLength bytes without control characters,
	// and ver is optional.
	UUIDClaims bool
}

// typedResolver is a key source of every algorithm: *RemoteKeySet.
type typedResolver interface {
	LookupKey(kid string) (*PublicKey, bool)
	LookupKeyRefresh(ctx context.Context, kid string) (*PublicKey, bool)
}

// issuer is one Issuer, checked and ready.
type issuer struct {
	iss, aud, name string
	algs           []string
	types          []string // normalised: lower case, without "application/"
	leeway         time.Duration
	allowNoJTI     bool
	uuidClaims     bool

	ed     KeyResolver           // Ed25519 keys by kid, or nil
	typed  typedResolver         // keys of every algorithm, or nil
	static map[string]*PublicKey // PublicKeys by kid, or nil
	hmac   map[string][]byte     // HS256 secrets by kid, or nil
	remote *RemoteKeySet         // made for JWKSURL or Discovery, or nil
	allows func(alg string) bool // algs membership, cheap
}

// newIssuer checks cfg; leeway is the Config's, used when cfg has none.
func newIssuer(cfg Issuer, leeway time.Duration) (*issuer, error) {
	fail := func(format string, args ...any) (*issuer, error) {
		return nil, fmt.Errorf("jwtx: issuer %q: "+format, append([]any{cfg.Issuer}, args...)...)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwtx: validator needs an issuer and an audience")
	}
	if strings.ContainsRune(cfg.Issuer, 0) {
		return fail("has a NUL byte")
	}
	sources := 0
	for _, set := range []bool{cfg.Keys != nil, len(cfg.PublicKeys) > 0, cfg.Resolver != nil, cfg.JWKSURL != "", cfg.Discovery} {
		if set {
			sources++
		}
	}
	switch {
	case sources > 1:
		return fail("takes one key source (Keys, PublicKeys, Resolver, JWKSURL or Discovery), not %d", sources)
	case sources == 0 && len(cfg.HMACKeys) == 0:
		return nil, errors.New("jwtx: validator needs a key set (Keys, Resolver or HMACKeys)")
	}
	is := &issuer{iss: cfg.Issuer, aud: cfg.Audience, name: issuerName(cfg), allowNoJTI: cfg.AllowNoJTI, uuidClaims: cfg.UUIDClaims, leeway: leeway}
	if cfg.Leeway != 0 {
		is.leeway = max(cfg.Leeway, 0)
	}
	var err error
	if is.hmac, err = copyHMACKeys(cfg.HMACKeys); err != nil {
		return nil, err
	}
	var defaults []string
	switch {
	case cfg.Keys != nil:
		is.ed, defaults = cfg.Keys, []string{AlgEdDSA}
	case cfg.Resolver != nil:
		defaults = []string{AlgEdDSA}
		if r, ok := cfg.Resolver.(typedResolver); ok {
			is.typed = r
		} else {
			is.ed = cfg.Resolver
		}
	case len(cfg.PublicKeys) > 0:
		is.static, defaults = make(map[string]*PublicKey, len(cfg.PublicKeys)), asymmetricAlgs
		for _, k := range cfg.PublicKeys {
			if k == nil {
				return fail("nil PublicKey")
			}
			if _, dup := is.static[k.KeyID()]; dup {
				return fail("two PublicKeys with kid %q", k.KeyID())
			}
			is.static[k.KeyID()] = k
		}
	case cfg.JWKSURL != "" || cfg.Discovery:
		if is.remote, is.typed, err = remoteKeys(cfg); err != nil {
			return fail("%w", err)
		}
		defaults = asymmetricAlgs
	}
	if is.hmac != nil {
		defaults = append(slices.Clone(defaults), AlgHS256)
	}
	is.algs = cmpOr(cfg.Algorithms, defaults)
	for _, alg := range is.algs {
		switch {
		case !slices.Contains(supportedAlgs, alg):
			return fail("algorithm %q is not supported (%s)", alg, strings.Join(supportedAlgs, ", "))
		case alg == AlgHS256 && is.hmac == nil:
			return fail("HS256 needs HMACKeys")
		case alg != AlgHS256 && sources == 0:
			return fail("%s needs a key source besides HMACKeys", alg)
		case alg != AlgHS256 && alg != AlgEdDSA && is.ed != nil:
			return fail("%s needs keys of that type: an Ed25519 key set verifies EdDSA only", alg)
		}
	}
	is.allows = algMembership(is.algs)
	types := cfg.Types
	if len(types) == 0 {
		types = []string{TokenType}
	}
	for _, t := range types {
		is.types = append(is.types, normalType(t))
	}
	return is, nil
}

// supportedAlgs are the algorithms an Issuer may allow; asymmetricAlgs the
// default of key sources of every algorithm.
var (
	supportedAlgs  = []string{AlgEdDSA, AlgRS256, AlgPS256, AlgES256, AlgHS256}
	asymmetricAlgs = []string{AlgRS256, AlgPS256, AlgES256, AlgEdDSA}
)

// algMembership returns a membership test for algs without a loop over
// strings on the hot path.
func algMembership(algs []string) func(string) bool {
	var ed, rs, ps, es, hs bool
	for _, a := range algs {
		switch a {
		case AlgEdDSA:
			ed = true
		case AlgRS256:
			rs = true
		case AlgPS256:
			ps = true
		case AlgES256:
			es = true
		case AlgHS256:
			hs = true
		}
	}
	return func(alg string) bool {
		switch alg {
		case AlgEdDSA:
			return ed
		case AlgRS256:
			return rs
		case AlgPS256:
			return ps
		case AlgES256:
			return es
		case AlgHS256:
			return hs
		}
		return false
	}
}

func cmpOr(a, b []string) []string {
	if len(a) > 0 {
		return a
	}
	return b
}

// normalType is a typ value as compared: lower case, without the
// "application/" prefix RFC 7515 section 4.1.9 allows to omit.
func normalType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// issuerName is cfg.Name, or the host of the issuer URL.
func issuerName(cfg Issuer) string {
	if cfg.Name != "" {
		return cfg.Name
	}
	rest, ok := strings.CutPrefix(cfg.Issuer, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(cfg.Issuer, "http://")
	}
	if host, _, _ := strings.Cut(rest, "/"); ok && host != "" {
		return host
	}
	return cfg.Issuer
}

// acceptsType reports whether typ (normalised; "" when absent) is one of
// the issuer's.
func (is *issuer) acceptsType(typ string) bool { return slices.Contains(is.types, typ) }

// key returns the key that verifies alg under kid: an HMAC secret, an
// Ed25519 key (raw), or a typed key. Without refresh it only looks in
// what the key source holds; with it a KeyRefresher or a typed resolver
// may refresh once (rate-limited) for an unknown kid, waiting at most
// until ctx is done.
func (is *issuer) key(ctx context.Context, alg, kid string, refresh bool) (secret []byte, ed ed25519.PublicKey, pk *PublicKey, ok bool) {
	switch {
	case alg == AlgHS256:
		secret, ok = is.hmac[kid]
	case is.static != nil:
		pk, ok = is.static[kid]
	case is.typed != nil && !refresh:
		pk, ok = is.typed.LookupKey(kid)
	case is.typed != nil:
		pk, ok = is.typed.LookupKeyRefresh(ctx, kid)
	case is.ed != nil && alg == AlgEdDSA:
		if r, isRefresher := is.ed.(KeyRefresher); isRefresher && refresh {
			ed, ok = r.LookupRefresh(ctx, kid)
		} else {
			ed, ok = is.ed.Lookup(kid)
		}
	}
	return secret, ed, pk, ok
}

// canRefresh reports whether the issuer's key source can fetch keys it
// does not hold (for non-HMAC algorithms).
func (is *issuer) canRefresh() bool {
	if is.typed != nil {
		return true
	}
	_, ok := is.ed.(KeyRefresher)
	return ok
}

// stillKey reports whether kid still names, without I/O, the key whose
// identity (Ed25519 bytes, or a typed key's thumbprint) is identity: a
// verified-token cache entry stays valid only while it does.
func (is *issuer) stillKey(alg, kid, identity string) bool {
	switch {
	case alg == AlgHS256:
		return true // HMAC keys are fixed for the life of the Validator
	case is.static != nil:
		pk, ok := is.static[kid]
		return ok && pk.Thumbprint() == identity
	case is.typed != nil:
		pk, ok := is.typed.LookupKey(kid)
		return ok && pk.Thumbprint() == identity
	case is.ed != nil:
		pub, ok := is.ed.Lookup(kid)
		return ok && string(pub) == identity
	}
	return false
}

// loadedReporter is a key source that knows whether it ever loaded keys:
// *RemoteKeySet.
type loadedReporter interface{ Loaded() bool }

// keysLoaded reports whether the issuer's key source holds keys, or could
// (sources in memory always do): a remote set that never fetched one
// makes a token's status unknown rather than its key unknown.
func (is *issuer) keysLoaded() bool {
	for _, src := range []any{is.typed, is.ed} {
		if r, ok := src.(loadedReporter); ok && !r.Loaded() {
			return false
		}
	}
	return true
}

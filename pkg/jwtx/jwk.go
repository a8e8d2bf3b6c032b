package jwtx

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Algorithms of keys from other issuers (the JWS "alg" values, RFC 7518).
const (
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3).
	AlgRS256 = "RS256"
	// AlgPS256 is RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a salt of
	// 32 bytes, the hash size (RFC 7518 section 3.5).
	AlgPS256 = "PS256"
	// AlgES256 is ECDSA on P-256 with SHA-256, the signature being r||s,
	// 32 bytes each (RFC 7518 section 3.4).
	AlgES256 = "ES256"
)

// Bounds of the keys a PublicKey holds and a JWK Set may name.
const (
	minRSABits   = 2048
	maxRSABits   = 8192
	maxRSAExp    = 1<<31 - 1
	maxJWKSKeys  = 100
	maxKIDLength = 256
	p256Size     = 32
)

// publicAlgs are the algorithms ParseJWKSKeys allows by default, in the
// order Algorithms reports them.
var publicAlgs = []string{AlgRS256, AlgPS256, AlgES256, AlgEdDSA}

// privateMembers are the JWK members only a private or symmetric key has
// (RFC 7518 sections 6.2.2, 6.3.2, 6.4.1; RFC 8037 section 2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwkMembers are the registered JWK member names ParseJWKSKeys reads or
// refuses; a member spelled like one of them in another case is refused.
var jwkMembers = append([]string{"kty", "use", "key_ops", "alg", "kid", "n", "e", "crv", "x", "y"}, privateMembers...)

// PublicKey is a verification key bound to the algorithms it may verify,
// so that the algorithm is the key's, never the token's (RFC 8725 section
// 3.1). It holds an Ed25519, RSA (2048 to 8192 bits) or ECDSA P-256 key.
// It is immutable and safe for concurrent use.
type PublicKey struct {
	kid        string
	algs       []string
	ed         ed25519.PublicKey
	rsa        *rsa.PublicKey
	ec         *ecdsa.PublicKey
	sigSize    int
	thumbprint string
}

// NewPublicKey binds key, an ed25519.PublicKey, *rsa.PublicKey or
// *ecdsa.PublicKey, to kid and algs. Every alg must suit the key's type:
// RS256 and PS256 for RSA, ES256 for ECDSA P-256, EdDSA for Ed25519; no
// algs means all of the type's. An RSA modulus must be 2048 to 8192 bits
// and its exponent odd in [3, 2^31-1]; an ECDSA point must be on P-256.
// An empty kid becomes the key's RFC 7638 thumbprint. The key is copied.
func NewPublicKey(kid string, key crypto.PublicKey, algs ...string) (*PublicKey, error) {
	k := &PublicKey{}
	var typeAlgs []string
	switch pub := key.(type) {
	case ed25519.PublicKey:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jwtx: Ed25519 public key of %d bytes", len(pub))
		}
		k.ed, k.sigSize, typeAlgs = slices.Clone(pub), ed25519.SignatureSize, []string{AlgEdDSA}
		k.thumbprint = Thumbprint(pub)
	case *rsa.PublicKey:
		if err := checkRSA(pub); err != nil {
			return nil, err
		}
		k.rsa = &rsa.PublicKey{N: new(big.Int).Set(pub.N), E: pub.E}
		k.sigSize, typeAlgs = pub.Size(), []string{AlgRS256, AlgPS256}
		k.thumbprint = thumbprintOf(`{"e":"` + b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()) +
			`","kty":"RSA","n":"` + b64.EncodeToString(pub.N.Bytes()) + `"}`)
	case *ecdsa.PublicKey:
		ec, err := checkP256(pub)
		if err != nil {
			return nil, err
		}
		point, _ := ec.Bytes() // valid: checkP256 parsed it
		k.ec, k.sigSize, typeAlgs = ec, 2*p256Size, []string{AlgES256}
		k.thumbprint = thumbprintOf(`{"crv":"P-256","kty":"EC","x":"` + b64.EncodeToString(point[1:1+p256Size]) +
			`","y":"` + b64.EncodeToString(point[1+p256Size:]) + `"}`)
	default:
		return nil, fmt.Errorf("jwtx: unsupported public key type %T", key)
	}
	if len(algs) == 0 {
		algs = typeAlgs
	}
	for _, alg := range algs {
		if !slices.Contains(typeAlgs, alg) {
			return nil, fmt.Errorf("jwtx: algorithm %q does not suit a %s key", alg, k.typeName())
		}
		if !slices.Contains(k.algs, alg) {
			k.algs = append(k.algs, alg)
		}
	}
	if len(kid) > maxKIDLength {
		return nil, fmt.Errorf("jwtx: kid of %d bytes, at most %d", len(kid), maxKIDLength)
	}
	k.kid = kid
	if kid == "" {
		k.kid = k.thumbprint
	}
	return k, nil
}

// checkRSA enforces the size and exponent bounds of an RSA public key.
func checkRSA(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil || pub.N.Sign() <= 0 {
		return errors.New("jwtx: RSA public key without a modulus")
	}
	if bits := pub.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return fmt.Errorf("jwtx: RSA key of %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if pub.N.Bit(0) == 0 {
		return errors.New("jwtx: RSA modulus is even")
	}
	if pub.E < 3 || pub.E > maxRSAExp || pub.E%2 == 0 {
		return fmt.Errorf("jwtx: RSA exponent %d, want odd in [3, 2^31-1]", pub.E)
	}
	return nil
}

// checkP256 returns a copy of pub, refusing another curve or a point not
// on P-256.
func checkP256(pub *ecdsa.PublicKey) (*ecdsa.PublicKey, error) {
	if pub == nil || pub.Curve != elliptic.P256() {
		return nil, errors.New("jwtx: ECDSA key not on P-256")
	}
	point, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("jwtx: ECDSA P-256 key: %w", err)
	}
	ec, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("jwtx: ECDSA P-256 key: %w", err)
	}
	return ec, nil
}

func thumbprintOf(canon string) string {
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

func (k *PublicKey) typeName() string {
	switch {
	case k.rsa != nil:
		return "RSA"
	case k.ec != nil:
		return "EC P-256"
	}
	return "Ed25519"
}

// KeyID returns the key's kid.
func (k *PublicKey) KeyID() string { return k.kid }

// Algorithms returns the algorithms the key may verify (a copy).
func (k *PublicKey) Algorithms() []string { return slices.Clone(k.algs) }

// Allows reports whether the key may verify signatures of alg.
func (k *PublicKey) Allows(alg string) bool { return slices.Contains(k.algs, alg) }

// Thumbprint returns the key's RFC 7638 thumbprint (SHA-256, base64url
// without padding), over {"e","kty","n"} for RSA, {"crv","kty","x","y"}
// for EC and {"crv","kty","x"} for OKP.
func (k *PublicKey) Thumbprint() string { return k.thumbprint }

// ed25519Key returns the key when it is an Ed25519 key.
func (k *PublicKey) ed25519Key() (ed25519.PublicKey, bool) { return k.ed, k.ed != nil }

// Verify reports whether sig is a valid alg signature of signingInput
// (the JWS "header.payload"). It is false when the key does not allow alg
// or when sig does not have the size alg has with this key (the modulus
// size for RSA, 64 bytes for ES256 and EdDSA). PS256 requires a salt of
// exactly 32 bytes.
func (k *PublicKey) Verify(alg, signingInput string, sig []byte) bool {
	if !k.Allows(alg) || len(sig) != k.sigSize {
		return false
	}
	switch alg {
	case AlgEdDSA:
		return ed25519.Verify(k.ed, []byte(signingInput), sig)
	case AlgRS256:
		h := sha256.Sum256([]byte(signingInput))
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, h[:], sig) == nil
	case AlgPS256:
		h := sha256.Sum256([]byte(signingInput))
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, h[:], sig, opts) == nil
	case AlgES256:
		h := sha256.Sum256([]byte(signingInput))
		r := new(big.Int).SetBytes(sig[:p256Size])
		s := new(big.Int).SetBytes(sig[p256Size:])
		return ecdsa.Verify(k.ec, h[:], r, s)
	}
	return false
}

// ParseJWKSKeys parses the JWK Set of another issuer (RFC 7517) into
// verification keys. algs is the issuer's allow-list (empty: RS256,
// PS256, ES256 and EdDSA); HS256 and none can never come from a JWKS.
//
// The whole set is refused when it is larger than 1 MiB, not strict JSON
// (valid UTF-8, no duplicate member names, bounded depth), holds more
// than 100 keys, when any key has a private member (d, p, q, dp, dq, qi,
// oth, k), when a member is spelled like a registered one in another case,
// or when two usable keys share a kid. A key is skipped, and counted in
// the error if no key is left, when: its kty is not RSA, EC or OKP (oct
// secrets never come from a JWKS); its EC curve is not P-256 or its OKP
// curve not Ed25519; its material is malformed (base64url without
// padding; RSA n and e big-endian, leading zero octets tolerated; EC x
// and y exactly 32 bytes, on the curve; OKP x 32 bytes); an RSA modulus is
// under 2048 or over 8192 bits or its exponent not odd in [3, 2^31-1];
// use is present and not "sig"; key_ops is present without "verify"; kid
// is missing, empty or over 256 bytes; alg is present and not both one of
// the key type's and in algs; or no alg of its type is in algs. A key
// without alg allows every allowed algorithm of its type. x5c, x5t, x5u
// and jku are ignored, never fetched.
func ParseJWKSKeys(data []byte, algs ...string) ([]*PublicKey, error) {
	keys, _, err := parseJWKSKeys(data, algs)
	return keys, err
}

// skipCounts counts skipped keys by reason, in order of first appearance.
type skipCounts struct {
	order []string
	n     map[string]int
	total int
}

func (c *skipCounts) add(reason string) {
	if c.n == nil {
		c.n = make(map[string]int)
	}
	if c.n[reason] == 0 {
		c.order = append(c.order, reason)
	}
	c.n[reason]++
	c.total++
}

// String reads like "3 keys skipped: 1 RSA key of 1024 bits, 2 keys with
// use enc"; "" when nothing was skipped. A reason is a phrase around
// "key", such as "RSA key of 1024 bits".
func (c *skipCounts) String() string {
	if c.total == 0 {
		return ""
	}
	parts := make([]string, 0, len(c.order))
	for _, r := range c.order {
		n := c.n[r]
		if n != 1 {
			r = strings.Replace(r, "key", "keys", 1)
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	return fmt.Sprintf("%d %s skipped: %s", c.total, plural(c.total, "key"), strings.Join(parts, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// parseJWKSKeys is ParseJWKSKeys, also returning what it skipped.
func parseJWKSKeys(data []byte, algs []string) ([]*PublicKey, *skipCounts, error) {
	allowed, err := allowList(algs)
	if err != nil {
		return nil, nil, err
	}
	raws, err := decodeJWKS(data)
	if err != nil {
		return nil, nil, err
	}
	skipped := &skipCounts{}
	var keys []*PublicKey
	kids := make(map[string]bool, len(raws))
	for i, m := range raws {
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				return nil, nil, fmt.Errorf("jwtx: JWKS key %d has the private member %q; set refused", i, p)
			}
		}
		k, reason := parseJWKKey(m, allowed)
		if k == nil {
			skipped.add(reason)
			continue
		}
		if kids[k.kid] {
			return nil, nil, fmt.Errorf("jwtx: JWKS has two keys with kid %s; set refused as ambiguous", short(k.kid))
		}
		kids[k.kid] = true
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		if skipped.total == 0 {
			return nil, nil, errors.New("jwtx: JWKS has no key")
		}
		return nil, nil, fmt.Errorf("jwtx: JWKS has no usable key: %s", skipped)
	}
	return keys, skipped, nil
}

// allowList checks an issuer's algorithm allow-list.
func allowList(algs []string) ([]string, error) {
	if len(algs) == 0 {
		return publicAlgs, nil
	}
	for _, a := range algs {
		if !slices.Contains(publicAlgs, a) {
			return nil, fmt.Errorf("jwtx: algorithm %q cannot be used with a JWKS key", a)
		}
	}
	return algs, nil
}

// decodeJWKS checks the size and JSON of a JWK Set and returns its keys'
// members.
func decodeJWKS(data []byte) ([]map[string]json.RawMessage, error) {
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("jwtx: JWKS larger than %d bytes", maxJWKSSize)
	}
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS: %w", err)
	}
	if err := checkNames(top, "keys"); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS: %w", err)
	}
	raw := bytes.TrimSpace(top["keys"])
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("jwtx: JWKS has no \"keys\" array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS keys: %w", err)
	}
	if len(items) > maxJWKSKeys {
		return nil, fmt.Errorf("jwtx: JWKS has %d keys, at most %d", len(items), maxJWKSKeys)
	}
	out := make([]map[string]json.RawMessage, len(items))
	for i, item := range items {
		item = bytes.TrimSpace(item)
		if len(item) == 0 || item[0] != '{' {
			return nil, fmt.Errorf("jwtx: JWKS key %d is not a JSON object", i)
		}
		if err := json.Unmarshal(item, &out[i]); err != nil {
			return nil, fmt.Errorf("jwtx: JWKS key %d: %w", i, err)
		}
		if err := checkNames(out[i], jwkMembers...); err != nil {
			return nil, fmt.Errorf("jwtx: JWKS key %d: %w", i, err)
		}
	}
	return out, nil
}

// parseJWKKey returns the usable key m describes, or nil and why it was
// skipped (a phrase around "key", see skipCounts).
func parseJWKKey(m map[string]json.RawMessage, allowed []string) (*PublicKey, string) {
	kty, ok := stringMember(m, "kty")
	if !ok {
		return nil, "key without kty"
	}
	var typeAlgs []string
	switch kty {
	case "RSA":
		typeAlgs = []string{AlgRS256, AlgPS256}
	case "EC":
		typeAlgs = []string{AlgES256}
	case "OKP":
		typeAlgs = []string{AlgEdDSA}
	default:
		return nil, fmt.Sprintf("key of kty %s", shortMember(kty))
	}
	if raw, ok := m["use"]; ok {
		use, ok := rawString(raw)
		if !ok || use != "sig" {
			return nil, fmt.Sprintf("key with use %s", shortMember(use))
		}
	}
	if raw, ok := m["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil || !slices.Contains(ops, "verify") {
			return nil, "key with key_ops without verify"
		}
	}
	kid, ok := stringMember(m, "kid")
	switch {
	case !ok || kid == "":
		return nil, "key without kid"
	case len(kid) > maxKIDLength:
		return nil, fmt.Sprintf("key with a kid over %d bytes", maxKIDLength)
	}
	algs, reason := keyAlgs(m, kty, typeAlgs, allowed)
	if algs == nil {
		return nil, reason
	}
	var pub crypto.PublicKey
	switch kty {
	case "RSA":
		pub, reason = rsaMaterial(m)
	case "EC":
		pub, reason = ecMaterial(m)
	default:
		pub, reason = okpMaterial(m)
	}
	if pub == nil {
		return nil, reason
	}
	k, err := NewPublicKey(kid, pub, algs...)
	if err != nil {
		return nil, kty + " key refused"
	}
	return k, ""
}

// keyAlgs returns the algorithms a key of kty may verify: its alg if it
// has one that suits the type and is allowed, else the type's allowed
// algorithms.
func keyAlgs(m map[string]json.RawMessage, kty string, typeAlgs, allowed []string) ([]string, string) {
	if raw, ok := m["alg"]; ok {
		alg, ok := rawString(raw)
		switch {
		case !ok:
			return nil, kty + " key with a malformed alg"
		case !slices.Contains(typeAlgs, alg):
			return nil, fmt.Sprintf("%s key with alg %s", kty, shortMember(alg))
		case !slices.Contains(allowed, alg):
			return nil, fmt.Sprintf("%s key with alg %s not allowed", kty, alg)
		}
		return []string{alg}, ""
	}
	var algs []string
	for _, a := range typeAlgs {
		if slices.Contains(allowed, a) {
			algs = append(algs, a)
		}
	}
	if algs == nil {
		return nil, kty + " key with no allowed algorithm"
	}
	return algs, ""
}

func rsaMaterial(m map[string]json.RawMessage) (crypto.PublicKey, string) {
	n, okN := bytesMember(m, "n")
	e, okE := bytesMember(m, "e")
	if !okN || !okE {
		return nil, "RSA key with malformed n or e"
	}
	modulus := new(big.Int).SetBytes(n)
	if bits := modulus.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Sprintf("RSA key of %d bits", bits)
	}
	e = bytes.TrimLeft(e, "\x00")
	if len(e) == 0 || len(e) > 4 {
		return nil, "RSA key with a bad exponent"
	}
	exp := new(big.Int).SetBytes(e).Int64()
	if exp < 3 || exp > maxRSAExp || exp%2 == 0 {
		return nil, "RSA key with a bad exponent"
	}
	return &rsa.PublicKey{N: modulus, E: int(exp)}, ""
}

func ecMaterial(m map[string]json.RawMessage) (crypto.PublicKey, string) {
	crv, _ := stringMember(m, "crv")
	if crv != "P-256" {
		return nil, fmt.Sprintf("EC key on curve %s", shortMember(crv))
	}
	x, okX := bytesMember(m, "x")
	y, okY := bytesMember(m, "y")
	if !okX || !okY || len(x) != p256Size || len(y) != p256Size {
		return nil, "EC key with malformed x or y"
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, "EC key not on the curve"
	}
	return pub, ""
}

func okpMaterial(m map[string]json.RawMessage) (crypto.PublicKey, string) {
	crv, _ := stringMember(m, "crv")
	if crv != "Ed25519" {
		return nil, fmt.Sprintf("OKP key on curve %s", shortMember(crv))
	}
	x, ok := bytesMember(m, "x")
	if !ok || len(x) != ed25519.PublicKeySize {
		return nil, "OKP key with malformed x"
	}
	return ed25519.PublicKey(x), ""
}

// stringMember returns the string member name of m; ok is false when it
// is absent or not a string.
func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok {
		return "", false
	}
	return rawString(raw)
}

// bytesMember decodes the base64url (unpadded) string member name of m.
func bytesMember(m map[string]json.RawMessage, name string) ([]byte, bool) {
	s, ok := stringMember(m, name)
	if !ok || s == "" {
		return nil, false
	}
	b, err := b64.DecodeString(s)
	return b, err == nil
}

// shortMember quotes a member value from a JWKS for a skip reason,
// truncated, so that reasons stay few and short.
func shortMember(s string) string {
	const n = 16
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

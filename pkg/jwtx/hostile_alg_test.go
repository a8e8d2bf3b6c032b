package jwtx_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// foreignKeys are an RSA and an ECDSA key, generated once: RSA is slow.
var foreignKeys = sync.OnceValues(func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return rk, ek
})

// unsigned returns the token header.payload.sig with sig as given.
func unsigned(hdr, payload string, sig []byte) string {
	return enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(sig)
}

// macToken signs with HMAC(h) using secret: the key-confusion attack.
func macToken(h func() hash.Hash, hdr, payload string, secret []byte) string {
	input := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(h, secret)
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// foreignToken signs our header (with alg replaced) and payload with a
// foreign algorithm and key, through golang-jwt.
func foreignToken(t testing.TB, m jwt.SigningMethod, key any, hdr, payload string) string {
	t.Helper()
	input := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(payload))
	sig, err := m.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

// noneCasings returns the 16 case variants of "none".
func noneCasings() []string {
	out := make([]string, 0, 16)
	for mask := range 16 {
		b := []byte("none")
		for i := range b {
			if mask&(1<<i) != 0 {
				b[i] -= 'a' - 'A'
			}
		}
		out = append(out, string(b))
	}
	return out
}

// algorithmCases: RFC 8725 sections 2.1, 3.1 and 3.2.
func (f *hostileFixture) algorithmCases(t testing.TB) []hostileCase {
	t.Helper()
	pl := f.claims(nil)
	pub := f.k.Signer.PublicKey()
	var cases []hostileCase
	for _, none := range noneCasings() {
		cases = append(cases, hostileCase{
			name: "AlgNone/" + none, token: unsigned(f.header(map[string]any{"alg": none}), pl, nil), want: jwtx.ErrAlgorithmNotAllowed,
			reason: fmt.Sprintf("alg %q, empty signature: an unsecured JWS (RFC 7515 A.5); libraries comparing alg case-insensitively accepted it", none),
		})
	}
	cases = append(cases, hostileCase{
		name: "AlgNoneSignedByUs", token: f.k.SignRaw(f.header(map[string]any{"alg": "none"}), pl), want: jwtx.ErrAlgorithmNotAllowed,
		reason: "alg none carrying a genuine signature: the alg member, not the signature's presence, decides; none is never on the list",
	})

	// Key confusion: HMAC keyed with our public key, in every form an
	// attacker can find it (RFC 8725 2.1, 3.1, 3.2).
	jwkJSON, jwksJSON := publicJWK(t, f)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for _, m := range []struct {
		alg  string
		hash func() hash.Hash
	}{{"HS256", sha256.New}, {"HS384", sha512.New384}, {"HS512", sha512.New}} {
		hdr := f.header(map[string]any{"alg": m.alg})
		for _, s := range []struct {
			form   string
			secret []byte
		}{
			{"RawPublicKey", pub},
			{"Base64urlPublicKey", []byte(enc.EncodeToString(pub))},
			{"Base64StdPublicKey", []byte(base64.StdEncoding.EncodeToString(pub))},
			{"JWK", jwkJSON},
			{"JWKS", jwksJSON},
			{"PEM", pemKey},
		} {
			cases = append(cases, hostileCase{
				name: m.alg + "Keyed/" + s.form, token: macToken(m.hash, hdr, pl, s.secret), want: jwtx.ErrAlgorithmNotAllowed,
				reason: fmt.Sprintf("%s MAC keyed with our public key as %s: a validator that lets the token pick the algorithm verifies it with the public key as an HMAC secret", m.alg, s.form),
			})
		}
	}

	// Algorithms off the allow-list, genuinely signed, under our kid.
	rk, ek := foreignKeys()
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodPS256, jwt.SigningMethodES256} {
		key := any(rk)
		if m == jwt.SigningMethodES256 {
			key = ek
		}
		cases = append(cases, hostileCase{
			name: "AlgOffList/" + m.Alg(), token: foreignToken(t, m, key, f.header(map[string]any{"alg": m.Alg()}), pl), want: jwtx.ErrAlgorithmNotAllowed,
			reason: m.Alg() + " validly signed by a key of that type under our kid: only EdDSA is allowed, whatever key the kid names",
		})
	}
	cases = append(cases, hostileCase{
		name: "AlgOffList/RS256JunkSignature", token: unsigned(f.header(map[string]any{"alg": "RS256"}), pl, make([]byte, 256)), want: jwtx.ErrAlgorithmNotAllowed,
		reason: "RS256 with a junk signature: refused before any key is used",
	})

	// EdDSA look-alikes, each genuinely signed with our key: the name must
	// match exactly, or a registry keyed loosely might pick another verifier.
	for _, alg := range []string{"eddsa", "EDDSA", "Eddsa", "Ed25519", "ED25519", "Ed448", "EdDSA ", " EdDSA", "EdDSA\x00", "\u0415dDSA", "EdDSA\u200b", "ＥdDSA"} {
		cases = append(cases, hostileCase{
			name: fmt.Sprintf("AlgLookalike/%q", alg), token: f.k.SignRaw(f.header(map[string]any{"alg": alg}), pl), want: jwtx.ErrAlgorithmNotAllowed,
			reason: fmt.Sprintf("alg %q looks like EdDSA (case, space, NUL, Cyrillic, zero-width, full-width): exact match only", alg),
		})
	}
	for _, a := range []struct {
		name string
		alg  any
	}{{"Missing", nil}, {"Empty", ""}, {"Number", 8}, {"Array", []string{"EdDSA"}}, {"Object", map[string]string{"name": "EdDSA"}}, {"Bool", true}} {
		cases = append(cases, hostileCase{
			name: "Alg" + a.name, token: f.k.SignRaw(f.header(map[string]any{"alg": a.alg}), pl), want: jwtx.ErrAlgorithmNotAllowed,
			reason: "alg missing or not a string (" + a.name + "), genuinely signed: a parser defaulting or coercing it must not get a say",
		})
	}
	return cases
}

// publicJWK returns our key as the JWK object and as the JWK Set the
// issuer serves, the exact bytes an attacker downloads.
func publicJWK(t testing.TB, f *hostileFixture) (jwk, set []byte) {
	t.Helper()
	set, err := f.k.Keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil || len(doc.Keys) != 1 {
		t.Fatalf("JWKS %s: %v", set, err)
	}
	return doc.Keys[0], set
}

// signatureCases: RFC 8725 sections 2.1, 3.3 and 3.4.
func (f *hostileFixture) signatureCases() []hostileCase {
	good := f.token(nil, nil)
	input := good[:strings.LastIndexByte(good, '.')]
	sig, err := enc.DecodeString(good[len(input)+1:])
	if err != nil {
		panic(err)
	}
	with := func(s []byte) string { return input + "." + enc.EncodeToString(s) }
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 0x01
	other := f.token(nil, map[string]any{"ver": 9}) // our signature over another payload
	otherSig := other[strings.LastIndexByte(other, '.')+1:]
	foreign := f.attacker.SignRaw(f.header(nil), f.claims(nil))
	return []hostileCase{
		{name: "SignatureEmpty", token: input + ".", want: jwtx.ErrBadSignature,
			reason: "null signature: header.payload. with nothing after the dot, the shape of alg none; must not verify"},
		{name: "SignatureZeros", token: with(make([]byte, ed25519.SignatureSize)), want: jwtx.ErrBadSignature,
			reason: "64 zero bytes: the right length, all zero"},
		{name: "SignatureTruncated32", token: with(sig[:32]), want: jwtx.ErrBadSignature,
			reason: "first half of a valid signature (R only): a verifier comparing a prefix would accept"},
		{name: "SignatureTruncated63", token: with(sig[:63]), want: jwtx.ErrBadSignature,
			reason: "valid signature less its last byte"},
		{name: "SignatureTruncatedText", token: good[:len(good)-1], want: jwtx.ErrMalformedToken,
			reason: "last base64 character cut: the segment is no longer valid base64url (86 characters expected)"},
		{name: "SignatureExtended", token: with(append(append([]byte(nil), sig...), 0)), want: jwtx.ErrBadSignature,
			reason: "valid signature plus a trailing byte: must not be ignored"},
		{name: "SignatureDoubled", token: with(append(append([]byte(nil), sig...), sig...)), want: jwtx.ErrBadSignature,
			reason: "valid signature repeated twice"},
		{name: "SignatureBitFlipped", token: with(flipped), want: jwtx.ErrBadSignature,
			reason: "one bit of a valid signature flipped"},
		{name: "SignatureMalleated", token: with(malleate(sig)), want: jwtx.ErrBadSignature,
			reason: "S replaced by S+L (RFC 8032 5.1.7): verifies on a non-checking Ed25519; a second string for the same token breaks jti-keyed and token-keyed caches"},
		{name: "SignatureOfOtherPayload", token: input + "." + otherSig, want: jwtx.ErrBadSignature,
			reason: "our genuine signature of another token, transplanted (payload substitution)"},
		{name: "SignatureForeignKeyOurKid", token: foreign, want: jwtx.ErrBadSignature,
			reason: "valid Ed25519 signature by the attacker's key under our kid: the kid selects our key, which does not verify it"},
		{name: "SignaturePublicKeyBytes", token: with(append(append([]byte(nil), f.k.Signer.PublicKey()...), f.k.Signer.PublicKey()...)), want: jwtx.ErrBadSignature,
			reason: "our public key, twice, as a 64-byte signature"},
	}
}

// malleate returns sig with S replaced by S+L, where L is the order of the
// Ed25519 base point.
func malleate(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte { // little-endian <-> big-endian
		r := make([]byte, len(b))
		for i := range b {
			r[len(b)-1-i] = b[i]
		}
		return r
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l)
	buf := make([]byte, 32)
	s.FillBytes(buf)
	return append(append([]byte(nil), sig[:32]...), le(buf)...)
}

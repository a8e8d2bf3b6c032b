package jwtx_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

var jwkB64 = base64.RawURLEncoding

// Keys are generated once per test binary: RSA generation is slow under
// the race detector.
var (
	rsaKeyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })
	rsaSmall   = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 1024) })
	ecKeyOnce  = sync.OnceValues(func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) })
	edKeyOnce  = sync.OnceValues(func() (ed25519.PrivateKey, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	})
)

// jwkOK returns v, failing the test on err: jwkOK(f())(t).
func jwkOK[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func testRSAKey(tb testing.TB) *rsa.PrivateKey   { tb.Helper(); return jwkOK(rsaKeyOnce())(tb) }
func testRSA1024(tb testing.TB) *rsa.PrivateKey  { tb.Helper(); return jwkOK(rsaSmall())(tb) }
func testECKey(tb testing.TB) *ecdsa.PrivateKey  { tb.Helper(); return jwkOK(ecKeyOnce())(tb) }
func testEdKey(tb testing.TB) ed25519.PrivateKey { tb.Helper(); return jwkOK(edKeyOnce())(tb) }

// jwkSign signs input with alg the way an issuer would, with the
// standard library only.
func jwkSign(tb testing.TB, alg string, key crypto.Signer, input string) []byte {
	tb.Helper()
	h := sha256.Sum256([]byte(input))
	switch alg {
	case jwtx.AlgRS256:
		return jwkOK(rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:]))(tb)
	case jwtx.AlgPS256:
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
		return jwkOK(rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:], opts))(tb)
	case jwtx.AlgES256:
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			tb.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case jwtx.AlgEdDSA:
		return ed25519.Sign(key.(ed25519.PrivateKey), []byte(input))
	}
	tb.Fatalf("sign: unknown alg %s", alg)
	return nil
}

func jwkNewKey(tb testing.TB, kid string, pub crypto.PublicKey, algs ...string) *jwtx.PublicKey {
	tb.Helper()
	k, err := jwtx.NewPublicKey(kid, pub, algs...)
	if err != nil {
		tb.Fatalf("NewPublicKey(%T, %v): %v", pub, algs, err)
	}
	return k
}

const jwkInput = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"

func TestPublicKeyVerify(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	cases := []struct {
		alg  string
		priv crypto.Signer
	}{
		{jwtx.AlgRS256, rk},
		{jwtx.AlgPS256, rk},
		{jwtx.AlgES256, ek},
		{jwtx.AlgEdDSA, dk},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			k := jwkNewKey(t, "k1", c.priv.Public(), c.alg)
			sig := jwkSign(t, c.alg, c.priv, jwkInput)
			if !k.Verify(c.alg, jwkInput, sig) {
				t.Fatal("valid signature refused")
			}
			if k.Verify(c.alg, jwkInput+"x", sig) {
				t.Error("signature accepted for another jwkInput")
			}
			bad := slices.Clone(sig)
			bad[len(bad)/2] ^= 1
			if k.Verify(c.alg, jwkInput, bad) {
				t.Error("altered signature accepted")
			}
			if k.Verify(c.alg, jwkInput, sig[:len(sig)-1]) {
				t.Error("short signature accepted")
			}
			if k.Verify(c.alg, jwkInput, append(slices.Clone(sig), 0)) {
				t.Error("long signature accepted")
			}
			for _, alg := range []string{"none", "", jwtx.AlgHS256, "rs256"} {
				if k.Verify(alg, jwkInput, sig) {
					t.Errorf("Verify with alg %q accepted", alg)
				}
			}
			other := jwkNewKey(t, "k2", jwkOtherPublic(t, c.alg), c.alg)
			if other.Verify(c.alg, jwkInput, sig) {
				t.Error("signature accepted by another key")
			}
		})
	}
}

// otherPublic returns a fresh public key of alg's type.
func jwkOtherPublic(t *testing.T, alg string) crypto.PublicKey {
	t.Helper()
	switch alg {
	case jwtx.AlgRS256, jwtx.AlgPS256:
		// Same modulus size, different key: flip the exponent instead of
		// generating another 2048-bit key.
		pub := testRSAKey(t).PublicKey
		return &rsa.PublicKey{N: pub.N, E: 3}
	case jwtx.AlgES256:
		return jwkOK(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t).Public()
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestPublicKeyVerify_CrossAlgorithm(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	rs := jwkSign(t, jwtx.AlgRS256, rk, jwkInput)
	ps := jwkSign(t, jwtx.AlgPS256, rk, jwkInput)
	es := jwkSign(t, jwtx.AlgES256, ek, jwkInput)
	ed := jwkSign(t, jwtx.AlgEdDSA, dk, jwkInput)

	t.Run("RS256SignatureAsPS256OnRS256Key", func(t *testing.T) {
		k := jwkNewKey(t, "r", rk.Public(), jwtx.AlgRS256)
		if k.Verify(jwtx.AlgPS256, jwkInput, rs) || k.Verify(jwtx.AlgPS256, jwkInput, ps) {
			t.Error("PS256 accepted by a key bound to RS256")
		}
		if !k.Verify(jwtx.AlgRS256, jwkInput, rs) {
			t.Error("RS256 refused")
		}
	})
	t.Run("PS256SignatureAsRS256OnPS256Key", func(t *testing.T) {
		k := jwkNewKey(t, "p", rk.Public(), jwtx.AlgPS256)
		if k.Verify(jwtx.AlgRS256, jwkInput, rs) || k.Verify(jwtx.AlgRS256, jwkInput, ps) {
			t.Error("RS256 accepted by a key bound to PS256")
		}
	})
	t.Run("BothRSASchemesEachOnlyItsOwn", func(t *testing.T) {
		k := jwkNewKey(t, "rp", rk.Public())
		if got := k.Algorithms(); !slices.Equal(got, []string{jwtx.AlgRS256, jwtx.AlgPS256}) {
			t.Fatalf("Algorithms = %v", got)
		}
		if !k.Verify(jwtx.AlgRS256, jwkInput, rs) || !k.Verify(jwtx.AlgPS256, jwkInput, ps) {
			t.Fatal("own scheme refused")
		}
		if k.Verify(jwtx.AlgPS256, jwkInput, rs) {
			t.Error("RS256 signature verified as PS256")
		}
		if k.Verify(jwtx.AlgRS256, jwkInput, ps) {
			t.Error("PS256 signature verified as RS256")
		}
	})
	t.Run("PS256SaltIsTheHashSize", func(t *testing.T) {
		k := jwkNewKey(t, "p", rk.Public(), jwtx.AlgPS256)
		for _, salt := range []int{0, 20, 64, rsa.PSSSaltLengthAuto} {
			opts := &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256}
			sig := jwkOK(rsa.SignPSS(rand.Reader, rk, crypto.SHA256, jwkSHA256(jwkInput), opts))(t)
			if k.Verify(jwtx.AlgPS256, jwkInput, sig) {
				t.Errorf("PS256 signature with salt length %d accepted", salt)
			}
		}
	})
	t.Run("ES256WrongSizes", func(t *testing.T) {
		k := jwkNewKey(t, "e", ek.Public())
		if !k.Verify(jwtx.AlgES256, jwkInput, es) {
			t.Fatal("ES256 refused")
		}
		if k.Verify(jwtx.AlgES256, jwkInput, es[:63]) {
			t.Error("63-byte ES256 signature accepted")
		}
		if k.Verify(jwtx.AlgES256, jwkInput, append([]byte{0}, es...)) {
			t.Error("65-byte ES256 signature accepted")
		}
		// r || 0x00 || s: the right r and, read as a number, the right s.
		padded := append(append(slices.Clone(es[:32]), 0), es[32:]...)
		if k.Verify(jwtx.AlgES256, jwkInput, padded) {
			t.Error("ES256 signature with s padded to 33 bytes accepted")
		}
		der := jwkOK(ecdsa.SignASN1(rand.Reader, ek, jwkSHA256(jwkInput)))(t)
		if k.Verify(jwtx.AlgES256, jwkInput, der) {
			t.Error("ASN.1 ES256 signature accepted")
		}
		if k.Verify(jwtx.AlgES256, jwkInput, make([]byte, 64)) {
			t.Error("zero r, s accepted")
		}
	})
	t.Run("Ed25519SignatureAsES256", func(t *testing.T) {
		e := jwkNewKey(t, "e", ek.Public())
		d := jwkNewKey(t, "d", dk.Public())
		if e.Verify(jwtx.AlgES256, jwkInput, ed) {
			t.Error("Ed25519 signature accepted by an ES256 key")
		}
		if d.Verify(jwtx.AlgES256, jwkInput, ed) || d.Verify(jwtx.AlgEdDSA, jwkInput, es) {
			t.Error("cross-algorithm signature accepted by the Ed25519 key")
		}
	})
	t.Run("RSAKeyRefusesOtherTypes", func(t *testing.T) {
		k := jwkNewKey(t, "r", rk.Public())
		for _, alg := range []string{jwtx.AlgES256, jwtx.AlgEdDSA, jwtx.AlgHS256, "none"} {
			if k.Verify(alg, jwkInput, rs) || k.Allows(alg) {
				t.Errorf("RSA key verified alg %s", alg)
			}
		}
	})
}

func jwkSHA256(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestNewPublicKey(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	p384 := jwkOK(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))(t)
	n := rk.N
	//nolint:staticcheck // building an invalid key on purpose needs the raw coordinates
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Set(ek.X), Y: new(big.Int).Add(ek.Y, big.NewInt(1))}
	bad := []struct {
		name string
		key  crypto.PublicKey
		algs []string
	}{
		{"RSA1024", testRSA1024(t).Public(), nil},
		{"RSAEvenExponent", &rsa.PublicKey{N: n, E: 65536}, nil},
		{"RSAExponent1", &rsa.PublicKey{N: n, E: 1}, nil},
		{"RSAExponentTooLarge", &rsa.PublicKey{N: n, E: 1<<31 + 1}, nil},
		{"RSAEvenModulus", &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 2048), E: 65537}, nil},
		{"RSAOver8192", &rsa.PublicKey{N: new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 8193), big.NewInt(1)), E: 65537}, nil},
		{"RSANilModulus", &rsa.PublicKey{E: 65537}, nil},
		{"RSAWithES256", rk.Public(), []string{jwtx.AlgES256}},
		{"RSAWithHS256", rk.Public(), []string{jwtx.AlgHS256}},
		{"RSAWithNone", rk.Public(), []string{"none"}},
		{"ECWithRS256", ek.Public(), []string{jwtx.AlgRS256}},
		{"ECP384", p384.Public(), nil},
		{"ECOffCurve", offCurve, nil},
		{"EdWithES256", dk.Public(), []string{jwtx.AlgES256}},
		{"EdShort", ed25519.PublicKey(make([]byte, 31)), nil},
		{"EdPointer", new(ed25519.PublicKey), nil},
		{"PrivateKey", dk, nil},
		{"HMACSecret", []byte("0123456789abcdef0123456789abcdef"), nil},
		{"Nil", nil, nil},
	}
	for _, c := range bad {
		t.Run("Err"+c.name, func(t *testing.T) {
			if k, err := jwtx.NewPublicKey("kid", c.key, c.algs...); err == nil {
				t.Fatalf("accepted, algorithms %v", k.Algorithms())
			}
		})
	}
	if _, err := jwtx.NewPublicKey(strings.Repeat("k", 257), dk.Public()); err == nil {
		t.Error("kid of 257 bytes accepted")
	}

	t.Run("OKDefaults", func(t *testing.T) {
		for _, c := range []struct {
			key  crypto.PublicKey
			want []string
		}{
			{rk.Public(), []string{jwtx.AlgRS256, jwtx.AlgPS256}},
			{ek.Public(), []string{jwtx.AlgES256}},
			{dk.Public(), []string{jwtx.AlgEdDSA}},
		} {
			k := jwkNewKey(t, "", c.key)
			if got := k.Algorithms(); !slices.Equal(got, c.want) {
				t.Errorf("%T: Algorithms = %v, want %v", c.key, got, c.want)
			}
			if k.KeyID() != k.Thumbprint() || k.KeyID() == "" {
				t.Errorf("%T: empty kid gave %q, thumbprint %q", c.key, k.KeyID(), k.Thumbprint())
			}
		}
	})
	t.Run("OKAlgorithmsDeduplicatedAndCopied", func(t *testing.T) {
		k := jwkNewKey(t, "r", rk.Public(), jwtx.AlgPS256, jwtx.AlgPS256)
		got := k.Algorithms()
		if !slices.Equal(got, []string{jwtx.AlgPS256}) {
			t.Fatalf("Algorithms = %v", got)
		}
		got[0] = jwtx.AlgRS256
		if k.Allows(jwtx.AlgRS256) {
			t.Error("Algorithms returned the key's own slice")
		}
	})
	t.Run("OKKeyCopied", func(t *testing.T) {
		pub := slices.Clone(dk.Public().(ed25519.PublicKey))
		k := jwkNewKey(t, "d", pub)
		sig := jwkSign(t, jwtx.AlgEdDSA, dk, jwkInput)
		pub[0] ^= 1
		if !k.Verify(jwtx.AlgEdDSA, jwkInput, sig) {
			t.Error("changing the caller's slice changed the key")
		}
	})
}

func TestPublicKeyThumbprint(t *testing.T) {
	t.Run("RFC7638RSA", func(t *testing.T) {
		// RFC 7638 section 3.1.
		n := "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		k := jwkNewKey(t, "2011-04-29", &rsa.PublicKey{N: new(big.Int).SetBytes(jwkOK(jwkB64.DecodeString(n))(t)), E: 65537})
		if got, want := k.Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
			t.Errorf("Thumbprint = %s, want %s", got, want)
		}
		if k.KeyID() != "2011-04-29" {
			t.Errorf("KeyID = %s", k.KeyID())
		}
	})
	t.Run("RFC8037OKP", func(t *testing.T) {
		// RFC 8037 appendix A.3.
		x := jwkOK(jwkB64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))(t)
		if got, want := jwkNewKey(t, "", ed25519.PublicKey(x)).Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
			t.Errorf("Thumbprint = %s, want %s", got, want)
		}
	})
	t.Run("EC", func(t *testing.T) {
		ek := testECKey(t)
		point := jwkOK(ek.PublicKey.Bytes())(t)
		canon, err := json.Marshal(map[string]string{"crv": "P-256", "kty": "EC", "x": jwkB64.EncodeToString(point[1:33]), "y": jwkB64.EncodeToString(point[33:])})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(canon) // encoding/json sorts map keys
		if got, want := jwkNewKey(t, "", ek.Public()).Thumbprint(), jwkB64.EncodeToString(sum[:]); got != want {
			t.Errorf("Thumbprint = %s, want %s", got, want)
		}
	})
}

func BenchmarkPublicKeyVerify(b *testing.B) {
	rk, ek, dk := testRSAKey(b), testECKey(b), testEdKey(b)
	for _, c := range []struct {
		alg  string
		priv crypto.Signer
	}{
		{jwtx.AlgRS256, rk}, {jwtx.AlgPS256, rk}, {jwtx.AlgES256, ek}, {jwtx.AlgEdDSA, dk},
	} {
		b.Run(c.alg, func(b *testing.B) {
			k := jwkNewKey(b, "k", c.priv.Public(), c.alg)
			sig := jwkSign(b, c.alg, c.priv, jwkInput)
			b.ReportAllocs()
			for b.Loop() {
				if !k.Verify(c.alg, jwkInput, sig) {
					b.Fatal("refused")
				}
			}
		})
	}
}

// jwkMap is one JWK as a test builds it.
type jwkMap map[string]any

// jwkOf returns the public JWK of pub with kid (no alg, no use).
func jwkOf(tb testing.TB, kid string, pub crypto.PublicKey) jwkMap {
	tb.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwkMap{"kty": "RSA", "kid": kid, "n": jwkB64.EncodeToString(k.N.Bytes()), "e": jwkB64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		point := jwkOK(k.Bytes())(tb)
		return jwkMap{"kty": "EC", "crv": "P-256", "kid": kid, "x": jwkB64.EncodeToString(point[1:33]), "y": jwkB64.EncodeToString(point[33:])}
	case ed25519.PublicKey:
		return jwkMap{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": jwkB64.EncodeToString(k)}
	}
	tb.Fatalf("jwkOf: %T", pub)
	return nil
}

// with returns a copy of j with the given members set (a nil value
// deletes the member).
func (j jwkMap) with(kv ...any) jwkMap {
	out := jwkMap{}
	for k, v := range j {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// jwksOf encodes keys as a JWK Set.
func jwksOf(tb testing.TB, keys ...jwkMap) []byte {
	tb.Helper()
	if keys == nil {
		keys = []jwkMap{}
	}
	return jwkOK(json.Marshal(map[string]any{"keys": keys}))(tb)
}

// kidsOf returns the kids of keys with their algorithms, "kid:alg,alg".
func kidsOf(keys []*jwtx.PublicKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.KeyID()+":"+strings.Join(k.Algorithms(), ","))
	}
	return out
}

func TestParseJWKSKeys(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	rsaJWK, ecJWK, edJWK := jwkOf(t, "r", rk.Public()), jwkOf(t, "e", ek.Public()), jwkOf(t, "d", dk.Public())
	cases := []struct {
		name string
		keys []jwkMap
		algs []string
		want []string
	}{
		{"AllTypesNoAlg", []jwkMap{rsaJWK, ecJWK, edJWK}, nil, []string{"r:RS256,PS256", "e:ES256", "d:EdDSA"}},
		{"AlgBindsTheKey", []jwkMap{rsaJWK.with("alg", "PS256"), ecJWK.with("alg", "ES256"), edJWK.with("alg", "EdDSA")}, nil, []string{"r:PS256", "e:ES256", "d:EdDSA"}},
		{"AllowListNarrowsNoAlg", []jwkMap{rsaJWK, edJWK}, []string{jwtx.AlgRS256, jwtx.AlgEdDSA}, []string{"r:RS256", "d:EdDSA"}},
		{"AllowListSkipsOtherTypes", []jwkMap{rsaJWK, ecJWK, edJWK}, []string{jwtx.AlgES256}, []string{"e:ES256"}},
		{"AlgNotAllowedSkipped", []jwkMap{rsaJWK.with("alg", "PS256"), rsaJWK.with("kid", "r2", "alg", "RS256")}, []string{jwtx.AlgRS256}, []string{"r2:RS256"}},
		{"UseSigAndKeyOpsVerify", []jwkMap{rsaJWK.with("use", "sig", "key_ops", []string{"verify"})}, nil, []string{"r:RS256,PS256"}},
		{"X5MembersIgnored", []jwkMap{rsaJWK.with("x5c", []string{"MIIB"}, "x5u", "https://evil.example/x", "x5t", "abc", "jku", "https://evil.example/jwks")}, nil, []string{"r:RS256,PS256"}},
		{"LeadingZeroModulusTolerated", []jwkMap{rsaJWK.with("n", jwkB64.EncodeToString(append([]byte{0}, rk.N.Bytes()...)))}, nil, []string{"r:RS256,PS256"}},
		{"UnusableKeysSkippedBesideGoodOnes", []jwkMap{
			edJWK, rsaJWK.with("use", "enc"), {"kty": "oct", "kid": "h"},
			jwkOf(t, "small", testRSA1024(t).Public()), ecJWK.with("crv", "P-384"),
		}, nil, []string{"d:EdDSA"}},
	}
	for _, c := range cases {
		t.Run("OK"+c.name, func(t *testing.T) {
			keys, err := jwtx.ParseJWKSKeys(jwksOf(t, c.keys...), c.algs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := kidsOf(keys); !slices.Equal(got, c.want) {
				t.Errorf("keys %v, want %v", got, c.want)
			}
		})
	}
	t.Run("OKVerifiesWhatTheIssuerSigned", func(t *testing.T) {
		keys := jwkOK(jwtx.ParseJWKSKeys(jwksOf(t, rsaJWK, ecJWK, edJWK)))(t)
		for i, c := range []struct {
			alg  string
			priv crypto.Signer
		}{{jwtx.AlgRS256, rk}, {jwtx.AlgES256, ek}, {jwtx.AlgEdDSA, dk}} {
			if !keys[i].Verify(c.alg, jwkInput, jwkSign(t, c.alg, c.priv, jwkInput)) {
				t.Errorf("%s signature refused by the parsed key", c.alg)
			}
		}
		if !keys[0].Verify(jwtx.AlgPS256, jwkInput, jwkSign(t, jwtx.AlgPS256, rk, jwkInput)) {
			t.Error("PS256 signature refused by the parsed RSA key")
		}
	})
	t.Run("ErrSkipReasonsNamed", func(t *testing.T) {
		_, err := jwtx.ParseJWKSKeys(jwksOf(t, jwkOf(t, "small", testRSA1024(t).Public()), edJWK.with("use", "enc"), ecJWK.with("use", "enc")))
		if err == nil {
			t.Fatal("set without usable key accepted")
		}
		want := `3 keys skipped: 1 RSA key of 1024 bits, 2 keys with use "enc"`
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	})
	t.Run("ErrBadAllowList", func(t *testing.T) {
		for _, alg := range []string{jwtx.AlgHS256, "none", "", "RS384"} {
			if _, err := jwtx.ParseJWKSKeys(jwksOf(t, rsaJWK), alg); err == nil {
				t.Errorf("allow-list %q accepted", alg)
			}
		}
	})
}

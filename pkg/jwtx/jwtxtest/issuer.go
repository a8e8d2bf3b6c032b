package jwtxtest

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
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// Issuer is another identity provider for tests (a Keycloak, an Auth0): a
// key per algorithm (RS256, PS256, ES256 and EdDSA: one RSA 2048 key
// serves both RS256 and PS256, each published under its own kid and alg),
// an OpenID Provider metadata document and a JWK Set served over HTTP on
// loopback, and a signer of tokens with any claims. Its tokens carry typ
// "JWT", as Keycloak's do, unless the header says otherwise.
//
//	idp := jwtxtest.NewIssuer(t)
//	v := jwtx.NewValidator(jwtx.Config{Issuers: []jwtx.Issuer{idp.Config("orders")}, ...})
//	tok := idp.Token(t, jwtx.AlgRS256, map[string]any{"sub": "alice", "aud": "orders"})
type Issuer struct {
	// URL is the issuer (iss), the server's base URL.
	URL string
	// Server serves /.well-known/openid-configuration and /jwks.json.
	Server *httptest.Server

	rsa  *rsa.PrivateKey
	ec   *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
	now  func() time.Time
	hits atomic.Int64

	mu   sync.Mutex
	jwks []byte // what /jwks.json serves
}

// NewIssuer starts an Issuer whose clock is now (time.Now when nil). The
// server stops at the end of the test.
func NewIssuer(tb testing.TB, now func() time.Time) *Issuer {
	tb.Helper()
	if now == nil {
		now = time.Now
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("jwtxtest: RSA key: %v", err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("jwtxtest: P-256 key: %v", err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("jwtxtest: Ed25519 key: %v", err)
	}
	i := &Issuer{rsa: rk, ec: ek, ed: edk, now: now}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		i.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/jwks.json",
			"id_token_signing_alg_values_supported": []string{"RS256", "PS256", "ES256", "EdDSA"},
		})
	})
	mux.HandleFunc("/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		i.hits.Add(1)
		i.mu.Lock()
		body := i.jwks
		i.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	i.Server = httptest.NewServer(mux)
	tb.Cleanup(i.Server.Close)
	i.URL = i.Server.URL
	i.jwks = i.JWKS()
	return i
}

// KeyID returns the kid of the key that signs alg.
func (i *Issuer) KeyID(alg string) string { return "test-" + alg }

// Requests returns how many requests the server answered (metadata and
// JWK Set): a validator that must not fetch anything leaves it unchanged.
func (i *Issuer) Requests() int64 { return i.hits.Load() }

// SetJWKS replaces what /jwks.json serves (nil restores the Issuer's own
// set): a rotation, or a hostile document.
func (i *Issuer) SetJWKS(body []byte) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if body == nil {
		body = i.JWKS()
	}
	i.jwks = body
}

// Config returns the jwtx.Issuer that accepts this issuer's tokens for
// audience: keys by OIDC discovery, typ JWT, every algorithm.
func (i *Issuer) Config(audience string) jwtx.Issuer {
	return jwtx.Issuer{
		Issuer:    i.URL,
		Audience:  audience,
		Discovery: true,
		Types:     []string{"JWT", "at+jwt"},
	}
}

// JWKS returns the Issuer's public keys as a JWK Set: kid test-<alg>, each
// bound to its alg.
func (i *Issuer) JWKS() []byte {
	enc := base64.RawURLEncoding
	pub := i.ec.PublicKey
	ecPoint, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	rsaKey := func(alg string) map[string]any {
		return map[string]any{
			"kty": "RSA", "kid": i.KeyID(alg), "alg": alg, "use": "sig",
			"n": enc.EncodeToString(i.rsa.N.Bytes()),
			"e": enc.EncodeToString(big.NewInt(int64(i.rsa.E)).Bytes()),
		}
	}
	set := map[string]any{"keys": []any{
		rsaKey(jwtx.AlgRS256),
		rsaKey(jwtx.AlgPS256),
		map[string]any{
			"kty": "EC", "crv": "P-256", "kid": i.KeyID(jwtx.AlgES256), "alg": jwtx.AlgES256, "use": "sig",
			"x": enc.EncodeToString(ecPoint[1:33]), "y": enc.EncodeToString(ecPoint[33:]),
		},
		map[string]any{
			"kty": "OKP", "crv": "Ed25519", "kid": i.KeyID(jwtx.AlgEdDSA), "alg": jwtx.AlgEdDSA, "use": "sig",
			"x": enc.EncodeToString(i.ed.Public().(ed25519.PublicKey)),
		},
	}}
	body, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return body
}

// Claims returns a claim set of this issuer valid for 5 minutes with the
// given subject and audience, and a fresh jti, to change before signing.
func (i *Issuer) Claims(sub, aud string) map[string]any {
	t := i.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	return map[string]any{
		"iss": i.URL, "sub": sub, "aud": aud,
		"iat": t.Unix(), "nbf": t.Unix(), "exp": t.Add(5 * time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
	}
}

// Token signs claims with the key of alg, header {"alg", "typ":"JWT",
// "kid"}.
func (i *Issuer) Token(tb testing.TB, alg string, claims map[string]any) string {
	tb.Helper()
	return i.Sign(tb, map[string]any{"alg": alg, "typ": "JWT", "kid": i.KeyID(alg)}, claims)
}

// Sign signs header and claims as given (alg from the header chooses the
// key and the scheme; an alg the Issuer has no key for fails the test).
func (i *Issuer) Sign(tb testing.TB, header, claims map[string]any) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatalf("jwtxtest: header: %v", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatalf("jwtxtest: claims: %v", err)
	}
	alg, _ := header["alg"].(string)
	tok, err := i.SignRaw(alg, string(h), string(c))
	if err != nil {
		tb.Fatalf("jwtxtest: %v", err)
	}
	return tok
}

// SignRaw signs header and payload JSON texts as given with the key and
// scheme of alg, for hostile tokens.
func (i *Issuer) SignRaw(alg, header, payload string) (string, error) {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch alg {
	case jwtx.AlgRS256:
		sig, err = rsa.SignPKCS1v15(rand.Reader, i.rsa, crypto.SHA256, sum[:])
	case jwtx.AlgPS256:
		sig, err = rsa.SignPSS(rand.Reader, i.rsa, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case jwtx.AlgES256:
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, i.ec, sum[:]); err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case jwtx.AlgEdDSA:
		sig = ed25519.Sign(i.ed, []byte(input))
	default:
		return "", fmt.Errorf("no key for alg %q", alg)
	}
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", alg, err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// PublicKey returns the public key of alg's signing key (an
// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey).
func (i *Issuer) PublicKey(alg string) crypto.PublicKey {
	switch alg {
	case jwtx.AlgRS256, jwtx.AlgPS256:
		return &i.rsa.PublicKey
	case jwtx.AlgES256:
		return &i.ec.PublicKey
	}
	return i.ed.Public()
}

// SignRSA signs header and payload JSON texts with RS256 under key: for
// tokens of keys an Issuer does not hold (a key its JWK Set should not
// have served, say).
func SignRSA(key *rsa.PrivateKey, header, payload string) (string, error) {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign RS256: %w", err)
	}
	return input + "." + enc.EncodeToString(sig), nil
}

package jwtx_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// Benchmarks measure each figure beside its baseline in the same run:
// golang-jwt's ParseWithClaims with the same checks, and golang-jwt plus a
// raw go-redis MGET of the same three keys. `make bench` runs them.

// baselineClaims are the claims golang-jwt decodes for the baseline.
type baselineClaims struct {
	jwt.RegisteredClaims
	Ver int64 `json:"ver"`
}

// baseline is golang-jwt alone, configured with the checks jwtx makes that
// golang-jwt offers (algorithm, issuer, audience, leeway, exp required, iat).
func baseline(k *jwtxtest.Kit) (*jwt.Parser, jwt.Keyfunc) {
	return baselineFor(k, "EdDSA", k.Signer.PublicKey())
}

// baselineFor is baseline for alg and key.
func baselineFor(k *jwtxtest.Kit, alg string, key any) (*jwt.Parser, jwt.Keyfunc) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer(k.Issuer), jwt.WithAudience(k.Audience),
		jwt.WithLeeway(jwtx.DefaultLeeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
	)
	return p, func(*jwt.Token) (any, error) { return key, nil }
}

// benchGolangJWT runs golang-jwt's ParseWithClaims on tok.
func benchGolangJWT(b *testing.B, p *jwt.Parser, kf jwt.Keyfunc, tok string) {
	b.ReportAllocs()
	for b.Loop() {
		var c baselineClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			b.Fatal(err)
		}
	}
}

// benchJWTX runs v.Validate (v.Parse when v checks no revocation) on tok.
func benchJWTX(b *testing.B, v *jwtx.Validator, tok string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse compares signature and claim checks alone, the same
// token every time with the verified-token cache off, to golang-jwt.
func BenchmarkParse(b *testing.B) {
	k := jwtxtest.New(b)
	ed := k.Token(b, uuid.NewString(), 0)
	hs := hsToken(ed, "hs1", hsSecret)
	cfg := k.Config(nil)
	cfg.HMACKeys = map[string][]byte{"hs1": hsSecret}
	cfg.VerifiedCacheSize = -1
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("EdDSA/golang-jwt", func(b *testing.B) {
		p, kf := baseline(k)
		benchGolangJWT(b, p, kf, ed)
	})
	b.Run("EdDSA/jwtx", func(b *testing.B) { benchJWTX(b, v, ed) })
	b.Run("HS256/golang-jwt", func(b *testing.B) {
		p, kf := baselineFor(k, "HS256", hsSecret)
		benchGolangJWT(b, p, kf, hs)
	})
	b.Run("HS256/jwtx", func(b *testing.B) { benchJWTX(b, v, hs) })
}

// BenchmarkVerifiedCache is a token presented again: jwtx with the
// verified-token cache on (signature skipped, claims and key still
// checked) against golang-jwt parsing it in full.
func BenchmarkVerifiedCache(b *testing.B) {
	k := jwtxtest.New(b)
	tok := k.Token(b, uuid.NewString(), 0)
	b.Run("EdDSA/golang-jwt", func(b *testing.B) {
		p, kf := baseline(k)
		benchGolangJWT(b, p, kf, tok)
	})
	b.Run("EdDSA/jwtx-cached", func(b *testing.B) { benchJWTX(b, k.Validator(b, nil), tok) })
	// Every other algorithm, from another issuer with its keys in memory:
	// a hit costs the same whatever signature it skips.
	idp := jwtxtest.NewIssuer(b, nil)
	var keys []*jwtx.PublicKey
	for _, alg := range []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA} {
		pk, err := jwtx.NewPublicKey(idp.KeyID(alg), idp.PublicKey(alg), alg)
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, pk)
	}
	cfg := jwtx.Config{
		Issuers:                []jwtx.Issuer{{Issuer: idp.URL, Audience: "bench", PublicKeys: keys, Types: []string{"JWT"}}},
		DisableRevocationCheck: true,
	}
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA} {
		cl := idp.Claims("auth0|bench", "bench")
		cl["exp"] = time.Now().Add(time.Hour).Unix()
		tok := idp.Token(b, alg, cl)
		b.Run("external-"+alg+"/jwtx-cached", func(b *testing.B) { benchJWTX(b, v, tok) })
	}
}

package jwtx_test

import (
	"testing"

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
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(k.Issuer), jwt.WithAudience(k.Audience),
		jwt.WithLeeway(jwtx.DefaultLeeway), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
	)
	pub := k.Signer.PublicKey()
	return p, func(*jwt.Token) (any, error) { return pub, nil }
}

func BenchmarkParse(b *testing.B) {
	k := jwtxtest.New(b)
	tok := k.Token(b, uuid.NewString(), 0)
	b.Run("golang-jwt", func(b *testing.B) {
		p, kf := baseline(k)
		b.ReportAllocs()
		for b.Loop() {
			var c baselineClaims
			if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwtx", func(b *testing.B) {
		v := k.Validator(b, nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Parse(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

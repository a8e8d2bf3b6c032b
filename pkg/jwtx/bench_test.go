package jwtx_test

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
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

// redisBench starts a redis-server with a checkpoint and returns a client
// built from RedisOptions.
func redisBench(b *testing.B) *redis.Client {
	b.Helper()
	srv := testkit.StartRedis(b)
	opts, err := jwtx.RedisOptions(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(context.Background(), jwtx.KeyCheckpoint, "1", 0).Err(); err != nil {
		b.Fatal(err)
	}
	return rdb
}

func BenchmarkValidateRedis(b *testing.B) {
	k := jwtxtest.New(b)
	sub := uuid.NewString()
	tok := k.Token(b, sub, 0)
	rdb := redisBench(b)
	ctx := context.Background()
	baselineOnce := func(p *jwt.Parser, kf jwt.Keyfunc) {
		var c baselineClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			b.Fatal(err)
		}
		if err := rdb.MGet(ctx, jwtx.BlacklistKey(c.ID), jwtx.UserVersionKey(c.Subject), jwtx.KeyCheckpoint).Err(); err != nil {
			b.Fatal(err)
		}
	}
	v := k.Validator(b, jwtx.NewRedisStore(rdb))
	b.Run("golang-jwt+MGET/1goroutine", func(b *testing.B) {
		p, kf := baseline(k)
		b.ReportAllocs()
		for b.Loop() {
			baselineOnce(p, kf)
		}
	})
	b.Run("jwtx/1goroutine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Validate(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// 32 x GOMAXPROCS (2 here) = 64 goroutines; ns/op is wall time per
	// validation, so its inverse is the throughput.
	b.Run("golang-jwt+MGET/64goroutines", func(b *testing.B) {
		p, kf := baseline(k)
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				baselineOnce(p, kf)
			}
		})
	})
	b.Run("jwtx/64goroutines", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Validate(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

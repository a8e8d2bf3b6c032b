package jwtx_test

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// Redis-mode benchmarks. Every request validates a different token, drawn
// in turn from a pool of benchPoolSize tokens signed up front, each for
// its own user with its own jti, so no cache can skip a signature check
// and every MGET reads different keys. The baseline, in the same run, is
// golang-jwt's ParseWithClaims (same checks, see baseline) plus a raw
// go-redis MGET of the same three keys on a client built from the same
// RedisOptions against the same redis-server (testkit.StartRedis).

const (
	benchPoolSize   = 1024
	benchGoroutines = 64
)

// tokenPool signs n tokens, each for a fresh user with a fresh jti.
func tokenPool(b *testing.B, k *jwtxtest.Kit, n int) []string {
	b.Helper()
	toks := make([]string, n)
	for i := range toks {
		toks[i] = k.Token(b, uuid.NewString(), 0)
	}
	return toks
}

// benchRedis starts a redis-server holding a checkpoint and returns it with
// the client options RedisOptions builds for it.
func benchRedis(b *testing.B) (*testkit.Redis, *redis.Options) {
	b.Helper()
	srv := testkit.StartRedis(b)
	opts, err := jwtx.RedisOptions(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Client(b).Set(context.Background(), jwtx.KeyCheckpoint, "1", 0).Err(); err != nil {
		b.Fatal(err)
	}
	return srv, opts
}

// benchClient returns a fresh client on opts, closed with the benchmark.
func benchClient(b *testing.B, opts *redis.Options) *redis.Client {
	b.Helper()
	rdb := redis.NewClient(opts)
	b.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// validateFunc validates one token, the way one of the compared stacks
// does.
type validateFunc func(ctx context.Context, tok string) error

// baselineMGET is golang-jwt plus a raw MGET of the three keys jwtx reads.
func baselineMGET(k *jwtxtest.Kit, rdb *redis.Client) validateFunc {
	p, kf := baseline(k)
	return func(ctx context.Context, tok string) error {
		var c baselineClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			return err
		}
		return rdb.MGet(ctx, jwtx.BlacklistKey(c.ID), jwtx.UserVersionKey(c.Subject), jwtx.KeyCheckpoint).Err()
	}
}

// jwtxValidate validates with a Validator on store.
func jwtxValidate(b *testing.B, k *jwtxtest.Kit, store jwtx.RevocationStore) validateFunc {
	v := k.Validator(b, store)
	return func(ctx context.Context, tok string) error {
		_, err := v.Validate(ctx, tok)
		return err
	}
}

// runSerial runs validate from one goroutine and reports p50/p99/max.
func runSerial(b *testing.B, toks []string, validate validateFunc) {
	ctx := context.Background()
	var lat testkit.Latencies
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := time.Now()
		if err := validate(ctx, toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
		lat.Add(time.Since(start))
		i++
	}
	lat.Report(b)
}

// runParallel runs validate from benchGoroutines goroutines; ns/op is wall
// time per validation, its inverse the throughput, also reported as
// validations/s, with the latency distribution.
func runParallel(b *testing.B, toks []string, validate validateFunc) {
	ctx := context.Background()
	var lat testkit.Latencies
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism((benchGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(benchPoolSize / benchGoroutines))
		for pb.Next() {
			start := time.Now()
			if err := validate(ctx, toks[i%len(toks)]); err != nil {
				b.Error(err)
				return
			}
			lat.Add(time.Since(start))
			i++
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "validations/s")
	lat.Report(b)
}

// BenchmarkValidateRedis compares a full validation (signature, claims,
// revocation check in Redis) with golang-jwt plus a raw MGET, from one
// goroutine (latency) and from 64 (throughput), where jwtx runs with
// coalescing disabled (jwtx-naive: one MGET per check on its own
// connection, as the baseline) and with the default coalescing store.
func BenchmarkValidateRedis(b *testing.B) {
	k := jwtxtest.New(b)
	toks := tokenPool(b, k, benchPoolSize)
	_, opts := benchRedis(b)
	naive := jwtx.RedisStoreOptions{DisableCoalescing: true}
	b.Run("1goroutine", func(b *testing.B) {
		b.Run("golang-jwt+MGET", func(b *testing.B) {
			runSerial(b, toks, baselineMGET(k, benchClient(b, opts)))
		})
		b.Run("jwtx", func(b *testing.B) {
			runSerial(b, toks, jwtxValidate(b, k, jwtx.NewRedisStore(benchClient(b, opts))))
		})
	})
	b.Run("64goroutines", func(b *testing.B) {
		b.Run("golang-jwt+MGET", func(b *testing.B) {
			runParallel(b, toks, baselineMGET(k, benchClient(b, opts)))
		})
		b.Run("jwtx-naive", func(b *testing.B) {
			runParallel(b, toks, jwtxValidate(b, k, jwtx.NewRedisStoreWithOptions(benchClient(b, opts), naive)))
		})
		b.Run("jwtx-coalesced", func(b *testing.B) {
			runParallel(b, toks, jwtxValidate(b, k, jwtx.NewRedisStore(benchClient(b, opts))))
		})
	})
}

// BenchmarkFailClosedHung measures how long a validation takes to fail
// closed while Redis hangs (SIGSTOP): the Validator's RevocationTimeout is
// the budget, reported as budget-µs beside p50/p99/max of the validations,
// which must all fail with ErrRevocationUnavailable.
func BenchmarkFailClosedHung(b *testing.B) {
	k := jwtxtest.New(b)
	toks := tokenPool(b, k, benchPoolSize)
	srv, opts := benchRedis(b)
	hung := func(store jwtx.RevocationStore, parallel bool) func(*testing.B) {
		return func(b *testing.B) {
			cfg := k.Config(store)
			cfg.RevocationTimeout = jwtx.DefaultRevocationTimeout
			v := mustValidator(b, cfg)
			testkit.Eventually(b, 5*time.Second, "validation works before the pause", func() bool {
				_, err := v.Validate(context.Background(), toks[0])
				return err == nil
			})
			validate := func(ctx context.Context, tok string) error {
				if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevocationUnavailable) {
					return errors.Join(errors.New("want ErrRevocationUnavailable"), err)
				}
				return nil
			}
			srv.Pause(b)
			defer srv.Resume(b)
			b.ReportMetric(float64(cfg.RevocationTimeout.Microseconds()), "budget-µs")
			if parallel {
				runParallel(b, toks, validate)
			} else {
				runSerial(b, toks, validate)
			}
		}
	}
	b.Run("1goroutine/jwtx", hung(jwtx.NewRedisStore(benchClient(b, opts)), false))
	b.Run("64goroutines/jwtx-naive", hung(jwtx.NewRedisStoreWithOptions(benchClient(b, opts), jwtx.RedisStoreOptions{DisableCoalescing: true}), true))
	b.Run("64goroutines/jwtx-coalesced", hung(jwtx.NewRedisStore(benchClient(b, opts)), true))
}

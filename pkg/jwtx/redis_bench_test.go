package jwtx_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// Redis-mode benchmarks. Every request validates a different token, drawn
// in turn from a pool of benchPoolSize tokens signed up front, each for
// its own user with its own jti, so no cache can skip a signature check
// and every MGET reads different keys. The baseline, in the same run, is
// golang-jwt's ParseWithClaims (same checks, see baseline) plus a raw
// go-redis MGET of the same three keys on a client built from the same
// RedisOptions against the same redis-server (procs.StartRedis).

const (
	benchPoolSize   = 1024
	benchGoroutines = 64
)

// sessionTokenPool signs n tokens like tokenPool, each also carrying a
// sid of its own: the validation then reads four keys instead of three.
func sessionTokenPool(b *testing.B, k *jwtxtest.Kit, n int) []string {
	b.Helper()
	toks := make([]string, n)
	for i := range toks {
		tok, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: uuid.NewString(), SessionID: uuid.NewString()})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	return toks
}

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
func benchRedis(b *testing.B) (*procs.Redis, *redis.Options) {
	b.Helper()
	srv := procs.StartRedis(b)
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

// redisCPU returns the CPU time redis-server has used (INFO cpu), to report
// what each validation costs the server.
func redisCPU(b *testing.B, admin *redis.Client) time.Duration {
	b.Helper()
	info, err := admin.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for line := range strings.Lines(info) {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				b.Fatalf("INFO cpu line %q", line)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// roundTrips counts the round trips a client makes and the MGETs they
// carry, to report how many checks a round trip serves.
type roundTrips struct{ trips, mgets atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "mget" {
			h.trips.Add(1)
			h.mgets.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "mget" {
			h.trips.Add(1)
			h.mgets.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

// meter reports, at the end of a benchmark, the redis-server CPU per
// validation and the MGETs per round trip of rdb.
func meter(b *testing.B, admin, rdb *redis.Client) func() {
	b.Helper()
	h := &roundTrips{}
	rdb.AddHook(h)
	cpu := redisCPU(b, admin)
	return func() {
		b.ReportMetric(float64((redisCPU(b, admin)-cpu).Nanoseconds())/1e3/float64(b.N), "redis-cpu-µs/op")
		if t := h.trips.Load(); t > 0 {
			b.ReportMetric(float64(h.mgets.Load())/float64(t), "mgets/roundtrip")
			b.ReportMetric(float64(t)/float64(b.N), "roundtrips/op")
		}
	}
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

// baselineStore is golang-jwt plus store's check: what jwtx would cost
// with a parse as cheap as golang-jwt's, to tell the store's part from the
// parser's.
func baselineStore(k *jwtxtest.Kit, store jwtx.RevocationStore) validateFunc {
	p, kf := baseline(k)
	return func(ctx context.Context, tok string) error {
		var c baselineClaims
		if _, err := p.ParseWithClaims(tok, &c, kf); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, jwtx.DefaultRevocationTimeout)
		defer cancel()
		_, err := store.RevocationState(ctx, jwtx.RevocationQuery{JTI: c.ID, UserID: c.Subject})
		return err
	}
}

// jwtxValidate validates with a Validator on store, its verified-token
// cache off so that every signature is verified, as by the baseline.
func jwtxValidate(b *testing.B, k *jwtxtest.Kit, store jwtx.RevocationStore) validateFunc {
	return jwtxValidateCache(b, k, store, -1)
}

// jwtxValidateCache is jwtxValidate with a verified-token cache of size
// entries (negative: off).
func jwtxValidateCache(b *testing.B, k *jwtxtest.Kit, store jwtx.RevocationStore, size int) validateFunc {
	cfg := k.Config(store)
	cfg.VerifiedCacheSize = size
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context, tok string) error {
		_, err := v.Validate(ctx, tok)
		return err
	}
}

// runSerial runs validate from one goroutine and reports p50/p99/max.
func runSerial(b *testing.B, toks []string, validate validateFunc) {
	ctx := context.Background()
	var lat procs.Latencies
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
	runGoroutines(benchGoroutines)(b, toks, validate)
}

// runGoroutines is runParallel from n goroutines (rounded up to a multiple
// of GOMAXPROCS).
func runGoroutines(n int) func(*testing.B, []string, validateFunc) {
	return func(b *testing.B, toks []string, validate validateFunc) {
		runParallelN(b, n, toks, validate)
	}
}

func runParallelN(b *testing.B, n int, toks []string, validate validateFunc) {
	ctx := context.Background()
	var lat procs.Latencies
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism((n + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(uint64(max(1, benchPoolSize/n))))
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
	srv, opts := benchRedis(b)
	admin := srv.Client(b)
	baselineStack := func(rdb *redis.Client) validateFunc { return baselineMGET(k, rdb) }
	naiveStack := func(rdb *redis.Client) validateFunc {
		return jwtxValidate(b, k, jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{DisableCoalescing: true}))
	}
	defaultStack := func(rdb *redis.Client) validateFunc { return jwtxValidate(b, k, jwtx.NewRedisStore(rdb)) }
	// bench runs stack on a fresh client and reports, besides run's
	// figures, redis-server CPU per validation and MGETs per round trip.
	bench := func(stack func(*redis.Client) validateFunc, run func(*testing.B, []string, validateFunc)) func(*testing.B) {
		return func(b *testing.B) {
			rdb := benchClient(b, opts)
			validate := stack(rdb)
			done := meter(b, admin, rdb)
			run(b, toks, validate)
			done()
		}
	}
	b.Run("1goroutine", func(b *testing.B) {
		b.Run("golang-jwt+MGET", bench(baselineStack, runSerial))
		b.Run("jwtx", bench(defaultStack, runSerial))
	})
	b.Run("64goroutines", func(b *testing.B) {
		b.Run("golang-jwt+MGET", bench(baselineStack, runParallel))
		b.Run("jwtx-naive", bench(naiveStack, runParallel))
		b.Run("jwtx-coalesced", bench(defaultStack, runParallel))
		b.Run("golang-jwt+RedisStore-coalesced", bench(func(rdb *redis.Client) validateFunc {
			return baselineStore(k, jwtx.NewRedisStore(rdb))
		}, runParallel))
		// The 1,024 tokens repeat, as a user's token does over its life:
		// with the verified-token cache each signature is verified once.
		b.Run("jwtx-coalesced+verified-cache", bench(func(rdb *redis.Client) validateFunc {
			return jwtxValidateCache(b, k, jwtx.NewRedisStore(rdb), jwtx.DefaultVerifiedCacheSize)
		}, runParallel))
	})
}

// BenchmarkRedisConcurrency is throughput against concurrency, for the
// plot: golang-jwt + raw MGET, jwtx without and with coalescing, from 1 to
// 256 goroutines, every request a distinct token, verified-token cache off.
func BenchmarkRedisConcurrency(b *testing.B) {
	k := jwtxtest.New(b)
	toks := tokenPool(b, k, benchPoolSize)
	_, opts := benchRedis(b)
	stacks := []struct {
		name  string
		stack func(*redis.Client) validateFunc
	}{
		{"golang-jwt+MGET", func(rdb *redis.Client) validateFunc { return baselineMGET(k, rdb) }},
		{"jwtx-naive", func(rdb *redis.Client) validateFunc {
			return jwtxValidate(b, k, jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{DisableCoalescing: true}))
		}},
		{"jwtx-coalesced", func(rdb *redis.Client) validateFunc { return jwtxValidate(b, k, jwtx.NewRedisStore(rdb)) }},
	}
	for _, st := range stacks {
		for _, n := range []int{2, 8, 32, 64, 256} {
			b.Run(st.name+"/"+strconv.Itoa(n)+"goroutines", func(b *testing.B) {
				runParallelN(b, n, toks, st.stack(benchClient(b, opts)))
			})
		}
	}
}

// BenchmarkRevocationCheck isolates the Redis part, from 1 and from 64
// goroutines: a raw go-redis MGET of the three keys against
// RedisStore.RevocationState (with the Validator's 100ms deadline) without
// and with coalescing, over the keys of 1024 distinct users and jtis.
func BenchmarkRevocationCheck(b *testing.B) {
	const n = benchPoolSize
	type ids struct{ jti, sub string }
	keys := make([]ids, n)
	for i := range keys {
		keys[i] = ids{uuid.NewString(), uuid.NewString()}
	}
	srv, opts := benchRedis(b)
	admin := srv.Client(b)
	checks := func(check func(ctx context.Context, id ids) error) validateFunc {
		return func(ctx context.Context, tok string) error {
			i, _ := strconv.Atoi(tok)
			return check(ctx, keys[i])
		}
	}
	idx := make([]string, n) // runParallel hands out "tokens": here indexes
	for i := range idx {
		idx[i] = strconv.Itoa(i)
	}
	store := func(o jwtx.RedisStoreOptions) func(*redis.Client) validateFunc {
		return func(rdb *redis.Client) validateFunc {
			s := jwtx.NewRedisStoreWithOptions(rdb, o)
			return checks(func(ctx context.Context, id ids) error {
				ctx, cancel := context.WithTimeout(ctx, jwtx.DefaultRevocationTimeout)
				defer cancel()
				_, err := s.RevocationState(ctx, jwtx.RevocationQuery{JTI: id.jti, UserID: id.sub})
				return err
			})
		}
	}
	mget := func(rdb *redis.Client) validateFunc {
		return checks(func(ctx context.Context, id ids) error {
			return rdb.MGet(ctx, jwtx.BlacklistKey(id.jti), jwtx.UserVersionKey(id.sub), jwtx.KeyCheckpoint).Err()
		})
	}
	for _, tc := range []struct {
		name  string
		stack func(*redis.Client) validateFunc
		run   func(*testing.B, []string, validateFunc)
	}{
		{"1goroutine/MGET", mget, runSerial},
		{"1goroutine/jwtx", store(jwtx.RedisStoreOptions{}), runSerial},
		{"64goroutines/MGET", mget, runParallel},
		{"64goroutines/jwtx-naive", store(jwtx.RedisStoreOptions{DisableCoalescing: true}), runParallel},
		{"64goroutines/jwtx-coalesced", store(jwtx.RedisStoreOptions{}), runParallel},
	} {
		b.Run(tc.name, func(b *testing.B) {
			rdb := benchClient(b, opts)
			validate := tc.stack(rdb)
			done := meter(b, admin, rdb)
			tc.run(b, idx, validate)
			done()
		})
	}
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
			procs.Eventually(b, 5*time.Second, "validation works before the pause", func() bool {
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
			if parallel {
				runParallel(b, toks, validate)
			} else {
				runSerial(b, toks, validate)
			}
			b.ReportMetric(float64(cfg.RevocationTimeout.Microseconds()), "budget-µs")
		}
	}
	b.Run("1goroutine/jwtx", hung(jwtx.NewRedisStore(benchClient(b, opts)), false))
	b.Run("64goroutines/jwtx-naive", hung(jwtx.NewRedisStoreWithOptions(benchClient(b, opts), jwtx.RedisStoreOptions{DisableCoalescing: true}), true))
	b.Run("64goroutines/jwtx-coalesced", hung(jwtx.NewRedisStore(benchClient(b, opts)), true))
}

// BenchmarkSessionCheck is what the session check costs a Redis-mode
// validation: tokens with and without sid, validated alternately in the
// same loop on the same client (so that the machine's drift during a run
// falls on both alike), each half reporting its own p50 and p99. The sid
// rides in the same MGET: roundtrips/op stays at one per validation.
func BenchmarkSessionCheck(b *testing.B) {
	k := jwtxtest.New(b)
	plain := tokenPool(b, k, benchPoolSize)
	withSID := sessionTokenPool(b, k, benchPoolSize)
	srv, opts := benchRedis(b)
	rdb := benchClient(b, opts)
	validate := jwtxValidate(b, k, jwtx.NewRedisStore(rdb))
	done := meter(b, srv.Client(b), rdb)
	ctx := context.Background()
	var latPlain, latSID procs.Latencies
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		toks, lat := plain, &latPlain
		if i%2 == 1 {
			toks, lat = withSID, &latSID
		}
		start := time.Now()
		if err := validate(ctx, toks[(i/2)%len(toks)]); err != nil {
			b.Fatal(err)
		}
		lat.Add(time.Since(start))
		i++
	}
	done()
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(latPlain.Percentile(50)), "p50-µs-nosid")
	b.ReportMetric(us(latSID.Percentile(50)), "p50-µs-sid")
	b.ReportMetric(us(latPlain.Percentile(99)), "p99-µs-nosid")
	b.ReportMetric(us(latSID.Percentile(99)), "p99-µs-sid")
}

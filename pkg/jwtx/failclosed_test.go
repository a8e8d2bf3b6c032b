package jwtx_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// timedStore measures the calls the Validator makes to the store: the
// part of Validate that RevocationTimeout bounds.
type timedStore struct {
	jwtx.RevocationStore
	lat *procs.Latencies
}

func (s timedStore) RevocationState(ctx context.Context, q jwtx.RevocationQuery) (jwtx.RevocationState, error) {
	start := time.Now()
	st, err := s.RevocationStore.RevocationState(ctx, q)
	s.lat.Add(time.Since(start))
	return st, err
}

// With Redis hung (SIGSTOP), every validation fails closed with
// ErrRevocationUnavailable within 1.1 x the RevocationTimeout budget (p99),
// one caller at a time in both modes, and with about 64 callers waiting at
// any time on the coalescing store. Both the check (what the budget
// bounds) and the whole Validate (which also verifies the signature) are
// held to it.
func TestRedisStore_FailClosedHung(t *testing.T) {
	const budget = jwtx.DefaultRevocationTimeout
	limit := budget * 11 / 10
	for _, tc := range []struct {
		name             string
		opts             jwtx.RedisStoreOptions
		goroutines, each int
	}{
		{name: "SerialCoalesced", goroutines: 1, each: 30},
		{name: "SerialNaive", opts: jwtx.RedisStoreOptions{DisableCoalescing: true}, goroutines: 1, each: 30},
		{name: "Concurrent64Coalesced", goroutines: 64, each: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startRedis(t)
			f.set(t, jwtx.KeyCheckpoint, "1")
			k := fixedKit(t)
			var check, full procs.Latencies
			cfg := k.Config(timedStore{jwtx.NewRedisStoreWithOptions(f.rdb, tc.opts), &check})
			cfg.RevocationTimeout = budget
			v := mustValidator(t, cfg)
			toks := make([]string, tc.goroutines)
			for i := range toks {
				toks[i] = k.Token(t, uuid.NewString(), 0)
			}
			if _, err := v.Validate(context.Background(), toks[0]); err != nil {
				t.Fatal(err)
			}
			f.srv.Pause(t)
			defer f.srv.Resume(t)
			validate := func(tok string) {
				start := time.Now()
				_, err := v.Validate(context.Background(), tok)
				full.Add(time.Since(start))
				if !errors.Is(err, jwtx.ErrRevocationUnavailable) {
					t.Errorf("Validate with Redis hung = %v, want ErrRevocationUnavailable", err)
				}
			}
			if tc.goroutines == 1 {
				for range tc.each {
					validate(toks[0])
				}
			} else {
				// Callers arrive at a steady rate, one every budget/64, so
				// about 64 are waiting at any time, as under real load;
				// 64 callers released at once would time out at once and
				// then all verify a signature at once, measuring the CPU
				// queue of a 2-core machine rather than the store.
				tick := time.NewTicker(budget / time.Duration(tc.goroutines))
				defer tick.Stop()
				var wg sync.WaitGroup
				for i := range tc.goroutines * tc.each {
					<-tick.C
					wg.Go(func() { validate(toks[i%len(toks)]) })
				}
				wg.Wait()
			}
			t.Logf("%d validations, budget %s: revocation check p50 %s p99 %s; whole Validate p50 %s p99 %s max %s",
				full.Len(), budget, check.Percentile(50), check.Percentile(99),
				full.Percentile(50), full.Percentile(99), full.Percentile(100))
			if p99 := check.Percentile(99); p99 > limit {
				t.Errorf("revocation check p99 %s with Redis hung, want <= %s (1.1 x %s)", p99, limit, budget)
			}
			if p99 := full.Percentile(99); p99 > limit {
				t.Errorf("Validate p99 %s with Redis hung, want <= %s (1.1 x %s)", p99, limit, budget)
			}
		})
	}
}

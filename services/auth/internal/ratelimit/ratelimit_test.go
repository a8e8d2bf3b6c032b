package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

func TestParseLimit(t *testing.T) {
	cases := []struct {
		name, in string
		want     ratelimit.Limit
		ok       bool
	}{
		{"OK", "10/15m", ratelimit.Limit{Max: 10, Window: 15 * time.Minute}, true},
		{"OKSeconds", "1/1s", ratelimit.Limit{Max: 1, Window: time.Second}, true},
		{"OKOff", "off", ratelimit.Limit{}, true},
		{"ErrEmpty", "", ratelimit.Limit{}, false},
		{"ErrNoWindow", "10", ratelimit.Limit{}, false},
		{"ErrZero", "0/1m", ratelimit.Limit{}, false},
		{"ErrNegative", "-1/1m", ratelimit.Limit{}, false},
		{"ErrHuge", "1000001/1m", ratelimit.Limit{}, false},
		{"ErrNotNumber", "ten/1m", ratelimit.Limit{}, false},
		{"ErrBadWindow", "10/soon", ratelimit.Limit{}, false},
		{"ErrWindowTooShort", "10/500ms", ratelimit.Limit{}, false},
		{"ErrWindowTooLong", "10/25h", ratelimit.Limit{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ratelimit.ParseLimit(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseLimit(%q) = %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			if tc.ok {
				again, err := ratelimit.ParseLimit(got.String())
				if err != nil || again != got {
					t.Fatalf("String %q does not parse back: %+v, %v", got.String(), again, err)
				}
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := ratelimit.RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestAllow(t *testing.T) {
	rd := testkit.StartRedis(t)
	rdb := rd.Client(t)
	l := ratelimit.New(rdb, "test:rl:")
	ctx := context.Background()
	three := ratelimit.Limit{Max: 3, Window: time.Minute}
	ten := ratelimit.Limit{Max: 10, Window: time.Minute}

	t.Run("BlocksAfterMax", func(t *testing.T) {
		for i := range 3 {
			if d := mustAllow(t, l, ratelimit.Rule{Key: "a", Limit: three}); !d.Allowed {
				t.Fatalf("attempt %d refused: %+v", i+1, d)
			}
		}
		d := mustAllow(t, l, ratelimit.Rule{Key: "a", Limit: three})
		if d.Allowed || d.Rule != 0 || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
			t.Fatalf("4th attempt: %+v, want refused with 0 < RetryAfter <= 1m", d)
		}
		if n, _ := rdb.Get(ctx, "test:rl:a").Int(); n != 3 {
			t.Fatalf("counter %d after a refusal, want 3 (refusals are not counted)", n)
		}
		ttl, err := rdb.PTTL(ctx, "test:rl:a").Result()
		if err != nil || ttl <= 0 || ttl > time.Minute {
			t.Fatalf("counter TTL %s, %v; want within the window", ttl, err)
		}
	})
	t.Run("AllOrNothing", func(t *testing.T) {
		// b has room, a is full: b is not counted, and the decision names a.
		d := mustAllow(t, l, ratelimit.Rule{Key: "b", Limit: ten}, ratelimit.Rule{Key: "a", Limit: three})
		if d.Allowed || d.Rule != 1 {
			t.Fatalf("decision %+v, want refused by rule 1", d)
		}
		if n, err := rdb.Exists(ctx, "test:rl:b").Result(); err != nil || n != 0 {
			t.Fatalf("b counted although a refused: exists=%d %v", n, err)
		}
	})
	t.Run("DisabledRulesAreSkipped", func(t *testing.T) {
		d := mustAllow(t, l, ratelimit.Rule{Key: "a", Limit: ratelimit.Limit{}}, ratelimit.Rule{Key: "c", Limit: ten})
		if !d.Allowed {
			t.Fatalf("decision %+v, want allowed", d)
		}
		if d := mustAllow(t, l); !d.Allowed {
			t.Fatalf("no rules: %+v", d)
		}
	})
	t.Run("Refund", func(t *testing.T) {
		r := ratelimit.Rule{Key: "r", Limit: ratelimit.Limit{Max: 2, Window: time.Minute}}
		for range 5 {
			if d := mustAllow(t, l, r); !d.Allowed {
				t.Fatalf("refused although every attempt was refunded: %+v", d)
			}
			if err := l.Refund(ctx, "r"); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := rdb.Exists(ctx, "test:rl:r").Result(); err != nil || n != 0 {
			t.Fatalf("a counter refunded to zero still exists: %d %v", n, err)
		}
		if err := l.Refund(ctx, "never-counted"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("WindowExpires", func(t *testing.T) {
		r := ratelimit.Rule{Key: "w", Limit: ratelimit.Limit{Max: 1, Window: time.Second}}
		mustAllow(t, l, r)
		if d := mustAllow(t, l, r); d.Allowed || d.RetryAfter > time.Second {
			t.Fatalf("second attempt in the window: %+v", d)
		}
		testkit.Eventually(t, 5*time.Second, "the window ends", func() bool {
			return mustAllow(t, l, r).Allowed
		})
	})
	t.Run("ConcurrentAttemptsNeverExceedMax", func(t *testing.T) {
		r := ratelimit.Rule{Key: "c2", Limit: ratelimit.Limit{Max: 7, Window: time.Minute}}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				d, err := l.Allow(ctx, r)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 7 {
			t.Fatalf("%d of 40 concurrent attempts allowed, want exactly 7", got)
		}
	})
	t.Run("ErrRedisDown", func(t *testing.T) {
		rd.Kill(t)
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := l.Allow(ctx, ratelimit.Rule{Key: "a", Limit: three}); err == nil {
			t.Fatal("Allow with Redis down returned no error")
		}
		if err := l.Refund(ctx, "a"); err == nil {
			t.Fatal("Refund with Redis down returned no error")
		}
	})
}

func mustAllow(tb testing.TB, l *ratelimit.Limiter, rules ...ratelimit.Rule) ratelimit.Decision {
	tb.Helper()
	d, err := l.Allow(context.Background(), rules...)
	if err != nil {
		tb.Fatalf("Allow: %v", err)
	}
	return d
}

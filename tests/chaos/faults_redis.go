package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// window collects the hammer's calls during a fault.
type window struct {
	mu    sync.Mutex
	from  time.Time
	calls []call
}

func (w *window) add(c call) {
	if c.Start.Before(w.from) {
		return
	}
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()
}

// judge checks the calls that started after the fault and ended before
// until: none may be accepted; rejections are timed. It returns the time
// from the fault to the first rejection.
func (w *window) judge(s *Stats, what string, until time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := time.Duration(-1)
	for _, c := range w.calls {
		if !c.End.Before(until) {
			continue
		}
		switch c.Status {
		case http.StatusOK:
			s.RevokedAccepted.Add(1)
			s.Violate("validator accepted a token while %s (status unknowable)", what)
		case http.StatusServiceUnavailable:
			s.RecordReject(c.End.Sub(c.Start))
			if d := c.End.Sub(w.from); first < 0 || d < first {
				first = d
			}
		}
	}
	return first
}

func (e *env) observe() *window {
	w := &window{from: time.Now()}
	e.load.Observe(w.add)
	return w
}

// redisRestartedEmpty kills Redis and starts it empty: validators must
// fail closed until the revocation service has rebuilt it from the stream.
func redisRestartedEmpty(ctx context.Context, e *env) error {
	w := e.observe()
	e.c.Redis.Proc.Kill()
	pause(ctx, e.cfg.Hold)
	if err := e.c.Redis.Start(ctx); err != nil {
		return err
	}
	var lastMissing time.Time
	err := testkit.Poll(ctx, e.cfg.SettleMax, "checkpoint back after the rebuild", func() bool {
		if e.c.Checkpoint(ctx) < 0 {
			lastMissing = time.Now()
			return false
		}
		return true
	})
	e.load.Observe(nil)
	e.s.TimeToFailClosed = w.judge(e.s, "Redis was down or not rebuilt", lastMissing)
	e.s.Note("rebuilt %s after the restart", time.Since(w.from.Add(e.cfg.Hold)).Round(time.Millisecond))
	if err != nil {
		return err
	}
	return e.c.WaitReady(ctx, e.c.AuthURL+"/readyz", 30*time.Second)
}

// redisHung freezes Redis (SIGSTOP), then black-holes the validators'
// connection to it: validators must fail closed within their budget, keep
// their connection pools bounded, and recover.
func redisHung(ctx context.Context, e *env) error {
	faults := []struct {
		what       string
		start, end func() error
	}{
		{"Redis was SIGSTOPped",
			func() error { return e.c.Redis.Proc.Signal(syscall.SIGSTOP) },
			func() error { return e.c.Redis.Proc.Signal(syscall.SIGCONT) }},
		{"the validators' link to Redis was black-holed",
			func() error { e.c.ValRedis.SetMode(BlackHole); return nil },
			func() error { e.c.ValRedis.SetMode(Forward); return nil }},
	}
	var first []string
	for _, f := range faults {
		w := e.observe()
		if err := f.start(); err != nil {
			return err
		}
		e.checkPools(ctx, e.cfg.Hold)
		end := time.Now()
		if err := f.end(); err != nil {
			return err
		}
		e.load.Observe(nil)
		d := w.judge(e.s, f.what, end)
		first = append(first, d.Round(time.Millisecond).String())
		if d >= 0 && (e.s.TimeToFailClosed == 0 || d > e.s.TimeToFailClosed) {
			e.s.TimeToFailClosed = d
		}
		if err := e.recovered(ctx); err != nil {
			return fmt.Errorf("after %s: %w", f.what, err)
		}
	}
	e.s.Note("first rejection after SIGSTOP / black hole: %s", strings.Join(first, " / "))
	if p99, n := e.s.RejectP99(); n == 0 {
		e.s.Violate("no fail-closed rejection observed")
	} else if p99 > time.Second {
		e.s.Violate("p99 time to reject %s, budget 100ms (+ HTTP)", p99)
	}
	return e.c.WaitReady(ctx, e.c.RevURL[0]+"/readyz", e.cfg.SettleMax)
}

// checkPools samples the validators' Redis pools for d: open connections
// must stay within the configured size.
func (e *env) checkPools(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	peak := 0.0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for _, u := range e.c.ValURL {
			total, size := scrape(ctx, u, "validator_redis_pool_total_conns"), scrape(ctx, u, "validator_redis_pool_size")
			// Bounded, not exact: go-redis keeps at most size pooled
			// connections, plus at most one short-lived unpooled one per
			// caller holding a pool turn while it discards broken ones.
			if total > 2*size && size > 0 {
				e.s.Violate("%s holds %v Redis connections, pool size %v (bound %v)", u, total, size, 2*size)
			}
			peak = max(peak, total)
		}
		pause(ctx, 100*time.Millisecond)
	}
	e.s.Note("peak validator Redis connections during the fault: %v", peak)
}

// recovered waits until every validator accepts a fresh token again and
// Redis's client count is bounded.
func (e *env) recovered(ctx context.Context) error {
	name := fmt.Sprintf("recover-%d", time.Now().UnixNano())
	if !e.load.register(ctx, name) {
		return ctx.Err()
	}
	t := e.load.Login(ctx, name)
	if t == nil {
		return ctx.Err()
	}
	for i := range e.c.ValURL {
		if err := testkit.Poll(ctx, 10*time.Second, fmt.Sprintf("validator-%d accepts a live token", i), func() bool {
			return e.load.Validate(ctx, i, t).Status == http.StatusOK
		}); err != nil {
			return err
		}
	}
	info, err := e.c.RDB.Info(ctx, "clients").Result()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			if limit := 40*len(e.c.ValURL)*2 + 200; n > limit {
				e.s.Violate("redis has %d clients after recovery (bound %d)", n, limit)
			}
		}
	}
	return nil
}

// Package backoff computes exponential retry delays with jitter and waits
// for them while honouring a context.
//
//	p := backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
//	err := backoff.Sleep(ctx, p.Delay(attempt))
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy describes delays that start at Initial and double on each attempt
// up to Max. Jitter in [0, 1] spreads each delay uniformly over
// [d*(1-Jitter), d], so that many clients retrying at once do not stay in
// step.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64
	// Rand returns a number in [0, 1); defaults to math/rand/v2.Float64.
	// Tests replace it to make delays deterministic.
	Rand func() float64
}

// Default is the policy used for Redis and NATS retries: 50 ms doubling to
// 5 s with 20 % jitter.
var Default = Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

// Delay returns the wait before retry number attempt (0 for the first
// retry).
func (p Policy) Delay(attempt int) time.Duration {
	initial, maxDelay := p.Initial, p.Max
	if initial <= 0 {
		initial = Default.Initial
	}
	if maxDelay < initial {
		maxDelay = initial
	}
	d := initial
	for i := 0; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	jitter := min(max(p.Jitter, 0), 1)
	if jitter == 0 {
		return d
	}
	rnd := p.Rand
	if rnd == nil {
		rnd = rand.Float64
	}
	return d - time.Duration(float64(d)*jitter*rnd())
}

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SleepTicking is Sleep that also calls tick every interval while it waits
// (used to tell JetStream that held messages are still being worked on).
// A non-positive interval never ticks.
func SleepTicking(ctx context.Context, d, interval time.Duration, tick func()) error {
	if interval <= 0 || interval >= d {
		return Sleep(ctx, d)
	}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return ctx.Err()
		}
		if err := Sleep(ctx, min(left, interval)); err != nil {
			return err
		}
		if time.Until(deadline) > 0 {
			tick()
		}
	}
}

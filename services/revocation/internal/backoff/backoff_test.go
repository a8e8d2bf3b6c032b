package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/revocation/internal/backoff"
)

func TestDelay(t *testing.T) {
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := []struct {
		name    string
		policy  backoff.Policy
		attempt int
		want    time.Duration
	}{
		{"FirstAttempt", backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second}, 0, 50 * time.Millisecond},
		{"Doubles", backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second}, 3, 400 * time.Millisecond},
		{"CappedAtMax", backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second}, 10, 5 * time.Second},
		{"HugeAttemptDoesNotOverflow", backoff.Policy{Initial: 50 * time.Millisecond, Max: 5 * time.Second}, 1 << 30, 5 * time.Second},
		{"MaxBelowInitial", backoff.Policy{Initial: time.Second, Max: time.Millisecond}, 4, time.Second},
		{"ZeroInitialUsesDefault", backoff.Policy{}, 0, backoff.Default.Initial},
		{"JitterLowestDraw", backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5, Rand: fixed(0)}, 1, 200 * time.Millisecond},
		{"JitterHighestDraw", backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5, Rand: fixed(0.999999)}, 1, 100*time.Millisecond + 100*time.Nanosecond},
		{"JitterClampedToOne", backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 7, Rand: fixed(0.5)}, 0, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Delay(tt.attempt); got != tt.want {
				t.Fatalf("Delay(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
}

func TestDelayJitterBounds(t *testing.T) {
	p := backoff.Default
	for attempt := range 12 {
		full := backoff.Policy{Initial: p.Initial, Max: p.Max}.Delay(attempt)
		for range 200 {
			d := p.Delay(attempt)
			if d > full || d < time.Duration(float64(full)*(1-p.Jitter)) {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, time.Duration(float64(full)*(1-p.Jitter)), full)
			}
		}
	}
}

func TestSleep(t *testing.T) {
	t.Run("Elapses", func(t *testing.T) {
		if err := backoff.Sleep(context.Background(), time.Millisecond); err != nil {
			t.Fatalf("Sleep: %v", err)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep = %v, want context.Canceled", err)
		}
		if time.Since(start) > time.Second {
			t.Fatal("Sleep did not return promptly on cancel")
		}
	})
}

func TestSleepTicking(t *testing.T) {
	t.Run("Ticks", func(t *testing.T) {
		ticks := 0
		if err := backoff.SleepTicking(context.Background(), 50*time.Millisecond, 10*time.Millisecond, func() { ticks++ }); err != nil {
			t.Fatalf("SleepTicking: %v", err)
		}
		if ticks < 1 || ticks > 5 {
			t.Fatalf("ticks = %d, want 1..5", ticks)
		}
	})
	t.Run("NoTickWhenIntervalLonger", func(t *testing.T) {
		ticks := 0
		_ = backoff.SleepTicking(context.Background(), time.Millisecond, time.Second, func() { ticks++ })
		if ticks != 0 {
			t.Fatalf("ticks = %d, want 0", ticks)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := backoff.SleepTicking(ctx, time.Hour, time.Millisecond, func() {}); !errors.Is(err, context.Canceled) {
			t.Fatalf("SleepTicking = %v, want context.Canceled", err)
		}
	})
}

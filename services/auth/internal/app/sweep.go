package app

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Settings of the sweeper of expired sessions and refresh tokens.
const (
	sweepInterval = 10 * time.Minute
	// sweepMargin is how long past its expiry a row is kept.
	sweepMargin = time.Hour
	// sweepBatch bounds the rows one sweep deletes of each kind.
	sweepBatch = 1000
)

// startSweeper deletes expired refresh tokens and sessions every
// sweepInterval until Close.
func (m *Main) startSweeper() error {
	swept := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "auth_sessions_swept_total",
		Help: "Expired refresh tokens and sessions deleted by the sweeper.",
	})
	if err := m.Registry.Register(swept); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	m.stopSweep, m.sweepDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			m.sweep(ctx, swept)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// sweep runs one bounded sweep.
func (m *Main) sweep(ctx context.Context, swept prometheus.Counter) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := m.db.Sweep(sctx, m.Now(), sweepMargin, sweepBatch)
	if err != nil {
		if ctx.Err() == nil {
			m.Logger.Warn("sweeping expired sessions", "err", err)
		}
		return
	}
	swept.Add(float64(n))
	if n > 0 {
		m.Logger.Info("swept expired sessions and refresh tokens", "rows", n)
	}
}

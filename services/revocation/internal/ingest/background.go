package ingest

import (
	"context"
	"sync"
)

// background runs one rebuild at a time beside the durable consumer.
type background struct {
	// ctx is Run's, cancelled when Run returns (set before anything
	// starts a rebuild).
	ctx  context.Context
	mu   sync.Mutex
	done chan struct{} // closed when the last started one ended; nil before the first
	wg   sync.WaitGroup
}

// start runs f in its own goroutine; the caller checked running.
func (b *background) start(f func()) {
	done := make(chan struct{})
	b.mu.Lock()
	b.done = done
	b.mu.Unlock()
	b.wg.Go(func() {
		defer close(done)
		f()
	})
}

// running reports whether a rebuild is in progress.
func (b *background) running() bool {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// wait waits for the rebuild in progress, if any, or for ctx.
func (b *background) wait(ctx context.Context) error {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package ingest

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// decoded is one batch of a replay, decoded ahead of its write.
type decoded struct {
	b batch
	// done means the batch holds the last message the replay wants.
	done bool
}

// decodeAhead cuts and decodes the replay's batches in a goroutine of its
// own, so that decoding batch k+1 overlaps the Redis write of batch k
// (a write is one round trip, and Redis executes it while this process
// would otherwise wait). Batches come out of the channel in stream order,
// at most two ahead of the writer. The channel is closed after the batch
// that is done, or when src closes first (the consumer went away: no batch
// is done), or when stop is called; stop returns once the goroutine has
// exited.
func (in *Ingester) decodeAhead(src *source, last uint64) (batches <-chan decoded, stop func()) {
	out := make(chan decoded, 1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(out)
		for {
			var first jetstream.Msg
			select {
			case <-quit:
				return
			case m, ok := <-src.ch:
				if !ok {
					return
				}
				first = m
			}
			msgs, done := cutAt(src.collect(first, in.cfg.BatchSize), last)
			select {
			case out <- decoded{b: in.decode(msgs, false), done: done}:
			case <-quit:
				return
			}
			if done {
				return
			}
		}
	})
	var once sync.Once
	return out, func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
}

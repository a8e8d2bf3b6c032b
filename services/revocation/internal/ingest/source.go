package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// drainTimeout bounds how long stopping a source waits for the messages
// JetStream has already delivered to this client.
const drainTimeout = 3 * time.Second

// source moves messages from a JetStream iterator into a channel, so that
// the consumer loop can wait for the first message of a batch in a select
// and then take whatever else is already buffered without blocking.
type source struct {
	it     jetstream.MessagesContext
	ch     chan jetstream.Msg
	cancel context.CancelFunc
	log    *slog.Logger
	once   sync.Once
}

// newSource starts pumping it into a channel of the given capacity.
func newSource(it jetstream.MessagesContext, capacity int, log *slog.Logger) *source {
	ctx, cancel := context.WithCancel(context.Background())
	s := &source{it: it, ch: make(chan jetstream.Msg, capacity), cancel: cancel, log: log}
	go s.pump(ctx)
	return s
}

// pump runs until the iterator is closed or ctx is cancelled, then closes
// the channel.
func (s *source) pump(ctx context.Context) {
	defer close(s.ch)
	for {
		msg, err := s.it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				return
			}
			// Missing heartbeats while NATS is away and similar: the
			// iterator recovers by itself; do not spin meanwhile.
			s.log.Debug("jetstream: waiting for messages", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case s.ch <- msg:
		case <-ctx.Done():
			_ = msg.Nak()
			return
		}
	}
}

// collect returns first followed by the messages already waiting, up to
// limit in all.
func (s *source) collect(first jetstream.Msg, limit int) []jetstream.Msg {
	msgs := []jetstream.Msg{first}
	for len(msgs) < limit {
		select {
		case m, ok := <-s.ch:
			if !ok {
				return msgs
			}
			msgs = append(msgs, m)
		default:
			return msgs
		}
	}
	return msgs
}

// stop stops fetching and waits for the pump to exit. With nak, messages
// already delivered to this client are negatively acknowledged so that
// JetStream redelivers them at once (to this process later, or to another
// instance) instead of after AckWait. Only the first call does anything.
func (s *source) stop(nak bool) {
	s.once.Do(func() { s.stopOnce(nak) })
}

func (s *source) stopOnce(nak bool) {
	if !nak {
		s.it.Stop()
		s.cancel()
		for range s.ch {
		}
		return
	}
	s.it.Drain()
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	for {
		select {
		case m, ok := <-s.ch:
			if !ok {
				s.cancel()
				return
			}
			_ = m.Nak()
		case <-timeout.C:
			// NATS is unreachable: give up; AckWait redelivers the rest.
			s.it.Stop()
			s.cancel()
			for m := range s.ch {
				_ = m.Nak()
			}
			return
		}
	}
}

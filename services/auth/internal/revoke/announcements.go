package revoke

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// Announcements remembers the stream sequences the revocation service
// recently announced as applied (events.Applied on events.SubjectApplied),
// so that a waiter that registers after its announcement arrived still sees
// it. It is safe for concurrent use.
type Announcements struct {
	mu        sync.Mutex
	recent    []announced
	changed   chan struct{} // closed and replaced on every Record
	retention time.Duration
	limit     int
	now       func() time.Time
}

type announced struct {
	ranges [][2]uint64
	at     time.Time
}

// Defaults of NewAnnouncements.
const (
	// DefaultRetention is how long an announcement is remembered.
	DefaultRetention = time.Minute
	// DefaultLimit is how many announcements are remembered at most.
	DefaultLimit = 4096
)

// NewAnnouncements returns an empty memory keeping announcements for
// retention (DefaultRetention when 0), at most limit of them (DefaultLimit
// when 0). now is the clock (time.Now when nil).
func NewAnnouncements(retention time.Duration, limit int, now func() time.Time) *Announcements {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	if now == nil {
		now = time.Now
	}
	return &Announcements{changed: make(chan struct{}), retention: retention, limit: limit, now: now}
}

// Record remembers a and wakes every waiter.
func (a *Announcements) Record(ap events.Applied) {
	if len(ap.Ranges) == 0 {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	drop := 0
	for drop < len(a.recent) && (now.Sub(a.recent[drop].at) > a.retention || len(a.recent)-drop >= a.limit) {
		drop++
	}
	a.recent = append(a.recent[drop:], announced{ranges: ap.Ranges, at: now})
	close(a.changed)
	a.changed = make(chan struct{})
}

// Seen reports whether seq was announced recently, and returns a channel
// that is closed at the next Record, to wait on when it was not.
func (a *Announcements) Seen(seq uint64) (bool, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.recent) - 1; i >= 0; i-- {
		if (events.Applied{Ranges: a.recent[i].ranges}).Contains(seq) {
			return true, a.changed
		}
	}
	return false, a.changed
}

// Subscribe records every announcement arriving on events.SubjectApplied
// over nc (core NATS; nats.go re-subscribes after a reconnect). Invalid
// announcements are logged and passed to onInvalid when it is not nil.
// Unsubscribe (or draining nc) stops it.
func (a *Announcements) Subscribe(nc *nats.Conn, logger *slog.Logger, onInvalid func(error)) (*nats.Subscription, error) {
	sub, err := nc.Subscribe(events.SubjectApplied, func(m *nats.Msg) {
		ap, err := events.DecodeApplied(m.Data)
		if err != nil {
			logger.Warn("revoke: dropping invalid applied announcement", "subject", m.Subject, "err", err)
			if onInvalid != nil {
				onInvalid(err)
			}
			return
		}
		a.Record(ap)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke: subscribe to %s: %w", events.SubjectApplied, err)
	}
	return sub, nil
}

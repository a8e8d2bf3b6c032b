package main

import (
	"context"
	"sync"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// hub is the set of open streams of one replica, by user id, and what
// closes them: a revocation event matching the token a stream was opened
// with, or the server shutting down.
type hub struct {
	mu      sync.Mutex
	users   map[string]map[*stream]struct{}
	open    int
	lastSeq uint64 // stream sequence of the last event applied
	closing bool
}

// stream is one open connection and the token it was opened with.
type stream struct {
	userID, jti, sid string
	version          int64

	end    chan struct{} // closed once, when the stream must end
	kind   string        // why, set before end is closed: an event type, or "shutdown"
	reason string        // the event's reason (logout, admin, ...), if any
	once   sync.Once
}

// newStream returns the stream of the token c, under the ids its
// revocations are published with: revocation.ExternalID of the sub, jti
// and sid (the claims themselves for this project's UUIDs, a digest with
// the issuer for another issuer's).
func newStream(c *jwtx.Claims) *stream {
	s := &stream{userID: revocation.ExternalID(c.Issuer, c.Subject), version: c.Version, end: make(chan struct{})}
	if c.ID != "" {
		s.jti = revocation.ExternalID(c.Issuer, c.ID)
	}
	if c.SessionID != "" {
		s.sid = revocation.ExternalID(c.Issuer, c.SessionID)
	}
	return s
}

func newHub() *hub {
	return &hub{users: make(map[string]map[*stream]struct{})}
}

// add registers a stream for the token c, unless the hub is shutting
// down, and returns the sequence of the last event applied before it was
// registered: any later event reaches the stream, an earlier one must be
// checked for (see serveStream).
func (h *hub) add(c *jwtx.Claims) (s *stream, seq uint64, ok bool) {
	s = newStream(c)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, 0, false
	}
	m := h.users[s.userID]
	if m == nil {
		m = make(map[*stream]struct{})
		h.users[s.userID] = m
	}
	m[s] = struct{}{}
	h.open++
	return s, h.lastSeq, true
}

// remove forgets a stream that ended.
func (h *hub) remove(s *stream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.users[s.userID]
	if _, ok := m[s]; !ok {
		return
	}
	delete(m, s)
	if len(m) == 0 {
		delete(h.users, s.userID)
	}
	h.open--
}

// openStreams returns the number of open streams.
func (h *hub) openStreams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// handle is the events.Broadcast handler: it ends the streams whose token
// ev revokes.
func (h *hub) handle(_ context.Context, ev events.Event, meta events.Meta) error {
	h.apply(ev, meta.Sequence)
	return nil
}

// apply ends the streams whose token ev revokes, and records seq as
// applied.
func (h *hub) apply(ev events.Event, seq uint64) (ended int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastSeq = max(h.lastSeq, seq)
	for s := range h.users[ev.UserID] {
		if revokes(ev, s) && s.stop(ev.Type, ev.Reason) {
			ended++
		}
	}
	return ended
}

// revokes reports whether ev revokes the token s was opened with.
func revokes(ev events.Event, s *stream) bool {
	switch ev.Type {
	case events.TypeTokenRevoked:
		return s.jti != "" && s.jti == ev.JTI
	case events.TypeUserTokensRevoked:
		return s.version < ev.Version
	case events.TypeSessionRevoked:
		return s.sid != "" && s.sid == ev.SessionID
	}
	return false
}

// shutdown ends every stream and refuses new ones.
func (h *hub) shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closing = true
	for _, m := range h.users {
		for s := range m {
			s.stop("shutdown", "")
		}
	}
}

// stop ends s; it reports false when s was already ending.
func (s *stream) stop(kind, reason string) (stopped bool) {
	s.once.Do(func() {
		s.kind, s.reason = kind, reason
		close(s.end)
		stopped = true
	})
	return stopped
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// waitView bounds how long a new stream waits for the near-cache to apply
// the events the hub applied before the stream was registered.
const waitView = 5 * time.Second

// serveStream is GET /v1/stream, behind the validator's middleware: a
// server-sent event stream that opens with an "open" event and ends with
// one of "revoked" (the token was revoked: by jti, session or user
// version), "expired" (the token's exp) or "shutdown", or when the client
// goes away. Comment lines keep it alive every heartbeat.
func (a *app) serveStream(w http.ResponseWriter, r *http.Request) {
	c, _ := jwtx.ClaimsFromContext(r.Context())
	rc := http.NewResponseController(w)
	// A stream outlives the write timeout that bounds ordinary answers:
	// lift it for this one. (net/http lifts the read deadline itself once
	// the request is read.)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		service.WriteError(w, http.StatusInternalServerError, "internal", "cannot stream on this connection")
		return
	}

	s, seen, ok := a.hub.add(c)
	if !ok {
		w.Header().Set("Retry-After", "1")
		service.WriteError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
		return
	}
	defer a.hub.remove(s)
	if err := a.recheck(r, seen); err != nil {
		jwtx.WriteError(w, err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if send(w, rc, "open", map[string]any{"user_id": s.userID, "jti": c.ID, "expires_at": c.ExpiresAt}) != nil {
		return
	}
	hb := time.NewTicker(a.heartbeat)
	defer hb.Stop()
	exp := time.NewTimer(time.Until(c.ExpiresAt))
	defer exp.Stop()
	for {
		select {
		case <-r.Context().Done():
			return // the client went away
		case <-s.end:
			a.end(w, rc, s.kind, s.reason)
			return
		case <-exp.C:
			a.end(w, rc, "expired", "")
			return
		case <-hb.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// recheck closes the window between the middleware's validation and the
// stream's registration: an event the hub applied before registering
// (through sequence seen) never reaches the stream, so the token is
// validated again once the near-cache has applied at least as much.
func (a *app) recheck(r *http.Request, seen uint64) error {
	ctx, cancel := context.WithTimeout(r.Context(), waitView)
	defer cancel()
	if err := a.cache.WaitApplied(ctx, seen); err != nil {
		return fmt.Errorf("%w: near-cache behind the broadcast: %w", jwtx.ErrRevocationUnavailable, err)
	}
	token, err := jwtx.BearerToken(r)
	if err != nil {
		return err
	}
	_, err = a.v.Validate(ctx, token)
	return err
}

// end sends the last event of a stream and counts it.
func (a *app) end(w io.Writer, rc *http.ResponseController, kind, reason string) {
	event, data := "revoked", map[string]any{"type": kind, "reason": reason}
	switch kind {
	case "expired", "shutdown":
		event, data = kind, map[string]any{}
	}
	a.ended.WithLabelValues(kind).Inc()
	_ = send(w, rc, event, data)
}

// send writes one server-sent event with a JSON data line and flushes it.
func send(w io.Writer, rc *http.ResponseController, event string, data any) error {
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, body); err != nil {
		return err
	}
	return rc.Flush()
}

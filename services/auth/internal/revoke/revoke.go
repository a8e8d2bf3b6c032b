// Package revoke publishes revocation events to JetStream and waits, for a
// bounded time, until the revocation service has enforced them: its
// events.Applied announcement contains the event's stream sequence, or the
// exact Redis state (blacklist key or user version, plus the checkpoint)
// shows it.
//
//	ack, err := r.Publish(ctx, ev)  // error: durability not confirmed (503)
//	outcome := r.Await(ctx, ev, ack) // Enforced (204) or Pending (202)
package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// ErrUnavailable means JetStream did not confirm storing the event: the
// revocation may or may not be durable, and publishing again is safe.
var ErrUnavailable = errors.New("revoke: revocation could not be made durable")

// Publisher stores an event durably; *events.Publisher implements it.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (events.PubAck, error)
}

// Outcome is the result of Await.
type Outcome int

const (
	// Pending means the event is durable but was not seen enforced within
	// the wait; it will be without further action.
	Pending Outcome = iota
	// Enforced means every validator now rejects what the event revokes.
	Enforced
)

// String returns "enforced" or "pending".
func (o Outcome) String() string {
	if o == Enforced {
		return "enforced"
	}
	return "pending"
}

// Defaults of Config.
const (
	DefaultWait           = 3 * time.Second
	DefaultPollInterval   = 200 * time.Millisecond
	DefaultPublishTimeout = 5 * time.Second
	DefaultStateTimeout   = 500 * time.Millisecond
)

// Config configures a Revoker.
type Config struct {
	// Publisher stores events; required.
	Publisher Publisher
	// State reads the Redis view (jwtx.RedisStore); required.
	State jwtx.RevocationStore
	// Announcements holds the applied announcements; required.
	Announcements *Announcements
	// Wait bounds Await; DefaultWait when 0.
	Wait time.Duration
	// PollInterval is how often Await reads State; DefaultPollInterval when 0.
	PollInterval time.Duration
	// PublishTimeout bounds one Publish; DefaultPublishTimeout when 0.
	PublishTimeout time.Duration
	// StateTimeout bounds one State read; DefaultStateTimeout when 0.
	StateTimeout time.Duration
	// Now is the clock used for latencies; time.Now when nil.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the publish and wait latencies.
	Metrics prometheus.Registerer
	// AnnouncementsOnly counts a revocation enforced only when the
	// revocation service announces it, never from reading State. Set it
	// when Redis replicates (Sentinel, Cluster): the service announces a
	// write only after its replicas have it, while a read of the primary
	// can see a write that a failover is about to undo.
	AnnouncementsOnly bool
}

// Revoker publishes revocations and waits for their enforcement. It is
// safe for concurrent use.
type Revoker struct {
	pub     Publisher
	state   jwtx.RevocationStore
	ann     *Announcements
	wait    time.Duration
	poll    time.Duration
	pubTO   time.Duration
	stateTO time.Duration
	annOnly bool
	now     func() time.Time
	logger  *slog.Logger
	metrics *metrics
}

// New returns a Revoker for cfg.
func New(cfg Config) (*Revoker, error) {
	if cfg.Publisher == nil || cfg.State == nil || cfg.Announcements == nil {
		return nil, errors.New("revoke: Publisher, State and Announcements are required")
	}
	if cfg.Wait < 0 || cfg.PollInterval < 0 || cfg.PublishTimeout < 0 || cfg.StateTimeout < 0 {
		return nil, errors.New("revoke: negative duration")
	}
	r := &Revoker{
		pub: cfg.Publisher, state: cfg.State, ann: cfg.Announcements,
		wait: orDefault(cfg.Wait, DefaultWait), poll: orDefault(cfg.PollInterval, DefaultPollInterval),
		pubTO: orDefault(cfg.PublishTimeout, DefaultPublishTimeout), stateTO: orDefault(cfg.StateTimeout, DefaultStateTimeout),
		now: cfg.Now, logger: cfg.Logger, annOnly: cfg.AnnouncementsOnly,
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Wait returns the bound of Await.
func (r *Revoker) Wait() time.Duration { return r.wait }

// Publish stores ev durably and returns JetStream's acknowledgement. Any
// failure wraps ErrUnavailable (and the cause). The publish is bounded by
// the publish timeout but not cut short when ctx is canceled: a client
// that hangs up does not leave a half-known outcome behind.
func (r *Revoker) Publish(ctx context.Context, ev events.Event) (events.PubAck, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.pubTO)
	defer cancel()
	start := r.now()
	ack, err := r.pub.Publish(ctx, ev)
	r.metrics.observePublish(ev.Type, err, r.now().Sub(start))
	if err != nil {
		return events.PubAck{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ack, nil
}

// Await waits up to the configured wait for ev, stored at ack.Sequence, to
// be enforced: an announcement containing the sequence, or the Redis state
// showing it (read every poll interval, first when ack is a duplicate, and
// once more at the deadline). It returns Pending when the wait ends first
// or ctx is done.
func (r *Revoker) Await(ctx context.Context, ev events.Event, ack events.PubAck) Outcome {
	start := r.now()
	out := r.await(ctx, ev, ack)
	r.metrics.observeWait(ev.Type, out, r.now().Sub(start))
	return out
}

func (r *Revoker) await(ctx context.Context, ev events.Event, ack events.PubAck) Outcome {
	if ack.Duplicate && r.enforced(ctx, ev) {
		return Enforced
	}
	deadline := time.NewTimer(r.wait)
	defer deadline.Stop()
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	for {
		seen, changed := r.ann.Seen(ack.Sequence)
		if seen {
			return Enforced
		}
		select {
		case <-changed:
		case <-ticker.C:
			if r.enforced(ctx, ev) {
				return Enforced
			}
		case <-deadline.C:
			if seen, _ := r.ann.Seen(ack.Sequence); seen || r.enforced(ctx, ev) {
				return Enforced
			}
			return Pending
		case <-ctx.Done():
			return Pending
		}
	}
}

// enforced reads the exact Redis state for ev: the blacklist key for a
// token, the session key for a session, the user version for a user, and
// in every case the checkpoint.
func (r *Revoker) enforced(ctx context.Context, ev events.Event) bool {
	if r.annOnly {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, r.stateTO)
	defer cancel()
	st, err := r.state.RevocationState(ctx, jwtx.RevocationQuery{JTI: ev.JTI, SessionID: ev.SessionID, UserID: ev.UserID})
	if err != nil {
		r.logger.Debug("revoke: reading revocation state", "event", ev.ID, "err", err)
		return false
	}
	if !st.Initialized {
		return false
	}
	switch ev.Type {
	case events.TypeUserTokensRevoked:
		return st.UserVersion >= ev.Version
	case events.TypeSessionRevoked:
		return st.SessionRevoked
	}
	return st.TokenRevoked
}

package revoke_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
	"github.com/eventjwt/eventjwt/services/auth/internal/revoke"
)

const (
	userID = "6c0d6a5e-8f8e-4f0e-9b39-5a8f3e7f0a01"
	jti    = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
)

// fakePublisher acknowledges every event with the next sequence, or fails.
type fakePublisher struct {
	mu   sync.Mutex
	seq  uint64
	err  error
	seen map[string]uint64
}

func (p *fakePublisher) Publish(_ context.Context, ev events.Event) (events.PubAck, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return events.PubAck{}, p.err
	}
	if p.seen == nil {
		p.seen = map[string]uint64{}
	}
	if s, ok := p.seen[ev.ID]; ok {
		return events.PubAck{Sequence: s, Duplicate: true}, nil
	}
	p.seq++
	p.seen[ev.ID] = p.seq
	return events.PubAck{Sequence: p.seq}, nil
}

type fixture struct {
	pub   *fakePublisher
	state *jwtxtest.MemoryStore
	ann   *revoke.Announcements
	rev   *revoke.Revoker
}

func newFixture(t *testing.T, wait, poll time.Duration) *fixture {
	t.Helper()
	f := &fixture{pub: &fakePublisher{}, state: jwtxtest.NewMemoryStore(), ann: revoke.NewAnnouncements(0, 0, nil)}
	rev, err := revoke.New(revoke.Config{
		Publisher: f.pub, State: f.state, Announcements: f.ann,
		Wait: wait, PollInterval: poll,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rev = rev
	return f
}

func tokenEvent() events.Event {
	return events.TokenRevoked{UserID: userID, JTI: jti, ExpiresAt: time.Now().Add(time.Hour), Reason: "logout"}.Event(time.Now())
}

func userEvent(v int64) events.Event {
	return events.UserTokensRevoked{UserID: userID, Version: v, ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
}

func TestAwait(t *testing.T) {
	const long = 10 * time.Second
	cases := []struct {
		name       string
		wait, poll time.Duration
		ev         events.Event
		setup      func(f *fixture, ack events.PubAck)
		want       revoke.Outcome
		maxTime    time.Duration
	}{
		{
			name: "EnforcedAnnouncedBeforeWaiting", wait: long, poll: long, ev: tokenEvent(),
			setup: func(f *fixture, ack events.PubAck) {
				f.ann.Record(events.Applied{Ranges: [][2]uint64{{ack.Sequence, ack.Sequence}}})
			},
			want: revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "EnforcedAnnouncedInRange", wait: long, poll: long, ev: tokenEvent(),
			setup: func(f *fixture, ack events.PubAck) {
				f.ann.Record(events.Applied{Ranges: [][2]uint64{{100, 200}, {ack.Sequence - 1, ack.Sequence + 5}}})
			},
			want: revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "EnforcedAnnouncedWhileWaiting", wait: long, poll: long, ev: tokenEvent(),
			setup: func(f *fixture, ack events.PubAck) {
				go func() {
					f.ann.Record(events.Applied{Ranges: [][2]uint64{{ack.Sequence + 1, ack.Sequence + 1}}})
					f.ann.Record(events.Applied{Ranges: [][2]uint64{{ack.Sequence, ack.Sequence}}})
				}()
			},
			want: revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "EnforcedByRedisPoll", wait: long, poll: 10 * time.Millisecond, ev: tokenEvent(),
			setup: func(f *fixture, _ events.PubAck) { f.state.RevokeToken(jti) },
			want:  revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "EnforcedUserVersionByRedisPoll", wait: long, poll: 10 * time.Millisecond, ev: userEvent(3),
			setup: func(f *fixture, _ events.PubAck) { f.state.SetUserVersion(userID, 4) },
			want:  revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "EnforcedAtDeadlineCheck", wait: 50 * time.Millisecond, poll: long, ev: tokenEvent(),
			setup: func(f *fixture, _ events.PubAck) { f.state.RevokeToken(jti) },
			want:  revoke.Enforced, maxTime: time.Second,
		},
		{
			name: "PendingOtherSequenceAnnounced", wait: 50 * time.Millisecond, poll: 10 * time.Millisecond, ev: tokenEvent(),
			setup: func(f *fixture, ack events.PubAck) {
				f.ann.Record(events.Applied{Ranges: [][2]uint64{{ack.Sequence + 1, ack.Sequence + 9}}})
			},
			want: revoke.Pending, maxTime: time.Second,
		},
		{
			name: "PendingUserVersionBelow", wait: 50 * time.Millisecond, poll: 10 * time.Millisecond, ev: userEvent(3),
			setup: func(f *fixture, _ events.PubAck) { f.state.SetUserVersion(userID, 2) },
			want:  revoke.Pending, maxTime: time.Second,
		},
		{
			name: "PendingCheckpointMissing", wait: 50 * time.Millisecond, poll: 10 * time.Millisecond, ev: tokenEvent(),
			setup: func(f *fixture, _ events.PubAck) {
				f.state.RevokeToken(jti)
				f.state.SetInitialized(false)
			},
			want: revoke.Pending, maxTime: time.Second,
		},
		{
			name: "PendingRedisDown", wait: 50 * time.Millisecond, poll: 10 * time.Millisecond, ev: tokenEvent(),
			setup: func(f *fixture, _ events.PubAck) {
				f.state.RevokeToken(jti)
				f.state.FailWith(errors.New("connection refused"))
			},
			want: revoke.Pending, maxTime: time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.wait, tc.poll)
			ack, err := f.rev.Publish(context.Background(), tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			tc.setup(f, ack)
			start := time.Now()
			got := f.rev.Await(context.Background(), tc.ev, ack)
			took := time.Since(start)
			if got != tc.want {
				t.Fatalf("Await = %v, want %v", got, tc.want)
			}
			if took > tc.maxTime {
				t.Fatalf("Await took %s, want at most %s", took, tc.maxTime)
			}
			if got == revoke.Pending && took < tc.wait {
				t.Fatalf("Pending after %s, before the wait of %s", took, tc.wait)
			}
		})
	}
}

func TestAwaitDuplicateChecksRedisFirst(t *testing.T) {
	f := newFixture(t, 10*time.Second, 10*time.Second)
	ev := tokenEvent()
	if _, err := f.rev.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	ack, err := f.rev.Publish(context.Background(), ev)
	if err != nil || !ack.Duplicate {
		t.Fatalf("second publish: %+v, %v; want a duplicate", ack, err)
	}
	f.state.RevokeToken(jti)
	calls := f.state.Calls()
	start := time.Now()
	if got := f.rev.Await(context.Background(), ev, ack); got != revoke.Enforced {
		t.Fatalf("Await = %v", got)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s: Redis was not read first", took)
	}
	if f.state.Calls() != calls+1 {
		t.Fatalf("state read %d times, want 1", f.state.Calls()-calls)
	}
}

func TestAwaitContextCanceled(t *testing.T) {
	f := newFixture(t, 10*time.Second, 10*time.Second)
	ev := tokenEvent()
	ack, err := f.rev.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := f.rev.Await(ctx, ev, ack); got != revoke.Pending {
		t.Fatalf("Await = %v, want Pending", got)
	}
}

func TestPublishError(t *testing.T) {
	f := newFixture(t, time.Second, time.Second)
	cause := errors.New("nats: timeout")
	f.pub.err = cause
	_, err := f.rev.Publish(context.Background(), tokenEvent())
	if !errors.Is(err, revoke.ErrUnavailable) || !errors.Is(err, cause) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping the cause", err)
	}
}

func TestNewErrors(t *testing.T) {
	ok := revoke.Config{Publisher: &fakePublisher{}, State: jwtxtest.NewMemoryStore(), Announcements: revoke.NewAnnouncements(0, 0, nil)}
	cases := []struct {
		name   string
		modify func(*revoke.Config)
	}{
		{"ErrNoPublisher", func(c *revoke.Config) { c.Publisher = nil }},
		{"ErrNoState", func(c *revoke.Config) { c.State = nil }},
		{"ErrNoAnnouncements", func(c *revoke.Config) { c.Announcements = nil }},
		{"ErrNegativeWait", func(c *revoke.Config) { c.Wait = -time.Second }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.modify(&cfg)
			if _, err := revoke.New(cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}

// AnnouncementsOnly (Redis behind Sentinel or in a Cluster): a revocation
// visible in Redis but not announced is Pending, not Enforced; the
// announcement (sent once the replicas have the write) enforces it.
func TestAwaitAnnouncementsOnly(t *testing.T) {
	f := &fixture{pub: &fakePublisher{}, state: jwtxtest.NewMemoryStore(), ann: revoke.NewAnnouncements(0, 0, nil)}
	rev, err := revoke.New(revoke.Config{
		Publisher: f.pub, State: f.state, Announcements: f.ann,
		Wait: 300 * time.Millisecond, PollInterval: 10 * time.Millisecond, AnnouncementsOnly: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := tokenEvent()
	ack, err := rev.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	f.state.RevokeToken(jti) // on the primary, not yet on its replicas
	if got := rev.Await(context.Background(), ev, ack); got != revoke.Pending {
		t.Fatalf("Await = %v with the write only read in Redis, want Pending", got)
	}
	f.ann.Record(events.Applied{Ranges: [][2]uint64{{ack.Sequence, ack.Sequence}}, Checkpoint: ack.Sequence, At: time.Now()})
	if got := rev.Await(context.Background(), ev, ack); got != revoke.Enforced {
		t.Fatalf("Await = %v after the announcement, want Enforced", got)
	}
}

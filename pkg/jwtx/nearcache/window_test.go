package nearcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
)

// These tests put a replay's start (now - ReplayWindow) between messages
// the stream stored: a clock shifted so that, when the cache starts, its
// now - window is a chosen moment between two stored times that are
// hundreds of milliseconds apart.

// startingAt returns a clock whose now - window is start at the moment it
// is made, and moves on with real time.
func startingAt(start time.Time, window time.Duration) func() time.Time {
	shift := time.Until(start.Add(window))
	return func() time.Time { return time.Now().Add(shift) }
}

// stored returns the time JetStream stored the message at seq.
func (f *fixture) stored(seq uint64) time.Time {
	f.t.Helper()
	s, err := f.js.Stream(f.t.Context(), events.StreamName)
	if err != nil {
		f.t.Fatal(err)
	}
	m, err := s.GetMsg(f.t.Context(), seq)
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Time
}

// on returns f for the subtest t.
func (f *fixture) on(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

// after polls until the real clock is d past t.
func after(tb testing.TB, t time.Time, d time.Duration) {
	tb.Helper()
	testkit.Eventually(tb, 10*time.Second, "time to pass", func() bool { return time.Since(t) > d })
}

// TestReplayWindowSkipsOlderEvents: events stored before now - window are
// not replayed, events inside it are, and what follows is applied; a
// cache replaying everything (ReplayAll) sees the older ones.
func TestReplayWindowSkipsOlderEvents(t *testing.T) {
	f := newFixture(t)
	oldJTI, oldUser := f.revokeToken()
	versioned := uuid.NewString()
	oldSeq := f.publish(events.UserTokensRevoked{UserID: versioned, Version: 4}.Event(time.Now()))
	old := f.stored(oldSeq)
	after(t, old, 400*time.Millisecond)
	ev, inJTI, inUser := revokeEvent()
	inSeq := f.publish(ev)
	if gap := f.stored(inSeq).Sub(old); gap < 400*time.Millisecond {
		t.Fatalf("stored times only %s apart", gap)
	}

	const window = 10 * time.Minute
	reg := prometheus.NewRegistry()
	// The start is 150 ms after the older events, 250 ms or more before
	// the one inside the window: room for the time the cache takes to
	// start.
	c := f.cache(nearcache.Config{ReplayWindow: window, Now: startingAt(old.Add(150*time.Millisecond), window), Metrics: reg})
	full := f.cache(nearcache.Config{ReplayWindow: nearcache.ReplayAll})

	if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: oldJTI, UserID: oldUser}); !ok || st.TokenRevoked {
		t.Fatalf("an event older than the window: %+v, %v; want fresh and not applied", st, ok)
	}
	if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{UserID: versioned}); !ok || st.UserVersion != 0 {
		t.Fatalf("a user version older than the window: %+v, %v; want not applied", st, ok)
	}
	if !revoked(c, inJTI, inUser) {
		t.Fatal("an event inside the window was not replayed")
	}
	if !revoked(full, oldJTI, oldUser) || !revoked(full, inJTI, inUser) {
		t.Fatal("ReplayAll did not replay from the first message")
	}
	if got := gauge(t, reg, "jwtx_nearcache_replayed_messages_total"); got != 1 {
		t.Fatalf("replayed %v messages, want the 1 inside the window", got)
	}
	newJTI, newUser := f.revokeToken()
	testkit.Eventually(t, 5*time.Second, "an event after the start applied", func() bool { return revoked(c, newJTI, newUser) })
	if tokens, _, users := c.Entries(); tokens != 2 || users != 0 {
		t.Fatalf("entries: %d tokens, %d users; want 2, 0", tokens, users)
	}
	if gaps := gauge(t, reg, "jwtx_nearcache_gaps_total"); gaps != 0 {
		t.Fatalf("%v gaps: the messages before the start counted as lost", gaps)
	}
}

// TestReplayWindowReadyWithNothingAfterStart: a stream whose every
// message is older than the window still makes the cache ready (no
// message will say it caught up), at the stream's last sequence, and
// following goes on from there without a gap.
func TestReplayWindowReadyWithNothingAfterStart(t *testing.T) {
	f := newFixture(t)
	var last uint64
	for range 3 {
		ev, _, _ := revokeEvent()
		last = f.publish(ev)
	}
	old := f.stored(last)
	after(t, old, 200*time.Millisecond)
	for _, tc := range []struct {
		name  string
		start time.Time
	}{
		{"OKStartAfterTheLastMessage", old.Add(100 * time.Millisecond)},
		{"OKStartAheadOfTheServer", time.Now().Add(time.Hour)},
	} {
		// Each start is a fixed moment: later than old + 100ms is fine
		// here, since nothing is stored after the last message.
		t.Run(tc.name, func(t *testing.T) {
			f := f.on(t)
			reg := prometheus.NewRegistry()
			const window = 10 * time.Minute
			c := f.cache(nearcache.Config{ReplayWindow: window, Now: startingAt(tc.start, window), Metrics: reg}) // waits for ready
			if got := c.AppliedSequence(); got < last {
				t.Fatalf("ready at sequence %d, want the stream's last, %d", got, last)
			}
			if tokens, _, _ := c.Entries(); tokens != 0 {
				t.Fatalf("%d tokens replayed from before the start", tokens)
			}
			if got := gauge(t, reg, "jwtx_nearcache_replayed_messages_total"); got != 0 {
				t.Fatalf("replayed %v messages, want 0", got)
			}
			// A user version outlives the clocks ahead (a token revocation
			// would have expired an hour from now).
			user := uuid.NewString()
			seq := f.publish(events.UserTokensRevoked{UserID: user, Version: 2}.Event(time.Now()))
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := c.WaitApplied(ctx, seq); err != nil {
				t.Fatal(err)
			}
			if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{UserID: user}); !ok || st.UserVersion != 2 {
				t.Fatalf("the event after the start: %+v, %v; want version 2 applied", st, ok)
			}
			if gaps, resyncs := gauge(t, reg, "jwtx_nearcache_gaps_total"), gauge(t, reg, "jwtx_nearcache_resyncs_total"); gaps != 0 || resyncs != 0 {
				t.Fatalf("%v gaps, %v resyncs; want none", gaps, resyncs)
			}
			last = seq
		})
	}
}

// TestReplayWindowDefaultFollowsMaxTokenTTL: without a ReplayWindow the
// replay starts MaxTokenTTL + Leeway + ReplayMargin ago.
func TestReplayWindowDefaultFollowsMaxTokenTTL(t *testing.T) {
	f := newFixture(t)
	user := uuid.NewString()
	f.publish(events.UserTokensRevoked{UserID: user, Version: 3}.Event(time.Now()))
	// A day and a half from now, by the caches' clock.
	later := func() time.Time { return time.Now().Add(36 * time.Hour) }
	for _, tc := range []struct {
		name     string
		ttl      time.Duration
		replayed float64
		version  int64
	}{
		{"OKOlderThanADayIsSkipped", 24 * time.Hour, 0, 0},
		{"OKWithinTwoDaysIsReplayed", 48 * time.Hour, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.on(t)
			reg := prometheus.NewRegistry()
			c := f.cache(nearcache.Config{MaxTokenTTL: tc.ttl, Now: later, Metrics: reg})
			if got := gauge(t, reg, "jwtx_nearcache_replayed_messages_total"); got != tc.replayed {
				t.Fatalf("replayed %v messages, want %v", got, tc.replayed)
			}
			if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{UserID: user}); !ok || st.UserVersion != tc.version {
				t.Fatalf("user version %+v, %v; want %d", st, ok, tc.version)
			}
		})
	}
}

// TestReplayWindowReadsOnlyTheWindow measures what a start reads from a
// stream holding many events older than the window (the lead's
// PERFORMANCE notes): a full replay reads them all, a windowed one only
// those inside the window.
func TestReplayWindowReadsOnlyTheWindow(t *testing.T) {
	const older, inside = 20_000, 100
	nt := testkit.StartNATSBulk(t) // the part measured only reads
	js := withStream(t, nt)
	f := &fixture{t: t, nt: nt, js: js, pub: events.NewPublisher(js)}
	msgs, _, _ := revocationMsgs(t, older)
	testkit.PublishAsync(t, js, msgs)
	old := f.stored(older)
	after(t, old, 400*time.Millisecond)
	msgs, _, _ = revocationMsgs(t, inside)
	testkit.PublishAsync(t, js, msgs)

	const window = 10 * time.Minute
	for _, tc := range []struct {
		name   string
		window time.Duration
		want   float64
	}{
		{"ReplayAll", nearcache.ReplayAll, older + inside},
		{"Window", window, inside},
	} {
		reg := prometheus.NewRegistry()
		cfg := nearcache.Config{ReplayWindow: tc.window, Metrics: reg}
		if tc.window > 0 {
			cfg.Now = startingAt(old.Add(150*time.Millisecond), tc.window) // made now: the clock moves on
		}
		began := time.Now()
		c := f.cache(cfg)
		took := time.Since(began)
		got := gauge(t, reg, "jwtx_nearcache_replayed_messages_total")
		tokens, _, _ := c.Entries()
		t.Logf("%s: start read %v messages of %d in %s, %d tokens held", tc.name, got, older+inside, took.Round(time.Millisecond), tokens)
		if got != tc.want || float64(tokens) != tc.want {
			t.Errorf("%s: replayed %v messages, %d tokens; want %v", tc.name, got, tokens, tc.want)
		}
		_ = c.Close()
	}
}

package nearcache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
)

// These tests run a real embedded nats-server with JetStream
// (testkit.StartNATS) and the production stream configuration.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded server's and client's long-lived goroutines end
		// after the tests' cleanups.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start"),
	)
}

// fixture is one NATS server with the stream, a publisher and caches.
type fixture struct {
	t   *testing.T
	nt  *testkit.NATS
	js  jetstream.JetStream
	pub *events.Publisher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	nt := testkit.StartNATS(t)
	js := withStream(t, nt)
	return &fixture{t: t, nt: nt, js: js, pub: events.NewPublisher(js)}
}

// cache starts a Cache with cfg on its own connection and waits for it.
func (f *fixture) cache(cfg nearcache.Config) *nearcache.Cache {
	f.t.Helper()
	cfg.JetStream = f.nt.JetStream(f.t)
	c, err := nearcache.New(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.Start(f.t.Context()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// revokeToken publishes a TokenRevoked event and returns its jti and user.
func (f *fixture) revokeToken() (jti, user string) {
	f.t.Helper()
	ev, jti, user := revokeEvent()
	f.publish(ev)
	return jti, user
}

func (f *fixture) publish(ev events.Event) uint64 {
	f.t.Helper()
	ack, err := f.pub.Publish(f.t.Context(), ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return ack.Sequence
}

// revoked reports whether c answers from memory that the token is revoked.
func revoked(c *nearcache.Cache, jti, user string) bool {
	st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: jti, UserID: user})
	return ok && st.TokenRevoked
}

func TestReplayThenFollow(t *testing.T) {
	f := newFixture(t)
	jti, user := f.revokeToken()
	logoutAll := uuid.NewString()
	f.publish(events.UserTokensRevoked{UserID: logoutAll, Version: 3, ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()))
	// Garbage on the subjects is dropped, counted, and stops nothing.
	if _, err := f.js.Publish(t.Context(), "revocation.token."+uuid.NewString(), []byte("{not an event")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := f.cache(nearcache.Config{Metrics: reg})

	if !revoked(c, jti, user) {
		t.Fatal("a revocation published before start is not in the replayed view")
	}
	if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{UserID: logoutAll}); !ok || st.UserVersion != 3 || !st.Initialized {
		t.Fatalf("user version after replay = %+v, %v; want 3", st, ok)
	}
	if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: uuid.NewString(), UserID: uuid.NewString()}); !ok || st.TokenRevoked || st.UserVersion != 0 {
		t.Fatalf("unknown token = %+v, %v; want fresh and not revoked", st, ok)
	}
	if got := gauge(t, reg, "jwtx_nearcache_invalid_events_total"); got != 1 {
		t.Fatalf("invalid events = %v, want 1", got)
	}
	ev, jti2, user2 := revokeEvent()
	seq := f.publish(ev)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if !revoked(c, jti2, user2) || c.AppliedSequence() < seq {
		t.Fatal("WaitApplied returned before the revocation was applied")
	}
	if tokens, _, users := c.Entries(); tokens != 2 || users != 1 {
		t.Fatalf("entries = %d tokens, %d users; want 2, 1", tokens, users)
	}
	short, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	if err := c.WaitApplied(short, seq+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied for a sequence never published: %v, want the deadline", err)
	}
	_ = c.Close()
	if err := c.WaitApplied(t.Context(), seq+1); !errors.Is(err, nearcache.ErrClosed) {
		t.Fatalf("WaitApplied after Close: %v, want ErrClosed", err)
	}
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: jti2, UserID: user2}); ok {
		t.Fatal("a closed cache still answers from memory")
	}
}

// gauge reads a metric without labels from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestStaleFallsBackOrFailsClosed(t *testing.T) {
	f := newFixture(t)
	const bound = 500 * time.Millisecond
	fallback := jwtxtest.NewMemoryStore()
	onlyInFallback, user := uuid.NewString(), uuid.NewString()
	fallback.RevokeToken(onlyInFallback)
	withFallback := f.cache(nearcache.Config{MaxStaleness: bound, ProbeInterval: 50 * time.Millisecond, Fallback: fallback})
	closed := f.cache(nearcache.Config{MaxStaleness: bound, ProbeInterval: 50 * time.Millisecond})
	ctx := t.Context()

	if st, err := withFallback.RevocationState(ctx, jwtx.RevocationQuery{JTI: onlyInFallback, UserID: user}); err != nil || st.TokenRevoked {
		t.Fatalf("fresh view = %+v, %v; want answered from memory (not revoked there)", st, err)
	}
	if fallback.Calls() != 0 {
		t.Fatal("a fresh view asked the fallback")
	}

	f.nt.Shutdown()
	testkit.Eventually(t, 10*time.Second, "views stale after NATS went away", func() bool {
		_, ok1 := withFallback.LocalRevocationState(jwtx.RevocationQuery{JTI: onlyInFallback, UserID: user})
		_, ok2 := closed.LocalRevocationState(jwtx.RevocationQuery{JTI: onlyInFallback, UserID: user})
		return !ok1 && !ok2
	})
	if s, ok := closed.Staleness(); ok && s <= bound {
		t.Fatalf("stale view reports staleness %v within the bound %v", s, bound)
	}
	if st, err := withFallback.RevocationState(ctx, jwtx.RevocationQuery{JTI: onlyInFallback, UserID: user}); err != nil || !st.TokenRevoked || fallback.Calls() == 0 {
		t.Fatalf("stale view with a fallback = %+v, %v (fallback calls %d); want the fallback's answer", st, err, fallback.Calls())
	}
	if _, err := closed.RevocationState(ctx, jwtx.RevocationQuery{JTI: onlyInFallback, UserID: user}); !errors.Is(err, nearcache.ErrStale) {
		t.Fatalf("stale view without a fallback: err = %v, want ErrStale", err)
	}
	k := jwtxtest.New(t)
	v := k.Validator(t, closed)
	if _, err := v.Validate(ctx, k.Token(t, uuid.NewString(), 0)); !errors.Is(err, jwtx.ErrRevocationUnavailable) {
		t.Fatalf("Validate on a stale view: err = %v, want ErrRevocationUnavailable (fail closed)", err)
	}

	f.nt.Restart(t)
	jti, user2 := f.revokeToken()
	testkit.Eventually(t, 15*time.Second, "fresh again after NATS came back, with what was published since", func() bool {
		return revoked(closed, jti, user2) && revoked(withFallback, jti, user2)
	})
}

func TestStreamRecreatedForcesReplay(t *testing.T) {
	f := newFixture(t)
	oldJTI, oldUser := f.revokeToken()
	c := f.cache(nearcache.Config{MaxStaleness: time.Second, ProbeInterval: 50 * time.Millisecond})
	if !revoked(c, oldJTI, oldUser) {
		t.Fatal("not replayed")
	}
	// An operator deletes and recreates the stream: sequences start over.
	// The view must be rebuilt from the new stream, not patched.
	if err := f.js.DeleteStream(t.Context(), events.StreamName); err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureStream(t.Context(), f.js, benchStream); err != nil {
		t.Fatal(err)
	}
	jti, user := f.revokeToken()
	testkit.Eventually(t, 15*time.Second, "the view replayed the recreated stream", func() bool {
		_, oldThere := c.LocalRevocationState(jwtx.RevocationQuery{JTI: oldJTI, UserID: oldUser})
		return revoked(c, jti, user) && oldThere && !revoked(c, oldJTI, oldUser)
	})
}

func TestValidatorWithNearCache(t *testing.T) {
	f := newFixture(t)
	c := f.cache(nearcache.Config{MaxStaleness: 30 * time.Second, ProbeInterval: 100 * time.Millisecond})
	k := jwtxtest.New(t)
	v := k.Validator(t, c)
	ctx := t.Context()
	user := uuid.NewString()
	tok, tok2 := k.Token(t, user, 0), k.Token(t, user, 0)
	claims, err := v.Validate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	f.publish(events.TokenRevoked{UserID: user, JTI: claims.ID, ExpiresAt: claims.ExpiresAt, Reason: events.ReasonLogout, Actor: events.UserActor(user)}.Event(time.Now()))
	testkit.Eventually(t, 5*time.Second, "the revoked token is rejected", func() bool {
		_, err := v.Validate(ctx, tok)
		return errors.Is(err, jwtx.ErrRevoked)
	})
	if _, err := v.Validate(ctx, tok2); err != nil {
		t.Fatalf("the user's other token: %v", err)
	}
	// A session revocation rejects every token of the session, and only
	// those.
	sid, otherSID := uuid.NewString(), uuid.NewString()
	s1, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: user, SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: user, SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	s3, _, err := k.Signer.IssueGrant(jwtx.Grant{Subject: user, SessionID: otherSID})
	if err != nil {
		t.Fatal(err)
	}
	f.publish(events.SessionRevoked{UserID: user, SessionID: sid, ExpiresAt: time.Now().Add(15 * time.Minute),
		Reason: events.ReasonRefreshTokenReuse, Actor: events.SystemActor("auth")}.Event(time.Now()))
	testkit.Eventually(t, 5*time.Second, "the revoked session's tokens are rejected", func() bool {
		_, err1 := v.Validate(ctx, s1)
		_, err2 := v.Validate(ctx, s2)
		return errors.Is(err1, jwtx.ErrRevoked) && errors.Is(err2, jwtx.ErrRevoked)
	})
	if _, err := v.Validate(ctx, s3); err != nil {
		t.Fatalf("a token of the user's other session: %v", err)
	}
	if _, sessions, _ := c.Entries(); sessions != 1 {
		t.Fatalf("%d session entries, want 1", sessions)
	}
	f.publish(events.UserTokensRevoked{UserID: user, Version: 1, ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()))
	testkit.Eventually(t, 5*time.Second, "logout-all-devices rejects the other token", func() bool {
		_, err := v.Validate(ctx, tok2)
		return errors.Is(err, jwtx.ErrRevoked)
	})
	// No round trip per validation: with NATS gone, validation goes on
	// from memory while the view is within its bound.
	f.nt.Shutdown()
	if _, err := v.Validate(ctx, k.Token(t, user, 1)); err != nil {
		t.Fatalf("validation with NATS down, within the staleness bound: %v", err)
	}
	if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevoked) {
		t.Fatalf("revoked token with NATS down: err = %v, want ErrRevoked", err)
	}
}

package nearcache

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation/revocationtest"
)

// The revocation service's defaults, as in services/revocation's store
// tests.
const (
	leeway      = time.Minute
	maxTokenTTL = 24 * time.Hour
)

var testRules = rules{Leeway: leeway, MaxTokenTTL: maxTokenTTL}

// now is a fixed instant with a millisecond part, so rounding shows.
var now = time.Date(2026, 11, 26, 12, 0, 0, 250e6, time.UTC)

func tokenEvent(exp time.Time) events.Event {
	return events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: exp}.Event(now)
}

func userEvent(id string, version int64, exp, occurred time.Time) events.Event {
	return events.UserTokensRevoked{UserID: id, Version: version, ExpiresAt: exp}.Event(occurred)
}

func key(t *testing.T, s string) uuidKey {
	t.Helper()
	k, ok := parseUUID(s)
	if !ok {
		t.Fatalf("parseUUID(%q) failed", s)
	}
	return k
}

func TestParseUUID(t *testing.T) {
	id := uuid.New()
	got, ok := parseUUID(id.String())
	if !ok || got != uuidKey(id) {
		t.Fatalf("parseUUID(%s) = %x, %v", id, got, ok)
	}
	for name, s := range map[string]string{
		"Empty":     "",
		"UpperCase": strings.ToUpper(id.String()),
		"NoDashes":  strings.ReplaceAll(id.String(), "-", "") + "....",
		"NotHex":    "g" + id.String()[1:],
		"Short":     id.String()[:35],
		"Braces":    "{" + id.String()[1:35] + "}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, ok := parseUUID(s); ok {
				t.Fatalf("parseUUID(%q) accepted", s)
			}
		})
	}
}

// TestRulesMatchRevocationService runs the cases the revocation service's
// store runs against Redis (revocationtest.MergeCases, TestApplyMergeRules)
// against the in-memory state, so the two views keep one set of rules.
func TestRulesMatchRevocationService(t *testing.T) {
	nowMS := now.UnixMilli()
	for _, c := range revocationtest.MergeCases(now, testRules) {
		t.Run(c.Name, func(t *testing.T) {
			s := newState(0)
			for _, ev := range c.Events {
				s.apply(testRules, ev, nowMS)
			}
			want := ceilSeconds(c.Want.Expiry.UnixMilli())
			if c.JTI != "" || c.SessionID != "" {
				m, id := s.tokens, c.JTI
				if c.SessionID != "" {
					m, id = s.sessions, c.SessionID
				}
				exp, ok := m[key(t, id)]
				switch {
				case c.Want.Absent && ok:
					t.Fatalf("entry present (expiry %d), want absent", exp)
				case !c.Want.Absent && exp != want:
					t.Fatalf("entry expiry %d (present %v), want %d", exp, ok, want)
				}
				return
			}
			got, ok := s.users[key(t, c.UserID)]
			switch {
			case c.Want.Absent && ok:
				t.Fatalf("user present (%+v), want absent", got)
			case !c.Want.Absent && got != (userEntry{c.Want.Version, want}):
				t.Fatalf("user %+v (present %v), want version %d expiring %d", got, ok, c.Want.Version, want)
			}
		})
	}
	t.Run("SkipsExpired", func(t *testing.T) {
		s := newState(0)
		if s.apply(testRules, tokenEvent(now.Add(-2*time.Hour)), nowMS) ||
			s.apply(testRules, events.UserTokensRevoked{UserID: uuid.NewString(), Version: 2}.Event(now.Add(-maxTokenTTL-leeway)), nowMS) {
			t.Fatal("expired event applied")
		}
		// Expiring exactly now is expired too (Redis: PXAT <= now).
		if s.apply(testRules, tokenEvent(now.Add(-leeway)), nowMS) {
			t.Fatal("event expiring now applied")
		}
		if tokens, sessions, users := s.counts(); tokens+sessions+users != 0 {
			t.Fatalf("%d tokens, %d sessions, %d users, want none", tokens, sessions, users)
		}
	})
	t.Run("ExpiredEntryCountsAsAbsent", func(t *testing.T) {
		// In Redis the expired key is gone: a lower version is set again.
		s := newState(0)
		id := uuid.NewString()
		s.apply(testRules, userEvent(id, 7, now.Add(time.Minute), now), nowMS)
		later := now.Add(maxTokenTTL + leeway + time.Second)
		v2 := events.UserTokensRevoked{UserID: id, Version: 2}.Event(later)
		if !s.apply(testRules, v2, later.UnixMilli()) || s.users[key(t, id)].version != 2 {
			t.Fatalf("%+v, want version 2 after 7 expired", s.users[key(t, id)])
		}
	})
}

func TestLookup(t *testing.T) {
	s := newState(0)
	tok := tokenEvent(now.Add(time.Hour))
	user := userEvent(tok.UserID, 4, now.Add(time.Hour), now)
	s.apply(testRules, tok, now.UnixMilli())
	s.apply(testRules, user, now.UnixMilli())
	ses := events.SessionRevoked{UserID: tok.UserID, SessionID: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
	s.apply(testRules, ses, now.UnixMilli())
	q := query{jti: key(t, tok.JTI), hasJTI: true, user: key(t, tok.UserID)}
	if revoked, sesRevoked, v := s.lookup(q); !revoked || sesRevoked || v != 4 {
		t.Fatalf("lookup = %v, %v, %d; want token revoked, session not asked, version 4", revoked, sesRevoked, v)
	}
	q = query{jti: key(t, uuid.NewString()), hasJTI: true, sid: key(t, ses.SessionID), hasSID: true, user: key(t, tok.UserID)}
	if revoked, sesRevoked, _ := s.lookup(q); revoked || !sesRevoked {
		t.Fatalf("session lookup = %v, %v; want token live, session revoked", revoked, sesRevoked)
	}
	// The session key is not a token key: a jti equal to a revoked sid is
	// not revoked by it.
	q = query{jti: key(t, ses.SessionID), hasJTI: true, user: key(t, tok.UserID)}
	if revoked, _, _ := s.lookup(q); revoked {
		t.Fatal("a session revocation revoked the token whose jti has the same value")
	}
	if revoked, sesRevoked, v := s.lookup(query{user: key(t, uuid.NewString())}); revoked || sesRevoked || v != 0 {
		t.Fatalf("unknown = %v, %v, %d", revoked, sesRevoked, v)
	}
}

func TestSweep(t *testing.T) {
	s := newState(0)
	n := 3*sweepChunk + 7 // several steps
	for i := range n {
		s.apply(testRules, tokenEvent(now.Add(time.Duration(i%2+1)*time.Hour)), now.UnixMilli())
	}
	// User versions expire the longest token lifetime after their event.
	s.apply(testRules, userEvent(uuid.NewString(), 1, time.Time{}, now.Add(time.Hour-maxTokenTTL)), now.UnixMilli())
	s.apply(testRules, userEvent(uuid.NewString(), 1, time.Time{}, now.Add(2*time.Hour-maxTokenTTL)), now.UnixMilli())
	if removed := s.sweep(now.Unix()); removed != 0 {
		t.Fatalf("sweep at now removed %d", removed)
	}
	// Past the first hour + leeway: half the tokens and one user go. With
	// several steps, an entry may survive one sweep; a few sweeps get all.
	at := now.Add(time.Hour + leeway + time.Second).Unix()
	removed := 0
	for range 10 {
		removed += s.sweep(at)
	}
	if want := (n+1)/2 + 1; removed != want {
		t.Fatalf("removed %d, want %d", removed, want)
	}
	if tokens, _, users := s.counts(); tokens != n/2 || users != 1 {
		t.Fatalf("left %d tokens, %d users", tokens, users)
	}
}

// fakeJS satisfies jetstream.JetStream for tests that never reach it.
type fakeJS struct{ jetstream.JetStream }

func newUnstarted(t *testing.T, cfg Config) *Cache {
	t.Helper()
	cfg.JetStream = fakeJS{}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStep feeds sequences to a follower: jumps are tolerated during the
// replay, and once following a jump or a step back ends it.
func TestStep(t *testing.T) {
	body := func(ev events.Event) (string, []byte) {
		b, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		return ev.Subject(), b
	}
	clock := func() time.Time { return now }
	newFollower := func(c *Cache, until uint64) *follower {
		return &follower{c: c, st: newState(0), until: until, at: now.UnixNano(), errc: make(chan error, 1)}
	}
	t.Run("ReplayToleratesJumps", func(t *testing.T) {
		c := newUnstarted(t, Config{Now: clock})
		f := newFollower(c, 9)
		for _, seq := range []uint64{3, 4, 7} {
			subj, b := body(tokenEvent(now.Add(time.Hour)))
			if err := f.step(seq, 9-seq, subj, b); err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
		}
		if f.isFollowing() || c.isReady() {
			t.Fatal("following before reaching the last sequence")
		}
		subj, b := body(tokenEvent(now.Add(time.Hour)))
		if err := f.step(9, 0, subj, b); err != nil {
			t.Fatal(err)
		}
		if !f.isFollowing() || !c.isReady() || c.AppliedSequence() != 9 {
			t.Fatalf("following %v, ready %v, applied %d", f.isFollowing(), c.isReady(), c.AppliedSequence())
		}
		if tokens, _, _ := c.Entries(); tokens != 4 {
			t.Fatalf("%d tokens, want 4", tokens)
		}
		if err := f.step(10, 0, subj, b); err != nil {
			t.Fatalf("next sequence: %v", err)
		}
		if err := f.step(12, 0, subj, b); err == nil || !strings.Contains(err.Error(), "jumped") {
			t.Fatalf("jump while following = %v, want a gap", err)
		}
		if got := counterValue(t, c.metrics.gaps); got != 1 {
			t.Fatalf("gaps = %v", got)
		}
	})
	t.Run("TailDeletedCatchesUpOnNoPending", func(t *testing.T) {
		c := newUnstarted(t, Config{Now: clock})
		f := newFollower(c, 20)
		subj, b := body(tokenEvent(now.Add(time.Hour)))
		if err := f.step(5, 0, subj, b); err != nil {
			t.Fatal(err)
		}
		if !f.isFollowing() || c.AppliedSequence() != 20 {
			t.Fatalf("following %v, applied %d; want caught up at 20", f.isFollowing(), c.AppliedSequence())
		}
	})
	t.Run("BackwardsIsAnError", func(t *testing.T) {
		c := newUnstarted(t, Config{Now: clock})
		f := newFollower(c, 2)
		subj, b := body(tokenEvent(now.Add(time.Hour)))
		_ = f.step(2, 0, subj, b)
		if err := f.step(1, 0, subj, b); err == nil {
			t.Fatal("sequence going backwards accepted")
		}
	})
	t.Run("InvalidDropped", func(t *testing.T) {
		c := newUnstarted(t, Config{Now: clock})
		f := newFollower(c, 3)
		subj, b := body(tokenEvent(now.Add(time.Hour)))
		for i, m := range [][2]string{ // in stream order: a map's order is random
			{subj, "{not json"},
			{"revocation.token." + uuid.NewString(), string(b)}, // subject mismatch
		} {
			seq := uint64(i + 1)
			if err := f.step(seq, 3-seq, m[0], []byte(m[1])); err != nil {
				t.Fatal(err)
			}
		}
		if got := counterValue(t, c.metrics.invalid); got != 2 {
			t.Fatalf("invalid = %v, want 2", got)
		}
		if tokens, sessions, users := f.st.counts(); tokens+sessions+users != 0 {
			t.Fatal("invalid event applied")
		}
	})
}

// TestFreshness drives the freshness bookkeeping: a probe proves the view
// fresh as of when it was sent, at once or when the sequence it saw is
// applied, and a replay forgets it.
func TestFreshness(t *testing.T) {
	clock := now
	c := newUnstarted(t, Config{Now: func() time.Time { return clock }, MaxStaleness: time.Second})
	id, user := uuid.NewString(), uuid.NewString()
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); ok {
		t.Fatal("answered before ready")
	}
	c.install(newState(0), 5, clock.UnixNano(), time.Time{})
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); !ok {
		t.Fatal("not answering once installed")
	}
	clock = clock.Add(time.Second + time.Millisecond)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); ok {
		t.Fatal("answered beyond MaxStaleness")
	}
	// A probe at a time the stream was at 7: fresh once 7 is applied.
	c.probed(c.gen, clock.UnixNano(), 7)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); ok {
		t.Fatal("fresh before applying the probed sequence")
	}
	c.advanced(6)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); ok {
		t.Fatal("fresh at 6 of 7")
	}
	c.advanced(7)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); !ok {
		t.Fatal("not fresh after applying the probed sequence")
	}
	// A probe of an older generation does not count.
	gen := c.gen
	c.invalidate()
	c.install(newState(0), 7, clock.UnixNano(), time.Time{})
	clock = clock.Add(2 * time.Second)
	c.probed(gen, clock.UnixNano(), 7)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); ok {
		t.Fatal("a probe from before the replay made the view fresh")
	}
	c.probed(c.gen, clock.UnixNano(), 7)
	if _, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: id, UserID: user}); !ok {
		t.Fatal("a current probe did not make the view fresh")
	}
}

func TestLocalRevocationStateDoesNotAllocate(t *testing.T) {
	c := newUnstarted(t, Config{})
	s := newState(0)
	tok := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
	s.apply(testRules, tok, time.Now().UnixMilli())
	c.install(s, 1, time.Now().UnixNano(), time.Time{})
	allocs := testing.AllocsPerRun(1000, func() {
		if st, ok := c.LocalRevocationState(jwtx.RevocationQuery{JTI: tok.JTI, UserID: tok.UserID}); !ok || !st.TokenRevoked {
			t.Fatal("revoked token not found")
		}
	})
	if allocs != 0 {
		t.Fatalf("LocalRevocationState allocates %v times per call", allocs)
	}
}

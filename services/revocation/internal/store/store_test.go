package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/revocation/revocationtest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

const (
	leeway = time.Minute
	maxTTL = 24 * time.Hour
)

type fixture struct {
	ctx context.Context
	rdb *redis.Client
	s   *store.Store
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Parallel()
	rd := testkit.StartRedis(t)
	rdb := rd.Client(t)
	now := time.Now().Truncate(time.Millisecond)
	return &fixture{
		ctx: context.Background(),
		rdb: rdb,
		s:   store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: func() time.Time { return now }}),
		now: now,
	}
}

func (f *fixture) token(exp time.Time) events.Event {
	return events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: exp}.Event(f.now)
}

func (f *fixture) user(id string, version int64, exp time.Time) events.Event {
	return events.UserTokensRevoked{UserID: id, Version: version, ExpiresAt: exp}.Event(f.now)
}

func (f *fixture) setCheckpoint(t *testing.T, v string) {
	t.Helper()
	if err := f.rdb.Set(f.ctx, store.KeyCheckpoint, v, 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) get(t *testing.T, key string) (string, bool) {
	t.Helper()
	v, err := f.rdb.Get(f.ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}

func (f *fixture) expireTime(t *testing.T, key string) time.Time {
	t.Helper()
	ms, err := f.rdb.PExpireTime(f.ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(ms / time.Millisecond))
}

func (f *fixture) dbSize(t *testing.T) int64 {
	t.Helper()
	n, err := f.rdb.DBSize(f.ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApplyNormal(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "3")
	tok := f.token(f.now.Add(10 * time.Minute))
	withExp := f.user(uuid.NewString(), 2, f.now.Add(15*time.Minute))
	noExp := f.user(uuid.NewString(), 1, time.Time{})
	res, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{tok, withExp, noExp}, MaxSeq: 7, MinCheckpoint: 3})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Previous != 3 || res.Checkpoint != 7 || res.Written[events.TypeTokenRevoked] != 1 || res.Written[events.TypeUserTokensRevoked] != 2 {
		t.Fatalf("Apply result = %+v", res)
	}
	if body, ok := f.get(t, store.KeyPrefixTokenBlacklist+tok.JTI); body != store.BlacklistValue {
		t.Fatalf("blacklist value %q (present %v), want the marker %q", body, ok, store.BlacklistValue)
	}
	for key, want := range map[string]time.Time{
		store.KeyPrefixTokenBlacklist + tok.JTI:          tok.ExpiresAt.Add(leeway),
		store.KeyPrefixUserTokenVersion + withExp.UserID: withExp.OccurredAt.Add(maxTTL + leeway),
		store.KeyPrefixUserTokenVersion + noExp.UserID:   noExp.OccurredAt.Add(maxTTL + leeway),
	} {
		if got := f.expireTime(t, key); !got.Equal(want) {
			t.Errorf("%s expires at %s, want %s", key, got, want)
		}
	}
	if v, _ := f.get(t, store.KeyPrefixUserTokenVersion+withExp.UserID); v != "2" {
		t.Errorf("user version = %q, want 2", v)
	}
	if v, _ := f.get(t, store.KeyCheckpoint); v != "7" {
		t.Errorf("checkpoint = %q, want 7", v)
	}
	if ttl, _ := f.rdb.PTTL(f.ctx, store.KeyCheckpoint).Result(); ttl != -1 {
		t.Errorf("checkpoint PTTL = %s, want none", ttl)
	}
}

func TestApplyErrCheckpointLostWritesNothing(t *testing.T) {
	f := newFixture(t)
	_, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{f.token(f.now.Add(time.Hour))}, MaxSeq: 9})
	if !errors.Is(err, store.ErrCheckpointLost) {
		t.Fatalf("Apply = %v, want ErrCheckpointLost", err)
	}
	if n := f.dbSize(t); n != 0 {
		t.Fatalf("%d keys written without a checkpoint", n)
	}
}

func TestApplyErrCheckpointRegressedWritesNothing(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "5")
	res, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{f.token(f.now.Add(time.Hour))}, MaxSeq: 12, MinCheckpoint: 10})
	if !errors.Is(err, store.ErrCheckpointRegressed) {
		t.Fatalf("Apply = %v, want ErrCheckpointRegressed", err)
	}
	if res.Previous != 5 {
		t.Errorf("Previous = %d, want 5", res.Previous)
	}
	if n := f.dbSize(t); n != 1 {
		t.Fatalf("DBSIZE = %d, want only the checkpoint", n)
	}
}

func TestApplyIdempotent(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "0")
	apply := func(seq uint64, evs ...events.Event) {
		t.Helper()
		if _, err := f.s.Apply(f.ctx, store.Batch{Events: evs, MaxSeq: seq}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	t.Run("ReplayedBatch", func(t *testing.T) {
		tok := f.token(f.now.Add(10 * time.Minute))
		user := f.user(uuid.NewString(), 3, time.Time{})
		apply(3, tok, user)
		apply(4, tok, user)
		if v, _ := f.get(t, store.KeyPrefixUserTokenVersion+user.UserID); v != "3" {
			t.Fatalf("version = %q, want 3", v)
		}
		if got := f.expireTime(t, store.KeyPrefixTokenBlacklist+tok.JTI); !got.Equal(tok.ExpiresAt.Add(leeway)) {
			t.Fatalf("token expiry moved to %s", got)
		}
	})
	t.Run("CheckpointNeverLowered", func(t *testing.T) {
		apply(2)
		if v, _ := f.get(t, store.KeyCheckpoint); v != "4" {
			t.Fatalf("checkpoint = %q, want 4", v)
		}
	})
}

func TestApplySkipsExpired(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "1")
	old := f.token(f.now.Add(-2 * time.Hour))
	// A user version lives the longest token lifetime after its event.
	oldUser := events.UserTokensRevoked{UserID: uuid.NewString(), Version: 2}.Event(f.now.Add(-maxTTL - leeway - time.Hour))
	res, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{old, oldUser}, MaxSeq: 2})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Expired != 2 || res.Checkpoint != 2 {
		t.Fatalf("result = %+v, want 2 expired and checkpoint 2", res)
	}
	if n := f.dbSize(t); n != 1 {
		t.Fatalf("DBSIZE = %d, want only the checkpoint", n)
	}
}

func TestApplyLargeSequences(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "9007199254740993") // 2^53 + 1: not exact as a float
	res, err := f.s.Apply(f.ctx, store.Batch{MaxSeq: 9007199254740994, MinCheckpoint: 9007199254740993})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Checkpoint != 9007199254740994 {
		t.Fatalf("checkpoint = %d", res.Checkpoint)
	}
	if _, err := f.s.Apply(f.ctx, store.Batch{MinCheckpoint: 9007199254740995}); !errors.Is(err, store.ErrCheckpointRegressed) {
		t.Fatalf("Apply = %v, want ErrCheckpointRegressed", err)
	}
}

func TestRebuild(t *testing.T) {
	f := newFixture(t)
	tok := f.token(f.now.Add(time.Hour))
	batch := store.Batch{Mode: store.Rebuild, RebuildID: "a", Events: []events.Event{tok}}

	if _, err := f.s.Apply(f.ctx, batch); !errors.Is(err, store.ErrRebuildAborted) {
		t.Fatalf("Apply before BeginRebuild = %v, want ErrRebuildAborted", err)
	}
	if ok, err := f.s.BeginRebuild(f.ctx, "a"); !ok || err != nil {
		t.Fatalf("BeginRebuild = %v, %v", ok, err)
	}
	if ttl, _ := f.rdb.PTTL(f.ctx, store.KeyRebuildMarker).Result(); ttl <= 0 {
		t.Fatalf("marker PTTL = %s, want an expiry", ttl)
	}
	if _, err := f.s.Apply(f.ctx, batch); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, ok := f.get(t, store.KeyPrefixTokenBlacklist+tok.JTI); !ok {
		t.Fatal("rebuild did not write the token")
	}
	if _, ok := f.get(t, store.KeyCheckpoint); ok {
		t.Fatal("rebuild batch wrote the checkpoint")
	}
	cp, err := f.s.FinishRebuild(f.ctx, "a", 42)
	if err != nil || cp != 42 {
		t.Fatalf("FinishRebuild = %d, %v", cp, err)
	}
	if n, _ := f.rdb.Exists(f.ctx, store.KeyRebuildMarker).Result(); n != 0 {
		t.Fatal("marker left behind")
	}
	if _, err := f.s.FinishRebuild(f.ctx, "a", 42); !errors.Is(err, store.ErrRebuildAborted) {
		t.Fatalf("second FinishRebuild = %v, want ErrRebuildAborted", err)
	}
	if ok, err := f.s.BeginRebuild(f.ctx, "b"); ok || err != nil {
		t.Fatalf("BeginRebuild with a checkpoint = %v, %v; want false", ok, err)
	}
}

func TestRebuildErrAbortedAfterFlush(t *testing.T) {
	f := newFixture(t)
	if ok, err := f.s.BeginRebuild(f.ctx, "a"); !ok || err != nil {
		t.Fatalf("BeginRebuild = %v, %v", ok, err)
	}
	if err := f.rdb.FlushAll(f.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	batch := store.Batch{Mode: store.Rebuild, RebuildID: "a", Events: []events.Event{f.token(f.now.Add(time.Hour))}}
	if _, err := f.s.Apply(f.ctx, batch); !errors.Is(err, store.ErrRebuildAborted) {
		t.Fatalf("Apply = %v, want ErrRebuildAborted", err)
	}
	if _, err := f.s.FinishRebuild(f.ctx, "a", 9); !errors.Is(err, store.ErrRebuildAborted) {
		t.Fatalf("FinishRebuild = %v, want ErrRebuildAborted", err)
	}
	if n := f.dbSize(t); n != 0 {
		t.Fatalf("DBSIZE = %d after an aborted rebuild", n)
	}
}

func TestRebuildConcurrent(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"a", "b"} {
		if ok, err := f.s.BeginRebuild(f.ctx, id); !ok || err != nil {
			t.Fatalf("BeginRebuild(%s) = %v, %v", id, ok, err)
		}
	}
	if cp, err := f.s.FinishRebuild(f.ctx, "b", 10); err != nil || cp != 10 {
		t.Fatalf("FinishRebuild(b) = %d, %v", cp, err)
	}
	// a's marker survives b's finish: a keeps rebuilding and finishes.
	if _, err := f.s.Apply(f.ctx, store.Batch{Mode: store.Rebuild, RebuildID: "a"}); err != nil {
		t.Fatalf("Apply(a) after b finished: %v", err)
	}
	if cp, err := f.s.FinishRebuild(f.ctx, "a", 8); err != nil || cp != 10 {
		t.Fatalf("FinishRebuild(a) = %d, %v; want the higher checkpoint 10", cp, err)
	}
	if err := f.s.AbandonRebuild(f.ctx, "zzz"); err != nil {
		t.Fatalf("AbandonRebuild: %v", err)
	}
}

func TestCheckpoint(t *testing.T) {
	f := newFixture(t)
	if _, ok, err := f.s.Checkpoint(f.ctx); ok || err != nil {
		t.Fatalf("Checkpoint on empty Redis = %v, %v", ok, err)
	}
	f.setCheckpoint(t, "17")
	if cp, ok, err := f.s.Checkpoint(f.ctx); cp != 17 || !ok || err != nil {
		t.Fatalf("Checkpoint = %d, %v, %v", cp, ok, err)
	}
}

func TestApplyNonCanonicalStoredValues(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "007")
	lower, higher, garbage := uuid.NewString(), uuid.NewString(), uuid.NewString()
	for k, v := range map[string]string{
		store.KeyPrefixUserTokenVersion + lower:   "0010",
		store.KeyPrefixUserTokenVersion + higher:  "0010",
		store.KeyPrefixUserTokenVersion + garbage: "abc",
	} {
		if err := f.rdb.Set(f.ctx, k, v, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	exp := f.now.Add(time.Hour)
	res, err := f.s.Apply(f.ctx, store.Batch{
		Events:        []events.Event{f.user(lower, 9, exp), f.user(higher, 11, exp), f.user(garbage, 2, exp)},
		MaxSeq:        8,
		MinCheckpoint: 7,
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if res.Previous != 7 || res.Checkpoint != 8 {
		t.Fatalf("checkpoint %d -> %d, want 7 -> 8", res.Previous, res.Checkpoint)
	}
	for id, want := range map[string]string{lower: "0010", higher: "11", garbage: "2"} {
		if v, _ := f.get(t, store.KeyPrefixUserTokenVersion+id); v != want {
			t.Errorf("version of %s = %q, want %q", id, v, want)
		}
	}
}

// TestApplyMergeRules runs the cases every view of the stream shares
// (revocationtest.MergeCases; the near-cache runs them too): expiries are only
// ever extended, versions only raised, nothing outlives the longest token
// lifetime.
func TestApplyMergeRules(t *testing.T) {
	t.Parallel()
	rd := testkit.StartRedis(t)
	rdb := rd.Client(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { return now }
	for _, c := range revocationtest.MergeCases(now, events.Retention{MaxTokenTTL: maxTTL, Leeway: leeway}) {
		t.Run(c.Name, func(t *testing.T) {
			emptyView(t, rdb)
			s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: clock}) // a new process: it wrote nothing yet
			for i, ev := range c.Events {
				if _, err := s.Apply(ctx, store.Batch{Events: []events.Event{ev}, MaxSeq: uint64(i + 1), MinCheckpoint: uint64(i)}); err != nil {
					t.Fatalf("Apply event %d: %v", i, err)
				}
			}
			key := store.KeyPrefixTokenBlacklist + c.JTI
			switch {
			case c.UserID != "":
				key = store.KeyPrefixUserTokenVersion + c.UserID
			case c.SessionID != "":
				key = store.KeyPrefixSessionRevoked + c.SessionID
			}
			v, err := rdb.Get(ctx, key).Result()
			if c.Want.Absent {
				if !errors.Is(err, redis.Nil) {
					t.Fatalf("%s = %q, %v; want absent", key, v, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET %s: %v", key, err)
			}
			want := store.BlacklistValue
			if c.UserID != "" {
				want = strconv.FormatInt(c.Want.Version, 10)
			}
			if v != want {
				t.Errorf("%s = %q, want %q", key, v, want)
			}
			ms, err := rdb.PExpireTime(ctx, key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := time.UnixMilli(int64(ms / time.Millisecond)); !got.Equal(c.Want.Expiry) {
				t.Errorf("%s expires at %s, want %s", key, got, c.Want.Expiry)
			}
		})
	}
}

// TestApplyClampsForgedExpiry: a year-9999 expires_at (finding of the
// red-team review) lives no longer than the longest token lifetime, and
// Apply says so.
func TestApplyClampsForgedExpiry(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "1")
	tok := f.token(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	res, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{tok}, MaxSeq: 2, MinCheckpoint: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Clamped != 1 {
		t.Errorf("Clamped = %d, want 1", res.Clamped)
	}
	if got, want := f.expireTime(t, store.KeyPrefixTokenBlacklist+tok.JTI), tok.OccurredAt.Add(maxTTL+leeway); !got.Equal(want) {
		t.Fatalf("expiry %s, want %s", got, want)
	}
}

// TestBlacklistEntrySize: whatever an event carries (unknown members, a
// long reason), a revoked token costs Redis a key and a one-byte marker
// (red-team finding: the raw body was stored, up to 16 KiB a key).
func TestBlacklistEntrySize(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "0")
	const n = 200
	evs := make([]events.Event, n)
	for i := range evs {
		evs[i] = f.token(f.now.Add(time.Hour))
		evs[i].Reason = strings.Repeat("r", 256)
	}
	if _, err := f.s.Apply(f.ctx, store.Batch{Events: evs, MaxSeq: n}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		key := store.KeyPrefixTokenBlacklist + ev.JTI
		size, err := f.rdb.MemoryUsage(f.ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// MEMORY USAGE counts the key, the value and their overhead.
		if size > 128 {
			t.Fatalf("%s uses %d bytes, want at most 128", key, size)
		}
	}
}

// emptyView empties Redis and writes the checkpoint 0: the view before a
// merge case's first event.
func emptyView(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, store.KeyCheckpoint, "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

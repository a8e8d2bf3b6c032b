package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
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
	body, ok := f.get(t, store.KeyPrefixTokenBlacklist+tok.JTI)
	if !ok {
		t.Fatal("blacklist key missing")
	}
	got, err := events.Decode([]byte(body))
	if err != nil || got.JTI != tok.JTI || got.ID != tok.ID {
		t.Fatalf("blacklist value %s: %v", body, err)
	}
	for key, want := range map[string]time.Time{
		store.KeyPrefixTokenBlacklist + tok.JTI:          tok.ExpiresAt.Add(leeway),
		store.KeyPrefixUserTokenVersion + withExp.UserID: withExp.ExpiresAt.Add(leeway),
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
	t.Run("TokenNeverExtended", func(t *testing.T) {
		tok := f.token(f.now.Add(10 * time.Minute))
		apply(1, tok)
		later := tok
		later.ExpiresAt = tok.ExpiresAt.Add(time.Hour)
		apply(2, later, tok)
		if got := f.expireTime(t, store.KeyPrefixTokenBlacklist+tok.JTI); !got.Equal(tok.ExpiresAt.Add(leeway)) {
			t.Fatalf("expiry moved to %s", got)
		}
	})
	t.Run("UserVersionOnlyRaised", func(t *testing.T) {
		id := uuid.NewString()
		v5 := f.user(id, 5, f.now.Add(20*time.Minute))
		v4 := f.user(id, 4, f.now.Add(30*time.Minute))
		apply(3, v5, v4)
		key := store.KeyPrefixUserTokenVersion + id
		if v, _ := f.get(t, key); v != "5" {
			t.Fatalf("version = %q, want 5", v)
		}
		if got := f.expireTime(t, key); !got.Equal(v5.ExpiresAt.Add(leeway)) {
			t.Fatalf("expiry = %s, want event 5's %s", got, v5.ExpiresAt.Add(leeway))
		}
		v6 := f.user(id, 6, f.now.Add(5*time.Minute))
		apply(4, v6)
		if v, _ := f.get(t, key); v != "6" {
			t.Fatalf("version = %q, want 6", v)
		}
		if got := f.expireTime(t, key); !got.Equal(v6.ExpiresAt.Add(leeway)) {
			t.Fatalf("expiry = %s, want event 6's", got)
		}
	})
	t.Run("EqualVersionKeepsLaterExpiry", func(t *testing.T) {
		id := uuid.NewString()
		first := f.user(id, 3, f.now.Add(10*time.Minute))
		again := f.user(id, 3, f.now.Add(40*time.Minute))
		key := store.KeyPrefixUserTokenVersion + id
		apply(5, again, first)
		if got := f.expireTime(t, key); !got.Equal(again.ExpiresAt.Add(leeway)) {
			t.Fatalf("expiry = %s, want the later %s", got, again.ExpiresAt.Add(leeway))
		}
	})
	t.Run("CheckpointNeverLowered", func(t *testing.T) {
		apply(2)
		if v, _ := f.get(t, store.KeyCheckpoint); v != "5" {
			t.Fatalf("checkpoint = %q, want 5", v)
		}
	})
}

func TestApplySkipsExpired(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "1")
	old := f.token(f.now.Add(-2 * time.Hour))
	oldUser := f.user(uuid.NewString(), 2, f.now.Add(-2*time.Hour))
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

func TestApplyStoresBodiesAsReceived(t *testing.T) {
	f := newFixture(t)
	f.setCheckpoint(t, "1")
	tok := f.token(f.now.Add(10 * time.Minute))
	body, err := events.Encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	// As published by another producer: same event, other spacing.
	received := append([]byte(" "), body...)
	user := f.user(uuid.NewString(), 2, f.now.Add(time.Hour))
	if _, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{tok, user}, Bodies: [][]byte{received, nil}, MaxSeq: 2, MinCheckpoint: 1}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.get(t, store.KeyPrefixTokenBlacklist+tok.JTI); got != string(received) {
		t.Fatalf("blacklist value = %q, want the body as received %q", got, received)
	}
	if v, _ := f.get(t, store.KeyPrefixUserTokenVersion+user.UserID); v != "2" {
		t.Fatalf("user version = %q, want 2", v)
	}
	if _, err := f.s.Apply(f.ctx, store.Batch{Events: []events.Event{tok}, Bodies: [][]byte{body, body}, MaxSeq: 3, MinCheckpoint: 2}); err == nil {
		t.Fatal("two bodies for one event accepted")
	}
}

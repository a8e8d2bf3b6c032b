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
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// partitioned is a Store writing the Cluster layout to one server (hash
// tags are plain key names there), with every partition's checkpoint set.
func partitioned(t *testing.T, rdb *redis.Client, now time.Time) *store.Store {
	t.Helper()
	layout := revocation.PartitionedLayout
	s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: func() time.Time { return now }, Layout: &layout})
	for p := range revocation.Partitions {
		if err := rdb.Set(context.Background(), layout.CheckpointKey(p), "0", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// usersIn returns n user ids whose keys live in partition p.
func usersIn(p, n int) []string {
	var ids []string
	for len(ids) < n {
		if id := uuid.NewString(); revocation.PartitionOf(id) == p {
			ids = append(ids, id)
		}
	}
	return ids
}

// In the partitioned layout every key of an event lands in its user's
// partition, each partition written gets the batch's checkpoint, the
// others keep theirs, and a validator reading the same layout sees it.
func TestApplyPartitioned(t *testing.T) {
	t.Parallel()
	rdb := testkit.StartRedis(t).Client(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	s := partitioned(t, rdb, now)
	layout := s.Layout()
	a, b := usersIn(3, 1)[0], usersIn(41, 1)[0]
	ta := events.TokenRevoked{UserID: a, JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
	ub := events.UserTokensRevoked{UserID: b, Version: 4}.Event(now)
	res, err := s.Apply(ctx, store.Batch{Events: []events.Event{ta, ub}, MaxSeq: 9})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoint != 9 || res.Previous != 0 {
		t.Errorf("result %+v", res)
	}
	for key, want := range map[string]string{
		layout.BlacklistKey(3, ta.JTI):     "1",
		layout.UserVersionKey(41, b):       "4",
		layout.CheckpointKey(3):            "9",
		layout.CheckpointKey(41):           "9",
		layout.CheckpointKey(0):            "0",
		"{r:03}:token_blacklist:" + ta.JTI: "1",
	} {
		if got, err := rdb.Get(ctx, key).Result(); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, err, want)
		}
	}
	if n, _ := rdb.Exists(ctx, revocation.BlacklistKey(ta.JTI), revocation.KeyCheckpoint).Result(); n != 0 {
		t.Errorf("%d flat keys written in the partitioned layout", n)
	}
}

// A partition whose checkpoint went back (its node failed over to a
// replica that missed writes) is noticed by the next write to it and by
// the heartbeat, not masked by the other partitions; a lost partition is
// rebuilt alone: the rebuild writes only its keys and only its checkpoint.
func TestPartitionLostAndRegressed(t *testing.T) {
	t.Parallel()
	rdb := testkit.StartRedis(t).Client(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	s := partitioned(t, rdb, now)
	layout := s.Layout()
	a, b := usersIn(7, 1)[0], usersIn(8, 1)[0]
	tok := func(user string) events.Event {
		return events.TokenRevoked{UserID: user, JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
	}
	if _, err := s.Apply(ctx, store.Batch{Events: []events.Event{tok(a), tok(b)}, MaxSeq: 20}); err != nil {
		t.Fatal(err)
	}
	// Partition 7 goes back in time; partition 8 is fine.
	if err := rdb.Set(ctx, layout.CheckpointKey(7), "12", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, store.Batch{Events: []events.Event{tok(b)}, MaxSeq: 21}); err != nil {
		t.Fatalf("write to a healthy partition: %v", err)
	}
	if _, err := s.Apply(ctx, store.Batch{Events: []events.Event{tok(a)}, MaxSeq: 22}); !errors.Is(err, store.ErrCheckpointRegressed) {
		t.Fatalf("write to the regressed partition: %v, want ErrCheckpointRegressed", err)
	}
	if err := s.Heartbeat(ctx, 21, now); !errors.Is(err, store.ErrCheckpointRegressed) || !strings.Contains(err.Error(), "partition 7") {
		t.Fatalf("heartbeat: %v, want partition 7 regressed", err)
	}
	if got, _ := rdb.Get(ctx, layout.HeartbeatKey(7)).Result(); got != "" {
		t.Errorf("regressed partition got a heartbeat %q", got)
	}
	if got, _ := rdb.Get(ctx, layout.HeartbeatKey(8)).Result(); got != strconv.FormatInt(now.UnixMilli(), 10) {
		t.Errorf("healthy partition's heartbeat %q", got)
	}

	// Partition 8 loses everything; 7 is adopted as it is (a sync).
	lostJTI := tok(b)
	keys, _ := rdb.Keys(ctx, "{r:08}:*").Result()
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cps[8].OK || !cps[7].OK || cps[7].Seq != 12 {
		t.Fatalf("checkpoints 7 %+v, 8 %+v", cps[7], cps[8])
	}
	s.Adopt(cps)
	ok, err := s.BeginRebuild(ctx, "r1")
	if err != nil || !ok {
		t.Fatalf("BeginRebuild = %v, %v", ok, err)
	}
	if got := s.RebuildPartitions("r1"); len(got) != 1 || got[0] != 8 {
		t.Fatalf("rebuilding partitions %v, want [8]", got)
	}
	other := tok(a)
	if _, err := s.Apply(ctx, store.Batch{Mode: store.Rebuild, RebuildID: "r1", Events: []events.Event{lostJTI, other}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, layout.BlacklistKey(8, lostJTI.JTI)).Result(); n != 1 {
		t.Error("rebuild did not write the lost partition's key")
	}
	if n, _ := rdb.Exists(ctx, layout.BlacklistKey(7, other.JTI)).Result(); n != 0 {
		t.Error("rebuild wrote into a partition that kept its data")
	}
	if cp, err := s.FinishRebuild(ctx, "r1", 30); err != nil || cp != 30 {
		t.Fatalf("FinishRebuild = %d, %v", cp, err)
	}
	if got, _ := rdb.Get(ctx, layout.CheckpointKey(7)).Result(); got != "12" {
		t.Errorf("partition 7's checkpoint %q changed by another partition's rebuild", got)
	}
	if err := s.Heartbeat(ctx, 30, now.Add(time.Second)); err != nil {
		t.Fatalf("heartbeat after the rebuild: %v", err)
	}
	for _, p := range []int{0, 7, 8, 63} {
		if got, _ := rdb.Get(ctx, layout.CheckpointKey(p)).Result(); got != "30" {
			t.Errorf("partition %d's checkpoint %q after the heartbeat, want the covered 30", p, got)
		}
	}
}

// Heartbeat in the flat layout: the validator fails closed once the
// service stops raising it, and passes again when it does.
func TestHeartbeatReadByValidators(t *testing.T) {
	t.Parallel()
	rdb := testkit.StartRedis(t).Client(t)
	ctx := context.Background()
	start := time.Now()
	s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL})
	emptyView(t, rdb)
	if err := s.Heartbeat(ctx, 5, start); err != nil {
		t.Fatal(err)
	}
	if got, _ := rdb.Get(ctx, store.KeyCheckpoint).Result(); got != "5" {
		t.Errorf("checkpoint %q, want the covered 5", got)
	}
	// An older heartbeat never lowers it.
	if err := s.Heartbeat(ctx, 4, start.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := rdb.Get(ctx, store.KeyHeartbeat).Result(); got != strconv.FormatInt(start.UnixMilli(), 10) {
		t.Errorf("heartbeat %q lowered", got)
	}
	q := jwtx.RevocationQuery{UserID: uuid.NewString(), JTI: uuid.NewString()}
	at := start
	v := jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{MaxStaleness: 5 * time.Second, Now: func() time.Time { return at }})
	if _, err := v.RevocationState(ctx, q); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	at = start.Add(6 * time.Second)
	if _, err := v.RevocationState(ctx, q); !errors.Is(err, jwtx.ErrRevocationStale) {
		t.Fatalf("6 s without a heartbeat: %v, want ErrRevocationStale", err)
	}
	if err := s.Heartbeat(ctx, 5, at); err != nil {
		t.Fatal(err)
	}
	if _, err := v.RevocationState(ctx, q); err != nil {
		t.Fatalf("heartbeat again: %v", err)
	}
}

// WaitReplicas: a write is reported replicated only once a replica has
// it; with the replica gone it is written, but not reported replicated.
func TestApplyWaitsForReplica(t *testing.T) {
	t.Parallel()
	primary := testkit.StartRedis(t)
	replica := testkit.StartRedis(t, testkit.RedisArgs("--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)))
	rdb := primary.Client(t)
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, "replica linked", func() bool {
		info, err := replica.Client(t).Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	now := time.Now().Truncate(time.Millisecond)
	s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: func() time.Time { return now },
		WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond})
	emptyView(t, rdb)
	ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
	if res, err := s.Apply(ctx, store.Batch{Events: []events.Event{ev}, MaxSeq: 1}); err != nil || !res.Replicated {
		t.Fatalf("with a replica: replicated %v, %v", res.Replicated, err)
	}
	// Done means on the replica already: read it there at once, no polling.
	if n, err := replica.Client(t).Exists(ctx, store.KeyPrefixTokenBlacklist+ev.JTI).Result(); err != nil || n != 1 {
		t.Fatalf("replica has %d of the key (%v) after Apply returned", n, err)
	}
	replica.Proc.Kill()
	testkit.Eventually(t, 10*time.Second, "primary notices the replica gone", func() bool {
		info, err := rdb.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:0")
	})
	ev2 := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
	start := time.Now()
	res, err := s.Apply(ctx, store.Batch{Events: []events.Event{ev2}, MaxSeq: 2})
	if err != nil || res.Replicated {
		t.Fatalf("without a replica: replicated %v, %v; want written, not replicated", res.Replicated, err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("returned after %s, before the wait of 300ms: WAIT not sent?", took)
	}
	if n, _ := rdb.Exists(ctx, store.KeyPrefixTokenBlacklist+ev2.JTI).Result(); n != 1 {
		t.Error("unreplicated write missing on the primary")
	}
}

// WaitAll waits for every replica the primary has: with two, a write
// reported replicated is on both at once (either may be promoted).
func TestApplyWaitAll(t *testing.T) {
	t.Parallel()
	primary := testkit.StartRedis(t)
	port := strconv.Itoa(primary.Port)
	replicas := []*testkit.Redis{
		testkit.StartRedis(t, testkit.RedisArgs("--replicaof", "127.0.0.1", port)),
		testkit.StartRedis(t, testkit.RedisArgs("--replicaof", "127.0.0.1", port)),
	}
	rdb := primary.Client(t)
	ctx := context.Background()
	testkit.Eventually(t, 10*time.Second, "both replicas linked", func() bool {
		info, err := rdb.Info(ctx, "replication").Result()
		return err == nil && strings.Count(info, "state=online") == 2
	})
	now := time.Now().Truncate(time.Millisecond)
	s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: func() time.Time { return now },
		WaitReplicas: store.WaitAll, WaitTimeout: 2 * time.Second})
	emptyView(t, rdb)
	for i := range 20 {
		ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}.Event(now)
		res, err := s.Apply(ctx, store.Batch{Events: []events.Event{ev}, MaxSeq: uint64(i + 1)})
		if err != nil || !res.Replicated {
			t.Fatalf("write %d: replicated %v, %v", i, res.Replicated, err)
		}
		for j, r := range replicas {
			if n, err := r.Client(t).Exists(ctx, store.KeyPrefixTokenBlacklist+ev.JTI).Result(); err != nil || n != 1 {
				t.Fatalf("write %d reported replicated, missing on replica %d (%v)", i, j, err)
			}
		}
	}
}

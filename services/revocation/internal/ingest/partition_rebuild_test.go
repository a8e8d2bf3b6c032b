package ingest_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// userIn returns a user id whose keys live in partition p.
func userIn(p int) string {
	for {
		if id := uuid.NewString(); revocation.PartitionOf(id) == p {
			return id
		}
	}
}

// A partition that lost its data is rebuilt beside the consumer: while it
// is rebuilt (its checkpoint still missing, so its users are refused), the
// other partitions keep receiving new revocations and fresh heartbeats,
// so their users are not refused; then the lost one is whole again.
func TestLostPartitionRebuiltBesideFollowing(t *testing.T) {
	t.Parallel()
	nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
	rdb, js := rd.Client(t), nt.JetStream(t)
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
		t.Fatal(err)
	}
	layout := revocation.PartitionedLayout
	// One event per batch: the rebuild of 2,000 events takes long enough
	// to be watched.
	in := ingest.New(js, store.New(rdb, store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour, Layout: &layout}),
		ingest.Config{Durable: durable, CheckInterval: 50 * time.Millisecond, BatchSize: 1},
		ingest.Options{Registerer: prometheus.NewRegistry()})
	runIngester(t, in)

	pub := events.NewPublisher(js)
	lostUser, otherUser := userIn(7), userIn(8)
	var lostKeys []string
	now := time.Now()
	for range 2000 {
		ev := events.TokenRevoked{UserID: lostUser, JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour), Reason: "logout"}.Event(now)
		if _, err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		lostKeys = append(lostKeys, layout.BlacklistKey(7, ev.JTI))
	}
	exists := func(keys ...string) int64 {
		n, err := rdb.Exists(ctx, keys...).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	testkit.Eventually(t, 60*time.Second, "every revocation applied", func() bool {
		return exists(lostKeys...) == int64(len(lostKeys)) && exists(layout.CheckpointKey(8)) == 1
	})

	// Partition 7 loses its data (a node that lost it, or a flush of its slots).
	keys, err := rdb.Keys(ctx, "{r:07}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	lostAt := time.Now()
	testkit.Eventually(t, 10*time.Second, "partition 7 being rebuilt", func() bool {
		return exists(layout.Tag(7)+store.KeyRebuildMarker) == 1
	})
	ev := events.TokenRevoked{UserID: otherUser, JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour), Reason: "logout"}.Event(time.Now())
	if _, err := pub.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "partition 8 follows the stream during the rebuild", func() bool {
		return exists(layout.BlacklistKey(8, ev.JTI)) == 1
	})
	testkit.Eventually(t, 10*time.Second, "partition 8's heartbeat fresh during the rebuild", func() bool {
		hb, err := rdb.Get(ctx, layout.HeartbeatKey(8)).Int64()
		return err == nil && time.UnixMilli(hb).After(lostAt)
	})
	if exists(layout.CheckpointKey(7)) != 0 {
		t.Fatal("partition 7's checkpoint came back before its rebuild finished: the test watched nothing")
	}
	if err := in.Ready(); err == nil {
		t.Error("ready while a partition is rebuilt")
	}
	testkit.Eventually(t, 60*time.Second, "partition 7 rebuilt", func() bool {
		_, err := rdb.Get(ctx, layout.CheckpointKey(7)).Result()
		return !errors.Is(err, redis.Nil) && exists(lostKeys...) == int64(len(lostKeys))
	})
	testkit.Eventually(t, 10*time.Second, "ready after the rebuild", func() bool { return in.Ready() == nil })
	if cp, _ := rdb.Get(ctx, layout.CheckpointKey(7)).Uint64(); cp < 2000 {
		t.Errorf("partition 7's checkpoint %s after its rebuild", strconv.FormatUint(cp, 10))
	}
}

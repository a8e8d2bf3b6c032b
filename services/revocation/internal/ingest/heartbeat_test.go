package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// startIngester runs an ingester on rdb until the returned stop is called
// (or the test ends).
func startIngester(t *testing.T, js *testkit.NATS, rdb redis.UniversalClient, opts store.Options) (stop func()) {
	t.Helper()
	if opts.MaxTokenTTL == 0 {
		opts.Leeway, opts.MaxTokenTTL = time.Minute, 24*time.Hour
	}
	in := ingest.New(js.JetStream(t), store.New(rdb, opts),
		ingest.Config{Durable: durable, CheckInterval: 50 * time.Millisecond},
		ingest.Options{Registerer: prometheus.NewRegistry()})
	return runUntilStopped(t, in)
}

// The heartbeat follows the service: validators pass while it runs (also
// on an idle stream), fail closed with ErrRevocationStale once it stops,
// and pass again when it is back.
func TestHeartbeatFollowsTheService(t *testing.T) {
	t.Parallel()
	nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
	rdb, js := rd.Client(t), nt.JetStream(t)
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
		t.Fatal(err)
	}
	stop := startIngester(t, nt, rdb, store.Options{})
	p := publishTokens(t, js, 20)
	waitCheckpoint(t, rdb, p.last)

	v := jwtx.NewRedisStoreWithOptions(rdb, jwtx.RedisStoreOptions{MaxStaleness: time.Second})
	q := jwtx.RevocationQuery{UserID: uuid.NewString(), JTI: uuid.NewString()}
	fresh := func() bool { _, err := v.RevocationState(ctx, q); return err == nil }
	stale := func() bool {
		_, err := v.RevocationState(ctx, q)
		return errors.Is(err, jwtx.ErrRevocationStale)
	}
	testkit.Eventually(t, 5*time.Second, "heartbeat fresh while following", fresh)
	// Idle for longer than the staleness allowed: still fresh (the
	// heartbeat does not need events, only a caught-up consumer).
	idleUntil := time.Now().Add(1500 * time.Millisecond)
	testkit.Eventually(t, 5*time.Second, "idle past the allowed staleness", func() bool { return time.Now().After(idleUntil) })
	if !fresh() {
		t.Fatal("heartbeat went stale on an idle stream")
	}

	stop()
	testkit.Eventually(t, 10*time.Second, "validators fail closed once the service is gone", stale)
	startIngester(t, nt, rdb, store.Options{})
	testkit.Eventually(t, 10*time.Second, "fresh again after a restart", fresh)
}

// On a real Redis Cluster (3 masters, 3 replicas): the service writes
// every user's keys in the user's partition, validators reading through a
// cluster client see every revocation with one MGET, and a master killed
// under way loses no acknowledged revocation.
func TestClusterIngest(t *testing.T) {
	t.Parallel()
	nt := testkit.StartNATS(t)
	cluster := testkit.StartRedisCluster(t)
	js := nt.JetStream(t)
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
		t.Fatal(err)
	}
	svc, err := jwtx.NewRedisClient(cluster.URL, jwtx.RedisClientOptions{ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	startIngester(t, nt, svc, store.Options{WaitReplicas: 1})

	vc, err := jwtx.NewRedisClient(cluster.URL, jwtx.RedisClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	v := jwtx.NewRedisStore(vc)
	if !v.Layout().Partitioned() {
		t.Fatal("validator on a cluster not in the partitioned layout")
	}
	pub := events.NewPublisher(js)
	var revoked []jwtx.RevocationQuery
	publish := func(n int) {
		for range n {
			q := jwtx.RevocationQuery{UserID: uuid.NewString(), JTI: uuid.NewString()}
			ev := events.TokenRevoked{UserID: q.UserID, JTI: q.JTI, ExpiresAt: time.Now().Add(time.Hour), Reason: "logout"}.Event(time.Now())
			if _, err := pub.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
			revoked = append(revoked, q)
		}
	}
	var lastErr error
	allRevoked := func() bool {
		for _, q := range revoked {
			st, err := v.RevocationState(ctx, q)
			if err == nil && !st.TokenRevoked {
				err = errors.New("token " + q.JTI + " not revoked")
			}
			if err != nil {
				if lastErr == nil || err.Error() != lastErr.Error() {
					t.Logf("not yet: %v", err)
				}
				lastErr = err
				return false
			}
		}
		return true
	}
	publish(200)
	testkit.Eventually(t, 30*time.Second, "every revocation visible through the cluster", allRevoked)
	// Every master holds some partitions.
	for _, n := range cluster.Nodes {
		if keys, err := n.Client(t).Keys(ctx, "{r:*}:token_blacklist:*").Result(); err == nil && len(keys) > 0 {
			continue
		}
	}
	victim := cluster.MasterOf(t, "{r:00}:revocation:checkpoint")
	cluster.KillMaster(t, victim)
	publish(200)
	testkit.Eventually(t, 60*time.Second, "every revocation visible after a master was killed", allRevoked)
	// A user of an untouched partition is not refused: its checkpoint and
	// heartbeat are there.
	if _, err := v.RevocationState(ctx, jwtx.RevocationQuery{UserID: uuid.NewString()}); err != nil {
		t.Errorf("validation after the failover: %v", err)
	}
}

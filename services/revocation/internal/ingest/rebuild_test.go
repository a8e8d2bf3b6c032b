package ingest_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/ingest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// rebuildWindow stands in for MaxTokenTTL + Leeway + ReplayMargin, which
// is at least 5m30s: long enough for the test to outwait, short enough
// that the rebuild after the newer events starts within it.
const rebuildWindow = 4 * time.Second

// TestRebuildStartsAtWindow: a rebuild after FLUSHALL replays only what
// was stored within RebuildWindow, and still checkpoints the stream's last
// sequence and becomes ready.
func TestRebuildStartsAtWindow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newer int
	}{
		{"OK", 5},
		{"NothingAfterStart", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nt, rd := testkit.StartNATS(t), testkit.StartRedis(t)
			rdb, js := rd.Client(t), nt.JetStream(t)
			ctx := context.Background()
			if _, err := events.EnsureStream(ctx, js, streamConfig); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			in := ingest.New(js, store.New(rdb, store.Options{Leeway: time.Minute, MaxTokenTTL: 24 * time.Hour}),
				ingest.Config{Durable: durable, CheckInterval: 50 * time.Millisecond, RebuildWindow: rebuildWindow},
				ingest.Options{Registerer: reg})
			runIngester(t, in)

			older := publishTokens(t, js, 10)
			waitCheckpoint(t, rdb, older.last)
			for _, k := range older.keys {
				if n := rdb.Exists(ctx, k).Val(); n != 1 {
					t.Fatalf("%s not applied before the flush", k)
				}
			}
			msg, err := mustStream(t, js).GetMsg(ctx, older.last)
			if err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, 2*rebuildWindow, "older events out of the window", func() bool {
				return time.Since(msg.Time) > rebuildWindow+100*time.Millisecond
			})
			newer := publishTokens(t, js, tc.newer)
			last := max(older.last, newer.last)
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}

			waitCheckpoint(t, rdb, last)
			testkit.Eventually(t, 15*time.Second, "ready after the rebuild", func() bool { return in.Ready() == nil })
			for _, k := range older.keys {
				if n := rdb.Exists(ctx, k).Val(); n != 0 {
					t.Errorf("%s written by the rebuild: stored before the window", k)
				}
			}
			for _, k := range newer.keys {
				if n := rdb.Exists(ctx, k).Val(); n != 1 {
					t.Errorf("%s missing after the rebuild", k)
				}
			}
			if got := gauge(t, reg, "revocation_rebuild_skipped_messages"); got != float64(len(older.keys)) {
				t.Errorf("revocation_rebuild_skipped_messages = %v, want %d", got, len(older.keys))
			}
		})
	}
}

// published is what publishTokens stored.
type published struct {
	keys []string
	last uint64
}

func publishTokens(t *testing.T, js jetstream.JetStream, n int) published {
	t.Helper()
	pub := events.NewPublisher(js)
	var p published
	now := time.Now()
	for range n {
		ev := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: now.Add(time.Hour), Reason: "logout"}.Event(now)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ack, err := pub.Publish(ctx, ev)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		p.keys = append(p.keys, store.KeyPrefixTokenBlacklist+ev.JTI)
		p.last = ack.Sequence
	}
	return p
}

func runIngester(t *testing.T, in *ingest.Ingester) { runUntilStopped(t, in) }

// runUntilStopped runs in until the returned stop is called or the test
// ends, and checks that Run returns cleanly and in time.
func runUntilStopped(t *testing.T, in *ingest.Ingester) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func mustStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	s, err := js.Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitCheckpoint(t *testing.T, rdb *redis.Client, want uint64) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, "checkpoint "+strconv.FormatUint(want, 10), func() bool {
		v, err := rdb.Get(context.Background(), store.KeyCheckpoint).Uint64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Logf("checkpoint: %v", err)
		}
		return err == nil && v == want
	})
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

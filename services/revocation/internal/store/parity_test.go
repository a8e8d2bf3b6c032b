package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/nearcache"
	"github.com/eventjwt/eventjwt/pkg/revocation/revocationtest"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
)

// TestParityWithNearCache feeds each sequence of revocationtest.MergeCases
// (out of order, duplicates, versions going down, expired, far-future
// expires_at) both to this store's Redis functions on a real Redis and,
// through a real JetStream stream, to a near-cache, and requires the same
// answer for the case's token from both: the jwtx.RedisStore reading the
// keys the functions wrote, and the near-cache's memory.
func TestParityWithNearCache(t *testing.T) {
	t.Parallel()
	rdb := testkit.StartRedis(t).Client(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { return now }

	redisView := jwtx.NewRedisStore(rdb)
	for _, c := range revocationtest.MergeCases(now, events.Retention{MaxTokenTTL: maxTTL, Leeway: leeway}) {
		t.Run(c.Name, func(t *testing.T) {
			emptyView(t, rdb)
			s := store.New(rdb, store.Options{Leeway: leeway, MaxTokenTTL: maxTTL, Now: clock}) // a new process: it wrote nothing yet
			nt := testkit.StartNATS(t)
			js := nt.JetStream(t)
			if _, err := events.EnsureStream(ctx, js, events.StreamConfig{MinMaxAge: maxTTL}); err != nil {
				t.Fatal(err)
			}
			pub := events.NewPublisher(js)
			for i, ev := range c.Events {
				if _, err := pub.Publish(ctx, ev); err != nil {
					t.Fatalf("Publish event %d: %v", i, err)
				}
				if _, err := s.Apply(ctx, store.Batch{Events: []events.Event{ev}, MaxSeq: uint64(i + 1), MinCheckpoint: uint64(i)}); err != nil {
					t.Fatalf("Apply event %d: %v", i, err)
				}
			}
			cache, err := nearcache.New(nearcache.Config{
				JetStream: nt.JetStream(t), Leeway: leeway, MaxTokenTTL: maxTTL,
				Now: clock, Metrics: prometheus.NewRegistry(),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := cache.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cache.Close() })
			wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := cache.WaitApplied(wctx, uint64(len(c.Events))); err != nil {
				t.Fatalf("near-cache did not apply the case's events: %v", err)
			}

			q := jwtx.RevocationQuery{JTI: c.JTI, SessionID: c.SessionID, UserID: c.UserID}
			if q.UserID == "" {
				q.UserID = c.Events[0].UserID
			}
			fromRedis, err := redisView.RevocationState(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var fromCache jwtx.RevocationState
			testkit.Eventually(t, 10*time.Second, "near-cache answers from memory", func() bool {
				var ok bool
				fromCache, ok = cache.LocalRevocationState(q)
				return ok
			})
			if fromRedis != fromCache {
				t.Fatalf("Redis answers %+v, the near-cache %+v", fromRedis, fromCache)
			}
			want := jwtx.RevocationState{Initialized: true}
			switch {
			case c.Want.Absent:
			case c.JTI != "":
				want.TokenRevoked = true
			case c.SessionID != "":
				want.SessionRevoked = true
			default:
				want.UserVersion = c.Want.Version
			}
			if fromRedis != want {
				t.Fatalf("both answer %+v, want %+v", fromRedis, want)
			}
		})
	}
}

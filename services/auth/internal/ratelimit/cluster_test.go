package ratelimit_test

import (
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/ratelimit"
)

// On a real Redis Cluster, one Allow over a user's and an address's
// counters is one single-slot call (the prefix's hash tag): no CROSSSLOT,
// and the limits hold.
func TestAllowOnCluster(t *testing.T) {
	t.Parallel()
	cluster := testkit.StartRedisCluster(t)
	rdb, err := jwtx.NewRedisClient(cluster.URL, jwtx.RedisClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	l := ratelimit.New(rdb, ratelimit.KeyPrefix)
	two := ratelimit.Limit{Max: 2, Window: time.Minute}
	rules := []ratelimit.Rule{{Key: "user:alice", Limit: two}, {Key: "ip:203.0.113.7", Limit: ratelimit.Limit{Max: 10, Window: time.Minute}}}
	for i := range 2 {
		if d := mustAllow(t, l, rules...); !d.Allowed {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if d := mustAllow(t, l, rules...); d.Allowed || d.Rule != 0 {
		t.Fatalf("third attempt: %+v, want refused by the user's limit", d)
	}
	if err := l.Refund(t.Context(), "user:alice"); err != nil {
		t.Fatal(err)
	}
	if d := mustAllow(t, l, rules...); !d.Allowed {
		t.Fatal("refused after a refund")
	}
}

package jwtx_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
	"github.com/redis/go-redis/v9"
)

func TestParseRedisMode(t *testing.T) {
	for _, c := range []struct {
		url  string
		want jwtx.RedisMode
		bad  bool
	}{
		{url: "redis://127.0.0.1:6379/0", want: jwtx.RedisSingle},
		{url: "rediss://u:p@host:6380/2?dial_timeout=1s", want: jwtx.RedisSingle},
		{url: "redis://s1:26379?master_name=eventjwt&addr=s2:26379", want: jwtx.RedisSentinel},
		{url: "redis://n1:7000?addr=n2:7001&addr=n3:7002", want: jwtx.RedisCluster},
		{url: "redis://n1:7000?cluster=true", want: jwtx.RedisCluster},
		{url: "redis://n1:7000?cluster=false", want: jwtx.RedisSingle},
		{url: "redis://n1:7000?cluster=yes", bad: true},
		{url: "redis://n1:7000?master_name=m&cluster=true", bad: true},
		{url: "redis://u:secret@[::1", bad: true},
	} {
		got, err := jwtx.ParseRedisMode(c.url)
		if c.bad {
			if err == nil {
				t.Errorf("%s: accepted as %s", c.url, got)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error echoes the password: %v", c.url, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.url, got, err, c.want)
		}
	}
}

func TestNewRedisClientForms(t *testing.T) {
	o := jwtx.RedisClientOptions{ClientName: "t", ReadTimeout: 2 * time.Second}
	single, err := jwtx.NewRedisClient("redis://127.0.0.1:6379/3?pool_size=7", o)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	sc, ok := single.(*redis.Client)
	if !ok {
		t.Fatalf("single form gave %T", single)
	}
	so := sc.Options()
	if so.DB != 3 || so.PoolSize != 7 || so.MaxActiveConns != 7 || so.ReadTimeout != 2*time.Second ||
		so.WriteTimeout != 500*time.Millisecond || so.MaxRetries > 0 || !so.ContextTimeoutEnabled || so.ClientName != "t" {
		t.Errorf("single options: %+v", so)
	}
	if jwtx.LayoutFor(single) != revocation.FlatLayout {
		t.Error("single server not in the flat layout")
	}

	sentinel, err := jwtx.NewRedisClient("redis://u:pw@127.0.0.1:26379/1?master_name=eventjwt&addr=127.0.0.1:26380", o)
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Close()
	if _, ok := sentinel.(*redis.Client); !ok {
		t.Fatalf("Sentinel form gave %T", sentinel)
	}
	if jwtx.LayoutFor(sentinel) != revocation.FlatLayout {
		t.Error("Sentinel primary not in the flat layout")
	}

	cluster, err := jwtx.NewRedisClient("redis://127.0.0.1:7000?addr=127.0.0.1:7001", o)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cc, ok := cluster.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("Cluster form gave %T", cluster)
	}
	if co := cc.Options(); len(co.Addrs) != 2 || co.ReadTimeout != 2*time.Second || co.MaxRetries > 0 || !co.ContextTimeoutEnabled {
		t.Errorf("cluster options: %+v", co)
	}
	if jwtx.LayoutFor(cluster) != revocation.PartitionedLayout {
		t.Error("cluster not in the partitioned layout")
	}
	one, err := jwtx.NewRedisClient("redis://127.0.0.1:7000?cluster=true", o)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, ok := one.(*redis.ClusterClient); !ok {
		t.Fatalf("cluster=true gave %T", one)
	}
	for _, bad := range []string{"http://x", "redis://h:1?master_name=m&bogus=1", "redis://h:1?addr=h:2&bogus=1"} {
		if c, err := jwtx.NewRedisClient(bad, o); err == nil {
			c.Close()
			t.Errorf("%s accepted", bad)
		}
	}
}

// The heartbeat is read in the same MGET: fresh passes, older than
// MaxStaleness fails closed with ErrRevocationStale (a 503, not a 401),
// absent is not checked (a revocation service before v0.5), corrupt fails
// closed, negative MaxStaleness turns the check off.
func TestRedisStore_Heartbeat(t *testing.T) {
	f := startRedis(t)
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	store := jwtx.NewRedisStoreWithOptions(f.rdb, jwtx.RedisStoreOptions{MaxStaleness: 10 * time.Second, Now: clock})
	off := jwtx.NewRedisStoreWithOptions(f.rdb, jwtx.RedisStoreOptions{MaxStaleness: -1, Now: clock})
	q := jwtx.RevocationQuery{JTI: "0b6d8a56-5d5e-4c8e-9a51-8a4a7e9cc001", UserID: "0b6d8a56-5d5e-4c8e-9a51-8a4a7e9cc002"}
	f.set(t, jwtx.KeyCheckpoint, "1")

	check := func(name string, s *jwtx.RedisStore, wantErr error) {
		t.Helper()
		st, err := s.RevocationState(ctx, q)
		switch {
		case wantErr == nil && err != nil:
			t.Errorf("%s: %v", name, err)
		case wantErr == nil && !st.Initialized:
			t.Errorf("%s: not initialised", name)
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("%s: err %v, want %v", name, err, wantErr)
		}
	}
	check("no heartbeat", store, nil)
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(-d).UnixMilli(), 10) }
	f.set(t, jwtx.KeyHeartbeat, ms(9*time.Second))
	check("9s old", store, nil)
	f.set(t, jwtx.KeyHeartbeat, ms(-time.Minute)) // the service's clock ahead of ours
	check("from the future", store, nil)
	f.set(t, jwtx.KeyHeartbeat, ms(11*time.Second))
	check("11s old", store, jwtx.ErrRevocationStale)
	check("11s old, staleness check off", off, nil)
	_, err := store.RevocationState(ctx, q)
	if !errors.Is(err, jwtx.ErrRevocationUnavailable) {
		t.Errorf("stale is not ErrRevocationUnavailable: %v", err)
	}
	f.set(t, jwtx.KeyHeartbeat, "soon")
	if _, err := store.RevocationState(ctx, q); err == nil {
		t.Error("corrupt heartbeat accepted")
	}
	// The default allows DefaultMaxStaleness.
	def := jwtx.NewRedisStoreWithOptions(f.rdb, jwtx.RedisStoreOptions{Now: clock})
	f.set(t, jwtx.KeyHeartbeat, ms(jwtx.DefaultMaxStaleness-time.Second))
	check("default, just fresh", def, nil)
	f.set(t, jwtx.KeyHeartbeat, ms(jwtx.DefaultMaxStaleness+time.Second))
	check("default, just stale", def, jwtx.ErrRevocationStale)
}

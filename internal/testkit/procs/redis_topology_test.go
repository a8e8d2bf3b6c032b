package procs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
)

// recoverWait bounds how long a client may take to write again after a
// failover.
const recoverWait = 20 * time.Second

func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	rs := procs.StartRedisSentinel(t)
	t.Logf("sentinel topology ready in %s", time.Since(start).Round(time.Millisecond))

	opt, err := redis.ParseFailoverURL(rs.URL)
	if err != nil {
		t.Fatalf("ParseFailoverURL(%q): %v", rs.URL, err)
	}
	if opt.MasterName != procs.SentinelMasterName || len(opt.SentinelAddrs) != 3 {
		t.Fatalf("ParseFailoverURL(%q) = master %q, sentinels %q", rs.URL, opt.MasterName, opt.SentinelAddrs)
	}
	fc := redis.NewFailoverClient(opt)
	t.Cleanup(func() { _ = fc.Close() })

	first, err := rs.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first != rs.Nodes[0].Addr {
		t.Fatalf("Master = %s, want the first node %s", first, rs.Nodes[0].Addr)
	}
	if n := waitAfterSet(t, fc, "k1", 2); n != 2 {
		t.Errorf("WAIT 2 1000 on the primary = %d replicas, want 2", n)
	}

	t.Run("Failover", func(t *testing.T) {
		old := rs.MasterNode(t)
		began := time.Now()
		promoted := rs.Failover(t)
		t.Logf("SENTINEL FAILOVER: sentinels agree on %s after %s", promoted.Addr, time.Since(began).Round(time.Millisecond))
		if promoted == old {
			t.Fatalf("Failover kept %s", old.Addr)
		}
		writeAgain(t, fc, "k2", began, nil)
		assertOn(t, promoted, "k1", "k2")
		rs.WaitReplicas(t)
		t.Logf("SENTINEL FAILOVER: every replica in sync after %s", time.Since(began).Round(time.Millisecond))
		if role := roleOf(t, old); role != "slave" {
			t.Errorf("old primary %s: ROLE %s, want slave", old.Addr, role)
		}
		if n := waitAfterSet(t, fc, "k3", 2); n != 2 {
			t.Errorf("WAIT 2 1000 on the new primary = %d replicas, want 2", n)
		}
	})

	t.Run("KillMaster", func(t *testing.T) {
		old := rs.MasterNode(t)
		began := time.Now()
		killed := rs.KillMaster(t)
		promoted := rs.MasterNode(t)
		t.Logf("SIGKILL primary: sentinels agree on %s after %s", promoted.Addr, time.Since(began).Round(time.Millisecond))
		if killed != old || promoted == old || killed.Proc.Running() {
			t.Fatalf("KillMaster killed %s (running %v), primary now %s; the primary was %s",
				killed.Addr, killed.Proc.Running(), promoted.Addr, old.Addr)
		}
		writeAgain(t, fc, "k4", began, nil)
		assertOn(t, promoted, "k1", "k2", "k3", "k4")
		rs.WaitReplicas(t)
		if n := waitAfterSet(t, fc, "k5", 1); n != 1 {
			t.Errorf("WAIT 1 1000 with one replica left = %d replicas, want 1", n)
		}
	})
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	rc := procs.StartRedisCluster(t)
	t.Logf("cluster ready in %s", time.Since(start).Round(time.Millisecond))

	opt, err := redis.ParseClusterURL(rc.URL)
	if err != nil {
		t.Fatalf("ParseClusterURL(%q): %v", rc.URL, err)
	}
	if !slices.Equal(opt.Addrs, rc.Addrs) || len(opt.Addrs) != 6 {
		t.Fatalf("ParseClusterURL(%q).Addrs = %q, want %q", rc.URL, opt.Addrs, rc.Addrs)
	}
	cc := rc.Client(t)

	// One key per master: keys until every master owns one.
	keys := map[*procs.Redis]string{}
	for i := 0; len(keys) < 3; i++ {
		if i > 1000 {
			t.Fatalf("1000 keys fell in the slots of %d masters", len(keys))
		}
		k := fmt.Sprintf("key:%d", i)
		if m := rc.MasterOf(t, k); keys[m] == "" {
			keys[m] = k
		}
	}
	for m, k := range keys {
		if err := cc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("SET %s (master %s): %v", k, m.Addr, err)
		}
		assertOn(t, m, k)
		mc, err := cc.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if n := waitAfterSet(t, mc, k, 1); n != 1 {
			t.Errorf("WAIT 1 1000 on master %s = %d replicas, want 1", m.Addr, n)
		}
	}

	victim := rc.MasterOf(t, "key:0")
	k := keys[victim]
	began := time.Now()
	promoted := rc.KillMaster(t, victim)
	t.Logf("SIGKILL master: a replica owns its slots, cluster_state ok, after %s", time.Since(began).Round(time.Millisecond))
	if promoted == victim || victim.Proc.Running() {
		t.Fatalf("KillMaster(%s) = %s (victim running %v)", victim.Addr, promoted.Addr, victim.Proc.Running())
	}
	if got := rc.MasterOf(t, k); got != promoted {
		t.Fatalf("MasterOf(%s) = %s, want the promoted replica %s", k, got.Addr, promoted.Addr)
	}
	// go-redis routes by the slot map it loaded, reloaded on MOVED and
	// every ClusterStateReloadInterval (60s): a dead master's slots stay
	// routed to it until then. ReloadState on a failed write is the fix.
	writeAgain(t, cc, k, began, func() { cc.ReloadState(ctx) })
	assertOn(t, promoted, k)
	for _, other := range keys {
		if err := cc.Set(ctx, other, "again", 0).Err(); err != nil {
			t.Errorf("SET %s after the failover: %v", other, err)
		}
	}

	t.Run("KilledMasterRejoins", func(t *testing.T) {
		if err := victim.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		rc.WaitHealthy(t)
		if role := roleOf(t, victim); role != "slave" {
			t.Fatalf("restarted %s: ROLE %s, want slave", victim.Addr, role)
		}
		if got := rc.MasterOf(t, k); got != promoted {
			t.Errorf("MasterOf(%s) = %s after the restart, want %s", k, got.Addr, promoted.Addr)
		}
		mc, err := cc.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if n := waitAfterSet(t, mc, k, 1); n != 1 {
			t.Errorf("WAIT 1 1000 with the old master back as a replica = %d, want 1", n)
		}
		assertOnReplica(t, victim, k)
	})
}

// waitAfterSet writes key and, on the same connection (a pipeline), asks
// WAIT for replicas within a second; it returns how many acknowledged.
func waitAfterSet(t *testing.T, c redis.Cmdable, key string, replicas int) int64 {
	t.Helper()
	var wait *redis.Cmd
	_, err := c.Pipelined(t.Context(), func(p redis.Pipeliner) error {
		p.Set(t.Context(), key, "v", 0)
		wait = p.Do(t.Context(), "WAIT", replicas, 1000) // Pipeliner has no Wait

		return nil
	})
	if err != nil {
		t.Fatalf("SET %s; WAIT: %v", key, err)
	}
	n, err := wait.Int64()
	if err != nil {
		t.Fatalf("WAIT: %v", err)
	}
	t.Logf("SET %s; WAIT %d 1000 = %d", key, replicas, n)
	return n
}

// writeAgain polls SET key through c until it succeeds and logs how long
// after began that was. After a failed write it calls reload, if not nil.
func writeAgain(t *testing.T, c redis.Cmdable, key string, began time.Time, reload func()) {
	t.Helper()
	var err, firstErr error
	fails := 0
	ok := procs.Poll(t.Context(), recoverWait, "SET "+key+" succeeds", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err = c.Set(ctx, key, "v", 0).Err(); err != nil {
			if fails++; fails == 1 {
				firstErr = fmt.Errorf("after %s: %w", time.Since(began).Round(time.Millisecond), err)
			}
			if reload != nil {
				reload()
			}
		}
		return err == nil
	})
	if ok != nil {
		t.Fatalf("%v: %v", ok, err)
	}
	if fails == 0 {
		t.Logf("client writes %s %s after the start, at once", key, time.Since(began).Round(time.Millisecond))
		return
	}
	t.Logf("client writes %s again %s after the start (%d failed writes, the first %v)", key,
		time.Since(began).Round(time.Millisecond), fails, firstErr)
}

// assertOn checks that node holds keys.
func assertOn(t *testing.T, node *procs.Redis, keys ...string) {
	t.Helper()
	c := node.Client(t)
	for _, k := range keys {
		n, err := c.Exists(t.Context(), k).Result()
		if err != nil || n != 1 {
			t.Errorf("EXISTS %s on %s = %d, %v; want 1", k, node.Addr, n, err)
		}
	}
}

// assertOnReplica polls node, a replica, until it holds key (READONLY lets
// it answer reads of its slots).
func assertOnReplica(t *testing.T, node *procs.Redis, key string) {
	t.Helper()
	c := node.Client(t)
	procs.Eventually(t, recoverWait, "replica "+node.Addr+" holds "+key, func() bool {
		if err := c.ReadOnly(t.Context()).Err(); err != nil {
			return false
		}
		n, err := c.Exists(t.Context(), key).Result()
		return err == nil && n == 1
	})
}

func roleOf(t *testing.T, node *procs.Redis) string {
	t.Helper()
	v, err := node.Client(t).Do(t.Context(), "ROLE").Slice()
	if err != nil || len(v) == 0 {
		t.Fatalf("ROLE on %s: %v, %v", node.Addr, v, err)
	}
	role, _ := v[0].(string)
	return role
}

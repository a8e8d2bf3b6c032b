package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// RedisCluster is a Redis Cluster of three masters, each with one replica,
// on loopback ports: what a go-redis ClusterClient connects to.
//
//	rc := procs.StartRedisCluster(t)
//	c := rc.Client(t)
type RedisCluster struct {
	// Nodes are the cluster's nodes: Nodes[0:3] are the masters at start,
	// owning the slot ranges in that order, and Nodes[3+i] replicates
	// Nodes[i]. Failovers change the roles: MasterOf says who owns a key.
	Nodes []*Redis
	// Addrs are the nodes' addresses, in the order of Nodes.
	Addrs []string
	// URL is go-redis's cluster URL, which redis.ParseClusterURL reads:
	// redis://<node 1>?addr=<node 2>&addr=<node 3>...
	URL string

	cfg   clusterConfig
	admin adminClients
}

// RedisClusterOption changes what StartRedisCluster starts.
type RedisClusterOption func(*clusterConfig)

type clusterConfig struct {
	masters     int
	nodeTimeout time.Duration
	nodeOpts    []RedisOption
}

// RedisClusterNodeTimeout sets cluster-node-timeout (1s by default): how
// long a master must not answer before the others mark it failing and its
// replica takes over.
func RedisClusterNodeTimeout(d time.Duration) RedisClusterOption {
	return func(c *clusterConfig) { c.nodeTimeout = d }
}

// RedisClusterNodeOptions applies opts to every node, after the cluster
// settings: RedisPersistent, RedisArgs.
func RedisClusterNodeOptions(opts ...RedisOption) RedisClusterOption {
	return func(c *clusterConfig) { c.nodeOpts = append(c.nodeOpts, opts...) }
}

// StartRedisCluster starts six cluster-enabled redis-servers, gives three
// of them a third of the slots each, joins them (CLUSTER MEET), makes each
// of the other three replicate a master (CLUSTER REPLICATE), waits until
// every node says cluster_state:ok and sees three masters and three linked
// replicas, and kills every node when the test ends (logging their output
// if the test failed). No redis-cli is needed. The test fails when
// redis-server is not installed.
func StartRedisCluster(tb testing.TB, opts ...RedisClusterOption) *RedisCluster {
	tb.Helper()
	cfg := clusterConfig{masters: 3, nodeTimeout: time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	c := &RedisCluster{cfg: cfg}
	tb.Cleanup(func() {
		if tb.Failed() {
			logOutputs(tb, "redis cluster node", c.Nodes)
		}
		for _, n := range c.Nodes {
			n.Proc.Kill()
		}
		c.admin.close()
	})
	for range 2 * cfg.masters {
		dir := tb.TempDir()
		nodeOpts := append([]RedisOption{replicationArgs(), RedisArgs("--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", strconv.FormatInt(cfg.nodeTimeout.Milliseconds(), 10),
			"--cluster-announce-ip", "127.0.0.1")}, cfg.nodeOpts...)
		n, err := NewRedis(tb.Context(), dir, nodeOpts...)
		if err != nil {
			tb.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	c.URL = "redis://" + c.Addrs[0]
	for i, a := range c.Addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		c.URL += sep + "addr=" + a
	}
	if err := c.create(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	c.WaitHealthy(tb)
	return c
}

// create does what redis-cli --cluster create does: slots and distinct
// config epochs on the masters, MEET, then REPLICATE on the replicas.
func (c *RedisCluster) create(ctx context.Context) error {
	masters := c.Nodes[:c.cfg.masters]
	for i, m := range masters {
		mc := c.admin.client(m)
		lo, hi := i*clusterSlots/len(masters), (i+1)*clusterSlots/len(masters)-1
		if err := mc.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("testkit: CLUSTER SET-CONFIG-EPOCH on %s: %w", m.Addr, err)
		}
		if err := mc.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			return fmt.Errorf("testkit: CLUSTER ADDSLOTSRANGE %d %d on %s: %w", lo, hi, m.Addr, err)
		}
	}
	first := c.admin.client(c.Nodes[0])
	for _, n := range c.Nodes[1:] {
		if err := first.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(n.Port)).Err(); err != nil {
			return fmt.Errorf("testkit: CLUSTER MEET %s: %w", n.Addr, err)
		}
	}
	for i, m := range masters {
		id, err := c.admin.client(m).ClusterMyID(ctx).Result()
		if err != nil {
			return fmt.Errorf("testkit: CLUSTER MYID on %s: %w", m.Addr, err)
		}
		r := c.Nodes[len(masters)+i]
		// The replica must have heard of its master through the gossip
		// MEET started: until then REPLICATE says "Unknown node".
		err = Poll(ctx, topologyWait, r.Addr+" replicates "+m.Addr, func() bool {
			err = c.admin.client(r).ClusterReplicate(ctx, id).Err()
			return err == nil
		})
		if err != nil {
			return fmt.Errorf("testkit: CLUSTER REPLICATE on %s: %w", r.Addr, err)
		}
	}
	return nil
}

// clusterNode is a line of CLUSTER NODES.
type clusterNode struct {
	id, addr string // addr without the cluster bus port
	flags    []string
	master   string // the master's id, for a replica
	slots    int    // how many slots it serves
	first    int64  // the first of them (when slots > 0)
}

func (n clusterNode) has(flag string) bool { return slices.Contains(n.flags, flag) }

func (c *RedisCluster) clusterNodes(ctx context.Context, r *Redis) ([]clusterNode, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	text, err := c.admin.client(r).ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("testkit: CLUSTER NODES on %s: %w", r.Addr, err)
	}
	var nodes []clusterNode
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		n := clusterNode{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3]}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // a slot being migrated
				continue
			}
			lo, hi, isRange := strings.Cut(s, "-")
			if !isRange {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil {
				if n.slots == 0 {
					n.first = int64(l)
				}
				n.slots += h - l + 1
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// healthy reports, as an error, why r does not see a healthy cluster: state
// ok, every node known, every slot served by a master that is not dead, as
// many masters with slots as at start, and no node but the dead ones
// failing or in a handshake.
func (c *RedisCluster) healthy(ctx context.Context, r *Redis, dead map[string]bool) error {
	f, err := c.clusterInfo(ctx, r)
	if err != nil {
		return err
	}
	if f["cluster_state"] != "ok" || f["cluster_slots_ok"] != strconv.Itoa(clusterSlots) {
		return fmt.Errorf("testkit: %s: cluster_state %s, %s slots ok", r.Addr, f["cluster_state"], f["cluster_slots_ok"])
	}
	nodes, err := c.clusterNodes(ctx, r)
	if err != nil {
		return err
	}
	masters, slots := 0, 0
	for _, n := range nodes {
		if dead[n.addr] {
			continue
		}
		if n.has("handshake") || n.has("noaddr") || n.has("fail") || n.has("fail?") {
			return fmt.Errorf("testkit: %s sees %s %s as %v", r.Addr, n.id, n.addr, n.flags)
		}
		if n.has("master") && n.slots > 0 {
			masters++
			slots += n.slots
		}
	}
	if masters != c.cfg.masters || slots != clusterSlots {
		return fmt.Errorf("testkit: %s sees %d live masters serving %d slots", r.Addr, masters, slots)
	}
	if len(nodes) != len(c.Nodes) {
		return fmt.Errorf("testkit: %s knows %d nodes of %d", r.Addr, len(nodes), len(c.Nodes))
	}
	return nil
}

func (c *RedisCluster) clusterInfo(ctx context.Context, r *Redis) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	text, err := c.admin.client(r).ClusterInfo(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("testkit: CLUSTER INFO on %s: %w", r.Addr, err)
	}
	return parseInfo(text), nil
}

// WaitHealthy waits until every running node says cluster_state:ok, knows
// every node and sees as many masters as at start serving every slot, none
// of them a node that is not running, and every running replica has its
// link to its master up: after StartRedisCluster, KillMaster, or a killed
// node started again (it rejoins as a replica).
func (c *RedisCluster) WaitHealthy(tb testing.TB) {
	tb.Helper()
	dead := map[string]bool{}
	for _, n := range c.Nodes {
		if !n.Proc.Running() {
			dead[n.Addr] = true
		}
	}
	var last error
	err := Poll(tb.Context(), topologyWait, "every node says cluster_state:ok and the replicas are linked", func() bool {
		for _, n := range c.Nodes {
			if !n.Proc.Running() {
				continue
			}
			if last = c.healthy(tb.Context(), n, dead); last != nil {
				return false
			}
			info, err := c.admin.info(tb.Context(), n, "replication")
			if err != nil {
				last = err
				return false
			}
			if info["role"] == "slave" && info["master_link_status"] != "up" {
				last = fmt.Errorf("testkit: replica %s: link to %s:%s %s", n.Addr, info["master_host"],
					info["master_port"], info["master_link_status"])
				return false
			}
		}
		return true
	})
	if err != nil {
		tb.Fatalf("testkit: %v: %v", err, last)
	}
}

// node returns the node listening on addr, or nil.
func (c *RedisCluster) node(addr string) *Redis {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// slotOwner asks a running node (CLUSTER SHARDS) which node serves slot
// as a master.
func (c *RedisCluster) slotOwner(ctx context.Context, slot int64) (*Redis, error) {
	var errs []error
	for _, n := range c.Nodes {
		if !n.Proc.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		shards, err := c.admin.client(n).ClusterShards(cctx).Result()
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("testkit: CLUSTER SHARDS on %s: %w", n.Addr, err))
			continue
		}
		if addr := shardMaster(shards, slot); addr != "" {
			if owner := c.node(addr); owner != nil {
				return owner, nil
			}
			return nil, fmt.Errorf("testkit: slot %d served by %s, not a node of the cluster", slot, addr)
		}
		errs = append(errs, fmt.Errorf("testkit: %s: slot %d is not served", n.Addr, slot))
	}
	return nil, fmt.Errorf("testkit: no node says who serves slot %d: %w", slot, errors.Join(errs...))
}

// shardMaster returns the address of the master of the shard holding slot,
// or "".
func shardMaster(shards []redis.ClusterShard, slot int64) string {
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start > slot || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				}
			}
		}
	}
	return ""
}

// MasterOf returns the master serving key's slot, as a running node says.
func (c *RedisCluster) MasterOf(tb testing.TB, key string) *Redis {
	tb.Helper()
	slot, err := c.keySlot(tb.Context(), key)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := c.slotOwner(tb.Context(), slot)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func (c *RedisCluster) keySlot(ctx context.Context, key string) (int64, error) {
	var errs []error
	for _, n := range c.Nodes {
		if !n.Proc.Running() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		slot, err := c.admin.client(n).ClusterKeySlot(cctx, key).Result()
		cancel()
		if err == nil {
			return slot, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("testkit: CLUSTER KEYSLOT %q: %w", key, errors.Join(errs...))
}

// KillMaster kills node, a master, with SIGKILL, waits until a replica
// took over its slots and every surviving node says cluster_state:ok
// again (WaitHealthy), and returns the promoted replica. The killed node
// can be started again (node.Start, then WaitHealthy): it rejoins as a
// replica of the node that took its slots.
func (c *RedisCluster) KillMaster(tb testing.TB, node *Redis) *Redis {
	tb.Helper()
	nodes, err := c.clusterNodes(tb.Context(), node)
	if err != nil {
		tb.Fatal(err)
	}
	var self clusterNode
	for _, n := range nodes {
		if n.has("myself") {
			self = n
		}
	}
	if !self.has("master") || self.slots == 0 {
		tb.Fatalf("testkit: KillMaster(%s): not a master serving slots (%v)", node.Addr, self.flags)
	}
	slot := self.first
	node.Proc.Kill()
	c.WaitHealthy(tb)
	var promoted *Redis
	Eventually(tb, topologyWait, "a replica of "+node.Addr+" serves its slots", func() bool {
		promoted, err = c.slotOwner(tb.Context(), slot)
		return err == nil && promoted != node && promoted.Proc.Running()
	})
	return promoted
}

// Client returns a go-redis ClusterClient of URL with go-redis's defaults,
// closed when the test ends. Mind that go-redis (v9.23) reloads its slot
// map on MOVED, on ReloadState and every ClusterStateReloadInterval (60s
// by default), not when a node stops answering: after KillMaster its
// commands for the dead master's slots fail until one of those happens.
func (c *RedisCluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	opt, err := redis.ParseClusterURL(c.URL)
	if err != nil {
		tb.Fatalf("testkit: cluster URL %s: %v", c.URL, err)
	}
	cc := redis.NewClusterClient(opt)
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

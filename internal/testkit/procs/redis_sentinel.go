package procs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the master name StartRedisSentinel's sentinels
// monitor: what a FailoverClient's MasterName says.
const SentinelMasterName = "eventjwt"

// topologyWait bounds the waits of the Sentinel and Cluster helpers: a
// failover takes a few seconds with their timers, a cold start of six
// processes on a busy machine a few more.
const topologyWait = 30 * time.Second

// RedisSentinel is a Redis primary, its replicas and the Sentinels that
// monitor it, every process on a loopback port of its own: what a go-redis
// FailoverClient connects to.
//
//	rs := procs.StartRedisSentinel(t)
//	opt, _ := redis.ParseFailoverURL(rs.URL)
type RedisSentinel struct {
	// Nodes are the data nodes: Nodes[0] is the primary at start, the
	// others replicate it. Failovers change who the primary is: MasterNode
	// says. A node restarted after a kill comes back with its start-up
	// role (Nodes[0] as a primary, until the sentinels demote it).
	Nodes []*Redis
	// Sentinels are the sentinel processes (redis-server --sentinel).
	Sentinels []*Redis
	// SentinelAddrs are the sentinels' addresses, 127.0.0.1:<port>.
	SentinelAddrs []string
	// MasterName is the name the sentinels monitor (SentinelMasterName).
	MasterName string
	// URL is go-redis's failover URL, which redis.ParseFailoverURL reads:
	// redis://<sentinel 1>?master_name=eventjwt&addr=<sentinel 2>&addr=<sentinel 3>.
	URL string

	cfg   sentinelConfig
	admin adminClients
	mu    sync.Mutex
	sents map[*Redis]*redis.SentinelClient
}

// RedisSentinelOption changes what StartRedisSentinel starts.
type RedisSentinelOption func(*sentinelConfig)

type sentinelConfig struct {
	replicas        int
	sentinels       int
	quorum          int
	downAfter       time.Duration
	failoverTimeout time.Duration
	nodeOpts        []RedisOption
}

// RedisSentinelDownAfter sets down-after-milliseconds: how long the
// primary must not answer before a sentinel thinks it down (1s by
// default).
func RedisSentinelDownAfter(d time.Duration) RedisSentinelOption {
	return func(c *sentinelConfig) { c.downAfter = d }
}

// RedisSentinelFailoverTimeout sets failover-timeout (3s by default): a
// failover that stalls is retried after twice that.
func RedisSentinelFailoverTimeout(d time.Duration) RedisSentinelOption {
	return func(c *sentinelConfig) { c.failoverTimeout = d }
}

// RedisSentinelNodeOptions applies opts to every data node (not to the
// sentinels), after the replication settings but before the replicas'
// --replicaof: RedisPersistent, RedisArgs. The sentinels do not
// authenticate, so RedisACL and RedisTLS do not fit.
func RedisSentinelNodeOptions(opts ...RedisOption) RedisSentinelOption {
	return func(c *sentinelConfig) { c.nodeOpts = append(c.nodeOpts, opts...) }
}

// StartRedisSentinel starts a primary with two replicas and three
// sentinels monitoring it as SentinelMasterName with a quorum of two,
// waits until the replicas are in sync and every sentinel knows both
// replicas and the two other sentinels, and kills every process when the
// test ends (logging their output if the test failed). The test fails when
// redis-server is not installed.
func StartRedisSentinel(tb testing.TB, opts ...RedisSentinelOption) *RedisSentinel {
	tb.Helper()
	cfg := sentinelConfig{replicas: 2, sentinels: 3, quorum: 2, downAfter: time.Second, failoverTimeout: 3 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	s := &RedisSentinel{MasterName: SentinelMasterName, cfg: cfg, sents: map[*Redis]*redis.SentinelClient{}}
	tb.Cleanup(func() {
		if tb.Failed() {
			logOutputs(tb, "redis sentinel node", s.Nodes)
			logOutputs(tb, "redis sentinel", s.Sentinels)
		}
		s.close()
	})
	ctx := tb.Context()
	primary := startNode(tb, append([]RedisOption{replicationArgs()}, cfg.nodeOpts...)...)
	s.Nodes = append(s.Nodes, primary)
	for range cfg.replicas {
		nodeOpts := append([]RedisOption{replicationArgs()}, cfg.nodeOpts...)
		nodeOpts = append(nodeOpts, RedisArgs("--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)))
		s.Nodes = append(s.Nodes, startNode(tb, nodeOpts...))
	}
	// A sentinel learns the replicas from the primary's INFO, which it
	// asks for at once and then every 10s: start it once they are linked.
	s.WaitReplicas(tb)
	for range cfg.sentinels {
		sn, err := s.startSentinel(ctx, tb.TempDir(), primary)
		if err != nil {
			tb.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, sn)
		s.SentinelAddrs = append(s.SentinelAddrs, sn.Addr)
	}
	s.URL = failoverURL(s.MasterName, s.SentinelAddrs)
	s.waitSentinels(tb)
	return s
}

// replicationArgs are the data nodes' settings: replicas announce the
// loopback address and a full sync starts at once (diskless, with no
// 5s wait for more replicas).
func replicationArgs() RedisOption {
	return RedisArgs("--replica-announce-ip", "127.0.0.1", "--repl-diskless-sync-delay", "0")
}

func startNode(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	r, err := NewRedis(tb.Context(), tb.TempDir(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func failoverURL(master string, sentinels []string) string {
	var b strings.Builder
	b.WriteString("redis://" + sentinels[0] + "?master_name=" + master)
	for _, a := range sentinels[1:] {
		b.WriteString("&addr=" + a)
	}
	return b.String()
}

// startSentinel writes a sentinel configuration in dir (sentinels rewrite
// it) and runs redis-server --sentinel with it.
func (s *RedisSentinel) startSentinel(ctx context.Context, dir string, primary *Redis) (*Redis, error) {
	conf := fmt.Sprintf(`bind 127.0.0.1
protected-mode no
sentinel announce-ip 127.0.0.1
sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d
sentinel down-after-milliseconds %[1]s %[4]d
sentinel failover-timeout %[1]s %[5]d
sentinel parallel-syncs %[1]s %[6]d
`, s.MasterName, primary.Port, s.cfg.quorum, s.cfg.downAfter.Milliseconds(),
		s.cfg.failoverTimeout.Milliseconds(), max(s.cfg.replicas, 1))
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("testkit: sentinel configuration: %w", err)
	}
	sn, err := NewRedis(ctx, dir, RedisConfigFile(path), RedisArgs("--sentinel"))
	if err != nil {
		return nil, fmt.Errorf("testkit: sentinel: %w", err)
	}
	return sn, nil
}

func (s *RedisSentinel) close() {
	for _, sn := range s.Sentinels {
		sn.Proc.Kill()
	}
	for _, n := range s.Nodes {
		n.Proc.Kill()
	}
	s.mu.Lock()
	for _, c := range s.sents {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.admin.close()
}

// sentinel returns a client of sn that never retries.
func (s *RedisSentinel) sentinel(sn *Redis) *redis.SentinelClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.sents[sn]
	if !ok {
		c = redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1, DialTimeout: time.Second,
			ReadTimeout: time.Second, WriteTimeout: time.Second, DisableIdentity: true})
		s.sents[sn] = c
	}
	return c
}

// Master asks the sentinels, the first that answers, for the primary's
// address.
func (s *RedisSentinel) Master(ctx context.Context) (string, error) {
	var errs []error
	for _, sn := range s.Sentinels {
		if !sn.Proc.Running() {
			continue
		}
		addr, err := s.masterFrom(ctx, sn)
		if err == nil {
			return addr, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("testkit: no sentinel knows the primary: %w", errors.Join(errs...))
}

func (s *RedisSentinel) masterFrom(ctx context.Context, sn *Redis) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	hp, err := s.sentinel(sn).GetMasterAddrByName(ctx, s.MasterName).Result()
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", sn.Addr, err)
	}
	if len(hp) != 2 {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name answered %q", sn.Addr, hp)
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// agreedMaster returns the primary's address when every running sentinel
// names the same one, "" otherwise.
func (s *RedisSentinel) agreedMaster(ctx context.Context) string {
	agreed := ""
	for _, sn := range s.Sentinels {
		if !sn.Proc.Running() {
			continue
		}
		addr, err := s.masterFrom(ctx, sn)
		if err != nil || (agreed != "" && addr != agreed) {
			return ""
		}
		agreed = addr
	}
	return agreed
}

// node returns the data node listening on addr, or nil.
func (s *RedisSentinel) node(addr string) *Redis {
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// MasterNode returns the data node the sentinels name as the primary,
// failing the test when they do not agree within a few seconds.
func (s *RedisSentinel) MasterNode(tb testing.TB) *Redis {
	tb.Helper()
	var m *Redis
	Eventually(tb, topologyWait, "the sentinels agree on a primary", func() bool {
		m = s.node(s.agreedMaster(tb.Context()))
		return m != nil
	})
	return m
}

// Failover asks a sentinel for a failover (SENTINEL FAILOVER), waits until
// every running sentinel names another primary and that node answers ROLE
// as a master, and returns it. The old primary becomes a replica of the
// new one shortly after: WaitReplicas waits for that.
func (s *RedisSentinel) Failover(tb testing.TB) *Redis {
	tb.Helper()
	old := s.MasterNode(tb)
	var err error
	Eventually(tb, topologyWait, "a sentinel accepts SENTINEL FAILOVER", func() bool {
		for _, sn := range s.Sentinels {
			if sn.Proc.Running() {
				ctx, cancel := context.WithTimeout(tb.Context(), time.Second)
				err = s.sentinel(sn).Failover(ctx, s.MasterName).Err()
				cancel()
				return err == nil
			}
		}
		return false
	})
	return s.waitNewMaster(tb, old)
}

// KillMaster kills the primary with SIGKILL, waits until the sentinels
// promoted a replica (every running sentinel names it and it answers ROLE
// as a master) and returns the killed node, to Restart later.
func (s *RedisSentinel) KillMaster(tb testing.TB) *Redis {
	tb.Helper()
	old := s.MasterNode(tb)
	old.Proc.Kill()
	s.waitNewMaster(tb, old)
	return old
}

func (s *RedisSentinel) waitNewMaster(tb testing.TB, old *Redis) *Redis {
	tb.Helper()
	var m *Redis
	Eventually(tb, topologyWait, "the sentinels promote a replica of "+old.Addr, func() bool {
		m = s.node(s.agreedMaster(tb.Context()))
		if m == nil || m == old || !m.Proc.Running() {
			return false
		}
		role, err := s.admin.role(tb.Context(), m)
		return err == nil && role == "master"
	})
	return m
}

// WaitReplicas waits until every running data node but the primary the
// sentinels name replicates it with its link up, and the primary counts
// them as online.
func (s *RedisSentinel) WaitReplicas(tb testing.TB) {
	tb.Helper()
	var last string
	err := Poll(tb.Context(), topologyWait, "the replicas are in sync", func() bool {
		m := s.Nodes[0]
		if len(s.Sentinels) > 0 {
			if m = s.node(s.agreedMaster(tb.Context())); m == nil {
				last = "no agreed primary"
				return false
			}
		}
		want := 0
		for _, n := range s.Nodes {
			if n == m || !n.Proc.Running() {
				continue
			}
			want++
			if err := s.admin.replicates(tb.Context(), n, m); err != nil {
				last = err.Error()
				return false
			}
		}
		online, err := s.admin.onlineReplicas(tb.Context(), m)
		if err != nil || online != want {
			last = fmt.Sprintf("primary %s: %d replicas online, want %d (%v)", m.Addr, online, want, err)
			return false
		}
		return true
	})
	if err != nil {
		tb.Fatalf("testkit: %v: %s", err, last)
	}
}

// waitSentinels waits until every sentinel knows every replica, linked,
// and every other sentinel.
func (s *RedisSentinel) waitSentinels(tb testing.TB) {
	tb.Helper()
	var last error
	err := Poll(tb.Context(), topologyWait, "every sentinel knows the replicas and the other sentinels", func() bool {
		for _, sn := range s.Sentinels {
			if last = s.sentinelReady(tb.Context(), sn); last != nil {
				return false
			}
		}
		return true
	})
	if err != nil {
		tb.Fatalf("testkit: %v: %v", err, last)
	}
}

func (s *RedisSentinel) sentinelReady(ctx context.Context, sn *Redis) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c := s.sentinel(sn)
	m, err := c.Master(ctx, s.MasterName).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: %w", sn.Addr, err)
	}
	if m["flags"] != "master" || m["num-slaves"] != strconv.Itoa(s.cfg.replicas) ||
		m["num-other-sentinels"] != strconv.Itoa(s.cfg.sentinels-1) {
		return fmt.Errorf("sentinel %s: master flags %q, %s replicas, %s other sentinels", sn.Addr,
			m["flags"], m["num-slaves"], m["num-other-sentinels"])
	}
	replicas, err := c.Replicas(ctx, s.MasterName).Result()
	if err != nil {
		return fmt.Errorf("sentinel %s: %w", sn.Addr, err)
	}
	for _, r := range replicas {
		if r["flags"] != "slave" || r["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s: replica %s:%s flags %q, link %q", sn.Addr, r["ip"], r["port"],
				r["flags"], r["master-link-status"])
		}
	}
	return nil
}

// adminClients holds one client per data node, with no retries and short
// timeouts, for the helpers' polling.
type adminClients struct {
	mu sync.Mutex
	m  map[*Redis]*redis.Client
}

func (a *adminClients) client(r *Redis) *redis.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[*Redis]*redis.Client{}
	}
	c, ok := a.m[r]
	if !ok {
		c = redis.NewClient(&redis.Options{Addr: r.Addr, Username: r.cfg.user, Password: r.cfg.password,
			TLSConfig: r.cfg.tls, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second,
			WriteTimeout: time.Second, DisableIdentity: true})
		a.m[r] = c
	}
	return c
}

func (a *adminClients) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.m {
		_ = c.Close()
	}
	a.m = nil
}

// role returns the first word of ROLE: master, slave (or sentinel).
func (a *adminClients) role(ctx context.Context, r *Redis) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	v, err := a.client(r).Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", fmt.Errorf("testkit: ROLE on %s: %w", r.Addr, err)
	}
	if len(v) == 0 {
		return "", fmt.Errorf("testkit: ROLE on %s: empty answer", r.Addr)
	}
	role, _ := v[0].(string)
	return role, nil
}

// info returns the fields of INFO section on r.
func (a *adminClients) info(ctx context.Context, r *Redis, section string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	text, err := a.client(r).Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("testkit: INFO %s on %s: %w", section, r.Addr, err)
	}
	return parseInfo(text), nil
}

// parseInfo reads the "field:value" lines of INFO (or CLUSTER INFO).
func parseInfo(text string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			fields[k] = v
		}
	}
	return fields
}

// replicates reports, as an error, why r is not a replica of m with its
// link up.
func (a *adminClients) replicates(ctx context.Context, r, m *Redis) error {
	f, err := a.info(ctx, r, "replication")
	if err != nil {
		return err
	}
	if f["role"] != "slave" || net.JoinHostPort(f["master_host"], f["master_port"]) != m.Addr ||
		f["master_link_status"] != "up" {
		return fmt.Errorf("testkit: %s: role %s of %s:%s, link %s; want a replica of %s", r.Addr,
			f["role"], f["master_host"], f["master_port"], f["master_link_status"], m.Addr)
	}
	return nil
}

// onlineReplicas counts the replicas m lists as online.
func (a *adminClients) onlineReplicas(ctx context.Context, m *Redis) (int, error) {
	f, err := a.info(ctx, m, "replication")
	if err != nil {
		return 0, err
	}
	if f["role"] != "master" {
		return 0, fmt.Errorf("testkit: %s is a %s", m.Addr, f["role"])
	}
	n := 0
	for k, v := range f {
		if strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online") {
			n++
		}
	}
	return n, nil
}

// logOutputs logs the output of each process, for a failed test.
func logOutputs(tb testing.TB, what string, nodes []*Redis) {
	tb.Helper()
	for _, n := range nodes {
		tb.Logf("--- %s %s output ---\n%s", what, n.Addr, n.Proc.Output())
	}
}

// Package chaos is the fault-injection harness of eventjwt: it builds and
// starts the real binaries (auth, revocation, three example validators), a
// real redis-server and a real nats-server on loopback, drives them with
// virtual users, injects one named fault after another under load, and
// judges every answer against an oracle of what was acknowledged.
//
//	rep, err := chaos.Run(ctx, chaos.Short(root))
//	fmt.Print(rep.Table())
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// Config sizes a run.
type Config struct {
	Root       string        // repository root
	Dir        string        // run directory (logs, stores); a temp dir when ""
	Full       bool          // the full run of `make chaos`
	VUs        int           // virtual users
	Hammers    int           // goroutines validating as fast as they can
	Validators int           // validator processes
	Warm, Tail time.Duration // load before and after each fault
	Hold       time.Duration // how long an outage lasts
	Backlog    int           // events published while the consumer is paused
	Kills      int           // kill -9 of the revocation service in scenario 1
	Thieves    int           // refresh-token thieves in scenario 11
	Retries    int           // kill-before-PubAck rounds in scenario 2
	SettleMax  time.Duration // bound for the consumer to drain after load
	Only       []string      // scenario names to run (all when empty)
	Log        io.Writer     // progress
}

// Short is the configuration of TestChaosShort: every scenario, small.
func Short(root string) Config {
	return Config{Root: root, VUs: 50, Hammers: 8, Validators: 3, Warm: 700 * time.Millisecond,
		Tail: 500 * time.Millisecond, Hold: time.Second, Backlog: 3000, Kills: 2, Retries: 2, Thieves: 8,
		SettleMax: 30 * time.Second, Log: io.Discard}
}

// Full is the configuration of `make chaos`.
func Full(root string) Config {
	return Config{Root: root, Full: true, VUs: 50, Hammers: 32, Validators: 3, Warm: 20 * time.Second,
		Tail: 15 * time.Second, Hold: 4 * time.Second, Backlog: 100_000, Kills: 12, Retries: 10, Thieves: 32,
		SettleMax: 10 * time.Minute, Log: os.Stderr}
}

// env is what a scenario works with.
type env struct {
	cfg  Config
	c    *Cluster
	o    *Oracle
	load *Load
	s    *Stats
}

func (e *env) logf(format string, args ...any) {
	_, _ = fmt.Fprintf(e.cfg.Log, "chaos: "+format+"\n", args...)
}

// scenario is one named fault; Thieves adds the refresh-token thieves
// (Config.Thieves) to its load. Topo is what it runs on (the zero
// topology: the cluster the default scenarios share); Budget, when not
// 0, replaces propagationBudget for its 202s; FullOnly keeps it out of
// the short run.
type scenario struct {
	Name     string
	Fault    func(ctx context.Context, e *env) error
	Thieves  bool
	Topo     topology
	Budget   time.Duration
	FullOnly bool
}

// Run builds the binaries, starts a cluster per topology and runs every
// scenario on its own; the report's Violations says whether a guarantee
// broke.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "eventjwt-chaos-")
		if err != nil {
			return nil, err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		cfg.Dir = dir
	}
	start := time.Now()
	bin := filepath.Join(cfg.Dir, "bin")
	if err := build(ctx, cfg.Root, bin); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	rep := &Report{Machine: machine(ctx, bin), Full: cfg.Full}
	var dirs []string
	for k, group := range byTopology(cfg, scenarios()) {
		dir := cfg.Dir
		if k > 0 {
			dir = filepath.Join(cfg.Dir, "topology-"+strconv.Itoa(k))
		}
		dirs = append(dirs, dir)
		err := runTopology(ctx, cfg, bin, dir, group, rep)
		if err != nil || ctx.Err() != nil {
			rep.Elapsed = time.Since(start)
			return rep, errors.Join(err, ctx.Err())
		}
	}
	rep.Elapsed = time.Since(start)
	if rep.Violations() > 0 {
		rep.LogDir = cfg.Dir
		if cfg.Full || os.Getenv("CHAOS_KEEP_LOGS") != "" {
			rep.LogDir = keepLogs(dirs)
		}
	}
	return rep, nil
}

// byTopology returns the scenarios cfg selects, grouped by topology in
// order of first appearance: the default topology first.
func byTopology(cfg Config, all []scenario) [][]scenario {
	var groups [][]scenario
	index := map[topology]int{}
	for _, sc := range all {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, sc.Name) {
			continue
		}
		if len(cfg.Only) == 0 && sc.FullOnly && !cfg.Full {
			continue
		}
		k, ok := index[sc.Topo]
		if !ok {
			k = len(groups)
			index[sc.Topo] = k
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], sc)
	}
	return groups
}

// runTopology starts the cluster of group's topology in dir, runs the
// group's scenarios on it with an oracle of its own and stops it.
func runTopology(ctx context.Context, cfg Config, bin, dir string, group []scenario, rep *Report) error {
	start := time.Now()
	topo := group[0].Topo
	c, err := startCluster(ctx, bin, dir, topo, cfg.Validators)
	defer c.Close() //nolint:staticcheck // c is never nil: Close stops whatever started
	if err != nil {
		return fmt.Errorf("start cluster %s (logs in %s): %w", topo, dir, err)
	}
	up := time.Since(start)
	e := &env{cfg: cfg, c: c, o: NewOracle()}
	e.logf("cluster up in %s: %s (logs in %s)", up.Round(time.Millisecond), topo, dir)
	for _, sc := range group {
		s := e.runScenario(ctx, sc)
		if topo != (topology{}) {
			s.Note("topology: %s; started in %s", topo, up.Round(100*time.Millisecond))
		}
		rep.Scenarios = append(rep.Scenarios, s)
		e.logf("%s: %s", sc.Name, s.Summary())
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// keepLogs copies the process logs of dirs into a new directory and
// returns it (dirs[0] when that fails).
func keepLogs(dirs []string) string {
	keep, err := os.MkdirTemp("", "eventjwt-chaos-logs-")
	if err != nil {
		return dirs[0]
	}
	for k, dir := range dirs {
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, f := range logs {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(keep, fmt.Sprintf("t%d-%s", k, filepath.Base(f))), b, 0o644)
			}
		}
	}
	return keep
}

// runScenario runs load, injects the fault, lets the load run on, stops it
// and checks the state.
func (e *env) runScenario(ctx context.Context, sc scenario) *Stats {
	s := &Stats{Name: sc.Name}
	e.s = s
	e.o.stats.Store(s)
	e.o.strictLive.Store(false)
	e.o.firstClosed.Store(0)
	e.o.SetBudget(sc.Budget)
	start := time.Now()
	e.load = &Load{c: e.c, o: e.o, VUs: e.cfg.VUs, Hammers: e.cfg.Hammers}
	if sc.Thieves {
		e.load.Thieves = e.cfg.Thieves
	}
	e.load.Start(ctx)
	if err := testkit.Poll(ctx, e.cfg.Warm+30*time.Second, "first revocations acknowledged", func() bool {
		return time.Since(start) >= e.cfg.Warm && s.Acked.Load() > 0
	}); err != nil {
		s.Violate("no revocation acknowledged before the fault: %v", err)
	}
	e.o.FaultBegins()
	if err := sc.Fault(ctx, e); err != nil {
		s.Violate("fault %s: %v", sc.Name, err)
	}
	e.o.FaultEnds()
	pause(ctx, e.cfg.Tail)
	e.load.Stop()
	e.load.Observe(nil)
	e.c.Settle(ctx, s, e.cfg.SettleMax)
	e.c.CheckRedis(ctx, e.o, s)
	if sc.Thieves {
		e.judgeThieves(ctx)
	}
	if w := s.Window503(); w > 0 {
		s.Note("logout answered 503 (retry-safe) %d times, first to last %s", s.Unconfirmed.Load(), w.Round(time.Millisecond))
	}
	if w := s.WindowClosed(); w > 0 {
		s.Note("validations answered 503 (fail closed) %d times, first to last %s", s.FailClosed.Load(), w.Round(time.Millisecond))
	}
	if n := s.Acked202.Load(); n > 0 {
		s.Note("%d revocations answered 202; a 202'd token was accepted at most %s after its 202 (budget %s after the 202 or the fault's end)",
			n, s.Max202Accepted().Round(time.Millisecond), time.Duration(e.o.budget202()))
	}
	s.Elapsed = time.Since(start)
	return s
}

// scenarios lists the faults in the order they run (grouped by topology:
// the default one first).
func scenarios() []scenario {
	return []scenario{
		{Name: "1-kill-revocation", Fault: killRevocation},
		{Name: "2-kill-auth-before-puback", Fault: killAuthBeforePubAck},
		{Name: "3-kill-nats", Fault: killNATS},
		{Name: "4-redis-restarted-empty", Fault: redisRestartedEmpty},
		{Name: "5-redis-hung-and-blackholed", Fault: redisHung},
		{Name: "6-slow-consumer", Fault: slowConsumer},
		{Name: "7-duplicate-out-of-order", Fault: duplicatesOutOfOrder},
		{Name: "8-poison-messages", Fault: poisonMessages},
		{Name: "9-clock-skew", Fault: clockSkew},
		{Name: "10-two-revocation-services", Fault: twoRevocationServices},
		{Name: "11-refresh-token-reuse", Fault: refreshReuse, Thieves: true},
		{Name: "12-kill-active-revocation-standby", Fault: killActiveRevocation},
		{Name: "13-sentinel-failover", Fault: sentinelFailover, Topo: topology{Redis: redisSentinel}, Budget: staleness},
		{Name: "14-redis-cluster-master-killed", Fault: redisClusterKillMaster, Topo: topology{Redis: redisCluster}, Budget: staleness},
		{Name: "15-nats-stream-leader-killed", Fault: natsStreamLeaderKilled, Topo: topology{NATSNodes: 3}, FullOnly: true},
		{Name: "16-auth-replica-killed", Fault: authReplicaKilled, Topo: topology{AuthReplicas: 2}, FullOnly: true},
	}
}

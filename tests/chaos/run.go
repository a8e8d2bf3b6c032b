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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
// (Config.Thieves) to its load.
type scenario struct {
	Name    string
	Fault   func(ctx context.Context, e *env) error
	Thieves bool
}

// Run starts the cluster and runs every scenario; the report's Violations
// says whether a guarantee broke.
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
	c, err := startCluster(ctx, cfg.Root, cfg.Dir, cfg.Validators)
	defer c.Close() //nolint:staticcheck // c is never nil: Close stops whatever started
	if err != nil {
		return nil, fmt.Errorf("start cluster (logs in %s): %w", cfg.Dir, err)
	}
	rep := &Report{Machine: machine(ctx, c.bin), Full: cfg.Full}
	e := &env{cfg: cfg, c: c, o: NewOracle()}
	e.logf("cluster up in %s (logs in %s)", time.Since(start).Round(time.Millisecond), cfg.Dir)
	for _, sc := range scenarios() {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, sc.Name) {
			continue
		}
		s := e.runScenario(ctx, sc)
		rep.Scenarios = append(rep.Scenarios, s)
		e.logf("%s: %s", sc.Name, s.Summary())
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.Elapsed = time.Since(start)
	if rep.Violations() > 0 {
		rep.LogDir = cfg.Dir
		if cfg.Full || os.Getenv("CHAOS_KEEP_LOGS") != "" {
			keep, err := os.MkdirTemp("", "eventjwt-chaos-logs-")
			if err == nil {
				for _, f := range []string{"auth", "revocation-0", "revocation-1", "natsd", "redis", "validator-0", "validator-1", "validator-2"} {
					if b, err := os.ReadFile(filepath.Join(cfg.Dir, f+".log")); err == nil {
						_ = os.WriteFile(filepath.Join(keep, f+".log"), b, 0o644)
					}
				}
				rep.LogDir = keep
			}
		}
	}
	return rep, nil
}

// runScenario runs load, injects the fault, lets the load run on, stops it
// and checks the state.
func (e *env) runScenario(ctx context.Context, sc scenario) *Stats {
	s := &Stats{Name: sc.Name}
	e.s = s
	e.o.stats.Store(s)
	e.o.strictLive.Store(false)
	e.o.firstClosed.Store(0)
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
	s.Elapsed = time.Since(start)
	return s
}

// scenarios lists the faults in the order they run.
func scenarios() []scenario {
	return []scenario{
		{"1-kill-revocation", killRevocation, false},
		{"2-kill-auth-before-puback", killAuthBeforePubAck, false},
		{"3-kill-nats", killNATS, false},
		{"4-redis-restarted-empty", redisRestartedEmpty, false},
		{"5-redis-hung-and-blackholed", redisHung, false},
		{"6-slow-consumer", slowConsumer, false},
		{"7-duplicate-out-of-order", duplicatesOutOfOrder, false},
		{"8-poison-messages", poisonMessages, false},
		{"9-clock-skew", clockSkew, false},
		{"10-two-revocation-services", twoRevocationServices, false},
		{"11-refresh-token-reuse", refreshReuse, true},
	}
}

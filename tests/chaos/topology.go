package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// redisKind is the shape of the Redis a topology runs.
type redisKind int

const (
	redisSingle   redisKind = iota // one redis-server, behind the validators' proxy
	redisSentinel                  // 1 primary + 2 replicas + 3 sentinels
	redisCluster                   // 3 masters + 3 replicas
)

// topology is what a scenario runs on. The zero topology is the default
// one most scenarios share: one redis-server, one natsd, one auth service
// on SQLite, one revocation service.
type topology struct {
	Redis        redisKind
	NATSNodes    int // > 1: a NATS cluster of that many natsd processes, streams at that many replicas
	AuthReplicas int // > 1: that many auth services on one PostgreSQL, the load spread over them
}

// String names the topology in logs and the report.
func (t topology) String() string {
	var parts []string
	switch t.Redis {
	case redisSentinel:
		parts = append(parts, "Redis Sentinel (1+2, 3 sentinels)")
	case redisCluster:
		parts = append(parts, "Redis Cluster (3+3)")
	default:
		parts = append(parts, "one Redis")
	}
	if t.NATSNodes > 1 {
		parts = append(parts, fmt.Sprintf("NATS cluster of %d (R%d)", t.NATSNodes, t.NATSNodes))
	} else {
		parts = append(parts, "one NATS")
	}
	if t.AuthReplicas > 1 {
		parts = append(parts, fmt.Sprintf("%d auth replicas on PostgreSQL", t.AuthReplicas))
	} else {
		parts = append(parts, "one auth on SQLite")
	}
	return strings.Join(parts, ", ")
}

// errHarnessFatal is what a testkit helper's Fatal becomes outside go test.
var errHarnessFatal = errors.New("testkit helper failed")

// fatal is the panic value harnessTB's Fatal raises; guard recovers it.
type fatal struct{ msg string }

// harnessTB lets the testing.TB helpers of internal/testkit (Sentinel,
// Cluster) run in the harness, which also runs from cmd/chaos, not under
// go test: temporary directories go under the run directory, cleanups run
// at Close, logs go to a file, and Fatal panics with a value guard turns
// into an error. The embedded testing.TB is nil: only the methods below
// may be called (another one panics, and guard reports that too).
type harnessTB struct {
	testing.TB

	ctx  context.Context
	dir  string
	log  *os.File
	mu   sync.Mutex
	done []func()
	fail bool
	n    int
}

func newHarnessTB(ctx context.Context, dir string, log *os.File) *harnessTB {
	return &harnessTB{ctx: ctx, dir: dir, log: log}
}

func (t *harnessTB) Helper()                  {}
func (t *harnessTB) Name() string             { return "chaos" }
func (t *harnessTB) Context() context.Context { return t.ctx }

func (t *harnessTB) TempDir() string {
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	dir := filepath.Join(t.dir, "tk-"+strconv.Itoa(n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("chaos: temp dir: %v", err)
	}
	return dir
}

func (t *harnessTB) Cleanup(f func()) {
	t.mu.Lock()
	t.done = append(t.done, f)
	t.mu.Unlock()
}

func (t *harnessTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fail
}

func (t *harnessTB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }

func (t *harnessTB) Logf(format string, args ...any) {
	if t.log != nil {
		_, _ = fmt.Fprintf(t.log, format+"\n", args...)
	}
}

func (t *harnessTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.fail = true
	t.mu.Unlock()
	t.Logf(format, args...)
}

func (t *harnessTB) Fatal(args ...any) { t.fatal(fmt.Sprint(args...)) }

func (t *harnessTB) Fatalf(format string, args ...any) { t.fatal(fmt.Sprintf(format, args...)) }

func (t *harnessTB) fatal(msg string) {
	t.mu.Lock()
	t.fail = true
	t.mu.Unlock()
	t.Logf("FATAL: %s", msg)
	panic(fatal{msg})
}

// close runs the cleanups, last registered first.
func (t *harnessTB) close() {
	t.mu.Lock()
	done := t.done
	t.done = nil
	t.mu.Unlock()
	for i := len(done) - 1; i >= 0; i-- {
		done[i]()
	}
}

// guard runs f, turning a Fatal of the harness's TB (or a panic of a nil
// TB method) into an error.
func guard(what string, f func()) (err error) {
	defer func() {
		switch r := recover().(type) {
		case nil:
		case fatal:
			err = fmt.Errorf("%s: %w: %s", what, errHarnessFatal, r.msg)
		default:
			err = fmt.Errorf("%s: panic: %v", what, r)
		}
	}()
	f()
	return nil
}

// startTopologyRedis starts the Sentinel or Cluster of the topology and
// sets the URLs the services, validators and harness use.
func (c *Cluster) startTopologyRedis(ctx context.Context) error {
	var err error
	switch c.topo.Redis {
	case redisSentinel:
		err = guard("start Redis Sentinel", func() {
			c.Sentinel = testkit.StartRedisSentinel(c.tb, testkit.RedisSentinelNodeOptions(testkit.RedisArgs("--maxclients", "2000")))
		})
		if err != nil {
			return err
		}
		c.RedisURL, c.layout = c.Sentinel.URL, revocation.FlatLayout
		opt, err := redis.ParseFailoverURL(c.Sentinel.URL)
		if err != nil {
			return fmt.Errorf("sentinel URL: %w", err)
		}
		opt.PoolSize = 32
		c.RDB = redis.NewFailoverClient(opt)
	case redisCluster:
		err = guard("start Redis Cluster", func() {
			c.RCluster = testkit.StartRedisCluster(c.tb, testkit.RedisClusterNodeOptions(testkit.RedisArgs("--maxclients", "2000")))
		})
		if err != nil {
			return err
		}
		c.RedisURL, c.layout = c.RCluster.URL, revocation.PartitionedLayout
		opt, err := redis.ParseClusterURL(c.RCluster.URL)
		if err != nil {
			return fmt.Errorf("cluster URL: %w", err)
		}
		opt.PoolSize = 32
		c.RDB = redis.NewClusterClient(opt)
	}
	c.valRedisURL = c.RedisURL
	return nil
}

// startNATSCluster starts c.topo.NATSNodes natsd processes routed to each
// other, each with its own store, and waits until every one accepts
// connections and JetStream answers.
func (c *Cluster) startNATSCluster(ctx context.Context) error {
	n := c.topo.NATSNodes
	clientAddrs, routeAddrs := make([]string, n), make([]string, n)
	for i := range n {
		var err error
		if clientAddrs[i], err = testkit.PickAddr(); err != nil {
			return err
		}
		if routeAddrs[i], err = testkit.PickAddr(); err != nil {
			return err
		}
	}
	routes := make([]string, n)
	for i, a := range routeAddrs {
		routes[i] = "nats://" + a
	}
	for i := range n {
		name := "n" + strconv.Itoa(i+1)
		p, err := c.newProc("natsd-"+name, filepath.Join(c.bin, "natsd"), []string{
			"-port", portOf(clientAddrs[i]), "-store", filepath.Join(c.dir, "nats-"+name), "-name", name,
			"-cluster-port", portOf(routeAddrs[i]), "-routes", strings.Join(routes, ","),
		}, nil)
		if err != nil {
			return err
		}
		if err := p.Start(); err != nil {
			return err
		}
		c.NATSNodes = append(c.NATSNodes, p)
		c.NATSNames = append(c.NATSNames, name)
	}
	c.NATSAddrs = clientAddrs
	urls := make([]string, n)
	for i, a := range clientAddrs {
		urls[i] = "nats://" + a
	}
	c.NATSURL = strings.Join(urls, ",")
	c.authNATSURL = c.NATSURL
	c.NATSAddr = clientAddrs[0]
	return nil
}

// startPostgres starts the PostgreSQL the auth replicas share. Its
// directory is a temporary one of its own, not under the run directory:
// as root, procs runs the server as an unprivileged user that must
// traverse the directory's parent (which procs opens), and nothing above.
func (c *Cluster) startPostgres(ctx context.Context) error {
	base, err := os.MkdirTemp("", "eventjwt-chaos-pg-")
	if err != nil {
		return err
	}
	c.tb.Cleanup(func() { _ = os.RemoveAll(base) })
	dir := filepath.Join(base, "postgres")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	pg, err := procs.NewPostgres(ctx, dir)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.PG = pg
	url, err := pg.CreateDatabase(ctx, "chaos")
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	c.databaseURL = url
	return nil
}

// waitJetStream waits until JetStream answers the harness (a meta leader
// was elected) .
func (c *Cluster) waitJetStream(ctx context.Context) error {
	return testkit.Poll(ctx, 60*time.Second, "JetStream answers (meta leader elected)", func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.JS.AccountInfo(cctx)
		return err == nil
	})
}

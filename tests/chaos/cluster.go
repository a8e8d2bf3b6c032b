package chaos

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Settings the services run with; the figures depend on them.
const (
	issuer         = "http://auth.chaos"
	audience       = "api"
	tokenTTL       = 15 * time.Minute
	revocationWait = 2 * time.Second
	ackWait        = 2 * time.Second
	revLeeway      = time.Minute
	// revMaxTokenTTL is REVOCATION_MAX_TOKEN_TTL: the auth service's token
	// lifetime, as an operator with one issuer sets it. User versions live
	// that long after their event (plus leeway), no key longer.
	revMaxTokenTTL = tokenTTL
)

// Cluster is the whole system on loopback: redis-server, natsd, the auth
// and revocation services and the example validators, plus the proxies the
// faults need (auth -> NATS, validators -> Redis).
type Cluster struct {
	dir, bin string
	topo     topology
	tb       *harnessTB // for testkit's Sentinel and Cluster helpers

	Redis     *testkit.Redis // the single redis-server (default topology)
	RedisAddr string
	Sentinel  *testkit.RedisSentinel // topology redisSentinel
	RCluster  *testkit.RedisCluster  // topology redisCluster
	RedisURL  string                 // the services' REDIS_URL
	NATS      *testkit.Proc          // the single natsd (nil on a NATS cluster)
	NATSAddr  string
	NATSURL   string          // the services' NATS_URL
	NATSNodes []*testkit.Proc // natsd processes of a NATS cluster
	NATSNames []string        // their server names, n1...
	NATSAddrs []string        // their client addresses
	PG        *procs.Postgres // the auth replicas' database (AuthReplicas > 1)
	AuthNATS  *Proxy          // auth's path to NATS (HoldReplies for scenario 2; default topology)
	ValRedis  *Proxy          // the validators' path to Redis (BlackHole for scenario 5; default topology)

	Auth           *testkit.Proc // Auths[0]
	AuthURL        string        // AuthURLs[0]
	AuthMetricsURL string        // the only listener serving auth's /metrics (of Auths[0])
	Auths          []*testkit.Proc
	AuthURLs       []string
	authMetrics    []string // each replica's metrics listener
	Rev            []*testkit.Proc
	RevURL         []string
	RevMetricsURL  []string // the only listeners serving revocation's /metrics
	Validators     []*testkit.Proc
	ValURL         []string

	RDB redis.UniversalClient
	NC  *nats.Conn
	JS  jetstream.JetStream

	layout      revocation.Layout // the key layout the services write
	valRedisURL string            // the validators' REDIS_URL
	authNATSURL string            // the auth services' NATS_URL
	databaseURL string            // AUTH_DATABASE_URL, when on PostgreSQL
	signingKey  string            // the auth replicas' shared key file
	rr          atomic.Uint64     // round robin over the auth replicas

	logs []*os.File // the processes' log files, closed by Close
}

// authMetricsURL returns auth replica i's metrics listener.
func (c *Cluster) authMetricsURL(i int) string { return c.authMetrics[i] }

// authURL returns the base URL of the next running auth replica (round
// robin, as a load balancer that drops a dead backend does); the first
// when none runs.
func (c *Cluster) authURL() string {
	n := len(c.AuthURLs)
	if n <= 1 {
		return c.AuthURL
	}
	start := int(c.rr.Add(1))
	for k := range n {
		i := (start + k) % n
		if c.Auths[i].Running() {
			return c.AuthURLs[i]
		}
	}
	return c.AuthURLs[start%n]
}

// build compiles the binaries into bin.
func build(ctx context.Context, root, bin string) error {
	return testkit.BuildBinaries(ctx, bin,
		filepath.Join(root, "services", "auth", "cmd", "auth"),
		filepath.Join(root, "services", "revocation", "cmd", "revocation"),
		filepath.Join(root, "examples", "validator"),
		filepath.Join(root, "tests", "chaos", "cmd", "natsd"))
}

// logFile opens (appends to) the log file of the process name in the run
// directory.
func (c *Cluster) logFile(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.logs = append(c.logs, f)
	return f, nil
}

// newProc describes a child process whose output is appended to its log
// file in the run directory.
func (c *Cluster) newProc(name, path string, args, env []string) (*testkit.Proc, error) {
	f, err := c.logFile(name)
	if err != nil {
		return nil, err
	}
	p := testkit.NewProc(name, path, args, env)
	p.Out = f
	return p, nil
}

// startCluster starts everything of topo in dir, with the binaries of bin
// (built by build).
func startCluster(ctx context.Context, bin, dir string, topo topology, validators int) (*Cluster, error) {
	c := &Cluster{dir: dir, bin: bin, topo: topo}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, err
	}
	tblog, err := c.logFile("testkit")
	if err != nil {
		return c, err
	}
	c.tb = newHarnessTB(ctx, dir, tblog)
	steps := []func(context.Context) error{c.startRedis, c.startNATS, c.connect, c.startRevocation, c.startAuth}
	if topo.Redis != redisSingle {
		steps[0] = c.startTopologyRedis
	}
	if topo.NATSNodes > 1 {
		steps[1] = c.startNATSCluster
	}
	if topo.AuthReplicas > 1 {
		steps = append(steps[:4], c.startPostgres, c.startAuth)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return c, err
		}
	}
	for i := range validators {
		if err := c.startValidator(ctx, i); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *Cluster) startRedis(ctx context.Context) error {
	data := filepath.Join(c.dir, "redis")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	log, err := c.logFile("redis")
	if err != nil {
		return err
	}
	// No persistence: every restart comes back empty, the harshest case
	// for the rebuild (see docs/RELIABILITY.md for production settings).
	c.Redis, err = testkit.NewRedis(ctx, data, testkit.RedisArgs("--maxclients", "2000"), testkit.RedisOutput(log))
	if err != nil {
		return err
	}
	c.RedisAddr = c.Redis.Addr
	c.RedisURL, c.layout = "redis://"+c.RedisAddr+"/0", revocation.FlatLayout
	c.RDB = redis.NewClient(&redis.Options{Addr: c.RedisAddr, PoolSize: 32})
	c.ValRedis, err = StartProxy(c.RedisAddr)
	if err != nil {
		return err
	}
	c.valRedisURL = "redis://" + c.ValRedis.Addr + "/0"
	return nil
}

func (c *Cluster) startNATS(ctx context.Context) error {
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	c.NATSAddr = addr
	store := filepath.Join(c.dir, "nats")
	c.NATS, err = c.newProc("natsd", filepath.Join(c.bin, "natsd"), []string{"-port", portOf(addr), "-store", store}, nil)
	if err != nil {
		return err
	}
	if err := c.RestartNATS(ctx); err != nil {
		return err
	}
	c.NATSURL = "nats://" + addr
	c.AuthNATS, err = StartProxy(addr)
	if err != nil {
		return err
	}
	c.authNATSURL = "nats://" + c.AuthNATS.Addr
	return nil
}

// RestartNATS starts natsd on its port and store and waits for a client
// connection to succeed.
func (c *Cluster) RestartNATS(ctx context.Context) error {
	if err := c.NATS.Start(); err != nil {
		return err
	}
	return testkit.Poll(ctx, 30*time.Second, "natsd accepts connections", func() bool {
		nc, err := nats.Connect("nats://"+c.NATSAddr, nats.Timeout(500*time.Millisecond))
		if err != nil {
			return false
		}
		nc.Close()
		return true
	})
}

// connect opens the harness's own NATS client (Redis's is opened with
// the Redis) and waits for JetStream.
func (c *Cluster) connect(ctx context.Context) error {
	var nc *nats.Conn
	// A natsd of a cluster may still be starting: retry the first dial.
	err := testkit.Poll(ctx, 30*time.Second, "NATS accepts the harness's connection", func() bool {
		var err error
		nc, err = nats.Connect(c.NATSURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
			nats.Timeout(500*time.Millisecond))
		return err == nil
	})
	if err != nil {
		return err
	}
	c.NC = nc
	if c.JS, err = jetstream.New(nc); err != nil {
		return err
	}
	return c.waitJetStream(ctx)
}

// revocationEnv is the environment of a revocation service on addr, with
// its metrics on metricsAddr.
func (c *Cluster) revocationEnv(addr, metricsAddr string) []string {
	env := []string{
		"NATS_URL=" + c.NATSURL, "REDIS_URL=" + c.RedisURL,
		"LOG_FORMAT=text", "REVOCATION_HTTP_ADDR=" + addr, "REVOCATION_METRICS_ADDR=" + metricsAddr,
		"REVOCATION_ACK_WAIT=" + ackWait.String(), "REVOCATION_CHECK_INTERVAL=200ms",
		"REVOCATION_LEEWAY=" + revLeeway.String(), "REVOCATION_MAX_TOKEN_TTL=" + revMaxTokenTTL.String(),
	}
	if c.topo.NATSNodes > 1 {
		env = append(env, "REVOCATION_STREAM_REPLICAS="+strconv.Itoa(c.topo.NATSNodes))
	}
	return env
}

// StartExtraRevocation starts another revocation service (same durable)
// and returns its index.
func (c *Cluster) StartExtraRevocation(ctx context.Context) (int, error) {
	addr, err := testkit.PickAddr()
	if err != nil {
		return 0, err
	}
	metricsAddr, err := testkit.PickAddr()
	if err != nil {
		return 0, err
	}
	i := len(c.Rev)
	p, err := c.newProc("revocation-"+strconv.Itoa(i), filepath.Join(c.bin, "revocation"), nil, c.revocationEnv(addr, metricsAddr))
	if err != nil {
		return i, err
	}
	c.Rev = append(c.Rev, p)
	c.RevURL = append(c.RevURL, "http://"+addr)
	c.RevMetricsURL = append(c.RevMetricsURL, "http://"+metricsAddr)
	if err := p.Start(); err != nil {
		return i, err
	}
	return i, c.WaitReady(ctx, c.RevURL[i]+"/readyz", 60*time.Second)
}

func (c *Cluster) startRevocation(ctx context.Context) error {
	_, err := c.StartExtraRevocation(ctx)
	return err
}

func (c *Cluster) startAuth(ctx context.Context) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pem, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	c.signingKey = filepath.Join(c.dir, "signing.pem")
	if err := os.WriteFile(c.signingKey, pem, 0o600); err != nil {
		return err
	}
	for i := range max(1, c.topo.AuthReplicas) {
		if err := c.startAuthReplica(ctx, i); err != nil {
			return err
		}
	}
	c.Auth, c.AuthURL = c.Auths[0], c.AuthURLs[0]
	return nil
}

// startAuthReplica starts auth service i (all replicas share the signing
// key and, on PostgreSQL, the database).
func (c *Cluster) startAuthReplica(ctx context.Context, i int) error {
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	if i == 0 {
		c.AuthMetricsURL = "http://" + metricsAddr
	}
	c.authMetrics = append(c.authMetrics, "http://"+metricsAddr)
	name := "auth"
	if i > 0 {
		name += "-" + strconv.Itoa(i)
	}
	env := []string{
		"NATS_URL=" + c.authNATSURL, "REDIS_URL=" + c.RedisURL,
		"LOG_FORMAT=text", "AUTH_HTTP_ADDR=" + addr, "AUTH_METRICS_ADDR=" + metricsAddr,
		"AUTH_DB_PATH=" + filepath.Join(c.dir, "auth.db"), "AUTH_SIGNING_KEY_FILE=" + c.signingKey,
		"AUTH_ISSUER=" + issuer, "AUTH_AUDIENCE=" + audience,
		"AUTH_ACCESS_TOKEN_TTL=" + tokenTTL.String(), "AUTH_REVOCATION_WAIT=" + revocationWait.String(),
		"AUTH_REFRESH_REUSE_GRACE=" + reuseGrace.String(),
		"AUTH_ARGON2_MEMORY_KIB=64", "AUTH_ARGON2_ITERATIONS=1", "AUTH_ARGON2_PARALLELISM=1",
		// 50 virtual users log in from one address: brute-force limits would
		// only throttle the load (they are tested in services/auth).
		"AUTH_LOGIN_RATE_IP=off", "AUTH_LOGIN_RATE_USER=off",
	}
	if c.databaseURL != "" {
		env = append(env, "AUTH_DATABASE_URL="+c.databaseURL)
	}
	if c.topo.NATSNodes > 1 {
		env = append(env, "AUTH_STREAM_REPLICAS="+strconv.Itoa(c.topo.NATSNodes))
	}
	p, err := c.newProc(name, filepath.Join(c.bin, "auth"), nil, env)
	if err != nil {
		return err
	}
	c.Auths = append(c.Auths, p)
	c.AuthURLs = append(c.AuthURLs, "http://"+addr)
	if err := p.Start(); err != nil {
		return err
	}
	return c.WaitReady(ctx, c.AuthURLs[i]+"/readyz", 60*time.Second)
}

// startValidator starts validator i with no clock skew.
func (c *Cluster) startValidator(ctx context.Context, i int) error {
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	p, err := c.newProc("validator-"+strconv.Itoa(i), filepath.Join(c.bin, "validator"), nil, []string{
		"VALIDATOR_HTTP_ADDR=" + addr, "REDIS_URL=" + c.valRedisURL,
		"AUTH_JWKS_URL=" + c.AuthURL + "/.well-known/jwks.json",
		"AUTH_ISSUER=" + issuer, "AUTH_AUDIENCE=" + audience, "LOG_LEVEL=warn",
	})
	if err != nil {
		return err
	}
	c.Validators = append(c.Validators, p)
	c.ValURL = append(c.ValURL, "http://"+addr)
	if err := p.Start(); err != nil {
		return err
	}
	return c.WaitReady(ctx, c.ValURL[i]+"/healthz", 30*time.Second)
}

// RestartValidator restarts validator i with extra environment (a clock
// skew) and waits until it answers.
func (c *Cluster) RestartValidator(ctx context.Context, i int, extra ...string) error {
	p := c.Validators[i]
	_ = p.Stop() // killed after the deadline: what a restart needs either way
	base := []string{}
	for _, kv := range p.Env() {
		if len(kv) < 21 || kv[:21] != "VALIDATOR_CLOCK_SKEW=" {
			base = append(base, kv)
		}
	}
	p.SetEnv(append(base, extra...))
	if err := p.Start(); err != nil {
		return err
	}
	return c.WaitReady(ctx, c.ValURL[i]+"/healthz", 30*time.Second)
}

// WaitReady polls url until it answers 200.
func (c *Cluster) WaitReady(ctx context.Context, url string, timeout time.Duration) error {
	return testkit.PollHTTP(ctx, timeout, url, http.StatusOK)
}

// Close stops every process and proxy.
func (c *Cluster) Close() {
	for _, p := range c.Validators {
		p.Kill()
	}
	for _, p := range c.Auths {
		p.Kill()
	}
	for _, p := range c.Rev {
		p.Kill()
	}
	if c.NC != nil {
		c.NC.Close()
	}
	if c.RDB != nil {
		_ = c.RDB.Close()
	}
	for _, p := range []*Proxy{c.AuthNATS, c.ValRedis} {
		if p != nil {
			p.Close()
		}
	}
	if c.NATS != nil {
		c.NATS.Kill()
	}
	for _, p := range c.NATSNodes {
		p.Kill()
	}
	if c.Redis != nil {
		c.Redis.Proc.Kill()
	}
	if c.PG != nil {
		_ = c.PG.Stop()
	}
	if c.tb != nil {
		c.tb.close() // Sentinel, Cluster, PostgreSQL's directory
	}
	for _, f := range c.logs {
		_ = f.Close()
	}
}

// portOf returns the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

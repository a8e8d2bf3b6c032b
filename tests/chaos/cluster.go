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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
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

	Redis     *testkit.Redis
	RedisAddr string
	NATS      *testkit.Proc
	NATSAddr  string
	AuthNATS  *Proxy // auth's path to NATS (HoldReplies for scenario 2)
	ValRedis  *Proxy // the validators' path to Redis (BlackHole for scenario 5)

	Auth           *testkit.Proc
	AuthURL        string
	AuthMetricsURL string // the only listener serving auth's /metrics
	Rev            []*testkit.Proc
	RevURL         []string
	RevMetricsURL  []string // the only listeners serving revocation's /metrics
	Validators     []*testkit.Proc
	ValURL         []string

	RDB *redis.Client
	NC  *nats.Conn
	JS  jetstream.JetStream

	logs []*os.File // the processes' log files, closed by Close
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

// startCluster builds and starts everything in dir.
func startCluster(ctx context.Context, root, dir string, validators int) (*Cluster, error) {
	c := &Cluster{dir: dir, bin: filepath.Join(dir, "bin")}
	if err := build(ctx, root, c.bin); err != nil {
		return c, err
	}
	steps := []func(context.Context) error{c.startRedis, c.startNATS, c.connect, c.startRevocation, c.startAuth}
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
	c.ValRedis, err = StartProxy(c.RedisAddr)
	return err
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
	c.AuthNATS, err = StartProxy(addr)
	return err
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

// connect opens the harness's own Redis and NATS clients.
func (c *Cluster) connect(context.Context) error {
	c.RDB = redis.NewClient(&redis.Options{Addr: c.RedisAddr, PoolSize: 32})
	nc, err := nats.Connect("nats://"+c.NATSAddr, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		return err
	}
	c.NC = nc
	c.JS, err = jetstream.New(nc)
	return err
}

// revocationEnv is the environment of a revocation service on addr, with
// its metrics on metricsAddr.
func (c *Cluster) revocationEnv(addr, metricsAddr string) []string {
	return []string{
		"NATS_URL=nats://" + c.NATSAddr, "REDIS_URL=redis://" + c.RedisAddr + "/0",
		"LOG_FORMAT=text", "REVOCATION_HTTP_ADDR=" + addr, "REVOCATION_METRICS_ADDR=" + metricsAddr,
		"REVOCATION_ACK_WAIT=" + ackWait.String(), "REVOCATION_CHECK_INTERVAL=200ms",
		"REVOCATION_LEEWAY=" + revLeeway.String(), "REVOCATION_MAX_TOKEN_TTL=" + revMaxTokenTTL.String(),
	}
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
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	metricsAddr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	pem, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(c.dir, "signing.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		return err
	}
	c.AuthURL, c.AuthMetricsURL = "http://"+addr, "http://"+metricsAddr
	c.Auth, err = c.newProc("auth", filepath.Join(c.bin, "auth"), nil, []string{
		"NATS_URL=nats://" + c.AuthNATS.Addr, "REDIS_URL=redis://" + c.RedisAddr + "/0",
		"LOG_FORMAT=text", "AUTH_HTTP_ADDR=" + addr, "AUTH_METRICS_ADDR=" + metricsAddr,
		"AUTH_DB_PATH=" + filepath.Join(c.dir, "auth.db"), "AUTH_SIGNING_KEY_FILE=" + keyFile,
		"AUTH_ISSUER=" + issuer, "AUTH_AUDIENCE=" + audience,
		"AUTH_ACCESS_TOKEN_TTL=" + tokenTTL.String(), "AUTH_REVOCATION_WAIT=" + revocationWait.String(),
		"AUTH_REFRESH_REUSE_GRACE=" + reuseGrace.String(),
		"AUTH_ARGON2_MEMORY_KIB=64", "AUTH_ARGON2_ITERATIONS=1", "AUTH_ARGON2_PARALLELISM=1",
		// 50 virtual users log in from one address: brute-force limits would
		// only throttle the load (they are tested in services/auth).
		"AUTH_LOGIN_RATE_IP=off", "AUTH_LOGIN_RATE_USER=off",
	})
	if err != nil {
		return err
	}
	if err := c.Auth.Start(); err != nil {
		return err
	}
	return c.WaitReady(ctx, c.AuthURL+"/readyz", 60*time.Second)
}

// startValidator starts validator i with no clock skew.
func (c *Cluster) startValidator(ctx context.Context, i int) error {
	addr, err := testkit.PickAddr()
	if err != nil {
		return err
	}
	p, err := c.newProc("validator-"+strconv.Itoa(i), filepath.Join(c.bin, "validator"), nil, []string{
		"VALIDATOR_HTTP_ADDR=" + addr, "REDIS_URL=redis://" + c.ValRedis.Addr + "/0",
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
	if c.Auth != nil {
		c.Auth.Kill()
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
	if c.Redis != nil {
		c.Redis.Proc.Kill()
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

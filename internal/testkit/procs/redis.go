package procs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process on a loopback port. It keeps nothing on
// disk unless started with persistence, so Restart brings it back empty,
// as a Redis without persistence does after a crash.
type Redis struct {
	Proc *Proc  // the server process (Kill, Signal, Pid)
	Port int    // the port clients use (the TLS port with RedisTLS)
	Addr string // 127.0.0.1:<port>
	URL  string // redis://127.0.0.1:<port>/0 (rediss:// with RedisTLS)
	Dir  string // the data directory

	cfg redisConfig
}

// RedisOption changes how StartRedis and NewRedis run redis-server.
type RedisOption func(*redisConfig)

type redisConfig struct {
	port             int // 0: a free one
	conf             string
	args             []string
	aclFile          string
	user, password   string
	persistent       bool
	tls              *tls.Config
	out              io.Writer
	bin              string
	readinessTimeout time.Duration
}

// RedisConfigFile runs the configuration file path (its first argument).
// Only the port, the data directory (and the ACL file, with RedisACL) are
// set on the command line then: no bind address, eviction policy or
// persistence settings of StartRedis's own.
func RedisConfigFile(path string) RedisOption {
	return func(c *redisConfig) { c.conf = path }
}

// RedisArgs adds command-line arguments after all others ("--maxclients",
// "2000"); a later setting wins in redis-server.
func RedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// RedisACL copies the ACL file path into the data directory, runs the
// server with it (so that ACL SAVE never writes to the original) and
// checks readiness as user with password.
func RedisACL(path, user, password string) RedisOption {
	return func(c *redisConfig) { c.aclFile, c.user, c.password = path, user, password }
}

// RedisPersistent turns on an append-only file fsynced on every write, so
// Restart keeps the data.
func RedisPersistent() RedisOption {
	return func(c *redisConfig) { c.persistent = true }
}

// RedisTLS makes the port a TLS port (the plain-text one is off) and
// clients, the readiness check among them, use clientTLS.
func RedisTLS(clientTLS *tls.Config) RedisOption {
	return func(c *redisConfig) { c.tls = clientTLS }
}

// RedisPort runs the server on port instead of a free one.
func RedisPort(port int) RedisOption {
	return func(c *redisConfig) { c.port = port }
}

// RedisOutput sends the server's log to w instead of Proc.Output.
func RedisOutput(w io.Writer) RedisOption {
	return func(c *redisConfig) { c.out = w }
}

// StartRedis starts redis-server and kills it when the test ends. Without
// options it keeps nothing on disk and runs with maxmemory-policy
// noeviction. The test fails (it is never skipped) when redis-server is not
// installed.
func StartRedis(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	r, err := NewRedis(context.Background(), tb.TempDir(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Proc.Kill)
	return r
}

// StartRedisPersistent is StartRedis with RedisPersistent.
func StartRedisPersistent(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	return StartRedis(tb, append([]RedisOption{RedisPersistent()}, opts...)...)
}

// NewRedis starts redis-server with its data in dir and waits until it
// answers PING; the caller stops it (r.Proc.Kill or Stop).
func NewRedis(ctx context.Context, dir string, opts ...RedisOption) (*Redis, error) {
	r := &Redis{Dir: dir, cfg: redisConfig{readinessTimeout: 10 * time.Second}}
	for _, o := range opts {
		o(&r.cfg)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("testkit: redis-server is not installed (apt-get install redis-server): %w", err)
	}
	r.cfg.bin = bin
	aclPath := ""
	if r.cfg.aclFile != "" {
		aclPath = filepath.Join(dir, "users.acl")
		acl, err := os.ReadFile(r.cfg.aclFile)
		if err != nil {
			return nil, fmt.Errorf("testkit: %w", err)
		}
		if err := os.WriteFile(aclPath, acl, 0o600); err != nil {
			return nil, fmt.Errorf("testkit: %w", err)
		}
	}
	tries := 5 // a free port can be taken between probe and bind
	if r.cfg.port != 0 {
		tries = 1
	}
	for range tries {
		if err = r.setPort(); err != nil {
			return nil, err
		}
		r.Proc = &Proc{Name: "redis-server", Path: bin, Args: r.args(aclPath), Out: r.cfg.out}
		if err = r.launch(ctx); err == nil {
			return r, nil
		}
		if !errors.Is(err, errRedisExited) {
			break
		}
	}
	return nil, fmt.Errorf("testkit: redis-server did not start: %w", err)
}

func (r *Redis) setPort() error {
	r.Port = r.cfg.port
	if r.Port == 0 {
		p, err := PickPort()
		if err != nil {
			return err
		}
		r.Port = p
	}
	r.Addr = "127.0.0.1:" + strconv.Itoa(r.Port)
	scheme := "redis"
	if r.cfg.tls != nil {
		scheme = "rediss"
	}
	r.URL = scheme + "://" + r.Addr + "/0"
	return nil
}

func (r *Redis) args(aclPath string) []string {
	var args []string
	if r.cfg.conf != "" {
		args = append(args, r.cfg.conf)
	}
	if r.cfg.tls != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(r.Port))
	} else {
		args = append(args, "--port", strconv.Itoa(r.Port))
	}
	args = append(args, "--dir", r.Dir)
	if r.cfg.conf == "" {
		args = append(args, "--bind", "127.0.0.1", "--maxmemory-policy", "noeviction",
			"--protected-mode", "no", "--logfile", "", "--save", "")
		if r.cfg.persistent {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
	}
	if aclPath != "" {
		args = append(args, "--aclfile", aclPath)
	}
	return append(args, r.cfg.args...)
}

// errRedisExited is launch's error when the server exited before it
// answered (the port was taken, or still lingers after a kill).
var errRedisExited = errors.New("redis-server exited")

// launch starts the process and waits for PING; on failure the process is
// killed.
func (r *Redis) launch(ctx context.Context) error {
	if err := r.Proc.Start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: r.cfg.user, Password: r.cfg.password,
		TLSConfig: r.cfg.tls, MaxRetries: -1, DialTimeout: time.Second})
	defer func() { _ = c.Close() }()
	var pingErr error
	done := r.Proc.Done()
	exited := false
	err := Poll(ctx, r.cfg.readinessTimeout, "redis-server answers PING", func() bool {
		if isClosed(done) {
			exited = true
			return true
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		pingErr = c.Ping(pctx).Err()
		return pingErr == nil
	})
	switch {
	case exited:
		err = fmt.Errorf("%w: %w\n%s", errRedisExited, r.Proc.Err(), r.Proc.Output())
	case err != nil:
		err = fmt.Errorf("%w: %w\n%s", err, pingErr, r.Proc.Output())
	}
	if err != nil {
		r.Proc.Kill()
	}
	return err
}

// Start starts the server again after a kill, on the same port and data
// directory (retrying while the port lingers: the server exits at once),
// and waits for PING.
// Without persistence it comes back empty.
func (r *Redis) Start(ctx context.Context) error {
	var err error
	for range 50 {
		if err = r.launch(ctx); err == nil || !errors.Is(err, errRedisExited) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
	return fmt.Errorf("testkit: restart redis-server: %w", err)
}

// Kill stops the server with SIGKILL: what it did not persist is lost.
// SIGKILL ends a stopped (Paused) process too, with no SIGCONT first: that
// would let the server answer what clients queued while it was stopped
// before it dies, which a crash does not.
func (r *Redis) Kill(tb testing.TB) {
	tb.Helper()
	r.Proc.Kill()
}

// Restart kills the server and starts it again on the same port and
// directory. Without persistence it comes back empty.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	r.Proc.Kill()
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// Pause freezes the server with SIGSTOP: connections stay open and nothing
// answers, as with a hung Redis.
func (r *Redis) Pause(tb testing.TB) {
	tb.Helper()
	if err := r.Proc.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatal(err)
	}
}

// Resume undoes Pause.
func (r *Redis) Resume(tb testing.TB) {
	tb.Helper()
	if err := r.Proc.Signal(syscall.SIGCONT); err != nil {
		tb.Fatal(err)
	}
}

// Client returns a plain go-redis client (as the RedisACL user, over TLS
// with RedisTLS), closed when the test ends.
func (r *Redis) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: r.cfg.user, Password: r.cfg.password, TLSConfig: r.cfg.tls})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

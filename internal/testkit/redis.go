package testkit

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server process on a free loopback port. It keeps nothing
// on disk unless started with StartRedisPersistent, so Restart brings it
// back empty, as a Redis without persistence does after a crash.
type Redis struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *bytes.Buffer
	args []string
	Port int
	Addr string // 127.0.0.1:<port>
	URL  string // redis://127.0.0.1:<port>/0
	Dir  string
}

// StartRedis starts redis-server without persistence and with
// maxmemory-policy noeviction, and kills it when the test ends. The test
// fails (it is never skipped) when redis-server is not installed.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	return startRedis(tb, "--save", "", "--appendonly", "no")
}

// StartRedisPersistent starts redis-server with an append-only file fsynced
// on every write, so Restart keeps the data.
func StartRedisPersistent(tb testing.TB) *Redis {
	tb.Helper()
	return startRedis(tb, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
}

func startRedis(tb testing.TB, extra ...string) *Redis {
	tb.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("testkit: redis-server is not installed (apt-get install redis-server): %v", err)
	}
	r := &Redis{Dir: tb.TempDir()}
	var lastErr error
	for range 5 { // a free port can be taken between probe and bind
		r.Port = FreePort(tb)
		r.Addr = fmt.Sprintf("127.0.0.1:%d", r.Port)
		r.URL = "redis://" + r.Addr + "/0"
		r.args = append([]string{path,
			"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port),
			"--dir", r.Dir, "--maxmemory-policy", "noeviction",
			"--protected-mode", "no", "--logfile", ""}, extra...)
		if lastErr = r.start(); lastErr == nil {
			tb.Cleanup(r.kill)
			return r
		}
	}
	tb.Fatalf("testkit: redis-server did not start: %v", lastErr)
	return nil
}

func (r *Redis) start() error {
	// Not CommandContext: the process outlives this call and is stopped by
	// kill, which waits for it.
	cmd := exec.Command(r.args[0], r.args[1:]...) //nolint:noctx // see above
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			r.mu.Lock()
			r.cmd, r.out, r.done = cmd, out, done
			r.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server not answering PING: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill sends SIGKILL (which also ends a paused process) and waits.
func (r *Redis) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	// SIGKILL ends a stopped (Paused) process too. No SIGCONT first: it
	// would let the server answer what clients queued while it was stopped
	// before it dies, which a crash does not.
	_ = cmd.Process.Kill()
	<-done
}

// Kill stops the server with SIGKILL: what it did not persist is lost.
func (r *Redis) Kill(tb testing.TB) {
	tb.Helper()
	r.kill()
}

// Restart kills the server and starts it again on the same port and
// directory. Without persistence it comes back empty.
func (r *Redis) Restart(tb testing.TB) {
	tb.Helper()
	r.kill()
	var err error
	for range 50 { // the port may linger briefly after the kill
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("testkit: restart redis-server: %v", err)
}

// Pause freezes the server with SIGSTOP: connections stay open and nothing
// answers, as with a hung Redis.
func (r *Redis) Pause(tb testing.TB) {
	tb.Helper()
	r.signal(tb, syscall.SIGSTOP)
}

// Resume undoes Pause.
func (r *Redis) Resume(tb testing.TB) {
	tb.Helper()
	r.signal(tb, syscall.SIGCONT)
}

func (r *Redis) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if cmd == nil {
		tb.Fatalf("testkit: redis-server is not running")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("testkit: signal redis-server: %v", err)
	}
}

// Client returns a plain go-redis client, closed when the test ends.
func (r *Redis) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

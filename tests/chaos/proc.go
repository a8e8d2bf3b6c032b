package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Proc is one child process (a service binary, redis-server or natsd) that
// the harness can start, kill, pause and start again. Its output is
// appended to a log file in the run directory.
type Proc struct {
	Name string
	path string
	args []string
	env  []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// NewProc describes a process; Start runs it.
func NewProc(name, logDir, path string, args, env []string) *Proc {
	return &Proc{Name: name, path: path, args: args, env: env, log: filepath.Join(logDir, name+".log")}
}

// Start runs the process (again, after Kill or Stop).
func (p *Proc) Start() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts++
	_, _ = fmt.Fprintf(f, "=== start %d of %s at %s\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	// Not CommandContext: the process outlives this call; Kill stops it.
	cmd := exec.Command(p.path, p.args...) //nolint:noctx // see above
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// SetEnv replaces the environment given to the next Start.
func (p *Proc) SetEnv(env []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.env = env
}

// Env returns the environment given to Start.
func (p *Proc) Env() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.env...)
}

// Running reports whether the process was started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL (after SIGCONT, in case it is paused), as a crash
// would, and waits for the exit.
func (p *Proc) Kill() { p.stop(syscall.SIGKILL) }

// Stop sends SIGTERM (graceful shutdown) and waits up to 15s, then kills.
func (p *Proc) Stop() { p.stop(syscall.SIGTERM) }

func (p *Proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Signal sends sig (SIGSTOP, SIGCONT) to the running process.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("%s is not running", p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Pid returns the process id, or 0.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// freeAddr returns 127.0.0.1:<port> for a port that was free a moment ago.
func freeAddr() (string, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// portOf returns the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// poll calls cond every 10ms until it returns true, ctx ends or timeout
// passes; it returns an error naming what was awaited.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not true after %s: %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), fmt.Errorf("interrupted waiting for %s", what))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

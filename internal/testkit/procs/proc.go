package procs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const DefaultStopTimeout = 15 * time.Second

// ErrStopTimeout is returned by Stop when the process had to be killed
// because it did not exit within StopTimeout of SIGTERM.
var ErrStopTimeout = errors.New("testkit: process did not exit after SIGTERM")

// Proc supervises one child process (a service binary, redis-server, a
// nats-server of its own) that can be started, stopped, killed, paused and
// started again. It needs no testing.TB: the chaos harness and devstack use
// it as it is; tests use StartProc, which stops it and shows its output
// when the test fails. Set the exported fields before the first Start.
//
//	p := &procs.Proc{Name: "auth", Path: bin, Env: env}
//	err := p.Start()
type Proc struct {
	Name string   // for messages and the output's start lines
	Path string   // the executable
	Args []string // its arguments
	// Out receives the process's stdout and stderr, after a line
	// "=== start N of NAME at TIME" per start. When nil, output goes to a
	// Buffer that Output returns.
	Out io.Writer
	// StopTimeout bounds Stop's wait after SIGTERM (DefaultStopTimeout
	// when 0).
	StopTimeout time.Duration
	// Logf, when set, is told of starts and of forced kills.
	Logf func(format string, args ...any)

	mu     sync.Mutex
	env    []string
	buf    *Buffer
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // the last run's exit status, once done is closed
	starts int
}

// NewProc describes a process run with env added to this process's
// environment; Start runs it.
func NewProc(name, path string, args, env []string) *Proc {
	return &Proc{Name: name, Path: path, Args: args, env: env}
}

// Start runs the process (again, after Kill or Stop). It is an error to
// start a process that is running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		return fmt.Errorf("testkit: start %s: already running", p.Name)
	}
	out := p.Out
	if out == nil {
		if p.buf == nil {
			p.buf = &Buffer{}
		}
		out = p.buf
	}
	p.starts++
	_, _ = fmt.Fprintf(out, "=== start %d of %s at %s\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
	// Not CommandContext: the process outlives this call; Stop or Kill
	// ends it.
	cmd := exec.Command(p.Path, p.Args...) //nolint:noctx // see above
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testkit: start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	if p.Logf != nil {
		p.Logf("started %s (pid %d)", p.Name, cmd.Process.Pid)
	}
	return nil
}

// Restart stops the process gracefully (Stop) and starts it again.
func (p *Proc) Restart() error {
	stopErr := p.Stop()
	if err := p.Start(); err != nil {
		return errors.Join(stopErr, err)
	}
	return stopErr
}

// Kill sends SIGKILL, as a crash would, and waits for the exit. It also
// ends a paused (SIGSTOPped) process, without letting it run first. It
// does nothing when the process is not running.
func (p *Proc) Kill() {
	cmd, done := p.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM (after SIGCONT, in case it is paused) and waits up to
// StopTimeout for a graceful exit, then kills it and returns
// ErrStopTimeout. It does nothing when the process is not running.
func (p *Proc) Stop() error {
	cmd, done := p.take()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	timeout := p.StopTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
	}
	_ = cmd.Process.Kill()
	<-done
	if p.Logf != nil {
		p.Logf("%s did not exit within %s of SIGTERM; killed", p.Name, timeout)
	}
	return fmt.Errorf("%w: %s within %s", ErrStopTimeout, p.Name, timeout)
}

// take forgets the current run and returns it.
func (p *Proc) take() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	return cmd, done
}

// Signal sends sig (SIGSTOP, SIGCONT, ...) to the running process.
func (p *Proc) Signal(sig os.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("testkit: %s is not running", p.Name)
	}
	return cmd.Process.Signal(sig)
}

// Running reports whether the process was started and has not exited.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.done)
}

// Done returns a channel closed when the current (or last) run exits; nil
// before the first Start.
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Err returns how the last run exited (nil for a clean exit or while it
// runs).
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Pid returns the process id, or 0 when it is not running.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Env returns the environment added by Start.
func (p *Proc) Env() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.env...)
}

// SetEnv replaces the environment added by the next Start.
func (p *Proc) SetEnv(env []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.env = append([]string(nil), env...)
}

// Output returns what the process wrote so far, across starts, when Out is
// nil ("" otherwise).
func (p *Proc) Output() string {
	p.mu.Lock()
	buf := p.buf
	p.mu.Unlock()
	if buf == nil {
		return ""
	}
	return buf.String()
}

// StartProc starts the binary path with env added to the environment.
// When the test ends it is stopped (SIGTERM, then SIGKILL after
// StopTimeout) and, if the test failed, its output is logged.
func StartProc(tb testing.TB, name, path string, env ...string) *Proc {
	tb.Helper()
	p := NewProc(name, path, nil, env)
	if err := p.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.Stop()
		if tb.Failed() {
			tb.Logf("--- %s output ---\n%s", name, p.Output())
		}
	})
	return p
}

func isClosed(ch <-chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

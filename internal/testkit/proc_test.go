package testkit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

var bins = testkit.NewBinaries("internal/testkit/testdata/child")

func TestMain(m *testing.M) { os.Exit(bins.Run(m)) }

// waitOutput polls p's output for s.
func waitOutput(t *testing.T, p *testkit.Proc, s string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "output has "+s, func() bool { return strings.Contains(p.Output(), s) })
}

func TestProc(t *testing.T) {
	t.Run("OKStopGraceful", func(t *testing.T) {
		p := testkit.StartProc(t, "child", bins.Path(t, "child"), "CHILD_GREETING=hello")
		waitOutput(t, p, "greeting: hello")
		if !p.Running() || p.Pid() == 0 {
			t.Fatalf("Running = %v, Pid = %d", p.Running(), p.Pid())
		}
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if p.Running() || p.Pid() != 0 || !strings.Contains(p.Output(), "terminated") {
			t.Fatalf("after Stop: Running = %v, Pid = %d, output %q", p.Running(), p.Pid(), p.Output())
		}
	})
	t.Run("ErrStopTimeoutKills", func(t *testing.T) {
		var logged []string
		p := testkit.NewProc("stubborn", bins.Path(t, "child"), []string{"-ignore-term"}, nil)
		p.StopTimeout = 100 * time.Millisecond
		p.Logf = func(format string, args ...any) { logged = append(logged, format) }
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, p, "greeting:")
		if err := p.Stop(); !errors.Is(err, testkit.ErrStopTimeout) {
			t.Fatalf("Stop = %v, want ErrStopTimeout", err)
		}
		if p.Running() || len(logged) != 2 {
			t.Fatalf("Running = %v after the forced kill; logged %q", p.Running(), logged)
		}
	})
	t.Run("OKKillPausedAndRestart", func(t *testing.T) {
		p := testkit.StartProc(t, "child", bins.Path(t, "child"))
		waitOutput(t, p, "=== start 1 of child")
		if err := p.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		done := p.Done()
		p.Kill()
		select {
		case <-done:
		default:
			t.Fatal("Kill returned before the exit")
		}
		if p.Err() == nil {
			t.Fatal("a killed process exited cleanly")
		}
		if err := p.Signal(syscall.SIGCONT); err == nil {
			t.Fatal("Signal to a killed process succeeded")
		}
		p.SetEnv([]string{"CHILD_GREETING=again"})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err == nil {
			t.Fatal("a second Start of a running process succeeded")
		}
		waitOutput(t, p, "greeting: again")
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, p, "=== start 3 of child")
		if got := p.Env(); len(got) != 1 || got[0] != "CHILD_GREETING=again" {
			t.Fatalf("Env = %q", got)
		}
	})
}

func TestWaitHTTP(t *testing.T) {
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-ready:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := testkit.PollHTTP(t.Context(), 50*time.Millisecond, srv.URL, http.StatusOK); err == nil {
		t.Fatal("PollHTTP succeeded on a 503")
	}
	close(ready)
	testkit.WaitHTTP(t, srv.URL, http.StatusOK)
}

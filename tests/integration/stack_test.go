package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// binDir holds bin/auth and bin/revocation built once for the whole run.
var binDir string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	if dir := os.Getenv("EVENTJWT_BIN_DIR"); dir != "" {
		binDir = dir
		return m.Run(), nil
	}
	dir, err := os.MkdirTemp("", "eventjwt-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("../..")
	if err != nil {
		return 0, err
	}
	for _, b := range []struct{ name, pkg string }{
		{"auth", "./services/auth/cmd/auth"},
		{"revocation", "./services/revocation/cmd/revocation"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.name), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build %s: %w\n%s", b.name, err, out)
		}
	}
	binDir = dir
	return m.Run(), nil
}

// proc is one service binary run as a child process.
type proc struct {
	t    testing.TB
	name string
	env  []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *testkit.Buffer
}

func startProc(t testing.TB, name string, env []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, env: env, out: &testkit.Buffer{}}
	p.Start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	return p
}

// Start runs the binary (again, after Kill or Stop).
func (p *proc) Start() {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, p.name))
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// Kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (graceful shutdown) and waits for the exit.
func (p *proc) Stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		p.t.Errorf("%s did not exit within 15s of %v", p.name, sig)
	}
}

// stack is the whole system: embedded NATS, a redis-server, and both
// service binaries on free loopback ports.
type stack struct {
	t          testing.TB
	NATS       *testkit.NATS
	Redis      *testkit.Redis
	Auth       *proc
	Revocation *proc
	AuthURL    string
	RevURL     string
	// AuthMetricsURL and RevMetricsURL are the metrics listeners, the only
	// ones serving /metrics.
	AuthMetricsURL string
	RevMetricsURL  string
	TokenTTL       time.Duration
}

type stackOpts struct {
	revocationWait time.Duration
	logLevel       string   // default debug
	authEnv        []string // extra settings of the auth service
}

func newStack(t testing.TB, o stackOpts) *stack {
	t.Helper()
	if o.revocationWait == 0 {
		o.revocationWait = 5 * time.Second
	}
	if o.logLevel == "" {
		o.logLevel = "debug"
	}
	s := &stack{t: t, NATS: testkit.StartNATS(t), Redis: testkit.StartRedis(t), TokenTTL: 15 * time.Minute}
	authAddr, revAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	authMetrics, revMetrics := testkit.FreeAddr(t), testkit.FreeAddr(t)
	s.AuthURL, s.RevURL = "http://"+authAddr, "http://"+revAddr
	s.AuthMetricsURL, s.RevMetricsURL = "http://"+authMetrics, "http://"+revMetrics
	shared := []string{
		"NATS_URL=" + s.NATS.URL,
		"REDIS_URL=" + s.Redis.URL,
		"LOG_LEVEL=" + o.logLevel,
		"LOG_FORMAT=text",
	}
	s.Revocation = startProc(t, "revocation", append(shared,
		"REVOCATION_HTTP_ADDR="+revAddr,
		"REVOCATION_METRICS_ADDR="+revMetrics,
		"REVOCATION_CHECK_INTERVAL=200ms",
	))
	s.WaitReady(s.RevURL)
	s.Auth = startProc(t, "auth", append(append(shared,
		"AUTH_HTTP_ADDR="+authAddr,
		"AUTH_METRICS_ADDR="+authMetrics,
		"AUTH_DB_PATH="+filepath.Join(t.TempDir(), "auth.db"),
		"AUTH_ISSUER=http://auth.test",
		"AUTH_AUDIENCE=api",
		"AUTH_ACCESS_TOKEN_TTL="+s.TokenTTL.String(),
		"AUTH_REVOCATION_WAIT="+o.revocationWait.String(),
		"AUTH_ARGON2_MEMORY_KIB=64",
		"AUTH_ARGON2_ITERATIONS=1",
		"AUTH_ARGON2_PARALLELISM=1",
	), o.authEnv...))
	s.WaitReady(s.AuthURL)
	return s
}

// WaitReady polls base+"/readyz" until it answers 200.
func (s *stack) WaitReady(base string) {
	s.t.Helper()
	testkit.Eventually(s.t, 30*time.Second, base+" ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// Metrics returns the text exposition of base+"/metrics"; base is a
// metrics listener (AuthMetricsURL, RevMetricsURL).
func (s *stack) Metrics(base string) string {
	s.t.Helper()
	resp := s.do(http.MethodGet, base+"/metrics", "", nil)
	if resp.Status != http.StatusOK {
		s.t.Fatalf("GET %s/metrics: %d %s", base, resp.Status, resp.Body)
	}
	return resp.Body
}

func hasMetric(text, prefix string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) && !strings.HasSuffix(line, " 0") {
			return true
		}
	}
	return false
}

package permissions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// binDir holds bin/auth and bin/revocation, built on first use (or taken
// from EVENTJWT_BIN_DIR, as in tests/integration).
var (
	buildOnce sync.Once
	binDir    string
	builtDir  string // removed by TestMain
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binaries returns the directory holding the service binaries.
func binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv("EVENTJWT_BIN_DIR"); dir != "" {
			binDir = dir
			return
		}
		builtDir, buildErr = os.MkdirTemp("", "eventjwt-permissions-bin-")
		if buildErr != nil {
			return
		}
		root, _ := filepath.Abs(filepath.Join("..", ".."))
		// Built inside each service's module, so that it works with the
		// workspace and with GOWORK=off (the go.mod files replace siblings).
		for _, b := range []struct{ name, module string }{
			{"auth", "services/auth"},
			{"revocation", "services/revocation"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(builtDir, b.name), "./cmd/"+b.name) //nolint:noctx // bounded by the test timeout
			cmd.Dir = filepath.Join(root, b.module)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %w\n%s", b.name, err, out)
				return
			}
		}
		binDir = builtDir
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binDir
}

// proc is a service binary running as a child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	Out  *testkit.Buffer
}

// startProc runs the named binary with env added to the environment; it is
// stopped (SIGTERM, then SIGKILL) when the test ends, and its output is
// logged if the test failed.
func startProc(tb testing.TB, name string, env []string) *proc {
	tb.Helper()
	p := &proc{name: name, done: make(chan struct{}), Out: &testkit.Buffer{}}
	p.cmd = exec.Command(filepath.Join(binaries(tb), name)) //nolint:noctx // stopped by the cleanup below
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Out, p.Out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("--- %s output ---\n%s", name, p.Out.String())
		}
	})
	return p
}

// waitReady polls base+"/readyz" until it answers 200.
func waitReady(tb testing.TB, base string) {
	tb.Helper()
	testkit.Eventually(tb, 20*time.Second, base+" ready", func() bool {
		resp, err := call(http.MethodGet, base+"/readyz", "", nil)
		return err == nil && resp.status == http.StatusOK
	})
}

// response is what call returns.
type response struct {
	status int
	body   []byte
}

// call sends an HTTP request with an optional bearer token and JSON body.
func call(method, url, token string, body any) (response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, fmt.Errorf("request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read body: %w", err)
	}
	return response{status: resp.StatusCode, body: b}, nil
}

// mustCall is call that fails the test on a transport error or a status
// other than want, and decodes the JSON answer into out when not nil.
func mustCall(tb testing.TB, want int, method, url, token string, body, out any) {
	tb.Helper()
	resp, err := call(method, url, token, body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.status != want {
		tb.Fatalf("%s %s: %d %s, want %d", method, url, resp.status, resp.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(resp.body, out); err != nil {
			tb.Fatalf("%s %s: decode %s: %v", method, url, resp.body, err)
		}
	}
}

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// buildNATSServer builds github.com/nats-io/nats-server/v2, the module
// the embedded servers come from (same version), into a temporary
// directory of t.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", path, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return path
}

// startNATSProcesses runs a cluster of three nats-server processes
// (JetStream fsyncing every write, loopback ports) and waits until
// JetStream answers.
func startNATSProcesses(t *testing.T, bin string) (natsNodes, map[string]*testkit.Proc) {
	t.Helper()
	const size = 3
	ports, routes := make([]int, size), make([]string, size)
	for i := range size {
		ports[i] = testkit.FreePort(t)
		routes[i] = "nats://127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	}
	procs, urls := map[string]*testkit.Proc{}, make([]string, size)
	for i := range size {
		name := "p" + strconv.Itoa(i+1)
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: %q, sync_interval: always }
cluster { name: crash, listen: %q, routes: [%s] }
`, name, ports[i], t.TempDir(), strings.TrimPrefix(routes[i], "nats://"), strings.Join(routes, ", "))
		path := filepath.Join(t.TempDir(), name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		p := testkit.NewProc(name, bin, []string{"-c", path}, nil)
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = p.Stop()
			if t.Failed() {
				t.Logf("--- %s output ---\n%s", name, p.Output())
			}
		})
		procs[name] = p
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(ports[i])
	}
	c := natsNodes{
		url:     strings.Join(urls, ","),
		kill:    func(name string) { procs[name].Kill() },
		restart: func(t *testing.T, name string) { mustStart(t, procs[name]) },
	}
	nc, err := nats.Connect(c.url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if err := testkit.Poll(t.Context(), 45*time.Second, "the nats-server cluster answers JetStream requests", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := c.js.AccountInfo(ctx)
		return err == nil
	}); err != nil {
		t.Fatal(err)
	}
	return c, procs
}

// TestClusterStreamLeaderCrash is TestClusterStreamLeaderKilled with the
// stream leader a nats-server process killed with SIGKILL: no hand-over,
// the followers elect a new leader after their election timeout. The 503
// window logged is the one a crash costs.
func TestClusterStreamLeaderCrash(t *testing.T) {
	bin := buildNATSServer(t)
	for _, tc := range []struct {
		name    string
		authEnv []string
	}{
		{"Defaults", nil},
		{"PublishTimeout1s", []string{"AUTH_PUBLISH_TIMEOUT=1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := startNATSProcesses(t, bin)
			streamLeaderKilled(t, c, tc.authEnv)
		})
	}
}

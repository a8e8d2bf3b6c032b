package outside_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eventjwt/eventjwt/tests/outside"
)

// version is the version the test publishes the libraries at: the one
// their go.mod files require of each other.
const version = "v0.5.0"

// A service outside the repository requires jwtx (or events, or
// jwtxgrpc) at version from a module proxy, with no go.work and no
// replace: go mod tidy, go build and go vet pass, the jwtx user's own test
// of another issuer's tokens passes, and a jwtx-only user's module graph
// holds no NATS and no gRPC module.
func TestOutsideModule(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	proxy := t.TempDir()
	if _, err := outside.WriteProxy(proxy, root, version, outside.Libraries); err != nil {
		t.Fatal(err)
	}
	env := goEnv(t, proxy)

	t.Run("JwtxUser", func(t *testing.T) {
		dir := userModule(t, "example.com/jwtxuser", "testdata/jwtxuser", "github.com/eventjwt/eventjwt/pkg/jwtx")
		// The user's own test runs: another issuer's tokens through OIDC
		// discovery, scopes, custom claims and revocation.
		for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}, {"vet", "./..."}, {"test", "-count=1", "./..."}} {
			run(t, dir, env, args...)
		}
		mods := strings.Fields(run(t, dir, env, "list", "-m", "-f", "{{.Path}}", "all"))
		t.Logf("a jwtx-only user's module graph: %d modules", len(mods))
		for _, m := range mods {
			if strings.HasPrefix(m, "github.com/nats-io/") || strings.HasPrefix(m, "google.golang.org/grpc") {
				t.Errorf("a user of pkg/jwtx alone has %s in its module graph:\n%s", m, strings.Join(mods, "\n"))
			}
		}
		deps := run(t, dir, env, "list", "-deps", "./...")
		if strings.Contains(deps, "nats-io") || strings.Contains(deps, "/pkg/events") || strings.Contains(deps, "google.golang.org/grpc") {
			t.Errorf("a user of pkg/jwtx alone builds NATS or gRPC packages:\n%s", deps)
		}
	})
	t.Run("GRPCUser", func(t *testing.T) {
		dir := userModule(t, "example.com/grpcuser", "testdata/grpcuser", "github.com/eventjwt/eventjwt/pkg/jwtxgrpc")
		for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}, {"vet", "./..."}} {
			run(t, dir, env, args...)
		}
		if got := run(t, dir, env, "list", "-m", "-f", "{{.Version}}", "github.com/eventjwt/eventjwt/pkg/jwtx"); strings.TrimSpace(got) != version {
			t.Errorf("pkg/jwtx resolved at %q, want %s", got, version)
		}
	})
	t.Run("EventsUser", func(t *testing.T) {
		dir := userModule(t, "example.com/eventsuser", "testdata/eventsuser", "github.com/eventjwt/eventjwt/pkg/events")
		for _, args := range [][]string{{"mod", "tidy"}, {"build", "./..."}, {"vet", "./..."}} {
			run(t, dir, env, args...)
		}
		if got := run(t, dir, env, "list", "-m", "-f", "{{.Version}}", "github.com/eventjwt/eventjwt/pkg/revocation"); strings.TrimSpace(got) != version {
			t.Errorf("pkg/revocation resolved at %q, want %s", got, version)
		}
	})
}

// goEnv returns the environment of the go commands run for a user: no
// workspace, no replace, the test's proxy first for this repository's
// modules (not checked against the public checksum database, which has
// never seen them), then the local module cache and the environment's own
// GOPROXY for everything else. A module cache of its own keeps the
// versions built from the working tree out of the user's cache.
func goEnv(t *testing.T, proxy string) []string {
	t.Helper()
	cache := strings.TrimSpace(run(t, "", os.Environ(), "env", "GOMODCACHE"))
	upstream := strings.TrimSpace(run(t, "", os.Environ(), "env", "GOPROXY"))
	proxies := []string{"file://" + filepath.ToSlash(proxy)}
	if cache != "" {
		if _, err := os.Stat(filepath.Join(cache, "cache", "download")); err == nil {
			proxies = append(proxies, "file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download")))
		}
	}
	if upstream != "" && upstream != "off" {
		proxies = append(proxies, upstream)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOWORK", "GOFLAGS", "GOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOPRIVATE", "GONOPROXY", "GOMODCACHE", "GOTOOLCHAIN", "GOPATH":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
		"GOPROXY="+strings.Join(proxies, ","),
		"GONOSUMDB=github.com/eventjwt",
		"GOPATH="+t.TempDir(),
		"GOMODCACHE="+t.TempDir(),
	)
}

// userModule writes a module named path in a new directory: go.mod
// requiring lib at version, and main.go from the testdata file src.
func userModule(t *testing.T, path, src, lib string) string {
	t.Helper()
	dir := t.TempDir()
	main, err := os.ReadFile(filepath.Join(src, "main.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	gomod := "module " + path + "\n\ngo 1.26.0\n\nrequire " + lib + " " + version + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), main, 0o644); err != nil {
		t.Fatal(err)
	}
	if test, err := os.ReadFile(filepath.Join(src, "main_test.go.txt")); err == nil {
		if err := os.WriteFile(filepath.Join(dir, "main_test.go"), test, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return dir
}

// goCommand is the go command of the toolchain the environment selects
// (GOTOOLCHAIN may switch from the one on the PATH), run with
// GOTOOLCHAIN=local so that the user's builds need no toolchain download.
func goCommand(t *testing.T) string {
	t.Helper()
	goBinOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			goBinErr = err
			return
		}
		goBin = filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
		_, goBinErr = os.Stat(goBin)
	})
	if goBinErr != nil {
		t.Fatalf("no go command: %v", goBinErr)
	}
	return goBin
}

var (
	goBinOnce sync.Once
	goBin     string
	goBinErr  error
)

// run runs the go command with args in dir and returns its output.
func run(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(goCommand(t), args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s in %s: %v\n%s%s", strings.Join(args, " "), dir, err, out, stderr)
	}
	return string(out)
}

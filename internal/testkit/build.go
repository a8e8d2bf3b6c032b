package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BinDirEnv names a directory of binaries built beforehand (make build):
// when it is set, Binaries uses it instead of building.
const BinDirEnv = "EVENTJWT_BIN_DIR"

// BuildBinaries builds each main package into dir, the binary named after
// the package's directory (".../cmd/auth" -> dir/auth). A package is a
// directory, absolute or relative to the current one; it is built inside
// the module that holds it, so the build works in the workspace and with
// GOWORK=off alike.
func BuildBinaries(ctx context.Context, dir string, pkgs ...string) error {
	for _, pkg := range pkgs {
		abs, err := filepath.Abs(pkg)
		if err != nil {
			return fmt.Errorf("testkit: build %s: %w", pkg, err)
		}
		mod, err := moduleDir(abs)
		if err != nil {
			return fmt.Errorf("testkit: build %s: %w", pkg, err)
		}
		rel, err := filepath.Rel(mod, abs)
		if err != nil {
			return fmt.Errorf("testkit: build %s: %w", pkg, err)
		}
		name := filepath.Base(abs)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), "./"+filepath.ToSlash(rel))
		cmd.Dir = mod
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("testkit: build %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

// moduleDir returns the nearest directory at or above dir with a go.mod.
func moduleDir(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + dir)
		}
	}
}

// ServicePackages are the main packages of bin/auth and bin/revocation,
// relative to the repository root (for NewBinaries).
var ServicePackages = []string{"services/auth/cmd/auth", "services/revocation/cmd/revocation"}

// RepoRoot returns the repository root: the nearest directory at or above
// the current one that holds go.work.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testkit: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("testkit: no go.work above " + wd)
		}
	}
}

// Binaries are main packages built once per test binary into a temporary
// directory, on first use, or taken from $EVENTJWT_BIN_DIR. Declare them
// at package level and run the tests with Run, which removes them after:
//
//	var bins = testkit.NewBinaries(testkit.ServicePackages...)
//
//	func TestMain(m *testing.M) { os.Exit(bins.Run(m)) }
type Binaries struct {
	pkgs    []string
	once    sync.Once
	dir     string
	tempDir string // removed by Remove
	err     error
}

// NewBinaries describes the packages to build (see BuildBinaries): paths
// relative to the repository root (RepoRoot), or absolute.
func NewBinaries(pkgs ...string) *Binaries {
	return &Binaries{pkgs: pkgs}
}

// Build builds the binaries, the first time only, and returns their
// directory.
func (b *Binaries) Build() (string, error) {
	b.once.Do(func() {
		if dir := os.Getenv(BinDirEnv); dir != "" {
			b.dir = dir
			return
		}
		dir, err := os.MkdirTemp("", "eventjwt-bin-")
		if err != nil {
			b.err = fmt.Errorf("testkit: %w", err)
			return
		}
		b.tempDir = dir
		root, err := RepoRoot()
		if err != nil {
			b.err = err
			return
		}
		pkgs := make([]string, len(b.pkgs))
		for i, p := range b.pkgs {
			if !filepath.IsAbs(p) {
				p = filepath.Join(root, p)
			}
			pkgs[i] = p
		}
		// Bounded by the test binary's timeout.
		if b.err = BuildBinaries(context.Background(), dir, pkgs...); b.err == nil {
			b.dir = dir
		}
	})
	return b.dir, b.err
}

// Dir is Build failing the test on an error.
func (b *Binaries) Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Path returns the path of the binary name, building first if needed.
func (b *Binaries) Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(b.Dir(tb), name)
}

// Run runs the tests (m.Run), then Remove, and returns the exit code.
func (b *Binaries) Run(m *testing.M) int {
	code := m.Run()
	b.Remove()
	return code
}

// Remove deletes the directory Build made (not $EVENTJWT_BIN_DIR).
func (b *Binaries) Remove() {
	if b.tempDir != "" {
		_ = os.RemoveAll(b.tempDir)
	}
}

package procs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a PostgreSQL server of the test's own: a cluster made by
// initdb in a temporary directory, on a free loopback port, with its
// socket in that directory, fsync off. It never touches a server the
// machine runs (5432). When the test runs as root (CI), initdb and
// postgres, which refuse root, run as the unprivileged user "postgres"
// (made by Debian's postgresql-common) or else "nobody", switched to with
// the process credentials (as setpriv --reuid --regid --clear-groups
// does); the data directory is given to that user and its parent opened
// for traversal (0711) only.
type Postgres struct {
	// Port is the TCP port on 127.0.0.1; Dir holds data/ and the socket.
	Port int
	Dir  string
	// URL is the superuser's URL of the "postgres" database; DatabaseURL
	// gives the URL of another one.
	URL string

	bindir string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	done   chan struct{}
	out    *Buffer

	mu  sync.Mutex
	dbs map[string]bool
}

// PostgresStartTimeout bounds how long NewPostgres waits for the server
// to accept connections.
const PostgresStartTimeout = 60 * time.Second

// StartPostgres starts a PostgreSQL server for the test and stops it when
// the test ends (its log is shown when the test failed). The test fails
// (it is never skipped) when PostgreSQL is not installed.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	pg, err := NewPostgres(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			tb.Errorf("testkit: %v", err)
		}
		if tb.Failed() {
			tb.Logf("--- postgres log ---\n%s", pg.Output())
		}
	})
	return pg
}

// NewPostgres runs initdb in dir/data and starts postgres, waiting until
// it accepts connections; the caller stops it with Stop. A package shares
// one with TestMain: start it on first use, Stop after m.Run.
func NewPostgres(ctx context.Context, dir string) (*Postgres, error) {
	bindir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	pg := &Postgres{Dir: dir, bindir: bindir, out: &Buffer{}, dbs: map[string]bool{}}
	if err := pg.prepare(ctx); err != nil {
		return nil, err
	}
	for range 5 { // a free port can be taken between probe and bind
		if pg.Port, err = PickPort(); err != nil {
			return nil, err
		}
		pg.URL = pg.DatabaseURL("postgres")
		if err = pg.launch(ctx); err == nil {
			return pg, nil
		}
		if !errors.Is(err, errPostgresExited) {
			break
		}
	}
	return nil, fmt.Errorf("testkit: postgres did not start: %w\n%s", err, pg.Output())
}

// PostgresBinDir finds PostgreSQL's server binaries: `pg_config --bindir`,
// else the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH),
// else the directory of initdb on PATH.
func PostgresBinDir() (string, error) {
	has := func(dir string) bool {
		_, err1 := os.Stat(filepath.Join(dir, "initdb"))
		_, err2 := os.Stat(filepath.Join(dir, "postgres"))
		return err1 == nil && err2 == nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil { //nolint:noctx // a quick local query
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("testkit: PostgreSQL is not installed (no initdb; apt-get install postgresql)")
}

func pgVersion(bindir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return n
}

// prepare picks the user the server runs as and runs initdb.
func (pg *Postgres) prepare(ctx context.Context) error {
	data := filepath.Join(pg.Dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return fmt.Errorf("testkit: postgres data directory: %w", err)
	}
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		pg.cred = cred
		// The server's user must reach dir (t.TempDir's parent is 0700):
		// add traversal only, no listing, where it is missing.
		for _, d := range []string{filepath.Dir(pg.Dir), pg.Dir} {
			fi, err := os.Stat(d)
			if err != nil {
				return fmt.Errorf("testkit: postgres directory: %w", err)
			}
			if fi.Mode().Perm()&0o001 != 0 {
				continue
			}
			if err := os.Chmod(d, fi.Mode()&(os.ModePerm|os.ModeSticky)|0o011); err != nil {
				return fmt.Errorf("testkit: postgres directory: %w", err)
			}
		}
		if err := os.Chown(pg.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("testkit: postgres directory: %w", err)
		}
		if err := os.Chown(data, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("testkit: postgres data directory: %w", err)
		}
	}
	cmd := pg.command(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testkit: initdb: %w\n%s", err, out)
	}
	return nil
}

// unprivileged returns the credentials of the user "postgres", else
// "nobody".
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("testkit: running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")
}

// command is the binary name of bindir, run in Dir as the server's user.
func (pg *Postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bindir, name), args...)
	cmd.Dir = pg.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	if pg.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	}
	return cmd
}

var errPostgresExited = errors.New("postgres exited")

// launch starts postgres on pg.Port and waits until it accepts
// connections.
func (pg *Postgres) launch(ctx context.Context) error {
	// Not CommandContext: the server outlives ctx; Stop ends it.
	cmd := pg.command(context.WithoutCancel(ctx), "postgres", "-D", filepath.Join(pg.Dir, "data"),
		"-p", strconv.Itoa(pg.Port), "-k", pg.Dir, "-F",
		"-c", "listen_addresses=127.0.0.1", "-c", "full_page_writes=off",
		"-c", "synchronous_commit=off", "-c", "max_connections=200", "-c", "log_min_messages=warning")
	cmd.Stdout, cmd.Stderr = pg.out, pg.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testkit: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	pg.cmd, pg.done = cmd, done
	exited := false
	err := Poll(ctx, PostgresStartTimeout, "postgres accepts connections on port "+strconv.Itoa(pg.Port), func() bool {
		if isClosed(done) {
			exited = true
			return true
		}
		return pg.command(ctx, "pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port),
			"-U", "postgres", "-d", "postgres").Run() == nil
	})
	switch {
	case exited:
		return errPostgresExited
	case err != nil:
		_ = pg.Stop()
		return err
	}
	return nil
}

// DatabaseURL returns the superuser's URL of the database name (which
// may not exist yet: CreateDatabase makes it).
func (pg *Postgres) DatabaseURL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: "127.0.0.1:" + strconv.Itoa(pg.Port),
		Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates the empty database name (lower-case letters,
// digits, underscores) and returns its URL.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	if !dbName.MatchString(name) {
		return "", fmt.Errorf("testkit: database name %q: want [a-z_][a-z0-9_]*", name)
	}
	cmd := pg.command(ctx, "createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-U", "postgres", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testkit: createdb %s: %w\n%s", name, err, out)
	}
	pg.mu.Lock()
	pg.dbs[name] = true
	pg.mu.Unlock()
	return pg.DatabaseURL(name), nil
}

// Database is CreateDatabase with a name of its own made from the test's
// name, failing the test on an error.
func (pg *Postgres) Database(tb testing.TB) string {
	tb.Helper()
	pg.mu.Lock()
	name := fmt.Sprintf("t%d_%s", len(pg.dbs), sanitizeDBName(tb.Name()))
	pg.dbs[name] = true // reserve it
	pg.mu.Unlock()
	u, err := pg.CreateDatabase(context.Background(), name)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// Schema creates an empty schema of its own, named after the test, in the
// database "postgres" and returns a URL whose connections use it
// (search_path): a fresh start per test lighter than a database (a CREATE
// DATABASE costs a few hundred milliseconds, a schema a few). Advisory
// locks are per database, so they are shared between schemas.
func (pg *Postgres) Schema(tb testing.TB) string {
	tb.Helper()
	pg.mu.Lock()
	name := fmt.Sprintf("s%d_%s", len(pg.dbs), sanitizeDBName(tb.Name()))
	pg.dbs[name] = true
	pg.mu.Unlock()
	cmd := pg.command(context.Background(), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
		"-p", strconv.Itoa(pg.Port), "-U", "postgres", "-d", "postgres", "-c", "CREATE SCHEMA "+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testkit: create schema %s: %v\n%s", name, err, out)
	}
	return pg.URL + "&search_path=" + name
}

func sanitizeDBName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Output returns the server's log so far.
func (pg *Postgres) Output() string { return pg.out.String() }

// Stop shuts the server down (fast shutdown: SIGINT disconnects clients),
// killing it after DefaultStopTimeout; it does nothing when it is not
// running.
func (pg *Postgres) Stop() error {
	if pg.cmd == nil || isClosed(pg.done) {
		return nil
	}
	_ = pg.cmd.Process.Signal(syscall.SIGINT)
	timer := time.NewTimer(DefaultStopTimeout)
	defer timer.Stop()
	select {
	case <-pg.done:
		return nil
	case <-timer.C:
	}
	_ = pg.cmd.Process.Kill()
	<-pg.done
	return fmt.Errorf("%w: postgres within %s", ErrStopTimeout, DefaultStopTimeout)
}

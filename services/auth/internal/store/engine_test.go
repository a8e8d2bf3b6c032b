package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// engine opens fresh, empty stores of one kind.
type engine struct {
	name string
	open func(tb testing.TB) *store.DB
}

var fixedNow = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC) }

var engines = []engine{
	{"sqlite", func(tb testing.TB) *store.DB {
		tb.Helper()
		return mustClose(tb, func() (*store.DB, error) {
			return store.Open(context.Background(), filepath.Join(tb.TempDir(), "auth.db"), fixedNow)
		})
	}},
	{"postgres", func(tb testing.TB) *store.DB {
		tb.Helper()
		url := sharedPostgres(tb).Schema(tb)
		return mustClose(tb, func() (*store.DB, error) { return store.OpenPostgres(context.Background(), url, fixedNow) })
	}},
}

// forEachEngine runs fn as a subtest per engine: the store's behaviour is
// the same on both.
func forEachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
}

func mustClose(tb testing.TB, open func() (*store.DB, error)) *store.DB {
	tb.Helper()
	db, err := open()
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return db
}

// The package's one PostgreSQL server, started by the first test that
// needs it (each test gets a schema or a database of its own), stopped by
// TestMain.
var pgServer struct {
	once sync.Once
	dir  string
	pg   *procs.Postgres
	err  error
}

func sharedPostgres(tb testing.TB) *procs.Postgres {
	tb.Helper()
	pgServer.once.Do(func() {
		pgServer.dir, pgServer.err = os.MkdirTemp("", "auth-store-pg-")
		if pgServer.err == nil {
			pgServer.pg, pgServer.err = procs.NewPostgres(context.Background(), pgServer.dir)
		}
	})
	if pgServer.err != nil {
		tb.Fatalf("postgres: %v", pgServer.err)
	}
	return pgServer.pg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgServer.pg != nil {
		if err := pgServer.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if pgServer.dir != "" {
		_ = os.RemoveAll(pgServer.dir)
	}
	os.Exit(code)
}

// mustCreate registers a user with password hash "h".
func mustCreate(tb testing.TB, db *store.DB, id, name string) {
	tb.Helper()
	if err := db.CreateUser(context.Background(), store.User{ID: id, Username: name, PasswordHash: "h"}); err != nil {
		tb.Fatalf("create %s: %v", name, err)
	}
}

package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

const (
	idAlice = "0b7e2f0a-4d7c-4b7e-9a53-0e0a5f4a1c01"
	idBob   = "0b7e2f0a-4d7c-4b7e-9a53-0e0a5f4a1c02"
)

func TestCreateUser(t *testing.T) { forEachEngine(t, testCreateUser) }

func testCreateUser(t *testing.T, e engine) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db := e.open(t)
		mustCreate(t, db, idAlice, "Alice")
		u, err := db.UserByUsername(ctx, "alice")
		if err != nil {
			t.Fatalf("by username: %v", err)
		}
		want := store.User{ID: idAlice, Username: "Alice", PasswordHash: "h",
			CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)}
		if u != want {
			t.Fatalf("got %+v, want %+v", u, want)
		}
		byID, err := db.UserByID(ctx, idAlice)
		if err != nil || byID != want {
			t.Fatalf("by id: %+v, %v", byID, err)
		}
	})
	cases := []struct {
		name     string
		id, user string
	}{
		{"ErrSameUsername", idBob, "Alice"},
		{"ErrUsernameOtherCase", idBob, "aLICE"},
		{"ErrSameID", idAlice, "carol"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := e.open(t)
			mustCreate(t, db, idAlice, "Alice")
			err := db.CreateUser(ctx, store.User{ID: tc.id, Username: tc.user, PasswordHash: "h"})
			if !errors.Is(err, store.ErrUsernameTaken) {
				t.Fatalf("err = %v, want ErrUsernameTaken", err)
			}
		})
	}
	t.Run("ConcurrentSameName", func(t *testing.T) {
		db := e.open(t)
		ids := []string{idAlice, idBob, "0b7e2f0a-4d7c-4b7e-9a53-0e0a5f4a1c03", "0b7e2f0a-4d7c-4b7e-9a53-0e0a5f4a1c04"}
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() { errs[i] = db.CreateUser(ctx, store.User{ID: id, Username: "same", PasswordHash: "h"}) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrUsernameTaken):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d creations succeeded, want 1", ok)
		}
	})
}

func TestLookups(t *testing.T) { forEachEngine(t, testLookups) }

func testLookups(t *testing.T, e engine) {
	ctx := context.Background()
	db := e.open(t)
	mustCreate(t, db, idAlice, "alice")
	t.Run("ErrNotFoundByUsername", func(t *testing.T) {
		if _, err := db.UserByUsername(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNotFoundByID", func(t *testing.T) {
		if _, err := db.UserByID(ctx, idBob); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("UsernameExists", func(t *testing.T) {
		for name, want := range map[string]bool{"alice": true, "ALICE": true, "bob": false} {
			got, err := db.UsernameExists(ctx, name)
			if err != nil || got != want {
				t.Errorf("UsernameExists(%q) = %v, %v; want %v", name, got, err, want)
			}
		}
	})
}

func TestSetTokenVersionAtLeast(t *testing.T) { forEachEngine(t, testSetTokenVersionAtLeast) }

func testSetTokenVersionAtLeast(t *testing.T, e engine) {
	ctx := context.Background()
	db := e.open(t)
	mustCreate(t, db, idAlice, "alice")
	steps := []struct {
		name string
		set  int64
		want int64
	}{
		{"RaiseTo1", 1, 1},
		{"RaiseTo5", 5, 5},
		{"LowerIgnored", 3, 5},
		{"EqualIgnored", 5, 5},
		{"RaiseTo6", 6, 6},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := db.SetTokenVersionAtLeast(ctx, idAlice, st.set)
			if err != nil || got != st.want {
				t.Fatalf("SetTokenVersionAtLeast(%d) = %d, %v; want %d", st.set, got, err, st.want)
			}
			v, err := db.TokenVersion(ctx, idAlice)
			if err != nil || v != st.want {
				t.Fatalf("TokenVersion = %d, %v; want %d", v, err, st.want)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := db.SetTokenVersionAtLeast(ctx, idBob, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		if _, err := db.TokenVersion(ctx, idBob); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for v := int64(10); v < 30; v++ {
			wg.Go(func() {
				if _, err := db.SetTokenVersionAtLeast(ctx, idAlice, v); err != nil {
					t.Errorf("set %d: %v", v, err)
				}
			})
		}
		wg.Wait()
		if v, err := db.TokenVersion(ctx, idAlice); err != nil || v != 29 {
			t.Fatalf("TokenVersion = %d, %v; want 29", v, err)
		}
	})
}

func TestOpenPersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "auth.db")
	db, err := store.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, idAlice, "alice")
	if _, err := db.SetTokenVersionAtLeast(ctx, idAlice, 7); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.TokenVersion(ctx, idAlice); err != nil || v != 7 {
		t.Fatalf("after reopen: %d, %v", v, err)
	}
}

func TestOpenErrors(t *testing.T) {
	cases := []struct{ name, path string }{
		{"ErrEmpty", ""},
		{"ErrQuestionMark", filepath.Join(t.TempDir(), "a?b.db")},
		{"ErrMissingDir", filepath.Join(t.TempDir(), "no", "such", "dir", "auth.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open(context.Background(), tc.path, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestSetPasswordHash(t *testing.T) { forEachEngine(t, testSetPasswordHash) }

func testSetPasswordHash(t *testing.T, e engine) {
	ctx := context.Background()
	db := e.open(t)
	mustCreate(t, db, idAlice, "alice")
	if err := db.SetPasswordHash(ctx, idAlice, "new"); err != nil {
		t.Fatal(err)
	}
	if u, err := db.UserByID(ctx, idAlice); err != nil || u.PasswordHash != "new" {
		t.Fatalf("after SetPasswordHash: %+v, %v", u, err)
	}
	if err := db.SetPasswordHash(ctx, idBob, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth.db")
	db, err := store.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("database file mode %v, want no group or other access", perm)
	}
}

package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

func TestCheckPostgresURL(t *testing.T) {
	cases := []struct {
		name, url string
		ok        bool
	}{
		{"OK", "postgres://auth:pw@db.internal:5432/auth?sslmode=verify-full", true},
		{"OKPostgresql", "postgresql://auth@localhost/auth", true},
		{"ErrScheme", "mysql://auth:pw@db/auth", false},
		{"ErrKeywordForm", "host=db user=auth password=pw", false},
		{"ErrNotURL", "postgres://auth:pw@db:port/auth", false},
		{"ErrBadSSLMode", "postgres://auth:s3cret@db/auth?sslmode=sometimes", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := store.CheckPostgresURL(tc.url)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckPostgresURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
			}
			if err != nil && (strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":pw@")) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	t.Run("ErrOpenUnreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Port 1 on loopback: nothing listens.
		db, err := store.OpenPostgres(ctx, "postgres://auth:s3cret@127.0.0.1:1/auth?sslmode=disable&connect_timeout=2", nil)
		if err == nil {
			_ = db.Close()
			t.Fatal("OpenPostgres succeeded")
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error shows the password: %v", err)
		}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	t.Run("PostgresReopen", func(t *testing.T) {
		url := sharedPostgres(t).Database(t)
		db := mustClose(t, func() (*store.DB, error) { return store.OpenPostgres(ctx, url, nil) })
		mustCreate(t, db, idAlice, "alice")
		again := mustClose(t, func() (*store.DB, error) { return store.OpenPostgres(ctx, url, nil) })
		if _, err := again.UserByUsername(ctx, "ALICE"); err != nil {
			t.Fatalf("after reopen: %v", err)
		}
		assertMigrated(t, url, 1)
	})
	t.Run("PostgresConcurrentOpen", func(t *testing.T) {
		url := sharedPostgres(t).Database(t)
		const n = 4
		var wg sync.WaitGroup
		dbs, errs := make([]*store.DB, n), make([]error, n)
		for i := range n {
			wg.Go(func() { dbs[i], errs[i] = store.OpenPostgres(ctx, url, nil) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("replica %d: %v", i, errs[i])
				continue
			}
			if v, err := dbs[i].SchemaVersion(ctx); err != nil || v != 1 {
				t.Errorf("replica %d: schema version %d, %v", i, v, err)
			}
			_ = dbs[i].Close()
		}
		assertMigrated(t, url, 1)
	})
	t.Run("SQLiteAdoptsUnversioned", func(t *testing.T) {
		// A database made before the schema was versioned: the tables,
		// no schema_migrations.
		path := filepath.Join(t.TempDir(), "auth.db")
		raw, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.ExecContext(ctx, `CREATE TABLE users (
			id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, password_hash TEXT NOT NULL,
			token_version INTEGER NOT NULL DEFAULT 0 CHECK (token_version >= 0), created_at TEXT NOT NULL) STRICT;
			INSERT INTO users VALUES ('`+idAlice+`', 'alice', 'h', 3, '2025-01-02T03:04:05Z')`); err != nil {
			t.Fatal(err)
		}
		if err := raw.Close(); err != nil {
			t.Fatal(err)
		}
		db := mustClose(t, func() (*store.DB, error) { return store.Open(ctx, path, nil) })
		if v, err := db.TokenVersion(ctx, idAlice); err != nil || v != 3 {
			t.Fatalf("token version %d, %v", v, err)
		}
		if v, err := db.SchemaVersion(ctx); err != nil || v != 1 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		// The sessions tables of version 1 were added.
		mustSession(t, db, idAlice, sidA, "t1")
	})
}

// assertMigrated checks that schema_migrations lists each version once.
func assertMigrated(t *testing.T, url string, want int) {
	t.Helper()
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var n, last int
	if err := raw.QueryRowContext(context.Background(),
		`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	if n != want || last != want {
		t.Fatalf("schema_migrations: %d rows up to %d, want %d", n, last, want)
	}
}

// replicas opens two stores on one PostgreSQL schema, as two auth
// replicas do.
func replicas(t *testing.T) [2]*store.DB {
	t.Helper()
	url := sharedPostgres(t).Schema(t)
	var out [2]*store.DB
	for i := range out {
		out[i] = mustClose(t, func() (*store.DB, error) { return store.OpenPostgres(context.Background(), url, nil) })
	}
	return out
}

func TestPostgresReplicas(t *testing.T) {
	ctx := context.Background()
	t.Run("SetTokenVersionAtLeast", func(t *testing.T) {
		r := replicas(t)
		mustCreate(t, r[0], idAlice, "alice")
		var wg sync.WaitGroup
		for v := int64(1); v <= 40; v++ {
			wg.Go(func() {
				got, err := r[v%2].SetTokenVersionAtLeast(ctx, idAlice, v)
				if err != nil || got < v {
					t.Errorf("replica %d: set %d = %d, %v", v%2, v, got, err)
				}
			})
		}
		wg.Wait()
		for i, db := range r {
			if v, err := db.TokenVersion(ctx, idAlice); err != nil || v != 40 {
				t.Fatalf("replica %d: TokenVersion = %d, %v; want 40", i, v, err)
			}
		}
	})
	t.Run("RotateOnce", func(t *testing.T) {
		r := replicas(t)
		mustCreate(t, r[0], idAlice, "alice")
		mustSession(t, r[0], idAlice, sidA, "t1")
		const n = 10
		var (
			wg   sync.WaitGroup
			out  = make([]store.Rotation, n)
			errs = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				out[i], errs[i] = r[i%2].Rotate(ctx, rotateReq("t1", fmt.Sprintf("t2-%d", i), t0.Add(time.Minute)))
			})
		}
		wg.Wait()
		won := -1
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("rotation %d: %v", i, errs[i])
			}
			if out[i].Status == store.Rotated {
				if won >= 0 {
					t.Fatalf("two rotations won: %d and %d", won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatal("no rotation won")
		}
		for i := range n {
			if i != won && (out[i].Status != store.RotateGrace || !bytes.Equal(out[i].SuccessorHash, out[won].SuccessorHash) ||
				out[i].Grant != out[won].Grant || !out[i].SuccessorExpiresAt.Equal(out[won].SuccessorExpiresAt)) {
				t.Fatalf("rotation %d: %+v, winner %+v", i, out[i], out[won])
			}
		}
		// Exactly one successor family step: the winner's successor is
		// live on the other replica, the losers' were never stored.
		next := fmt.Sprintf("t2-%d", won)
		if got, err := r[1-won%2].Rotate(ctx, rotateReq(next, "t3", t0.Add(2*time.Minute))); err != nil || got.Status != store.Rotated {
			t.Fatalf("successor on the other replica: %v, %v", got.Status, err)
		}
		for i := range n {
			if i == won {
				continue
			}
			if got, err := r[0].Rotate(ctx, rotateReq(fmt.Sprintf("t2-%d", i), "x", t0.Add(2*time.Minute))); err != nil || got.Status != store.RotateUnknown {
				t.Fatalf("loser %d's successor: %v, %v", i, got.Status, err)
			}
		}
	})
	t.Run("GraceAcrossReplicas", func(t *testing.T) {
		r := replicas(t)
		mustCreate(t, r[0], idAlice, "alice")
		mustSession(t, r[0], idAlice, sidA, "t1")
		first, err := r[0].Rotate(ctx, rotateReq("t1", "t2", t0))
		if err != nil || first.Status != store.Rotated {
			t.Fatalf("first: %v, %v", first.Status, err)
		}
		again, err := r[1].Rotate(ctx, rotateReq("t1", "other", t0.Add(10*time.Second)))
		if err != nil || again.Status != store.RotateGrace || again.Grant != first.Grant {
			t.Fatalf("within grace: %+v, %v", again, err)
		}
		late, err := r[1].Rotate(ctx, rotateReq("t1", "other", t0.Add(11*time.Second)))
		if err != nil || late.Status != store.RotateReuse {
			t.Fatalf("after grace: %v, %v", late.Status, err)
		}
	})
	t.Run("RotateAgainstRevoke", func(t *testing.T) {
		// A revocation on one replica racing a rotation on the other:
		// either the rotation sees the session revoked, or the revoked
		// session covers the access token the rotation issued (what the
		// SessionRevoked event must cover).
		r := replicas(t)
		mustCreate(t, r[0], idAlice, "alice")
		for i := range 8 {
			sid := fmt.Sprintf("5a1d0000-0000-4000-8000-0000000001%02d", i)
			tok := "race-" + sid
			mustSession(t, r[0], idAlice, sid, tok)
			now := t0.Add(time.Minute)
			var (
				wg     sync.WaitGroup
				rot    store.Rotation
				rev    store.Session
				e1, e2 error
			)
			wg.Go(func() { rot, e1 = r[0].Rotate(ctx, rotateReq(tok, tok+"-next", now)) })
			wg.Go(func() { rev, e2 = r[1].RevokeSession(ctx, idAlice, sid, "logout", now) })
			wg.Wait()
			if e1 != nil || e2 != nil {
				t.Fatalf("rotate %v, revoke %v", e1, e2)
			}
			switch rot.Status {
			case store.RotateRevoked:
			case store.Rotated:
				if exp := now.Add(15 * time.Minute); rev.AccessExpiresAt.Before(exp) {
					t.Fatalf("revoked session covers access tokens until %v, the rotation issued one until %v", rev.AccessExpiresAt, exp)
				}
			default:
				t.Fatalf("rotation status %v", rot.Status)
			}
		}
	})
}

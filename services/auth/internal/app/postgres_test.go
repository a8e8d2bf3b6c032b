package app_test

import (
	"context"
	"maps"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// TestPostgres runs the service on AUTH_DATABASE_URL, as two replicas on
// one database: register, login, refresh on either, logout, logout-all.
func TestPostgres(t *testing.T) {
	pg := procs.StartPostgres(t)
	url := pg.Database(t)
	env := maps.Clone(enforcedEnv)
	env["AUTH_DATABASE_URL"] = url
	// Replicas share the signing key (and so the refresh successors).
	env["AUTH_SIGNING_KEY_FILE"], _ = writeKey(t)
	// Ignored when AUTH_DATABASE_URL is set: opening it would fail.
	env["AUTH_DB_PATH"] = filepath.Join(t.TempDir(), "no", "such", "dir", "auth.db")
	a := startStack(t, env)
	startApplier(t, a, true)
	b := a.another()
	id := a.register("alice", "correct horse")

	p := b.loginPair("alice", "correct horse")
	p = a.mustRefresh(p.RefreshToken)
	p = b.mustRefresh(p.RefreshToken)
	if st := a.meStatus(p.AccessToken); st != http.StatusOK {
		t.Fatalf("/me: %d", st)
	}
	wantNoContent(t, b.post("/v1/auth/logout", p.AccessToken, ""))
	_, res := a.refresh(p.RefreshToken)
	wantError(t, res, http.StatusUnauthorized, "invalid_grant")

	q := a.loginPair("alice", "correct horse")
	wantNoContent(t, b.post("/v1/auth/logout-all-devices", q.AccessToken, ""))
	wantError(t, a.get("/v1/auth/me", q.AccessToken), http.StatusUnauthorized, "token_revoked")
	_, res = b.refresh(q.RefreshToken)
	wantError(t, res, http.StatusUnauthorized, "invalid_grant")

	db, err := store.OpenPostgres(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, err := db.TokenVersion(context.Background(), id); err != nil || v != 1 {
		t.Fatalf("token version in PostgreSQL: %d, %v", v, err)
	}
	if st := a.get("/readyz", "").status; st != http.StatusOK {
		t.Fatalf("/readyz %d", st)
	}
	// Readiness pings the database.
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	wantError(t, a.get("/readyz", ""), http.StatusServiceUnavailable, "not_ready")
}

package app_test

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/services/auth/internal/store"
)

// storedVersion reads the user's token version from the service's
// database (SQLite in WAL mode: a second reader is fine while it runs).
func (s *stack) storedVersion(id string) int64 {
	s.t.Helper()
	db, err := store.Open(s.t.Context(), s.vars["AUTH_DB_PATH"], nil)
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	v, err := db.TokenVersion(s.t.Context(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// Red-team finding 2: a user version of 2^63-1 in Redis (a
// UserTokensRevoked event applied before events.MaxVersion bounded them)
// must not be copied into the database at login, where logout-all-devices
// would overflow raising it and answer 503 "retry" forever.
func TestLoginDoesNotCopyAnOutOfRangeVersion(t *testing.T) {
	s := startStack(t, nil)
	ctx := context.Background()
	id := s.register("dave", "correct horse battery")
	if err := s.rdb.Set(ctx, jwtx.UserVersionKey(id), strconv.FormatInt(math.MaxInt64, 10), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	// The Redis value is treated as unknown, as an unreadable Redis is:
	// the token carries the stored version (and validators refuse it while
	// Redis holds 2^63-1: fail closed).
	tok := s.login("dave", "correct horse battery")
	if v := tokenVersion(t, tok); v != 0 {
		t.Fatalf("token ver = %d, want the stored 0", v)
	}
	if v := s.storedVersion(id); v != 0 {
		t.Fatalf("stored version after login = %d, want 0 (not copied from Redis)", v)
	}
	if st := s.meStatus(tok); st != http.StatusUnauthorized {
		t.Fatalf("token below the enforced version: /me %d, want 401", st)
	}

	// logout-all-devices still works: version 1 is published, and Redis
	// (2^63-1 >= 1) already enforces it.
	for i := range 2 {
		if res := s.post("/v1/auth/logout-all-devices", tok, ""); res.status != http.StatusNoContent && res.status != http.StatusAccepted {
			t.Fatalf("logout-all #%d: %d %s, want 204 or 202", i, res.status, res.body)
		}
	}
	if v := s.storedVersion(id); v != 1 {
		t.Fatalf("stored version after logout-all = %d, want 1", v)
	}
}

// A database the code before the fix already raised to 2^63-1: no version
// is left to publish, and logout-all-devices says so with a 500 that does
// not ask for a retry, instead of a 503 "retry" that can never succeed.
func TestLogoutAllWithAnExhaustedVersion(t *testing.T) {
	s := startStack(t, nil)
	ctx := context.Background()
	id := s.register("erin", "correct horse battery")
	db, err := store.Open(ctx, s.vars["AUTH_DB_PATH"], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetTokenVersionAtLeast(ctx, id, math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	tok := s.login("erin", "correct horse battery")
	if v := tokenVersion(t, tok); v != math.MaxInt64 {
		t.Fatalf("token ver = %d, want the stored %d", v, int64(math.MaxInt64))
	}
	for i := range 2 {
		res := s.post("/v1/auth/logout-all-devices", tok, "")
		wantError(t, res, http.StatusInternalServerError, "token_version_exhausted")
		if ra := res.header.Get("Retry-After"); ra != "" {
			t.Fatalf("logout-all #%d: Retry-After %q on an error no retry fixes", i, ra)
		}
	}
	if v := s.storedVersion(id); v != math.MaxInt64 {
		t.Fatalf("stored version = %d, want it untouched", v)
	}
	// Logging out one token still works.
	if res := s.post("/v1/auth/logout", tok, ""); res.status != http.StatusNoContent && res.status != http.StatusAccepted {
		t.Fatalf("logout: %d %s, want 204 or 202", res.status, res.body)
	}
}

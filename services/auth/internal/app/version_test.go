package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// tokenVersion reads the ver claim of a token without validating it.
func tokenVersion(t *testing.T, token string) int64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Ver int64 `json:"ver"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Ver
}

// A logout-all-devices whose event reached Redis but whose database update
// was lost (the process died in between) must not make every later login
// issue tokens that are born revoked: login issues at the enforced version
// and repairs the stored one.
func TestLoginCatchesUpWithTheEnforcedVersion(t *testing.T) {
	s := startStack(t, nil)
	ctx := context.Background()
	id := s.register("carol", "correct horse battery")
	old := s.login("carol", "correct horse battery")
	if v := tokenVersion(t, old); v != 0 {
		t.Fatalf("first token ver = %d, want 0", v)
	}
	if err := s.rdb.Set(ctx, jwtx.UserVersionKey(id), "3", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if st := s.meStatus(old); st != http.StatusUnauthorized {
		t.Fatalf("token below the enforced version: /me %d, want 401", st)
	}
	fresh := s.login("carol", "correct horse battery")
	if v := tokenVersion(t, fresh); v != 3 {
		t.Fatalf("token issued after the lost update has ver %d, want 3", v)
	}
	if st := s.meStatus(fresh); st != http.StatusOK {
		t.Fatalf("fresh token: /me %d, want 200", st)
	}

	// The stored version was repaired: with the Redis key gone, logins
	// still carry 3.
	if err := s.rdb.Del(ctx, jwtx.UserVersionKey(id)).Err(); err != nil {
		t.Fatal(err)
	}
	if v := tokenVersion(t, s.login("carol", "correct horse battery")); v != 3 {
		t.Fatalf("after repair: ver %d, want 3", v)
	}
}

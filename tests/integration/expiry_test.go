package integration

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// TestShorterTTLNeverShortensARevocation is the red-team finding "a later
// event with a shorter expiry un-revokes": after a logout-all, the auth
// service restarts with a 5 s token TTL and the user logs out of every
// device again. The second event's short expires_at must not cut short the
// first one's user version: Ta, which still has minutes to live, stays
// revoked until the longest token lifetime has passed.
func TestShorterTTLNeverShortensARevocation(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOpts{authEnv: []string{"AUTH_SIGNING_KEY_FILE=" + keyFile}})
	alice, _ := s.Register()
	ta := s.Login(alice)
	expectStatus(t, "logout-all with Ta", s.LogoutAll(ta), http.StatusNoContent)
	expectStatus(t, "Ta after logout-all", s.Me(ta), http.StatusUnauthorized)
	me := s.Me(s.Login(alice)).JSON(t)
	userID, _ := me["user_id"].(string)
	key := jwtx.UserVersionKey(userID)
	rdb := s.Redis.Client(t)
	ctx := context.Background()
	before, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}

	// The same issuer, restarted with a 5 s token lifetime.
	s.Auth.Stop()
	s.Auth.env = append(s.Auth.env, "AUTH_ACCESS_TOKEN_TTL=5s")
	s.Auth.Start()
	s.WaitReady(s.AuthURL)
	tb := s.Login(alice)
	expectStatus(t, "logout-all with Tb", s.LogoutAll(tb), http.StatusNoContent)

	after, err := rdb.PTTL(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	// REVOCATION_MAX_TOKEN_TTL's default is 24h: the version must live at
	// least that long after the second event, never the 5 s + leeway the
	// event's expires_at says.
	if after < before || after < 23*time.Hour {
		t.Fatalf("PTTL %s went from %s to %s after an event with a 5s token TTL; want it kept or extended (>= 23h)", key, before, after)
	}
	expectStatus(t, "Ta after the second logout-all", s.Me(ta), http.StatusUnauthorized)
}

package integration

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// TestShorterTTLNeverShortensARevocation is the red-team finding "a later
// event with a shorter expiry un-revokes": after a logout-all, the auth
// service restarts with a 5 s token TTL and the user logs out of every
// device again. The second event's short expires_at must not cut short the
// first one's user version: Ta, which still has minutes to live, stays
// revoked until the longest token lifetime has passed.
func TestShorterTTLNeverShortensARevocation(t *testing.T) {
	_, keyFile := signingKeyFile(t)
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
	if err := s.Auth.Stop(); err != nil {
		t.Error(err)
	}
	s.Auth.SetEnv(append(s.Auth.Env(), "AUTH_ACCESS_TOKEN_TTL=5s"))
	mustStart(t, s.Auth)
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

// TestShortEventPublishedFirstDoesNotPreemptLogout is the red-team variant
// of the same finding: a token.revoked for Ta's jti with a short
// expires_at, published before the owner's logout, used to share the id
// the owner's event would get (derived from the jti), so JetStream dropped
// the owner's event as a duplicate and answered 204 while the key expired
// within a minute. Ids are now random and expiries only extended: the key
// lives as long as Ta.
func TestShortEventPublishedFirstDoesNotPreemptLogout(t *testing.T) {
	s := newStack(t, stackOpts{})
	alice, _ := s.Register()
	ta := s.Login(alice)
	me := s.Me(ta).JSON(t)
	jti, _ := me["jti"].(string)
	userID, _ := me["user_id"].(string)
	exp, err := time.Parse(time.RFC3339, me["expires_at"].(string))
	if err != nil {
		t.Fatalf("expires_at %v: %v", me["expires_at"], err)
	}
	ctx := context.Background()
	short := events.TokenRevoked{UserID: userID, JTI: jti, ExpiresAt: time.Now().Add(time.Second)}.Event(time.Now())
	if _, err := events.NewPublisher(s.NATS.JetStream(t)).Publish(ctx, short); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, "owner's logout", s.Logout(ta), http.StatusNoContent)
	ttl, err := s.Redis.Client(t).PTTL(ctx, jwtx.BlacklistKey(jti)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Until(exp); ttl < want {
		t.Fatalf("token_blacklist:%s PTTL %s after the owner's logout, want at least the token's remaining life %s", jti, ttl, want)
	}
	expectStatus(t, "Ta after logout", s.Me(ta), http.StatusUnauthorized)
}

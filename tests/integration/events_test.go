package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// Garbage on the revocation subjects is terminated, counted and skipped;
// it never stalls the consumer.
func TestGarbageDoesNotStallTheConsumer(t *testing.T) {
	s := newStack(t, stackOpts{})
	js := s.NATS.JetStream(t)
	ctx := t.Context()
	user := uuid.NewString()
	valid, err := events.Encode(events.TokenRevoked{UserID: user, JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []struct{ subject, body string }{
		{"revocation.token.not-a-uuid", "not json"},
		{"revocation.token." + user, "{}"},
		{"revocation.token." + user, `{"type":"token.revoked","id":"x"}`},
		{"revocation.user." + user, `{"schema_version":99}`},
		{"revocation.user." + user, `[1,2,3]`},
		{"revocation.user." + uuid.NewString(), string(valid)}, // subject of another user
		{"revocation.other", strings.Repeat("A", 64<<10)},
		{"revocation.token." + user, `{"id":"` + uuid.NewString() + `","type":"token.revoked","occurred_at":"2026-01-01T00:00:00Z","user_id":"` + user + `","jti":"` + uuid.NewString() + `","expires_at":"yesterday"}`},
	}
	for _, g := range garbage {
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: g.subject, Data: []byte(g.body)}, jetstream.WithMsgID(uuid.NewString())); err != nil {
			t.Fatalf("publish garbage on %s: %v", g.subject, err)
		}
	}

	name, _ := s.Register()
	tok := s.Login(name)
	expectStatus(t, "logout after garbage", s.Logout(tok), http.StatusNoContent)
	expectStatus(t, "me after logout", s.Me(tok), http.StatusUnauthorized)
	if m := s.Metrics(s.RevMetricsURL); !hasMetric(m, "revocation_events_invalid_total") {
		t.Fatalf("revocation_events_invalid_total not counted:\n%s", m)
	}
}

// Every key the revocation service writes expires no later than the token
// it protects against (plus leeway); only the checkpoint is permanent.
func TestTTLOnEveryKey(t *testing.T) {
	s := newStack(t, stackOpts{})
	for range 3 {
		name, _ := s.Register()
		expectStatus(t, "logout", s.Logout(s.Login(name)), http.StatusNoContent)
		expectStatus(t, "logout-all", s.LogoutAll(s.Login(name)), http.StatusNoContent)
	}
	rdb := s.Redis.Client(t)
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	const (
		leeway      = time.Minute    // REVOCATION_LEEWAY default
		maxTokenTTL = 24 * time.Hour // REVOCATION_MAX_TOKEN_TTL default
	)
	// A revoked token's key lives as long as the token; a user version as
	// long as the longest token any issuer may have issued before it.
	limits := map[string]time.Time{
		"token_blacklist":    time.Now().Add(s.TokenTTL + leeway + 5*time.Second),
		"user_token_version": time.Now().Add(maxTokenTTL + leeway + 5*time.Second),
	}
	seen := map[string]int{}
	for _, k := range keys {
		prefix, _, _ := strings.Cut(k, ":")
		seen[prefix]++
		at, err := rdb.PExpireTime(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if k == "revocation:checkpoint" {
			if at != -1 {
				t.Fatalf("checkpoint has an expiry (%v); it must not", at)
			}
			continue
		}
		if at <= 0 {
			t.Fatalf("key %s has no expiry (%v)", k, at)
		}
		exp := time.UnixMilli(int64(at / time.Millisecond))
		limit, ok := limits[prefix]
		if !ok { // rate-limit counters: minutes
			limit = limits["token_blacklist"]
		}
		if exp.After(limit) || exp.Before(time.Now()) {
			t.Fatalf("key %s expires at %s, want within (now, %s]", k, exp, limit)
		}
	}
	if seen["token_blacklist"] != 3 || seen["user_token_version"] != 3 || seen["revocation"] != 1 {
		t.Fatalf("unexpected key set: %v", seen)
	}
	v, err := rdb.Get(ctx, "revocation:checkpoint").Uint64()
	if err != nil || v == 0 {
		t.Fatalf("checkpoint = %d, %v", v, err)
	}
}

package permissions

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// TestServicesRunUnderLeastPrivilege runs bin/revocation and bin/auth with
// the identities of the deploy files (NATS user in NATS_URL, Redis user in
// REDIS_URL, their own inbox prefixes, the stream and consumers managed by
// admin) through everything they do: a rebuild into an empty Redis, logout
// and logout-all-devices answered 204 (PubAck plus applied announcement),
// a microservice following along, and a second rebuild after a FLUSHALL.
// Nothing may be refused on the way: the services' logs carry no
// permissions violation and Redis's ACL LOG stays empty.
func TestServicesRunUnderLeastPrivilege(t *testing.T) {
	bins.Dir(t) // build first: it is the slow part
	n, r := startNATS(t, natsConf(t), nil), startRedis(t)
	admin, auth := n.connect(t, "admin"), n.connect(t, "auth")
	setupJetStream(t, admin)
	adminRedis := r.client(t, "admin")
	validator := jwtx.NewRedisStore(r.client(t, "validator"))
	ctx := t.Context()

	// Stored before the revocation service ever ran: Redis has no
	// checkpoint, so the service must rebuild from the stream.
	early := events.TokenRevoked{UserID: uuid.NewString(), JTI: uuid.NewString(), ExpiresAt: time.Now().Add(time.Hour)}
	publish(t, auth, early.Event(time.Now()))

	revAddr, authAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	revMetrics, authMetrics := testkit.FreeAddr(t), testkit.FreeAddr(t)
	common := []string{"LOG_LEVEL=debug", "LOG_FORMAT=text"}
	revocation := startProc(t, "revocation", append(common,
		"NATS_URL="+n.URL("revocation"), "NATS_INBOX_PREFIX=_INBOX_revocation", "REVOCATION_MANAGE_STREAM=false",
		"REDIS_URL="+r.URL("revocation"), "REVOCATION_HTTP_ADDR="+revAddr, "REVOCATION_METRICS_ADDR="+revMetrics, "REVOCATION_CHECK_INTERVAL=200ms",
	))
	waitReady(t, "http://"+revAddr)
	waitRevoked(t, validator, early.JTI, early.UserID, "the event stored before the first start")

	authSvc := startProc(t, "auth", append(common,
		"NATS_URL="+n.URL("auth"), "NATS_INBOX_PREFIX=_INBOX_auth", "AUTH_MANAGE_STREAM=false",
		"REDIS_URL="+r.URL("auth"), "AUTH_HTTP_ADDR="+authAddr, "AUTH_METRICS_ADDR="+authMetrics,
		"AUTH_DB_PATH="+filepath.Join(t.TempDir(), "auth.db"), "AUTH_ISSUER=http://auth.test", "AUTH_AUDIENCE=api",
		"AUTH_REVOCATION_WAIT=10s", "AUTH_ARGON2_MEMORY_KIB=64", "AUTH_ARGON2_ITERATIONS=1", "AUTH_ARGON2_PARALLELISM=1",
	))
	base := "http://" + authAddr
	waitReady(t, base)

	// A microservice following revocations on its own durable.
	chat := n.connect(t, "chat")
	var mu sync.Mutex
	seen := map[string]bool{}
	sub, err := events.SubscribeExisting(ctx, chat.JS, events.SubscribeConfig{Durable: "chat"},
		func(_ context.Context, ev events.Event, _ events.Meta) error {
			mu.Lock()
			defer mu.Unlock()
			seen[ev.Type+":"+ev.UserID] = true
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()

	creds := map[string]string{"username": "perm_" + uuid.NewString()[:8], "password": "least-privilege-" + uuid.NewString()}
	var reg struct {
		UserID string `json:"user_id"`
	}
	mustCall(t, 201, "POST", base+"/v1/auth/register", "", creds, &reg)
	login := func() string {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		mustCall(t, 200, "POST", base+"/v1/auth/login", "", creds, &tok)
		return tok.AccessToken
	}
	var me struct {
		JTI string `json:"jti"`
	}
	// Sessions under the same identities: a refresh rotates (SQLite
	// only), and ending the session publishes session.revoked, which
	// auth may publish, revocation may write and the validator may read.
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	mustCall(t, 200, "POST", base+"/v1/auth/login", "", creds, &pair)
	sessionTok := pair.AccessToken
	mustCall(t, 200, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}, &pair)
	var sessions struct {
		Sessions []struct {
			SID string `json:"sid"`
		} `json:"sessions"`
	}
	mustCall(t, 200, "GET", base+"/v1/auth/sessions", pair.AccessToken, nil, &sessions)
	if len(sessions.Sessions) != 1 {
		t.Fatalf("sessions: %+v, want 1", sessions)
	}
	sid := sessions.Sessions[0].SID
	mustCall(t, 204, "DELETE", base+"/v1/auth/sessions/"+sid, pair.AccessToken, nil, nil)
	mustCall(t, 401, "GET", base+"/v1/auth/me", sessionTok, nil, nil)
	mustCall(t, 401, "GET", base+"/v1/auth/me", pair.AccessToken, nil, nil)
	if st, err := validator.RevocationState(ctx, jwtx.RevocationQuery{SessionID: sid, UserID: reg.UserID}); err != nil || !st.SessionRevoked {
		t.Fatalf("validator after ending the session: %+v, %v", st, err)
	}

	first := login()
	mustCall(t, 200, "GET", base+"/v1/auth/me", first, nil, &me)
	mustCall(t, 204, "POST", base+"/v1/auth/logout", first, nil, nil) // durable and enforced
	mustCall(t, 401, "GET", base+"/v1/auth/me", first, nil, nil)
	if st, err := validator.RevocationState(ctx, jwtx.RevocationQuery{JTI: me.JTI, UserID: reg.UserID}); err != nil || !st.TokenRevoked {
		t.Fatalf("validator after logout: %+v, %v", st, err)
	}
	a, b := login(), login()
	mustCall(t, 204, "POST", base+"/v1/auth/logout-all-devices", a, nil, nil)
	mustCall(t, 401, "GET", base+"/v1/auth/me", b, nil, nil)
	testkit.Eventually(t, 10*time.Second, "chat saw both revocations", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[events.TypeTokenRevoked+":"+reg.UserID] && seen[events.TypeUserTokensRevoked+":"+reg.UserID] &&
			seen[events.TypeSessionRevoked+":"+reg.UserID]
	})

	// Redis loses everything: the service notices and rebuilds, with the
	// same restricted identities.
	if err := adminRedis.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, validator, me.JTI, reg.UserID, "the logged-out token after FLUSHALL")
	testkit.Eventually(t, 30*time.Second, "the ended session rebuilt", func() bool {
		st, err := validator.RevocationState(ctx, jwtx.RevocationQuery{SessionID: sid, UserID: reg.UserID})
		return err == nil && st.SessionRevoked
	})
	mustCall(t, 401, "GET", base+"/v1/auth/me", b, nil, nil)

	if log := aclLog(t, adminRedis); len(log) > 0 {
		t.Errorf("Redis refused the services: %v", log)
	}
	for _, p := range []*testkit.Proc{revocation, authSvc} {
		if out := p.Output(); strings.Contains(strings.ToLower(out), "permissions violation") {
			t.Errorf("%s hit a NATS permissions violation:\n%s", p.Name, out)
		}
	}
	if cons, err := admin.JS.Consumer(ctx, events.StreamName, "revocation"); err != nil || cons.CachedInfo().Config.Description != "" {
		t.Errorf("the administrator's durable consumer was changed or lost (%v)", err)
	}
}

// waitRevoked waits until a validator sees jti revoked with the checkpoint
// present.
func waitRevoked(tb testing.TB, v *jwtx.RedisStore, jti, user, what string) {
	tb.Helper()
	testkit.Eventually(tb, 15*time.Second, what+" is revoked in Redis", func() bool {
		st, err := v.RevocationState(context.Background(), jwtx.RevocationQuery{JTI: jti, UserID: user})
		return err == nil && st.TokenRevoked && st.Initialized
	})
}

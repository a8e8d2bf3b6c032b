package app_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/services/revocation/internal/store"
	"github.com/google/uuid"
)

const (
	leeway = time.Minute    // REVOCATION_LEEWAY default
	maxTTL = 24 * time.Hour // REVOCATION_MAX_TOKEN_TTL default
)

func TestEventsWrittenWithAbsoluteExpiry(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	now := time.Now().UTC()
	tok := tokenEvent(now, now.Add(10*time.Minute))
	user := userEvent(now, uuid.NewString(), 3, now.Add(15*time.Minute))
	legacy := userEvent(now, uuid.NewString(), 1, time.Time{}) // no expires_at
	session := events.SessionRevoked{UserID: uuid.NewString(), SessionID: uuid.NewString(), ExpiresAt: now.Add(12 * time.Minute),
		Reason: events.ReasonRefreshTokenReuse, Actor: events.SystemActor("auth")}.Event(now)
	e.publish(t, tok)
	e.publish(t, user)
	e.publish(t, session)
	last := e.publish(t, legacy)
	e.waitCheckpoint(t, last)

	if cp, _ := e.checkpoint(t); cp != last {
		t.Fatalf("checkpoint = %d, want the last sequence %d", cp, last)
	}
	if body, ok := e.get(t, key(tok)); body != store.BlacklistValue {
		t.Fatalf("token_blacklist value %q (present %v), want the marker %q", body, ok, store.BlacklistValue)
	}
	if body, ok := e.get(t, key(session)); body != store.BlacklistValue {
		t.Fatalf("session_revoked value %q (present %v), want the marker %q", body, ok, store.BlacklistValue)
	}
	if v, _ := e.get(t, key(user)); v != "3" {
		t.Errorf("user_token_version = %q, want 3", v)
	}
	if v, _ := e.get(t, key(legacy)); v != "1" {
		t.Errorf("user_token_version (no expires_at) = %q, want 1", v)
	}
	for k, want := range map[string]time.Time{
		key(tok):     tok.ExpiresAt.Add(leeway),
		key(session): session.ExpiresAt.Add(leeway),
		key(user):    user.OccurredAt.Add(maxTTL + leeway), // the longest token lifetime, whatever expires_at says
		key(legacy):  legacy.OccurredAt.Add(maxTTL + leeway),
	} {
		if got := e.expireTime(t, k); got.Sub(want).Abs() > time.Millisecond {
			t.Errorf("%s expires at %s, want %s", k, got, want)
		}
	}

	// Every key but the checkpoint and the heartbeat has an expiry.
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	revs := 0
	for _, k := range keys {
		ttl, err := e.rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if k == store.KeyCheckpoint || k == store.KeyHeartbeat {
			if ttl != -1 {
				t.Errorf("%s has a TTL (%s)", k, ttl)
			}
			continue
		}
		revs++
		if ttl <= 0 {
			t.Errorf("%s has no expiry (PTTL %s)", k, ttl)
		}
	}
	if revs != 4 {
		t.Errorf("keys = %v, want the four revocations beside the checkpoint and the heartbeat", keys)
	}
}

func TestEventsIdempotentAndOutOfOrder(t *testing.T) {
	e := newEnv(t)
	svc := e.start(t)
	now := time.Now().UTC()

	t.Run("SameJTITwiceKeepsTheLaterExpiry", func(t *testing.T) {
		tok := tokenEvent(now, now.Add(10*time.Minute))
		e.waitCheckpoint(t, e.publish(t, tok))
		before := e.expireTime(t, key(tok))
		later := tok
		later.ExpiresAt = tok.ExpiresAt.Add(time.Hour)
		body, err := events.Encode(later)
		if err != nil {
			t.Fatal(err)
		}
		again, err := events.Encode(tok)
		if err != nil {
			t.Fatal(err)
		}
		e.publishRaw(t, tok.Subject(), body) // no Nats-Msg-Id: stored again
		e.waitCheckpoint(t, e.publishRaw(t, tok.Subject(), again))
		// Only ever extended: the later expiry holds, the earlier one
		// published after it does not cut it short.
		if after, want := e.expireTime(t, key(tok)), before.Add(time.Hour); !after.Equal(want) {
			t.Fatalf("expiry moved from %s to %s, want %s", before, after, want)
		}
	})
	t.Run("LowerVersionAfterHigher", func(t *testing.T) {
		id := uuid.NewString()
		v5 := userEvent(now, id, 5, now.Add(20*time.Minute))
		v4 := userEvent(now, id, 4, now.Add(30*time.Minute))
		e.publish(t, v5)
		e.waitCheckpoint(t, e.publish(t, v4))
		if v, _ := e.get(t, key(v5)); v != "5" {
			t.Fatalf("version = %q, want 5", v)
		}
		if got, want := e.expireTime(t, key(v5)), v5.OccurredAt.Add(maxTTL+leeway); got.Sub(want).Abs() > time.Millisecond {
			t.Fatalf("expiry = %s, want %s", got, want)
		}
	})
	t.Run("ExpiredTokenSkipped", func(t *testing.T) {
		old := tokenEvent(now.Add(-3*time.Hour), now.Add(-2*time.Hour))
		seq := e.publish(t, old)
		e.waitCheckpoint(t, seq)
		if cp, _ := e.checkpoint(t); cp != seq {
			t.Fatalf("checkpoint = %d, want %d", cp, seq)
		}
		if _, ok := e.get(t, key(old)); ok {
			t.Fatal("expired token written")
		}
		if n := svc.metric(t, "revocation_events_expired_total"); n < 1 {
			t.Fatalf("revocation_events_expired_total = %v", n)
		}
	})
}

func TestInvalidEventsDropped(t *testing.T) {
	e := newEnv(t)
	svc := e.start(t)
	svc.waitReady(t) // the garbage goes to the durable consumer, not a start-up replay
	now := time.Now().UTC()
	victim, other := uuid.NewString(), uuid.NewString()

	mismatch, err := events.Encode(tokenEvent(now, now.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	future := strings.Replace(string(mismatch), `"schema_version":`+strconv.Itoa(events.SchemaVersion), `"schema_version":99`, 1)
	if future == string(mismatch) {
		t.Fatalf("no schema_version in %s", mismatch)
	}
	garbage := []struct {
		subject, body string
	}{
		{"revocation.token.x", "not json"},
		{"revocation.user." + victim, `{"id":`},
		{"revocation.user." + victim, `{"type":"user.tokens_revoked","id":"nope","user_id":"` + victim + `","version":-3}`},
		{"revocation.token." + other, string(mismatch)}, // another user's event
		{"revocation.token." + victim, `{"pad":"` + strings.Repeat("x", 20<<10) + `"}`},
		{"revocation.token." + victim, future},
	}
	for _, g := range garbage {
		e.publishRaw(t, g.subject, []byte(g.body))
	}
	valid := tokenEvent(now, now.Add(time.Hour))
	seq := e.publish(t, valid)

	testkit.Eventually(t, 5*time.Second, "valid event after garbage applied", func() bool {
		_, ok := e.get(t, key(valid))
		return ok
	})
	e.waitCheckpoint(t, seq)
	// Terminated and counted before the valid event's batch was written.
	for reason, want := range map[string]float64{"invalid": 4, "subject_mismatch": 1, "unsupported_schema": 1} {
		if got := svc.metric(t, "revocation_events_invalid_total", `reason="`+reason+`"`); got != want {
			t.Errorf("revocation_events_invalid_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	testkit.Eventually(t, waitFor, "consumer pending drains to 0", func() bool {
		return e.consumerPending(t) == 0
	})
	testkit.Eventually(t, waitFor, "revocation_consumer_pending reports 0", func() bool {
		return svc.metric(t, "revocation_consumer_pending") == 0
	})
}

func TestAppliedAnnouncements(t *testing.T) {
	e := newEnv(t)
	e.start(t)
	nc := e.nt.Connect(t)
	sub, err := nc.SubscribeSync(events.SubjectApplied)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, ev := range []events.Event{
		tokenEvent(now, now.Add(time.Hour)),
		userEvent(now, uuid.NewString(), 2, now.Add(time.Hour)),
	} {
		seq := e.publish(t, ev)
		deadline := time.Now().Add(waitFor)
		for {
			msg, err := sub.NextMsg(time.Until(deadline))
			if err != nil {
				t.Fatalf("no announcement of sequence %d: %v", seq, err)
			}
			a, err := events.DecodeApplied(msg.Data)
			if err != nil {
				t.Fatalf("announcement %s: %v", msg.Data, err)
			}
			if !a.Contains(seq) {
				continue
			}
			if _, ok := e.get(t, key(ev)); !ok {
				t.Fatalf("sequence %d announced before %s exists", seq, key(ev))
			}
			if a.Checkpoint < seq || a.At.IsZero() {
				t.Fatalf("announcement %+v: checkpoint below %d or no time", a, seq)
			}
			break
		}
	}
}

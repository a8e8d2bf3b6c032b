package app_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// streamEvents returns every event stored in the REVOCATIONS stream.
func (s *stack) streamEvents() []events.Event {
	s.t.Helper()
	ctx := context.Background()
	st, err := s.nats.JetStream(s.t).Stream(ctx, events.StreamName)
	if err != nil {
		s.t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		s.t.Fatalf("stream info: %v", err)
	}
	var out []events.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := st.GetMsg(ctx, seq)
		if err != nil {
			s.t.Fatalf("message %d: %v", seq, err)
		}
		ev, err := events.Decode(msg.Data)
		if err != nil {
			s.t.Fatalf("message %d: %v", seq, err)
		}
		out = append(out, ev)
	}
	if uint64(len(out)) != info.State.Msgs {
		s.t.Fatalf("read %d events, stream info says %d", len(out), info.State.Msgs)
	}
	return out
}

// TestRevocationScopedToThePresentedToken: logout revokes exactly the
// presented token and logout-all-devices its subject's tokens; a body
// naming another user's jti or id is ignored, and no route takes one.
func TestRevocationScopedToThePresentedToken(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	alice := s.register("alice", "correct horse")
	bob := s.register("bob", "battery staple")
	a1, a2 := s.login("alice", "correct horse"), s.login("alice", "correct horse")
	b1 := s.login("bob", "battery staple")
	bobJTI := payloadOf(t, b1)["jti"].(string)
	hostile := fmt.Sprintf(`{"jti":%q,"user_id":%q,"sub":%q}`, bobJTI, bob, bob)

	t.Run("LogoutIgnoresTheBody", func(t *testing.T) {
		wantNoContent(t, s.post("/v1/auth/logout", a1, hostile))
		wantError(t, s.get("/v1/auth/me", a1), http.StatusUnauthorized, "token_revoked")
		for name, tok := range map[string]string{"alice's other token": a2, "bob's token": b1} {
			if st := s.meStatus(tok); st != http.StatusOK {
				t.Fatalf("%s: /me %d, want 200", name, st)
			}
		}
	})
	t.Run("LogoutAllIgnoresTheBody", func(t *testing.T) {
		wantNoContent(t, s.post("/v1/auth/logout-all-devices", a2, hostile))
		wantError(t, s.get("/v1/auth/me", a2), http.StatusUnauthorized, "token_revoked")
		if st := s.meStatus(b1); st != http.StatusOK {
			t.Fatalf("bob's token: /me %d, want 200", st)
		}
	})
	t.Run("NoTokenNoRevocation", func(t *testing.T) {
		for _, path := range []string{"/v1/auth/logout", "/v1/auth/logout-all-devices"} {
			wantError(t, s.post(path, "", hostile), http.StatusUnauthorized, "invalid_token")
		}
		if st := s.meStatus(b1); st != http.StatusOK {
			t.Fatalf("bob's token: /me %d, want 200", st)
		}
	})
	t.Run("StreamHoldsOnlyAlicesEvents", func(t *testing.T) {
		evs := s.streamEvents()
		// Logout publishes the token's and its session's events (issue #11).
		if len(evs) != 3 {
			t.Fatalf("%d events in the stream, want 3: %+v", len(evs), evs)
		}
		var tok, sess, user events.Event
		for _, ev := range evs {
			switch ev.Type {
			case events.TypeTokenRevoked:
				tok = ev
			case events.TypeSessionRevoked:
				sess = ev
			default:
				user = ev
			}
		}
		if sess.UserID != alice || sess.SessionID != payloadOf(t, a1)["sid"] || sess.Reason != events.ReasonLogout {
			t.Fatalf("session event %+v, want alice's a1 session", sess)
		}
		if tok.Type != events.TypeTokenRevoked || tok.UserID != alice || tok.JTI != payloadOf(t, a1)["jti"] || tok.Actor != events.UserActor(alice) {
			t.Fatalf("token event %+v, want alice's a1", tok)
		}
		if user.Type != events.TypeUserTokensRevoked || user.UserID != alice || user.Version != 1 || user.Actor != events.UserActor(alice) {
			t.Fatalf("user event %+v, want alice's version 1", user)
		}
	})
}

// TestRevokingTwiceStoresOneEvent: a repeated logout or logout-all with
// the same token is answered again but stored once (same event id, so
// JetStream's duplicate window drops the second publish).
func TestRevokingTwiceStoresOneEvent(t *testing.T) {
	s := startStack(t, enforcedEnv)
	startApplier(t, s, true)
	s.register("alice", "correct horse")
	a1, a2 := s.login("alice", "correct horse"), s.login("alice", "correct horse")
	for range 2 {
		wantNoContent(t, s.post("/v1/auth/logout", a1, ""))
	}
	// One token event and one session event, each stored once.
	if n := len(s.streamEvents()); n != 2 {
		t.Fatalf("%d events after logging out twice, want 2", n)
	}
	for range 2 {
		wantNoContent(t, s.post("/v1/auth/logout-all-devices", a2, ""))
	}
	evs := s.streamEvents()
	if len(evs) != 3 || evs[1].ID == evs[2].ID {
		t.Fatalf("events after logging out of all devices twice: %+v, want 2 distinct after the logout's 2", evs)
	}
	if st := s.meStatus(a2); st != http.StatusUnauthorized {
		t.Fatalf("/me %d", st)
	}
}

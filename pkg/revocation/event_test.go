package revocation_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

var (
	now  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	user = "0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f"
	jti  = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
)

func TestTokenRevokedRoundTrip(t *testing.T) {
	ev := revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(15 * time.Minute), Reason: revocation.ReasonLogout, Actor: revocation.UserActor(user)}.Event(now)
	body, err := revocation.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"schema_version", "id", "type", "occurred_at", "user_id", "jti", "expires_at", "reason", "actor"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("field %q missing from %s", f, body)
		}
	}
	if _, ok := fields["version"]; ok {
		t.Errorf("token event carries version: %s", body)
	}
	got, err := revocation.DecodeMsg(revocation.SubjectTokenPrefix+user, body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if ev.Subject() != "revocation.token."+user {
		t.Fatalf("subject %q", ev.Subject())
	}
}

func TestSessionRevokedRoundTrip(t *testing.T) {
	sid := uuid.NewString()
	ev := revocation.SessionRevoked{UserID: user, SessionID: sid, ExpiresAt: now.Add(15 * time.Minute),
		Reason: revocation.ReasonRefreshTokenReuse, Actor: revocation.SystemActor("auth")}.Event(now)
	body, err := revocation.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `"sid":"` + sid + `"`
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), `"actor":{"type":"system","id":"auth"}`) ||
		!strings.Contains(string(body), `"type":"session.revoked"`) || strings.Contains(string(body), `"jti"`) {
		t.Fatalf("session event body %s", body)
	}
	if ev.Subject() != "revocation.session."+user {
		t.Fatalf("subject %q", ev.Subject())
	}
	got, err := revocation.DecodeMsg(revocation.SubjectSessionPrefix+user, body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if _, err := revocation.DecodeMsg(revocation.SubjectTokenPrefix+user, body); !errors.Is(err, revocation.ErrSubjectMismatch) {
		t.Fatalf("session event on the token subject: %v", err)
	}
	if revocation.SessionKey(sid) != "session_revoked:"+sid {
		t.Fatalf("session key %q", revocation.SessionKey(sid))
	}
}

// TestVersion1ActorString: bodies written before schema version 2 carry
// the actor as a string (the user id); they are still read, as Actor{ID}.
func TestVersion1ActorString(t *testing.T) {
	body := `{"schema_version":1,"id":"` + jti + `","type":"token.revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user +
		`","jti":"` + jti + `","expires_at":"2026-11-26T12:10:00Z","reason":"logout","actor":"` + user + `"}`
	ev, err := revocation.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Actor != (revocation.Actor{ID: user}) || ev.SchemaVersion != 1 {
		t.Fatalf("version 1 event read as %+v", ev)
	}
}

func TestKnownReasons(t *testing.T) {
	for _, r := range []string{"logout", "logout_all", "session_revoked", "refresh_token_reuse", "credential_change",
		"admin", "key_compromise", "idp_logout", "idp_event"} {
		if !revocation.KnownReason(r) {
			t.Errorf("%q is not known", r)
		}
	}
	if revocation.KnownReason("logout_all_devices") {
		t.Error("the pre-contract reason logout_all_devices is known")
	}
}

func TestUserTokensRevokedRoundTrip(t *testing.T) {
	ev := revocation.UserTokensRevoked{UserID: user, Version: 3}.Event(now)
	body, err := revocation.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "expires_at") || strings.Contains(string(body), `"jti"`) {
		t.Fatalf("user event without expiry carries expires_at or jti: %s", body)
	}
	got, err := revocation.DecodeMsg("revocation.user."+user, body)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}

// TestEventIDsAreUnpredictable: two events for the same jti or version
// never share an id, so an event published first cannot make JetStream
// drop the owner's as a duplicate.
func TestEventIDsAreUnpredictable(t *testing.T) {
	a := revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now}.Event(now)
	b := revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now}.Event(now)
	u1 := revocation.UserTokensRevoked{UserID: user, Version: 1}.Event(now)
	u1b := revocation.UserTokensRevoked{UserID: user, Version: 1}.Event(now)
	seen := map[string]bool{}
	for _, ev := range []revocation.Event{a, b, u1, u1b} {
		if seen[ev.ID] || !revocation.IsUUID(ev.ID) {
			t.Fatalf("id %q repeated or not a UUID", ev.ID)
		}
		seen[ev.ID] = true
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := func() map[string]any {
		return map[string]any{
			"schema_version": 1, "id": uuid.NewString(), "type": "token.revoked",
			"occurred_at": now.Format(time.RFC3339), "user_id": user, "jti": jti,
			"expires_at": now.Add(time.Minute).Format(time.RFC3339),
		}
	}
	cases := []struct {
		name   string
		edit   func(m map[string]any)
		raw    string
		target error
	}{
		{name: "NotJSON", raw: "not json", target: revocation.ErrInvalidEvent},
		{name: "Array", raw: "[1,2]", target: revocation.ErrInvalidEvent},
		{name: "Null", raw: "null", target: revocation.ErrInvalidEvent},
		{name: "Empty", raw: "{}", target: revocation.ErrInvalidEvent},
		{name: "TooLarge", raw: `{"reason":"` + strings.Repeat("a", revocation.MaxEventSize) + `"}`, target: revocation.ErrInvalidEvent},
		{name: "SchemaFromTheFuture", edit: func(m map[string]any) { m["schema_version"] = revocation.SchemaVersion + 1 }, target: revocation.ErrUnsupportedSchema},
		{name: "NegativeSchema", edit: func(m map[string]any) { m["schema_version"] = -1 }, target: revocation.ErrInvalidEvent},
		{name: "IDNotUUID", edit: func(m map[string]any) { m["id"] = "x" }, target: revocation.ErrInvalidEvent},
		{name: "UnknownType", edit: func(m map[string]any) { m["type"] = "token.unrevoked" }, target: revocation.ErrInvalidEvent},
		{name: "UserNotUUID", edit: func(m map[string]any) { m["user_id"] = "alice.>" }, target: revocation.ErrInvalidEvent},
		{name: "UserUpperCase", edit: func(m map[string]any) { m["user_id"] = strings.ToUpper(user) }, target: revocation.ErrInvalidEvent},
		{name: "JTINotUUID", edit: func(m map[string]any) { m["jti"] = "abc" }, target: revocation.ErrInvalidEvent},
		{name: "NoExpiry", edit: func(m map[string]any) { delete(m, "expires_at") }, target: revocation.ErrInvalidEvent},
		{name: "BadTime", edit: func(m map[string]any) { m["expires_at"] = "tomorrow" }, target: revocation.ErrInvalidEvent},
		{name: "NoOccurredAt", edit: func(m map[string]any) { delete(m, "occurred_at") }, target: revocation.ErrInvalidEvent},
		{name: "VersionOnTokenEvent", edit: func(m map[string]any) { m["version"] = 2 }, target: revocation.ErrInvalidEvent},
		{name: "UserEventWithoutVersion", edit: func(m map[string]any) { m["type"] = "user.tokens_revoked"; delete(m, "jti") }, target: revocation.ErrInvalidEvent},
		{name: "UserEventNegativeVersion", edit: func(m map[string]any) {
			m["type"] = "user.tokens_revoked"
			delete(m, "jti")
			m["version"] = -4
		}, target: revocation.ErrInvalidEvent},
		{name: "VersionNotInteger", edit: func(m map[string]any) {
			m["type"] = "user.tokens_revoked"
			delete(m, "jti")
			m["version"] = 1.5
		}, target: revocation.ErrInvalidEvent},
		{name: "LongReason", edit: func(m map[string]any) { m["reason"] = strings.Repeat("r", 300) }, target: revocation.ErrInvalidEvent},
		{name: "SIDOnTokenEvent", edit: func(m map[string]any) { m["sid"] = jti }, target: revocation.ErrInvalidEvent},
		{name: "SessionEventWithoutSID", edit: func(m map[string]any) { m["type"] = "session.revoked"; delete(m, "jti") }, target: revocation.ErrInvalidEvent},
		{name: "SessionEventSIDNotUUID", edit: func(m map[string]any) { m["type"] = "session.revoked"; delete(m, "jti"); m["sid"] = "s1" }, target: revocation.ErrInvalidEvent},
		{name: "SessionEventWithJTI", edit: func(m map[string]any) { m["type"] = "session.revoked"; m["sid"] = jti }, target: revocation.ErrInvalidEvent},
		{name: "SessionEventWithoutExpiry", edit: func(m map[string]any) {
			m["type"] = "session.revoked"
			delete(m, "jti")
			delete(m, "expires_at")
			m["sid"] = jti
		}, target: revocation.ErrInvalidEvent},
		{name: "UserEventWithSID", edit: func(m map[string]any) {
			m["type"] = "user.tokens_revoked"
			delete(m, "jti")
			m["version"] = 2
			m["sid"] = jti
		}, target: revocation.ErrInvalidEvent},
		{name: "ActorUnknownType", edit: func(m map[string]any) { m["actor"] = map[string]any{"type": "robot", "id": "x"} }, target: revocation.ErrInvalidEvent},
		{name: "ActorLongID", edit: func(m map[string]any) { m["actor"] = map[string]any{"type": "user", "id": strings.Repeat("a", 300)} }, target: revocation.ErrInvalidEvent},
		{name: "ActorTypeNotString", edit: func(m map[string]any) { m["actor"] = map[string]any{"type": 1} }, target: revocation.ErrInvalidEvent},
		{name: "ActorNumber", edit: func(m map[string]any) { m["actor"] = 5 }, target: revocation.ErrInvalidEvent},
		{name: "ActorCaseVariant", raw: `{"schema_version":2,"id":"` + jti + `","type":"token.revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","jti":"` + jti + `","expires_at":"2026-11-26T12:10:00Z","actor":{"type":"user","ID":"x"}}`, target: revocation.ErrInvalidEvent},
		{name: "ActorDuplicate", raw: `{"schema_version":2,"id":"` + jti + `","type":"token.revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","jti":"` + jti + `","expires_at":"2026-11-26T12:10:00Z","actor":{"type":"user","type":"system"}}`, target: revocation.ErrInvalidEvent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := []byte(c.raw)
			if c.edit != nil {
				m := valid()
				c.edit(m)
				var err error
				if raw, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
			_, err := revocation.Decode(raw)
			if !errors.Is(err, c.target) {
				t.Fatalf("Decode(%s) = %v, want %v", raw, err, c.target)
			}
		})
	}
}

func TestDecodeMsgChecksSubject(t *testing.T) {
	body, err := revocation.Encode(revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now}.Event(now))
	if err != nil {
		t.Fatal(err)
	}
	for _, subject := range []string{"revocation.token." + uuid.NewString(), "revocation.user." + user, "revocation.token", "revocation.token." + user + ".x"} {
		if _, err := revocation.DecodeMsg(subject, body); !errors.Is(err, revocation.ErrSubjectMismatch) {
			t.Errorf("DecodeMsg(%q) = %v, want ErrSubjectMismatch", subject, err)
		}
	}
}

func TestDecodeIgnoresUnknownFieldsAndMissingSchema(t *testing.T) {
	raw := `{"id":"` + uuid.NewString() + `","type":"user.tokens_revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","version":7,"added_later":true}`
	ev, err := revocation.Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ev.SchemaVersion != revocation.SchemaVersion || ev.Version != 7 {
		t.Fatalf("decoded %+v", ev)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	_, err := revocation.Encode(revocation.TokenRevoked{UserID: "not-a-uuid", JTI: jti, ExpiresAt: now}.Event(now))
	if !errors.Is(err, revocation.ErrInvalidEvent) {
		t.Fatalf("Encode with a non-UUID user = %v", err)
	}
}

func TestRangesOf(t *testing.T) {
	cases := []struct {
		name string
		in   []uint64
		want [][2]uint64
	}{
		{"Empty", nil, nil},
		{"One", []uint64{5}, [][2]uint64{{5, 5}}},
		{"Contiguous", []uint64{3, 4, 5}, [][2]uint64{{3, 5}}},
		{"Gaps", []uint64{9, 1, 2, 7, 2}, [][2]uint64{{1, 2}, {7, 7}, {9, 9}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := revocation.RangesOf(c.in)
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
			a := revocation.Applied{Ranges: got}
			for _, q := range c.in {
				if !a.Contains(q) {
					t.Fatalf("Contains(%d) false", q)
				}
			}
			if a.Contains(8) { // no case holds 8
				t.Fatalf("Contains(8) true for %v", got)
			}
		})
	}
}

func TestAppliedRoundTrip(t *testing.T) {
	a := revocation.Applied{Ranges: [][2]uint64{{1, 4}}, Checkpoint: 4, At: now}
	b, err := revocation.EncodeApplied(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := revocation.DecodeApplied(b)
	if err != nil || !got.Contains(3) || got.Checkpoint != 4 {
		t.Fatalf("DecodeApplied = %+v, %v", got, err)
	}
	if _, err := revocation.DecodeApplied([]byte("nope")); !errors.Is(err, revocation.ErrInvalidEvent) {
		t.Fatalf("DecodeApplied(garbage) = %v", err)
	}
}

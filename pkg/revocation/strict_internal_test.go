package revocation

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fieldNames must list every JSON member of Event, or checkStrict would
// let "JTI" through beside a field added later.
func TestFieldNamesMatchEvent(t *testing.T) {
	var tags []string
	typ := reflect.TypeFor[Event]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		tags = append(tags, name)
	}
	if diff := cmp.Diff(tags, fieldNames[:]); diff != "" {
		t.Fatalf("fieldNames differ from Event's json tags (-tags +fieldNames):\n%s", diff)
	}
	if len(fieldNames) > 16 {
		t.Fatalf("%d field names do not fit checkStrict's uint16 of seen fields", len(fieldNames))
	}
}

// FuzzFastEvent checks fastEvent against encoding/json: whenever it reads
// a body checkStrict accepted, encoding/json reads the same Event from it
// (every field, times with their locations), so that Decode gives the
// same answer on either path. Run with:
//
//	go test -run '^$' -fuzz '^FuzzFastEvent$' -fuzztime 60s ./pkg/revocation
func FuzzFastEvent(f *testing.F) {
	for _, seed := range []string{
		`{"schema_version":2,"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f","jti":"3f2b8c1d-4e5a-4b6c-8d7e-9f0a1b2c3d4e","expires_at":"2026-11-26T12:15:00.123456789+01:00","reason":"logout","actor":{"type":"user","id":"0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f"}}`,
		`{"schema_version":1,"type":"user.tokens_revoked","version":-0,"actor":"someone","reason":"x"}`,
		`{ "version" : 123456789012345678 , "actor" : { "id" : "a" , "type" : "client" } }`,
		`{"version":1234567890123456789,"schema_version":1.0,"actor":{"ID":"a"}}`,
		`{"occurred_at":"2026-11-26T12:00:00.5-23:59","expires_at":null,"jti":"\u0041","sid":7}`,
		`{"type":"x","reason":"é","actor":{},"version":1e3,"id":"","user_id":null}`,
		`{"occurred_at":"2026-02-30T12:00:00Z","actor":{"type":"user","id":"x","z":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, err := checkStrict(data)
		if err != nil {
			return
		}
		fast, ok := fastEvent(&fields)
		if !ok {
			return
		}
		var slow Event
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("fastEvent read %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fastEvent and encoding/json differ on %q:\nfast %#v\njson %#v", data, fast, slow)
		}
	})
}

// The bodies this package writes take the fast path: Decode's speed
// depends on it.
func TestFastEventReadsEncodedBodies(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	user, jti := "0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e5f", "3f2b8c1d-4e5a-4b6c-8d7e-9f0a1b2c3d4e"
	for _, ev := range []Event{
		TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(time.Hour), Reason: ReasonLogout, Actor: UserActor(user)}.Event(now),
		UserTokensRevoked{UserID: user, Version: 1 << 53, Reason: ReasonLogoutAll, Actor: SystemActor("auth")}.Event(now),
		SessionRevoked{UserID: user, SessionID: jti, ExpiresAt: now, Reason: "a reason this build does not know"}.Event(now),
	} {
		body, err := Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		fields, err := checkStrict(body)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fastEvent(&fields)
		if !ok {
			t.Fatalf("fastEvent did not read %s", body)
		}
		if diff := cmp.Diff(ev, got); diff != "" {
			t.Fatalf("fastEvent(%s) (-want +got):\n%s", body, diff)
		}
	}
}

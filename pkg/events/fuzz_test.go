package events_test

// Run with, e.g.:
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s ./pkg/events
//
// Seeds: the ones added below plus testdata/fuzz/FuzzDecode/, inputs found
// by earlier fuzzing.

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// FuzzDecode feeds arbitrary bodies and subjects to Decode and DecodeMsg:
// no panic; every error is one of the package's sentinels; an accepted
// event is valid, re-encodes, decodes back to the same value and encodes
// to the same bytes again (a fixed point); and DecodeMsg accepts exactly
// the subject the event names.
func FuzzDecode(f *testing.F) {
	tok := events.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(15 * time.Minute), Reason: "logout", Actor: user}.Event(now)
	usr := events.UserTokensRevoked{UserID: user, Version: 3, ExpiresAt: now.Add(time.Hour)}.Event(now)
	for _, ev := range []events.Event{tok, usr} {
		body, err := events.Encode(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Subject(), body)
		f.Add(events.SubjectUserPrefix+user, body)
		f.Add(ev.Subject()+".x", body)
	}
	for _, raw := range []string{
		`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"user.tokens_revoked","occurred_at":"2026-11-26T12:00:00+01:00","user_id":"` + user + `","version":7,"added_later":{"x":[1]}}`,
		`{"schema_version":2,"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked"}`,
		`{"schema_version":1,"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked","occurred_at":"2026-11-26T12:00:00.123456789Z","user_id":"` + user + `","jti":"` + jti + `","expires_at":"9999-12-31T23:59:59-23:59","reason":"\u003c\u2028\ud800"}`,
		`{"user_id":"` + user + `","USER_ID":"0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e60"}`,
		`null`, `[]`, `{}`, `{"reason":"` + strings.Repeat("é", 129) + `"}`,
	} {
		f.Add(events.SubjectTokenPrefix+user, []byte(raw))
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		ev, err := events.Decode(data)
		if err != nil {
			if !errors.Is(err, events.ErrInvalidEvent) && !errors.Is(err, events.ErrUnsupportedSchema) {
				t.Fatalf("Decode error %v is not a sentinel", err)
			}
			if _, err := events.DecodeMsg(subject, data); err == nil {
				t.Fatal("DecodeMsg accepted a body Decode rejects")
			}
			return
		}
		if err := ev.Validate(); err != nil || ev.SchemaVersion != events.SchemaVersion {
			t.Fatalf("Decode returned an invalid event %+v: %v", ev, err)
		}
		body, err := events.Encode(ev)
		if err != nil {
			t.Fatalf("accepted event does not re-encode: %v", err)
		}
		again, err := events.Decode(body)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", body, err)
		}
		if diff := cmp.Diff(ev, again); diff != "" {
			t.Fatalf("round trip changed the event (-decoded +re-decoded):\n%s", diff)
		}
		if body2, err := events.Encode(again); err != nil || !bytes.Equal(body, body2) {
			t.Fatalf("encoding is not a fixed point:\n%s\n%s", body, body2)
		}

		_, err = events.DecodeMsg(subject, data)
		switch {
		case subject == ev.Subject() && err != nil:
			t.Fatalf("DecodeMsg refused the event's own subject %q: %v", subject, err)
		case subject != ev.Subject() && !errors.Is(err, events.ErrSubjectMismatch):
			t.Fatalf("DecodeMsg(%q) for an event on %q: %v, want ErrSubjectMismatch", subject, ev.Subject(), err)
		}
		other := events.SubjectTokenPrefix + ev.UserID
		if ev.Type == events.TypeTokenRevoked {
			other = events.SubjectUserPrefix + ev.UserID
		}
		if _, err := events.DecodeMsg(other, data); !errors.Is(err, events.ErrSubjectMismatch) {
			t.Fatalf("DecodeMsg accepted a %s on %q", ev.Type, other)
		}
	})
}

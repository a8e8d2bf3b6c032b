package revocation_test

// Run with, e.g.:
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s ./pkg/revocation
//
// Seeds: the ones added below plus testdata/fuzz/FuzzDecode/, inputs found
// by earlier fuzzing.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// FuzzDecode feeds arbitrary bodies and subjects to Decode and DecodeMsg:
// no panic; every error is one of the package's sentinels; Decode accepts
// exactly the bodies that referenceStrict and then encoding/json with
// Validate accept; an accepted event is valid, re-encodes, decodes back
// to the same value and encodes to the same bytes again (a fixed point);
// and DecodeMsg accepts exactly the subject the event names.
func FuzzDecode(f *testing.F) {
	tok := revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(15 * time.Minute), Reason: revocation.ReasonLogout, Actor: revocation.UserActor(user)}.Event(now)
	usr := revocation.UserTokensRevoked{UserID: user, Version: 3, ExpiresAt: now.Add(time.Hour)}.Event(now)
	for _, ev := range []revocation.Event{tok, usr} {
		body, err := revocation.Encode(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.Subject(), body)
		f.Add(revocation.SubjectUserPrefix+user, body)
		f.Add(ev.Subject()+".x", body)
	}
	for _, raw := range []string{
		`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"user.tokens_revoked","occurred_at":"2026-11-26T12:00:00+01:00","user_id":"` + user + `","version":7,"added_later":{"x":[1]}}`,
		`{"schema_version":2,"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked"}`,
		`{"schema_version":1,"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked","occurred_at":"2026-11-26T12:00:00.123456789Z","user_id":"` + user + `","jti":"` + jti + `","expires_at":"9999-12-31T23:59:59-23:59","reason":"\u003c\u2028\ud800"}`,
		`{"user_id":"` + user + `","USER_ID":"0b9a4c1e-6c1f-4f7e-9a53-8b1f3c2d4e60"}`,
		`null`, `[]`, `{}`, `{"reason":"` + strings.Repeat("é", 129) + `"}`,
		`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"user.tokens_revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","version":7,"version":9007199254740993}`,
		`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"user.tokens_revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","version":9007199254740992,"x":{"a":[{"k":1,"\u212a":2}]}}`,
		`{"id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","type":"token.revoked","occurred_at":"2026-11-26T12:00:00Z","user_id":"` + user + `","jti":"` + jti + `","JTI":"` + user + `","expires_at":"2026-11-26T12:15:00Z"}`,
		"{\"id\":\"7d444840-9dc0-11d1-b245-5ffdce74fad2\",\"\u017ftype\":1,\"reason\":\"\xff\"} ",
	} {
		f.Add(revocation.SubjectTokenPrefix+user, []byte(raw))
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		ev, err := revocation.Decode(data)
		strictErr := referenceStrict(data)
		var loose revocation.Event
		looseErr := json.Unmarshal(data, &loose)
		if looseErr == nil {
			looseErr = loose.Validate()
		}
		switch {
		case err == nil && strictErr != nil:
			t.Fatalf("Decode accepted %q, which the reference refuses: %v", data, strictErr)
		case err != nil && strictErr == nil && looseErr == nil:
			t.Fatalf("Decode refused %q, which the reference and encoding/json accept: %v", data, err)
		}
		if err != nil {
			if !errors.Is(err, revocation.ErrInvalidEvent) && !errors.Is(err, revocation.ErrUnsupportedSchema) {
				t.Fatalf("Decode error %v is not a sentinel", err)
			}
			if _, err := revocation.DecodeMsg(subject, data); err == nil {
				t.Fatal("DecodeMsg accepted a body Decode rejects")
			}
			return
		}
		if err := ev.Validate(); err != nil || ev.SchemaVersion < 1 || ev.SchemaVersion > revocation.SchemaVersion {
			t.Fatalf("Decode returned an invalid event %+v: %v", ev, err)
		}
		body, err := revocation.Encode(ev)
		if err != nil {
			t.Fatalf("accepted event does not re-encode: %v", err)
		}
		again, err := revocation.Decode(body)
		if err != nil {
			t.Fatalf("re-encoded event %s does not decode: %v", body, err)
		}
		if diff := cmp.Diff(ev, again); diff != "" {
			t.Fatalf("round trip changed the event (-decoded +re-decoded):\n%s", diff)
		}
		if body2, err := revocation.Encode(again); err != nil || !bytes.Equal(body, body2) {
			t.Fatalf("encoding is not a fixed point:\n%s\n%s", body, body2)
		}

		_, err = revocation.DecodeMsg(subject, data)
		switch {
		case subject == ev.Subject() && err != nil:
			t.Fatalf("DecodeMsg refused the event's own subject %q: %v", subject, err)
		case subject != ev.Subject() && !errors.Is(err, revocation.ErrSubjectMismatch):
			t.Fatalf("DecodeMsg(%q) for an event on %q: %v, want ErrSubjectMismatch", subject, ev.Subject(), err)
		}
		other := revocation.SubjectTokenPrefix + ev.UserID
		if ev.Type == revocation.TypeTokenRevoked {
			other = revocation.SubjectUserPrefix + ev.UserID
		}
		if _, err := revocation.DecodeMsg(other, data); !errors.Is(err, revocation.ErrSubjectMismatch) {
			t.Fatalf("DecodeMsg accepted a %s on %q", ev.Type, other)
		}
	})
}

// referenceStrict is the strict check Decode makes, written the slow and
// obvious way (json.Decoder tokens, names compared pairwise with
// sameName): at most revocation.MaxEventSize bytes of
// valid UTF-8 holding one JSON object and nothing after it, nested at most
// 32 deep, no member name twice (case-folded) in any object, and no
// top-level member spelled like a field of Event but for case.
func referenceStrict(data []byte) error {
	if len(data) > revocation.MaxEventSize || !utf8.Valid(data) {
		return errors.New("too large or not UTF-8")
	}
	var fields []string
	typ := reflect.TypeFor[revocation.Event]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		names   []string // nil for an array
		object  bool
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if len(stack) == 0 {
			if tok != json.Delim('{') {
				return errors.New("not an object")
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == 32 {
				return errors.New("too deep")
			}
			stack = append(stack, frame{object: tok == json.Delim('{'), wantKey: tok == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				if _, err := dec.Token(); !errors.Is(err, io.EOF) {
					return errors.New("data after the object")
				}
				return nil
			}
		default:
			if top := &stack[len(stack)-1]; top.object && top.wantKey {
				name := tok.(string)
				for _, o := range top.names {
					if sameName(o, name) {
						return errors.New("duplicate name")
					}
				}
				if len(stack) == 1 {
					for _, f := range fields {
						if name != f && sameName(name, f) {
							return errors.New("field name differs by case")
						}
					}
				}
				top.names = append(top.names, name)
				top.wantKey = false
				continue
			}
		}
		if top := &stack[len(stack)-1]; top.object {
			top.wantKey = true
		}
	}
}

// sameName reports whether encoding/json would match the names a and b to
// the same struct field (strings.EqualFold: Unicode simple folding), or
// pkg/jwtx, which also folds U+0130 and U+0131 (dotted and dotless I) to
// "I" as another parser's case-insensitive match might, would.
func sameName(a, b string) bool {
	upperLower := func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }
	return strings.EqualFold(a, b) || strings.Map(upperLower, a) == strings.Map(upperLower, b)
}

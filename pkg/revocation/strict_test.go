package revocation_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// otherUUID is a second canonical UUID, for a member given twice with two
// values.
const otherUUID = "3f2b8c1d-4e5a-4b6c-8d7e-9f0a1b2c3d4e"

// encoded returns the body Encode writes for ev.
func encoded(t *testing.T, ev revocation.Event) string {
	t.Helper()
	b, err := revocation.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// prepend inserts members (JSON text without braces) at the start of the
// object body.
func prepend(body, members string) string {
	return "{" + members + "," + body[1:]
}

// Decode reads an event as strictly as pkg/jwtx reads a token: a body
// that two JSON parsers could read as two different events is refused
// (red-team finding 7). encoding/json alone keeps the last of duplicate
// members, binds "JTI" to jti and turns invalid UTF-8 into U+FFFD.
func TestDecodeStrict(t *testing.T) {
	tok := encoded(t, revocation.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: now.Add(15 * time.Minute), Reason: revocation.ReasonLogout, Actor: revocation.UserActor(user)}.Event(now))
	usr := encoded(t, revocation.UserTokensRevoked{UserID: user, Version: 3, ExpiresAt: now.Add(time.Hour)}.Event(now))
	nested := func(depth int) string { // depth counts the top-level object
		return prepend(usr, `"x":`+strings.Repeat("[", depth-1)+strings.Repeat("]", depth-1))
	}

	refused := []struct{ name, body string }{
		{"DuplicateJTI", prepend(tok, `"jti":"`+otherUUID+`"`)},
		{"DuplicateJTISameValue", prepend(tok, `"jti":"`+jti+`"`)},
		{"UpperCaseJTI", strings.Replace(tok, `"jti"`, `"JTI"`, 1)},
		{"MixedCaseJti", strings.Replace(tok, `"jti"`, `"Jti"`, 1)},
		{"JTIBesideJti", prepend(tok, `"JTI":"`+otherUUID+`"`)},
		{"EscapedJTIBesideJti", prepend(tok, `"\u004aTI":"`+otherUUID+`"`)},
		{"LongSFoldsToS", strings.Replace(usr, `"schema_version"`, `"ſchema_version"`, 1)},
		{"DuplicateUserID", prepend(usr, `"user_id":"`+otherUUID+`"`)},
		{"DuplicateVersion", prepend(usr, `"version":9`)},
		{"DuplicateUnknown", prepend(usr, `"added_later":1,"added_later":2`)},
		{"DuplicateUnknownByCase", prepend(usr, `"added_later":1,"Added_Later":2`)},
		{"DuplicateNested", prepend(usr, `"added_later":[{"a":1,"b":{"c":1,"c":2}}]`)},
		{"InvalidUTF8InReason", strings.Replace(tok, `"logout"`, "\"log\xffout\"", 1)},
		{"InvalidUTF8InUnknown", prepend(usr, "\"x\xc3\":1")},
		{"TrailingGarbage", tok + "x"},
		{"TrailingObject", tok + ` {}`},
		{"TrailingNUL", tok + "\x00"},
		{"TopLevelArray", "[" + tok + "]"},
		{"TopLevelString", strconv.Quote(tok)},
		{"TopLevelNull", "null"},
		{"Empty", ""},
		{"Truncated", tok[:len(tok)-1]},
		{"RawControlCharacter", strings.Replace(tok, `"logout"`, "\"log\nout\"", 1)},
		{"BadEscape", strings.Replace(tok, `"logout"`, `"log\xout"`, 1)},
		{"TooDeep", nested(33)},
	}
	for _, tc := range refused {
		t.Run("Refuses/"+tc.name, func(t *testing.T) {
			ev, err := revocation.Decode([]byte(tc.body))
			if !errors.Is(err, revocation.ErrInvalidEvent) {
				t.Fatalf("Decode(%q) = %+v, %v; want ErrInvalidEvent", tc.body, ev, err)
			}
			if _, err := revocation.DecodeMsg(revocation.SubjectTokenPrefix+user, []byte(tc.body)); !errors.Is(err, revocation.ErrInvalidEvent) {
				t.Fatalf("DecodeMsg(%q) = %v; want ErrInvalidEvent", tc.body, err)
			}
		})
	}

	accepted := []struct{ name, body string }{
		{"Token", tok},
		{"User", usr},
		// Forward compatibility: a newer producer's optional members.
		{"UnknownMember", prepend(usr, `"added_later":{"x":[1,{"y":null}],"X2":true}`)},
		{"UnknownMemberLast", usr[:len(usr)-1] + `,"trace":"abc"}`},
		{"Whitespace", " \n\t" + strings.ReplaceAll(usr, ",", " ,\r\n ") + " \n"},
		// encoding/json reads the name as "jti": one name, spelled exactly.
		{"EscapedExactName", strings.Replace(tok, `"jti"`, `"\u006a\u0074\u0069"`, 1)},
		// Like pkg/jwtx, an escaped lone surrogate is read as U+FFFD by
		// every decoder this code base uses, and accepted.
		{"LoneSurrogateEscape", strings.Replace(tok, `"logout"`, `"\ud800"`, 1)},
		{"Nested32", nested(32)},
	}
	for _, tc := range accepted {
		t.Run("Accepts/"+tc.name, func(t *testing.T) {
			if _, err := revocation.Decode([]byte(tc.body)); err != nil {
				t.Fatalf("Decode(%q) = %v", tc.body, err)
			}
		})
	}
}

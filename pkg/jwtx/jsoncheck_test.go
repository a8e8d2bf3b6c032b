package jwtx

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "OK", in: `{"a":1,"b":"x","c":[1,{"a":2}],"d":{"a":{"a":null}}}`, ok: true},
		{name: "OKEmpty", in: `{}`, ok: true},
		{name: "OKWhitespace", in: " {\n\"a\" : [ ] }\n", ok: true},
		{name: "OKSameKeyInSiblings", in: `{"x":{"a":1},"y":{"a":2}}`, ok: true},
		{name: "OKArrayOfStrings", in: `{"a":["a","a","A"]}`, ok: true},
		{name: "OKStringValueLikeKey", in: `{"a":"b","b":"a"}`, ok: true},
		{name: "OKDepth32", in: strings.Repeat(`{"a":`, 31) + `{}` + strings.Repeat(`}`, 31), ok: true},
		{name: "ErrDepth33", in: strings.Repeat(`{"a":`, 32) + `{}` + strings.Repeat(`}`, 32)},
		{name: "ErrDeepArrays", in: `{"a":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`},
		{name: "ErrDuplicate", in: `{"a":1,"a":2}`},
		{name: "ErrDuplicateCase", in: `{"jti":1,"JTI":2}`},
		{name: "ErrDuplicateKelvin", in: `{"k":1,"\u212a":2}`},
		{name: "ErrDuplicateLongS", in: `{"sub":1,"ſub":2}`},
		{name: "ErrDuplicateEscaped", in: `{"exp":1,"\u0065xp":2}`},
		{name: "ErrDuplicateAfterNested", in: `{"a":{"b":[1,2]},"A":3}`},
		{name: "ErrDuplicateNested", in: `{"x":[{"a":1,"a":2}]}`},
		{name: "ErrArray", in: `[]`},
		{name: "ErrString", in: `"a"`},
		{name: "ErrNull", in: `null`},
		{name: "ErrEmptyInput", in: ``},
		{name: "ErrTrailing", in: `{} {}`},
		{name: "ErrTrailingGarbage", in: `{}x`},
		{name: "ErrUnclosed", in: `{"a":1`},
		{name: "ErrBadSyntax", in: `{"a" 1}`},
		{name: "ErrTrailingComma", in: `{"a":1,}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkJSON([]byte(tc.in)); (err == nil) != tc.ok {
				t.Errorf("checkJSON(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestFoldName(t *testing.T) {
	for _, pair := range [][2]string{{"jti", "JTI"}, {"sub", "ſub"}, {"kid", "\u212aid"}, {"Exp", "eXP"}} {
		if foldName(pair[0]) != foldName(pair[1]) {
			t.Errorf("foldName(%q) != foldName(%q)", pair[0], pair[1])
		}
	}
	if foldName("iss") == foldName("iat") {
		t.Error("different names fold equal")
	}
}

// FuzzCheckJSON: checkJSON never panics, and whatever it accepts
// encoding/json decodes as an object with as many members as checkJSON saw
// distinct names (no duplicate slipped through).
func FuzzCheckJSON(f *testing.F) {
	f.Add(`{"a":1,"b":[{"c":null}]}`)
	f.Add(`{"a":1,"A":2}`)
	f.Add(`{"\u0061":1,"a":2}`)
	f.Add("{\"k\":1,\"\u212a\":2}")
	f.Fuzz(func(t *testing.T, in string) {
		if checkJSON([]byte(in)) != nil {
			return
		}
		// Walk the top-level members with a second decoder.
		dec := json.NewDecoder(bytes.NewReader([]byte(in)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("checkJSON accepted a non-object: %v", err)
		}
		folded := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			name, ok := tok.(string)
			var value json.RawMessage
			if err != nil || !ok || dec.Decode(&value) != nil {
				t.Fatalf("checkJSON accepted what encoding/json cannot walk: %v", err)
			}
			if folded[foldName(name)] {
				t.Fatalf("checkJSON accepted a duplicate of %q", name)
			}
			folded[foldName(name)] = true
		}
	})
}

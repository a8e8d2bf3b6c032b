package jwtx

import (
	"crypto/ed25519"
	"crypto/rand"
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

func FuzzParse(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.AA")
	f.Add("a.b.c")
	f.Add("..")
	v, err := NewValidator(Config{Keys: NewKeySet(), Issuer: "i", Audience: "a", DisableRevocationCheck: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Parse(token)
		if err == nil || c != nil {
			t.Fatalf("Parse accepted %q with an empty key set", token)
		}
	})
}

func FuzzCheckJSON(f *testing.F) {
	f.Add(`{"a":1,"b":[{"c":null}]}`)
	f.Add(`{"a":1,"A":2}`)
	f.Fuzz(func(_ *testing.T, in string) {
		_ = checkJSON([]byte(in)) // must not panic
	})
}

// FuzzSignedPayload signs arbitrary payloads with a known key: an accepted
// token must have claims of the accepted form, and they must agree with a
// plain decode of the payload (no smuggled second value).
func FuzzSignedPayload(f *testing.F) {
	f.Add(`{"iss":"i","aud":"a","sub":"0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70","exp":4102444800,"jti":"7d3c5a1e-2b4f-4e8d-a6c9-1f0e2d3c4b5a","ver":1}`)
	f.Add(`{"iss":"i","aud":["a"],"sub":"0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70","exp":4102444800}`)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	s, err := NewSigner(SignerConfig{Key: priv, Issuer: "i", Audience: "a"})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewValidator(Config{Keys: NewKeySet(s.PublicKey()), Issuer: "i", Audience: "a", AcceptLegacy: true, DisableRevocationCheck: true})
	if err != nil {
		f.Fatal(err)
	}
	hdr := b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"` + s.KeyID() + `"}`))
	f.Fuzz(func(t *testing.T, payload string) {
		input := hdr + "." + b64.EncodeToString([]byte(payload))
		c, err := v.Parse(input + "." + b64.EncodeToString(ed25519.Sign(priv, []byte(input))))
		if err != nil {
			return
		}
		var plain struct {
			Sub string `json:"sub"`
			JTI string `json:"jti"`
			Ver int64  `json:"ver"`
		}
		if err := json.Unmarshal([]byte(payload), &plain); err != nil {
			t.Fatalf("accepted payload that encoding/json rejects: %v", err)
		}
		if plain.Sub != c.Subject || plain.JTI != c.ID || plain.Ver != c.Version || !IsUUID(c.Subject) {
			t.Fatalf("claims %+v disagree with encoding/json %+v", c, plain)
		}
	})
}

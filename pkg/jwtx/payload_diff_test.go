package jwtx

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParsePayloadReference holds the one-pass parsePayload to the
// implementation it replaced (checkJSON, encoding/json, then the claims):
// both accept exactly the same payloads and read the same claims from
// them.
func FuzzParsePayloadReference(f *testing.F) {
	for _, s := range []string{
		`{"iss":"i","sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","aud":["a","b"],"exp":1900000000,"nbf":1,"iat":1.5,"jti":"6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6b","ver":3}`,
		`{"sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","aud":"a","exp":1e9,"x":{"y":[1,{"z":null}]}}`,
		`{"sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","exp":1,"\u006a\u0074\u0069":"6f1c2a4e-8d3b-4f5a-9c7e-1b2d3e4f5a6b","ver":-0}`,
		`{"sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","exp":1,"JTI":"x"}`,
		"{\"sub\":\"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d\",\"exp\":1,\"\u017fub\":1}",
		`{"sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","exp":1,"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"A":10}`,
		`{"sub":"0b7f3bb2-2a52-4c2a-9d2b-6a0e4b1f8c3d","exp":1,"aud":[]} `,
		`{"iss":"https://kc.example/realms/a","sub":"auth0|64f1","aud":"x","exp":1,"jti":"AT.x-1","scope":"openid  orders:read","realm_access":{"roles":["admin"]},"tenant":"acme"}`,
		`{"sub":"alice@example.com","exp":1,"scp":["orders.read","orders.write"],"roles":"admin","sid":"s-1"}`,
		`{"sub":"a","exp":1,"scp":"a b","scope":""}`,
		`{"sub":"a\u0000b","exp":1}`, `{"sub":"","exp":1}`, `{"sub":"a","exp":1,"scope":["a"]}`, `{"sub":"a","exp":1,"Scope":"a"}`,
		`{"exp":01}`, `{"exp":1.}`, `{"exp":-}`, `{"iss":"\ud800"}`, `{"iss":"\x01"}`, `[]`, ``, `{} {}`,
	} {
		f.Add(s)
	}
	// The signed-payload corpus of the fuzz targets that go through Parse.
	files, _ := filepath.Glob("testdata/fuzz/FuzzSignedPayload/*")
	for _, name := range files {
		if s, ok := corpusString(name); ok {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, payload string) {
		got, err := parsePayload(payload)
		want, refErr := referenceParsePayload([]byte(payload))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("parsePayload(%q): err = %v, reference err = %v", payload, err, refErr)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("parsePayload(%q): err = %v, want ErrMalformedToken", payload, err)
			}
			return
		}
		byName := cmpopts.SortSlices(func(a, b rawMember) bool { return a.name < b.name })
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Claims{}, rawMember{}), byName, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("parsePayload(%q) claims differ from the reference (-want +got):\n%s", payload, diff)
		}
	})
}

// corpusString reads the single string of a "go test fuzz v1" corpus file.
func corpusString(name string) (string, bool) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", false
	}
	_, line, ok := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if !ok || !strings.HasPrefix(line, "string(") || !strings.HasSuffix(line, ")") {
		return "", false
	}
	s, err := strconv.Unquote(line[len("string(") : len(line)-1])
	return s, err == nil
}

package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
)

// FuzzDecodeCredentials feeds arbitrary bodies to the register and login
// decoder. It must never panic; a refusal must be a short invalid_request;
// an accepted body must be JSON that encoding/json reads the same way (an
// object holding only "username" and "password", as strings, with the same
// values); and every body encoding/json reads that way, without duplicate
// members, must be accepted. Seeds: testdata/fuzz/FuzzDecodeCredentials and
// the f.Add calls below. Run it with
//
//	go test -run '^$' -fuzz '^FuzzDecodeCredentials$' -fuzztime 10s ./internal/httpapi
func FuzzDecodeCredentials(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","password":"correct horse"}`,
		`{"password":"p","username":"u"}`,
		`{}`, ``, `null`, `[]`, `"x"`, `1`,
		`{"username":"a","username":"b"}`,
		`{"USERNAME":"a"}`,
		`{"username":["a"]}`,
		`{"username":{"x":{"y":[[[[]]]]}}}`,
		`{"username":"a"} {}`,
		`{"username":"\u00e9\ud83d\ude00\ud800"}`,
		"{\"password\":\"\xff\xfe\"}",
		`{"username":"a",}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := httpapi.DecodeCredentials(bytes.NewReader(body))
		if err != nil {
			var apiErr *httpapi.Error
			if !errors.As(err, &apiErr) || apiErr.Code != httpapi.CodeInvalidRequest || apiErr.Message == "" || len(apiErr.Message) > 200 {
				t.Fatalf("refusal %v (%T), want a short invalid_request *Error", err, err)
			}
			if want, ok := referenceDecode(body); ok && !strings.Contains(apiErr.Message, "duplicate field") {
				t.Fatalf("refused %q (%v) although encoding/json reads it as %+v", body, err, want)
			}
			return
		}
		if !utf8.ValidString(got.Username) || !utf8.ValidString(got.Password) {
			t.Fatalf("accepted invalid UTF-8: %+v", got)
		}
		want, ok := referenceDecode(body)
		if !ok {
			t.Fatalf("accepted %q as %+v, but encoding/json does not read it as credentials", body, got)
		}
		if got != want {
			t.Fatalf("decoded %q as %+v, encoding/json as %+v", body, got, want)
		}
	})
}

// referenceDecode reads body with encoding/json: ok when it is one JSON
// object whose members are only "username" and "password", as strings.
func referenceDecode(body []byte) (httpapi.Credentials, bool) {
	if !json.Valid(body) {
		return httpapi.Credentials{}, false
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return httpapi.Credentials{}, false
	}
	var c httpapi.Credentials
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return httpapi.Credentials{}, false
		}
		switch k {
		case "username":
			c.Username = s
		case "password":
			c.Password = s
		default:
			return httpapi.Credentials{}, false
		}
	}
	return c, true
}

// FuzzDecodeRefresh feeds arbitrary bodies to the refresh decoder: it must
// never panic, a refusal must be a short invalid_request, and an accepted
// body must be an object that encoding/json reads as holding only
// "refresh_token", a string, with the same value. Run it with
//
//	go test -run '^$' -fuzz '^FuzzDecodeRefresh$' -fuzztime 10s ./internal/httpapi
func FuzzDecodeRefresh(f *testing.F) {
	for _, seed := range []string{
		`{"refresh_token":"uucg8BAdEDzCgK-Y9UQNkzqP8T01lJmx4w0RlfuEOik"}`,
		`{}`, ``, `null`, `[]`, `{"refresh_token":1}`, `{"refresh_token":"a","refresh_token":"b"}`,
		`{"REFRESH_TOKEN":"a"}`, `{"refresh_token":"a"} x`, `{"refresh_token":{"a":[[[]]]}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := httpapi.DecodeRefresh(bytes.NewReader(body))
		if err != nil {
			var apiErr *httpapi.Error
			if !errors.As(err, &apiErr) || apiErr.Code != httpapi.CodeInvalidRequest || apiErr.Message == "" || len(apiErr.Message) > 200 {
				t.Fatalf("refusal %v (%T), want a short invalid_request *Error", err, err)
			}
			return
		}
		var m map[string]any
		if !json.Valid(body) || json.Unmarshal(body, &m) != nil || m == nil {
			t.Fatalf("accepted %q, which encoding/json does not read as an object", body)
		}
		for k, v := range m {
			s, ok := v.(string)
			if k != "refresh_token" || !ok || s != got.RefreshToken {
				t.Fatalf("accepted %q as %+v; encoding/json reads %v", body, got, m)
			}
		}
		if !utf8.ValidString(got.RefreshToken) {
			t.Fatalf("accepted invalid UTF-8: %+v", got)
		}
	})
}

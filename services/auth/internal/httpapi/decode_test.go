package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Username string `json:"username"`
		Password string `json:"password"`
		N        int    `json:"n"`
	}
	cases := []struct {
		name    string
		in      string
		want    body
		message string // substring of the invalid_request message; "" means OK
	}{
		{"OK", `{"username":"a","password":"b"}`, body{Username: "a", Password: "b"}, ""},
		{"OKTrailingWhitespace", "{\"n\":1}\n\t ", body{N: 1}, ""},
		{"OKNull", `null`, body{}, ""},
		{"ErrEmpty", ``, body{}, "empty"},
		{"ErrOnlySpaces", `   `, body{}, "empty"},
		{"ErrSyntax", `{"username":}`, body{}, "malformed JSON"},
		{"ErrTruncated", `{"username":"a"`, body{}, "truncated"},
		{"ErrUnknownField", `{"username":"a","role":"admin"}`, body{}, `unknown field "role"`},
		{"ErrWrongTypeString", `{"username":1}`, body{}, `"username" must be a string`},
		{"ErrWrongTypeNumber", `{"n":"1"}`, body{}, `"n" must be a number`},
		{"ErrWrongTypeObject", `{"username":{}}`, body{}, `"username" must be a string`},
		{"ErrNotObject", `"hello"`, body{}, "must be a JSON object"},
		{"ErrArray", `[1,2]`, body{}, "must be a JSON object"},
		{"ErrTrailingObject", `{"n":1}{"n":2}`, body{}, "single JSON object"},
		{"ErrTrailingGarbage", `{"n":1} garbage`, body{}, "unexpected data"},
		{"ErrTrailingBrace", `{"n":1}}`, body{}, "unexpected data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got body
			err := httpapi.DecodeJSON(strings.NewReader(tc.in), &got)
			if tc.message == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var apiErr *httpapi.Error
			if !errors.As(err, &apiErr) || apiErr.Code != httpapi.CodeInvalidRequest || !strings.Contains(apiErr.Message, tc.message) {
				t.Fatalf("err = %v, want invalid_request mentioning %q", err, tc.message)
			}
		})
	}
}

func TestDecodeJSONTooLarge(t *testing.T) {
	cases := []struct {
		name string
		body string
	}{
		{"InFirstValue", `{"username":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`},
		{"InTrailingData", `{}` + strings.Repeat(" ", httpapi.MaxBodyBytes)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			body := http.MaxBytesReader(httptest.NewRecorder(), r.Body, httpapi.MaxBodyBytes)
			var v map[string]any
			err := httpapi.DecodeJSON(body, &v)
			var tooBig *http.MaxBytesError
			if !errors.As(err, &tooBig) {
				t.Fatalf("err = %v, want *http.MaxBytesError", err)
			}
		})
	}
}

func TestValidateCredentials(t *testing.T) {
	users := []struct {
		name, username string
		ok             bool
	}{
		{"OKMin", "abc", true},
		{"OKMax", strings.Repeat("a", 64), true},
		{"OKPunctuation", "a.b_c-d9", true},
		{"ErrEmpty", "", false},
		{"ErrShort", "ab", false},
		{"ErrLong", strings.Repeat("a", 65), false},
		{"ErrSpace", "a b", false},
		{"ErrAt", "a@b.c", false},
		{"ErrNonASCII", "zoë", false},
		{"ErrNUL", "abc\x00", false},
	}
	for _, tc := range users {
		t.Run("Username"+tc.name, func(t *testing.T) {
			if err := httpapi.ValidateUsername(tc.username); (err == nil) != tc.ok {
				t.Fatalf("ValidateUsername(%q) = %v", tc.username, err)
			}
		})
	}
	passwords := []struct {
		name, password string
		ok             bool
	}{
		{"OKMin", "12345678", true},
		{"OKMax", strings.Repeat("p", 256), true},
		{"OKMultibyte", "ééééé", true}, // 10 bytes
		{"ErrEmpty", "", false},
		{"ErrShort", "1234567", false},
		{"ErrLong", strings.Repeat("p", 257), false},
	}
	for _, tc := range passwords {
		t.Run("Password"+tc.name, func(t *testing.T) {
			if err := httpapi.ValidatePassword(tc.password); (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword(%q) = %v", tc.password, err)
			}
		})
	}
}

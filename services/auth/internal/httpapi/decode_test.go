package httpapi_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/services/auth/internal/httpapi"
)

func TestDecodeCredentials(t *testing.T) {
	deep := func(n int) string {
		return `{"username":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `,"password":"x"}`
	}
	cases := []struct {
		name    string
		in      string
		want    httpapi.Credentials
		message string // substring of the invalid_request message; "" means OK
	}{
		{"OK", `{"username":"a","password":"b"}`, httpapi.Credentials{Username: "a", Password: "b"}, ""},
		{"OKOtherOrder", `{"password":"b","username":"a"}`, httpapi.Credentials{Username: "a", Password: "b"}, ""},
		{"OKEmptyObject", `{}`, httpapi.Credentials{}, ""},
		{"OKWhitespace", " \t\r\n{ \"username\" : \"a\" }\n\t ", httpapi.Credentials{Username: "a"}, ""},
		{"OKEscapes", `{"username":"\u0061\n","password":"\ud83d\ude00"}`, httpapi.Credentials{Username: "a\n", Password: "😀"}, ""},
		{"OKInvalidUTF8Replaced", "{\"password\":\"\xff\"}", httpapi.Credentials{Password: "\ufffd"}, ""},
		{"ErrEmpty", ``, httpapi.Credentials{}, "empty"},
		{"ErrOnlySpaces", `   `, httpapi.Credentials{}, "empty"},
		{"ErrNull", `null`, httpapi.Credentials{}, "must be a JSON object"},
		{"ErrString", `"hello"`, httpapi.Credentials{}, "must be a JSON object"},
		{"ErrArray", `[1,2]`, httpapi.Credentials{}, "must be a JSON object"},
		{"ErrSyntax", `{"username":}`, httpapi.Credentials{}, "malformed JSON"},
		{"ErrTrailingComma", `{"username":"a",}`, httpapi.Credentials{}, "malformed JSON"},
		{"ErrSingleQuotes", `{'username':'a'}`, httpapi.Credentials{}, "malformed JSON"},
		{"ErrTruncated", `{"username":"a"`, httpapi.Credentials{}, "truncated"},
		{"ErrTruncatedAfterName", `{"username"`, httpapi.Credentials{}, "truncated"},
		{"ErrTruncatedString", `{"username":"a`, httpapi.Credentials{}, "truncated"},
		{"ErrUnknownField", `{"username":"a","role":"admin"}`, httpapi.Credentials{}, `unknown field "role"`},
		{"ErrUnknownFieldLongName", `{"` + strings.Repeat("n", 1000) + `":1}`, httpapi.Credentials{}, `unknown field "nnnn`},
		{"ErrOtherCase", `{"USERNAME":"a"}`, httpapi.Credentials{}, `unknown field "USERNAME"`},
		{"ErrDuplicate", `{"username":"a","username":"b"}`, httpapi.Credentials{}, `duplicate field "username"`},
		{"ErrNumber", `{"username":1}`, httpapi.Credentials{}, `"username" must be a string`},
		{"ErrBool", `{"password":true}`, httpapi.Credentials{}, `"password" must be a string`},
		{"ErrNullField", `{"password":null}`, httpapi.Credentials{}, `"password" must be a string`},
		{"ErrObject", `{"username":{}}`, httpapi.Credentials{}, `"username" must be a string`},
		{"ErrNested33", deep(33), httpapi.Credentials{}, `"username" must be a string`},
		{"ErrNested10000", deep(10000), httpapi.Credentials{}, `"username" must be a string`},
		{"ErrTrailingObject", `{"username":"a"}{"username":"b"}`, httpapi.Credentials{}, "single JSON object"},
		{"ErrTrailingGarbage", `{"username":"a"} garbage`, httpapi.Credentials{}, "unexpected data"},
		{"ErrTrailingBrace", `{"username":"a"}}`, httpapi.Credentials{}, "unexpected data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := httpapi.DecodeCredentials(strings.NewReader(tc.in))
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
			if len(apiErr.Message) > 200 {
				t.Fatalf("message of %d bytes echoes too much input", len(apiErr.Message))
			}
		})
	}
}

func TestDecodeCredentialsTooLarge(t *testing.T) {
	cases := []struct {
		name string
		body string
	}{
		{"InFirstValue", `{"username":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`},
		{"InTrailingData", `{}` + strings.Repeat(" ", httpapi.MaxBodyBytes)},
		{"InNesting", `{"username":` + strings.Repeat(" ", httpapi.MaxBodyBytes) + `[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			body := http.MaxBytesReader(httptest.NewRecorder(), r.Body, httpapi.MaxBodyBytes)
			_, err := httpapi.DecodeCredentials(body)
			var tooBig *http.MaxBytesError
			if !errors.As(err, &tooBig) {
				t.Fatalf("err = %v, want *http.MaxBytesError", err)
			}
		})
	}
}

package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCheckJSONContentType(t *testing.T) {
	cases := []struct {
		name   string
		values []string // Content-Type headers sent; nil: none
		ok     bool
	}{
		{"JSON", []string{"application/json"}, true},
		{"JSONCharsetUTF8", []string{"application/json; charset=utf-8"}, true},
		{"JSONCharsetUpperCase", []string{"application/json;charset=UTF-8"}, true},
		{"JSONTypeUpperCase", []string{"Application/JSON"}, true},
		{"JSONOtherParameter", []string{`application/json; profile="x"`}, true},
		{"ErrMissing", nil, false},
		{"ErrEmpty", []string{""}, false},
		{"ErrTextPlain", []string{"text/plain"}, false},
		{"ErrTextPlainCharset", []string{"text/plain;charset=UTF-8"}, false},
		{"ErrForm", []string{"application/x-www-form-urlencoded"}, false},
		{"ErrMultipart", []string{"multipart/form-data; boundary=x"}, false},
		{"ErrTextJSON", []string{"text/json"}, false},
		{"ErrJSONSuffix", []string{"application/merge-patch+json"}, false},
		{"ErrJSONPrefix", []string{"application/jsonx"}, false},
		{"ErrOtherCharset", []string{"application/json; charset=iso-8859-1"}, false},
		{"ErrMalformedParameter", []string{"application/json; charset"}, false},
		{"ErrTwoHeaders", []string{"application/json", "text/plain"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.values {
				h.Add("Content-Type", v)
			}
			err := CheckJSONContentType(h)
			if tc.ok {
				if err != nil {
					t.Fatalf("%q refused: %v", tc.values, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || Status(e.Code) != http.StatusUnsupportedMediaType {
				t.Fatalf("%q: err %v, want an unsupported_media_type error", tc.values, err)
			}
		})
	}
}

// TestRequireJSON checks the 415 answer and that the wrapped handler (rate
// limiting, password hashing) never runs for it.
func TestRequireJSON(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{logger: discard, metrics: m}
	ran := false
	h := s.requireJSON(func(w http.ResponseWriter, _ *http.Request) {
		ran = true
		w.WriteHeader(http.StatusNoContent)
	})
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
		ran = false
		r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", strings.NewReader(`{"username":"a","password":"b"}`))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h(rec, r)
		var body errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusUnsupportedMediaType ||
			body.Error != CodeUnsupportedMediaType || body.Message == "" {
			t.Fatalf("Content-Type %q: %d %s, want 415 unsupported_media_type", ct, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Accept"); got != JSONMediaType {
			t.Fatalf("Content-Type %q: Accept %q, want %s", ct, got, JSONMediaType)
		}
		if ran {
			t.Fatalf("Content-Type %q: the handler ran", ct)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	rec := httptest.NewRecorder()
	if h(rec, r); !ran || rec.Code != http.StatusNoContent {
		t.Fatalf("application/json: handler ran %v, status %d", ran, rec.Code)
	}
}

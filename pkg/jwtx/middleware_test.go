package jwtx_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// echoSubject answers 200 with the subject of the claims in the context.
var echoSubject = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	c, ok := jwtx.ClaimsFromContext(r.Context())
	if !ok {
		http.Error(w, "no claims", http.StatusInternalServerError)
		return
	}
	fmt.Fprint(w, c.Subject)
})

func TestMiddleware(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	h := k.Validator(t, store).Middleware(echoSubject)
	good := k.Token(t, testSub, 0)
	revoked, rc, err := k.Signer.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	store.RevokeToken(rc.ID)
	wwwAuth := func(desc string) string {
		return `Bearer error="invalid_token", error_description="` + desc + `"`
	}
	tests := []struct {
		name       string
		auth       []string
		unavail    bool
		wantStatus int
		wantCode   string // error code in the JSON body; "" for 200
		wantAuth   string // WWW-Authenticate
	}{
		{name: "OK", auth: []string{"Bearer " + good}, wantStatus: 200},
		{name: "OKSchemeCase", auth: []string{"bEaReR " + good}, wantStatus: 200},
		{name: "OKExtraSpaces", auth: []string{"Bearer   " + good + " "}, wantStatus: 200},
		{name: "Missing", wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("a bearer access token is required")},
		{name: "BasicScheme", auth: []string{"Basic dXNlcjpwYXNz"}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("a bearer access token is required")},
		{name: "EmptyBearer", auth: []string{"Bearer "}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("a bearer access token is required")},
		{name: "BearerOnly", auth: []string{"Bearer"}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("a bearer access token is required")},
		{name: "TwoHeaders", auth: []string{"Bearer " + good, "Bearer " + good}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("a bearer access token is required")},
		{name: "Invalid", auth: []string{"Bearer abc.def.ghi"}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("the access token is invalid")},
		{name: "Expired", auth: []string{"Bearer " + kitToken(k, nil, map[string]any{"exp": now.Unix() - 3600})}, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("the access token expired")},
		{name: "Revoked", auth: []string{"Bearer " + revoked}, wantStatus: 401, wantCode: "token_revoked", wantAuth: wwwAuth("the access token has been revoked")},
		{name: "Unavailable", auth: []string{"Bearer " + good}, unavail: true, wantStatus: 503, wantCode: "revocation_unavailable"},
		{name: "UnavailableButInvalid", auth: []string{"Bearer abc.def.ghi"}, unavail: true, wantStatus: 401, wantCode: "invalid_token", wantAuth: wwwAuth("the access token is invalid")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store.SetInitialized(!tc.unavail)
			t.Cleanup(func() { store.SetInitialized(true) })
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			defer res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.wantStatus, rec.Body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.wantAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wantAuth)
			}
			if tc.wantStatus == 200 {
				if rec.Body.String() != testSub {
					t.Errorf("handler saw subject %q", rec.Body)
				}
				return
			}
			checkErrorBody(t, res, rec.Body.String(), tc.wantCode)
			if got, want := res.Header.Get("Retry-After"), map[bool]string{true: "1"}[tc.wantStatus == 503]; got != want {
				t.Errorf("Retry-After %q, want %q", got, want)
			}
		})
	}
}

func checkErrorBody(t *testing.T, res *http.Response, body, wantCode string) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if got["error"] != wantCode || got["message"] == "" || len(got) != 2 {
		t.Errorf("body %v, want error %q and a message", got, wantCode)
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "Nil", err: nil, want: 200},
		{name: "Invalid", err: jwtx.ErrInvalidToken, want: 401},
		{name: "Missing", err: jwtx.ErrMissingToken, want: 401},
		{name: "WrappedExpired", err: fmt.Errorf("x: %w", jwtx.ErrExpired), want: 401},
		{name: "Revoked", err: fmt.Errorf("x: %w", jwtx.ErrRevoked), want: 401},
		{name: "Unavailable", err: fmt.Errorf("x: %w", jwtx.ErrRevocationUnavailable), want: 503},
		{name: "Unknown", err: errors.New("boom"), want: 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := jwtx.HTTPStatus(tc.err); got != tc.want {
				t.Errorf("HTTPStatus = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWriteError_Internal(t *testing.T) {
	rec := httptest.NewRecorder()
	jwtx.WriteError(rec, errors.New("secret detail"))
	res := rec.Result()
	defer res.Body.Close()
	if res.StatusCode != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("WriteError(unknown) = %d %q", res.StatusCode, rec.Body)
	}
	checkErrorBody(t, res, rec.Body.String(), "internal")
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		want   string
	}{
		{name: "OK", header: []string{"Bearer abc"}, want: "abc"},
		{name: "OKLower", header: []string{"bearer abc"}, want: "abc"},
		{name: "ErrMissing"},
		{name: "ErrScheme", header: []string{"Token abc"}},
		{name: "ErrNoSpace", header: []string{"Bearerabc"}},
		{name: "ErrTwoWords", header: []string{"Bearer abc def"}},
		{name: "ErrTab", header: []string{"Bearer\tabc"}},
		{name: "ErrDuplicate", header: []string{"Bearer abc", "Bearer def"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tc.header {
				req.Header.Add("Authorization", h)
			}
			got, err := jwtx.BearerToken(req)
			if tc.want == "" {
				if !errors.Is(err, jwtx.ErrMissingToken) || !errors.Is(err, jwtx.ErrInvalidToken) {
					t.Errorf("BearerToken = %q, %v; want ErrMissingToken", got, err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || err != nil {
				t.Errorf("BearerToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestClaimsFromContext_Empty(t *testing.T) {
	if c, ok := jwtx.ClaimsFromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context()); ok || c != nil {
		t.Errorf("ClaimsFromContext of a bare context = %v, %v", c, ok)
	}
}

package jwtx_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// anonOrSubject answers 200 with the subject of the claims in the
// context, or "anonymous" when there are none.
var anonOrSubject = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if c, ok := jwtx.ClaimsFromContext(r.Context()); ok {
		fmt.Fprint(w, c.Subject)
		return
	}
	fmt.Fprint(w, "anonymous")
})

// request is one request a test sends: Authorization headers and cookies.
type request struct {
	auth    []string
	cookies []*http.Cookie
}

func (rq request) serve(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/orders/7", nil)
	for _, a := range rq.auth {
		req.Header.Add("Authorization", a)
	}
	for _, c := range rq.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestMiddlewareWith_Cookie(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	h := k.Validator(t, store).MiddlewareWith(jwtx.MiddlewareOptions{Cookie: "session"})(echoSubject)
	good := k.Token(t, testSub, 0)
	other := "1f2e3d4c-5b6a-4789-8abc-def012345678"
	otherTok := k.Token(t, other, 0)
	cookie := func(v string) *http.Cookie { return &http.Cookie{Name: "session", Value: v} }
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantBody   string // the subject for a 200, the error code otherwise
	}{
		{name: "OKCookie", req: request{cookies: []*http.Cookie{cookie(good)}}, wantStatus: 200, wantBody: testSub},
		{name: "OKHeaderOnly", req: request{auth: []string{"Bearer " + good}}, wantStatus: 200, wantBody: testSub},
		{name: "HeaderWinsOverCookie", req: request{auth: []string{"Bearer " + otherTok}, cookies: []*http.Cookie{cookie(good)}}, wantStatus: 200, wantBody: other},
		{name: "HeaderWinsOverCookieReversed", req: request{auth: []string{"Bearer " + good}, cookies: []*http.Cookie{cookie(otherTok)}}, wantStatus: 200, wantBody: testSub},
		{name: "BadHeaderWinsOverGoodCookie", req: request{auth: []string{"Bearer abc.def.ghi"}, cookies: []*http.Cookie{cookie(good)}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "BasicHeaderWinsOverGoodCookie", req: request{auth: []string{"Basic dXNlcjpwYXNz"}, cookies: []*http.Cookie{cookie(good)}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "OtherCookieName", req: request{cookies: []*http.Cookie{{Name: "token", Value: good}}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "EmptyCookie", req: request{cookies: []*http.Cookie{cookie("")}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "TwoCookies", req: request{cookies: []*http.Cookie{cookie(good), cookie(good)}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "OutsideAlphabet", req: request{cookies: []*http.Cookie{cookie("a$b.c!d.e*f")}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "ExpiredCookie", req: request{cookies: []*http.Cookie{cookie(kitToken(k, nil, map[string]any{"exp": now.Unix() - 3600}))}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "Nothing", wantStatus: 401, wantBody: "invalid_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.req.serve(t, h)
			res := rec.Result()
			defer res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == 200 {
				if rec.Body.String() != tc.wantBody {
					t.Errorf("handler saw subject %q, want %q", rec.Body, tc.wantBody)
				}
				return
			}
			checkErrorBody(t, res, rec.Body.String(), tc.wantBody)
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestMiddlewareWith_CookieErrors(t *testing.T) {
	k := fixedKit(t)
	var got error
	h := k.Validator(t, jwtxtest.NewMemoryStore()).MiddlewareWith(jwtx.MiddlewareOptions{
		Cookie:  "session",
		OnError: func(w http.ResponseWriter, r *http.Request, err error) { got = err; jwtx.WriteError(w, err) },
	})(echoSubject)
	good := k.Token(t, testSub, 0)
	tests := []struct {
		name    string
		cookies []*http.Cookie
		want    error
	}{
		{name: "Malformed", cookies: []*http.Cookie{{Name: "session", Value: "a$b.c!d.e*f"}}, want: jwtx.ErrMalformedToken},
		{name: "Missing", want: jwtx.ErrMissingToken},
		{name: "Several", cookies: []*http.Cookie{{Name: "session", Value: good}, {Name: "session", Value: good}}, want: jwtx.ErrMissingToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			request{cookies: tc.cookies}.serve(t, h)
			if !errors.Is(got, tc.want) {
				t.Errorf("OnError got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMiddlewareWith_Optional(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	v := k.Validator(t, store)
	good := k.Token(t, testSub, 0)
	revoked, rc, err := k.Signer.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	store.RevokeToken(rc.ID)
	tests := []struct {
		name       string
		cookie     string // MiddlewareOptions.Cookie
		req        request
		unavail    bool
		wantStatus int
		wantBody   string // subject, "anonymous", or the error code
	}{
		{name: "NoToken", wantStatus: 200, wantBody: "anonymous"},
		{name: "NoTokenCookieConfigured", cookie: "session", wantStatus: 200, wantBody: "anonymous"},
		{name: "EmptyCookie", cookie: "session", req: request{cookies: []*http.Cookie{{Name: "session", Value: ""}}}, wantStatus: 200, wantBody: "anonymous"},
		{name: "GoodHeader", req: request{auth: []string{"Bearer " + good}}, wantStatus: 200, wantBody: testSub},
		{name: "GoodCookie", cookie: "session", req: request{cookies: []*http.Cookie{{Name: "session", Value: good}}}, wantStatus: 200, wantBody: testSub},
		{name: "BadHeader", req: request{auth: []string{"Bearer abc.def.ghi"}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "EmptyBearer", req: request{auth: []string{"Bearer "}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "BasicScheme", req: request{auth: []string{"Basic dXNlcjpwYXNz"}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "BadCookie", cookie: "session", req: request{cookies: []*http.Cookie{{Name: "session", Value: "abc.def.ghi"}}}, wantStatus: 401, wantBody: "invalid_token"},
		{name: "Revoked", req: request{auth: []string{"Bearer " + revoked}}, wantStatus: 401, wantBody: "token_revoked"},
		{name: "Unavailable", req: request{auth: []string{"Bearer " + good}}, unavail: true, wantStatus: 503, wantBody: "revocation_unavailable"},
		{name: "NoTokenUnavailable", unavail: true, wantStatus: 200, wantBody: "anonymous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store.SetInitialized(!tc.unavail)
			t.Cleanup(func() { store.SetInitialized(true) })
			h := v.MiddlewareWith(jwtx.MiddlewareOptions{Optional: true, Cookie: tc.cookie})(anonOrSubject)
			rec := tc.req.serve(t, h)
			res := rec.Result()
			defer res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", res.StatusCode, tc.wantStatus, rec.Body)
			}
			if tc.wantStatus == 200 {
				if rec.Body.String() != tc.wantBody {
					t.Errorf("handler saw %q, want %q", rec.Body, tc.wantBody)
				}
				return
			}
			checkErrorBody(t, res, rec.Body.String(), tc.wantBody)
		})
	}
}

func TestMiddlewareWith_OnError(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	v := k.Validator(t, store)
	good := k.Token(t, testSub, 0)
	revoked, rc, err := k.Signer.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	store.RevokeToken(rc.ID)
	var calls int
	var got error
	h := v.MiddlewareWith(jwtx.MiddlewareOptions{
		OnError: func(w http.ResponseWriter, r *http.Request, err error) {
			calls++
			got = err
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(418)
			fmt.Fprintf(w, "custom %s at %s", jwtx.ErrorCode(err), r.URL.Path)
		},
	})(echoSubject)
	tests := []struct {
		name    string
		auth    []string
		unavail bool
		want    error
	}{
		{name: "Missing", want: jwtx.ErrMissingToken},
		{name: "Expired", auth: []string{"Bearer " + kitToken(k, nil, map[string]any{"exp": now.Unix() - 3600})}, want: jwtx.ErrExpired},
		{name: "BadSignature", auth: []string{"Bearer " + good[:len(good)-4] + "AAAA"}, want: jwtx.ErrBadSignature},
		{name: "Revoked", auth: []string{"Bearer " + revoked}, want: jwtx.ErrRevoked},
		{name: "Unavailable", auth: []string{"Bearer " + good}, unavail: true, want: jwtx.ErrRevocationUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store.SetInitialized(!tc.unavail)
			t.Cleanup(func() { store.SetInitialized(true) })
			calls, got = 0, nil
			rec := request{auth: tc.auth}.serve(t, h)
			if calls != 1 || !errors.Is(got, tc.want) {
				t.Fatalf("OnError called %d times with %v, want once with %v", calls, got, tc.want)
			}
			wantBody := "custom " + jwtx.ErrorCode(tc.want) + " at /orders/7"
			if rec.Code != 418 || rec.Body.String() != wantBody || rec.Header().Get("WWW-Authenticate") != "" {
				t.Errorf("answer %d %q (WWW-Authenticate %q), want 418 %q and no default headers",
					rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"), wantBody)
			}
		})
	}
	t.Run("OKNotCalled", func(t *testing.T) {
		calls = 0
		rec := request{auth: []string{"Bearer " + good}}.serve(t, h)
		if calls != 0 || rec.Code != 200 || rec.Body.String() != testSub {
			t.Errorf("OnError called %d times; answer %d %q", calls, rec.Code, rec.Body)
		}
	})
}

func TestMiddlewareWith_Logger(t *testing.T) {
	k := fixedKit(t)
	store := jwtxtest.NewMemoryStore()
	v := k.Validator(t, store)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := v.MiddlewareWith(jwtx.MiddlewareOptions{Logger: logger, Cookie: "session"})(echoSubject)
	const tenant = "tenant-secret-4711"
	expired := kitToken(k, nil, map[string]any{"exp": now.Unix() - 3600, "tenant": tenant})
	wrongAud := kitToken(k, nil, map[string]any{"aud": "someone-else", "tenant": tenant})
	revoked := kitToken(k, nil, map[string]any{"jti": "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "tenant": tenant})
	store.RevokeToken("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
	good := kitToken(k, nil, map[string]any{"tenant": tenant})
	tests := []struct {
		name       string
		req        request
		unavail    bool
		wantReason string
		wantStatus int
		token      string // must not be logged
	}{
		{name: "Expired", req: request{auth: []string{"Bearer " + expired}}, wantReason: "expired", wantStatus: 401, token: expired},
		{name: "WrongAudienceCookie", req: request{cookies: []*http.Cookie{{Name: "session", Value: wrongAud}}}, wantReason: "wrong_audience", wantStatus: 401, token: wrongAud},
		{name: "Revoked", req: request{auth: []string{"Bearer " + revoked}}, wantReason: "revoked", wantStatus: 401, token: revoked},
		{name: "Unavailable", req: request{auth: []string{"Bearer " + good}}, unavail: true, wantReason: "unavailable", wantStatus: 503, token: good},
		{name: "Missing", wantReason: "missing_token", wantStatus: 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store.SetInitialized(!tc.unavail)
			t.Cleanup(func() { store.SetInitialized(true) })
			buf.Reset()
			rec := tc.req.serve(t, h)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			line := buf.String()
			for _, want := range []string{
				"level=DEBUG", "reason=" + tc.wantReason, fmt.Sprintf("status=%d", tc.wantStatus),
				"method=GET", "path=/orders/7",
			} {
				if !strings.Contains(line, want) {
					t.Errorf("log %q lacks %q", line, want)
				}
			}
			if strings.Count(line, "\n") != 1 {
				t.Errorf("log has %d lines, want 1: %q", strings.Count(line, "\n"), line)
			}
			if tc.token != "" {
				parts := strings.Split(tc.token, ".")
				for _, secret := range []string{tc.token, parts[0], parts[1], parts[2], tenant, testSub, testJTI} {
					if strings.Contains(line, secret) {
						t.Errorf("log %q contains %q from the token", line, secret)
					}
				}
			}
		})
	}
	t.Run("OKNotLogged", func(t *testing.T) {
		buf.Reset()
		if rec := (request{auth: []string{"Bearer " + good}}).serve(t, h); rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		if buf.Len() != 0 {
			t.Errorf("an accepted request was logged: %q", buf.String())
		}
	})
}

func TestMiddlewareWith_ZeroIsMiddleware(t *testing.T) {
	k := fixedKit(t)
	v := k.Validator(t, jwtxtest.NewMemoryStore())
	good := k.Token(t, testSub, 0)
	for _, rq := range []request{
		{auth: []string{"Bearer " + good}},
		{},
		{cookies: []*http.Cookie{{Name: "session", Value: good}}},
		{auth: []string{"Bearer abc.def.ghi"}},
	} {
		a, b := rq.serve(t, v.Middleware(echoSubject)), rq.serve(t, v.MiddlewareWith(jwtx.MiddlewareOptions{})(echoSubject))
		if a.Code != b.Code || a.Body.String() != b.Body.String() || a.Header().Get("WWW-Authenticate") != b.Header().Get("WWW-Authenticate") {
			t.Errorf("%+v: Middleware %d %q, MiddlewareWith{} %d %q", rq, a.Code, a.Body, b.Code, b.Body)
		}
	}
}

func TestRequireScope(t *testing.T) {
	k := fixedKit(t)
	v := k.Validator(t, jwtxtest.NewMemoryStore())
	h := v.MiddlewareWith(jwtx.MiddlewareOptions{Optional: true})(jwtx.RequireScope("orders:read", "orders:write")(echoSubject))
	both := kitToken(k, nil, map[string]any{"scope": "orders:write profile orders:read"})
	scp := kitToken(k, nil, map[string]any{"scp": []string{"orders:read", "orders:write"}})
	one := kitToken(k, nil, map[string]any{"scope": "orders:read"})
	none := k.Token(t, testSub, 0)
	tests := []struct {
		name       string
		auth       []string
		wantStatus int
		wantCode   string
		wantAuth   string
	}{
		{name: "OKBoth", auth: []string{"Bearer " + both}, wantStatus: 200},
		{name: "OKScp", auth: []string{"Bearer " + scp}, wantStatus: 200},
		{name: "OneMissing", auth: []string{"Bearer " + one}, wantStatus: 403, wantCode: "insufficient_scope",
			wantAuth: `Bearer error="insufficient_scope", scope="orders:read orders:write"`},
		{name: "NoScopeClaim", auth: []string{"Bearer " + none}, wantStatus: 403, wantCode: "insufficient_scope",
			wantAuth: `Bearer error="insufficient_scope", scope="orders:read orders:write"`},
		{name: "NoClaims", wantStatus: 401, wantCode: "invalid_token",
			wantAuth: `Bearer error="invalid_token", error_description="a bearer access token is required"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := request{auth: tc.auth}.serve(t, h)
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
					t.Errorf("handler saw %q", rec.Body)
				}
				return
			}
			checkErrorBody(t, res, rec.Body.String(), tc.wantCode)
		})
	}
}

func TestRequireScope_WithoutMiddleware(t *testing.T) {
	rec := request{}.serve(t, jwtx.RequireScope("a")(echoSubject))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "invalid_token") {
		t.Errorf("answer %d %q, want 401 invalid_token", rec.Code, rec.Body)
	}
}

func TestRequireScope_InvalidScopePanics(t *testing.T) {
	for _, s := range []string{"", "a b", `a"b`, `a\b`, "é", "a\tb"} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("RequireScope(%q) did not panic", s)
				}
			}()
			jwtx.RequireScope("ok", s)
		})
	}
}

func TestWriteError_InsufficientScope(t *testing.T) {
	rec := httptest.NewRecorder()
	jwtx.WriteError(rec, fmt.Errorf("route: %w", jwtx.ErrInsufficientScope))
	res := rec.Result()
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 403 || res.Header.Get("WWW-Authenticate") != `Bearer error="insufficient_scope"` {
		t.Errorf("WriteError(ErrInsufficientScope) = %d, WWW-Authenticate %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
	checkErrorBody(t, res, string(body), "insufficient_scope")
	if got := jwtx.HTTPStatus(jwtx.ErrInsufficientScope); got != 403 {
		t.Errorf("HTTPStatus(ErrInsufficientScope) = %d", got)
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{jwtx.ErrMissingToken, "missing_token"},
		{jwtx.ErrMalformedToken, "malformed"},
		{jwtx.ErrTokenTooLarge, "too_large"},
		{jwtx.ErrUnknownKey, "unknown_key"},
		{jwtx.ErrBadSignature, "bad_signature"},
		{jwtx.ErrExpired, "expired"},
		{jwtx.ErrNotYetValid, "not_yet_valid"},
		{jwtx.ErrLegacyToken, "legacy_token"},
		{jwtx.ErrAlgorithmNotAllowed, "algorithm_not_allowed"},
		{jwtx.ErrWrongType, "wrong_type"},
		{jwtx.ErrCriticalHeader, "critical_header"},
		{jwtx.ErrWrongIssuer, "wrong_issuer"},
		{jwtx.ErrWrongAudience, "wrong_audience"},
		{jwtx.ErrRevoked, "revoked"},
		{jwtx.ErrRevocationUnavailable, "unavailable"},
		{jwtx.ErrInsufficientScope, "insufficient_scope"},
		{jwtx.ErrInvalidToken, "invalid"},
		{errors.New("boom"), "internal"},
		{jwtx.ErrClaimMissing, "internal"},
	}
	for _, tc := range tests {
		name := tc.want
		if name == "" {
			name = "nil"
		}
		t.Run(name, func(t *testing.T) {
			if got := jwtx.ErrorCode(tc.err); got != tc.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
			}
			if tc.err == nil {
				return
			}
			if got := jwtx.ErrorCode(fmt.Errorf("ctx: %w", tc.err)); got != tc.want {
				t.Errorf("ErrorCode(wrapped %v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// TestErrorCode_Validate checks the codes of real Validate errors.
func TestErrorCode_Validate(t *testing.T) {
	k := fixedKit(t)
	v := k.Validator(t, nil)
	tests := []struct {
		token string
		want  string
	}{
		{kitToken(k, nil, map[string]any{"exp": now.Unix() - 3600}), "expired"},
		{kitToken(k, nil, map[string]any{"iss": "https://evil.test"}), "wrong_issuer"},
		{kitToken(k, map[string]any{"kid": "nope"}, nil), "unknown_key"},
		{kitToken(k, map[string]any{"typ": "JWT"}, nil), "wrong_type"},
		{"abc.def.ghi", "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := v.Validate(t.Context(), tc.token)
			if got := jwtx.ErrorCode(err); got != tc.want {
				t.Errorf("ErrorCode(%v) = %q, want %q", err, got, tc.want)
			}
		})
	}
}

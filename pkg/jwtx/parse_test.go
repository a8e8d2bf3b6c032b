package jwtx_test

import (
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// enc is the unpadded base64url encoding of JOSE, strict.
var enc = base64.RawURLEncoding.Strict()

// discard is a logger for components whose log lines a test does not read.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestValidator_Parse covers the tokens that must be accepted, and what is
// returned for them. Everything that must be rejected is in the hostile
// corpus (hostile_test.go).
func TestValidator_Parse(t *testing.T) {
	f := newHostileFixture(t)
	k := f.k
	shallow := strings.Repeat(`{"a":`, 10) + "1" + strings.Repeat("}", 10)
	pl := f.claims(nil)
	tests := []struct {
		name   string
		token  string
		legacy bool   // AcceptLegacy
		ver    int64  // expected Version
		jti    string // expected ID; "*" any UUID
	}{
		{name: "OK", token: f.token(nil, nil), jti: testJTI},
		{name: "OKIssuedBySigner", token: k.Token(t, testSub, 3), ver: 3, jti: "*"},
		{name: "OKTypApplication", token: f.token(map[string]any{"typ": "application/AT+JWT"}, nil), jti: testJTI},
		{name: "OKTypUpper", token: f.token(map[string]any{"typ": "AT+JWT"}, nil), jti: testJTI},
		{name: "OKAudArray", token: f.token(nil, map[string]any{"aud": []string{"other", k.Audience}}), jti: testJTI},
		{name: "OKFractionalExp", token: f.token(nil, map[string]any{"exp": float64(now.Unix()) + 60.5}), jti: testJTI},
		{name: "OKExpLastRepresentable", token: f.token(nil, map[string]any{"exp": 253402300799}), jti: testJTI},
		{name: "OKNoIatNoNbf", token: f.token(nil, map[string]any{"iat": nil, "nbf": nil}), jti: testJTI},
		{name: "OKJkuX5uIgnoredKnownKid", token: f.token(nil, nil), jti: testJTI},
		{name: "OKJwkHeaderIgnored", token: f.token(map[string]any{"jwk": f.attJWK}, nil), jti: testJTI},
		{name: "OKUnknownHeaderMember", token: f.token(map[string]any{"x-trace": "abc"}, nil), jti: testJTI},
		{name: "OKEscapedAlg", token: k.SignRaw(`{"\u0061lg":"EdDSA","typ":"at+jwt","kid":"`+f.kid+`"}`, pl), jti: testJTI},
		{name: "OKNestedCustomClaim", token: k.SignRaw(f.header(nil), pl[:len(pl)-1]+`,"x":`+shallow+`}`), jti: testJTI},
		{name: "OKLargeVer", token: f.token(nil, map[string]any{"ver": int64(1) << 53}), ver: 1 << 53, jti: testJTI},
		{name: "LegacyAccepted", token: f.token(nil, map[string]any{"jti": nil, "ver": nil}), legacy: true},
		{name: "LegacyWithVer", token: f.token(nil, map[string]any{"jti": nil, "ver": 2}), legacy: true, ver: 2},
		{name: "LegacyNoIatNbf", token: f.token(nil, map[string]any{"jti": nil, "ver": nil, "iat": nil, "nbf": nil}), legacy: true},
		{name: "LegacyModeStillAcceptsJti", token: f.token(nil, nil), legacy: true, jti: testJTI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.Config(nil)
			cfg.AcceptLegacy = tc.legacy
			c, err := mustValidator(t, cfg).Parse(tc.token)
			if err != nil {
				t.Fatalf("Parse: %v, want success", err)
			}
			if c.Subject != testSub || c.Version != tc.ver || (tc.jti != "*" && c.ID != tc.jti) || (tc.jti == "*" && !jwtx.IsUUID(c.ID)) {
				t.Errorf("claims sub=%q ver=%d jti=%q, want %q %d %q", c.Subject, c.Version, c.ID, testSub, tc.ver, tc.jti)
			}
			if got, want := c.Legacy(), tc.jti == ""; got != want {
				t.Errorf("Legacy() = %v, want %v", got, want)
			}
			if c.Issuer != k.Issuer || c.ExpiresAt.Before(now.Add(-jwtx.DefaultLeeway)) {
				t.Errorf("claims %+v", c)
			}
		})
	}
	if r := f.keyHits.requests.Load(); r != 0 {
		t.Errorf("key server hit %d times: keys were fetched from a token header", r)
	}
}

// TestValidator_OversizeFailsFast: a token over the limit is refused
// before any decoding: a handful of allocations of a few bytes each,
// whatever its size (a copy or decode of it would show as megabytes).
func TestValidator_OversizeFailsFast(t *testing.T) {
	v := fixedKit(t).Validator(t, nil)
	for _, n := range []int{jwtx.DefaultMaxTokenSize + 1, 1 << 20, 16 << 20} {
		huge := strings.Repeat("a", n-4) + ".b.c"
		var err error
		allocs := testing.AllocsPerRun(20, func() { _, err = v.Parse(huge) })
		if !errors.Is(err, jwtx.ErrTokenTooLarge) {
			t.Fatalf("Parse(%d bytes) = %v, want ErrTokenTooLarge", n, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 100 {
			_, _ = v.Parse(huge)
		}
		runtime.ReadMemStats(&after)
		perCall := (after.TotalAlloc - before.TotalAlloc) / 100
		t.Logf("Parse(%d bytes): %.0f allocations, %d bytes", n, allocs, perCall)
		if allocs > 8 || perCall > 512 {
			t.Errorf("Parse(%d bytes) made %.0f allocations of %d bytes in all, want a handful of small ones (no decoding)", n, allocs, perCall)
		}
	}
}

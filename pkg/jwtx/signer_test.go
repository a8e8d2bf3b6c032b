package jwtx_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

func TestSigner_Issue(t *testing.T) {
	k := fixedKit(t)
	tok, c, err := k.Signer.Issue(testSub, 7)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	var hdr map[string]any
	decodeSegment(t, parts[0], &hdr)
	if diff := cmp.Diff(map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": k.Signer.KeyID()}, hdr); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var payload map[string]any
	decodeSegment(t, parts[1], &payload)
	want := map[string]any{
		"iss": k.Issuer, "sub": testSub, "aud": k.Audience,
		"iat": float64(now.Unix()), "nbf": float64(now.Unix()), "exp": float64(now.Add(15 * time.Minute).Unix()),
		"jti": c.ID, "ver": float64(7),
	}
	if diff := cmp.Diff(want, payload); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if !jwtx.IsUUID(c.ID) || c.Legacy() {
		t.Errorf("jti %q is not a UUID", c.ID)
	}
	if !ed25519.Verify(k.Signer.PublicKey(), []byte(parts[0]+"."+parts[1]), mustDecode(t, parts[2])) {
		t.Error("signature does not verify")
	}
	if k.Signer.KeyID() != jwtx.Thumbprint(k.Signer.PublicKey()) || k.Signer.TTL() != jwtx.DefaultTTL {
		t.Error("KeyID or TTL wrong")
	}
	_, c2, err := k.Signer.Issue(testSub, 7)
	if err != nil || c2.ID == c.ID {
		t.Errorf("second Issue: jti %q repeated or error %v", c2.ID, err)
	}
}

func TestSigner_IssueRefuses(t *testing.T) {
	k := fixedKit(t)
	tests := []struct {
		name    string
		subject string
		version int64
	}{
		{name: "ErrSubjectNotUUID", subject: "alice"},
		{name: "ErrSubjectEmpty", subject: ""},
		{name: "ErrSubjectUpperCase", subject: strings.ToUpper(testSub)},
		{name: "ErrSubjectBraces", subject: "{" + testSub + "}"},
		{name: "ErrNegativeVersion", subject: testSub, version: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tok, _, err := k.Signer.Issue(tc.subject, tc.version); err == nil {
				t.Errorf("Issue = %q, want an error", tok)
			}
		})
	}
}

func TestNewSigner_Config(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	base := jwtx.SignerConfig{Key: priv, Issuer: "iss", Audience: "aud"}
	tests := []struct {
		name   string
		change func(*jwtx.SignerConfig)
		ok     bool
	}{
		{name: "OK", change: func(*jwtx.SignerConfig) {}, ok: true},
		{name: "OKTTL", change: func(c *jwtx.SignerConfig) { c.TTL = time.Hour }, ok: true},
		{name: "ErrNoKey", change: func(c *jwtx.SignerConfig) { c.Key = nil }},
		{name: "ErrShortKey", change: func(c *jwtx.SignerConfig) { c.Key = priv[:32] }},
		{name: "ErrNoIssuer", change: func(c *jwtx.SignerConfig) { c.Issuer = "" }},
		{name: "ErrNoAudience", change: func(c *jwtx.SignerConfig) { c.Audience = "" }},
		{name: "ErrNegativeTTL", change: func(c *jwtx.SignerConfig) { c.TTL = -time.Second }},
		{name: "ErrSubSecondTTL", change: func(c *jwtx.SignerConfig) { c.TTL = time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.change(&cfg)
			if _, err := jwtx.NewSigner(cfg); (err == nil) != tc.ok {
				t.Errorf("NewSigner error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	if err := json.Unmarshal(mustDecode(t, seg), v); err != nil {
		t.Fatal(err)
	}
}

func mustDecode(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := enc.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSigner_IssueGrant: a grant's sid is in the token and its claims, and
// the same grant with a fixed jti and iat gives the byte-identical token
// (what a refresh answered twice within the grace window relies on).
func TestSigner_IssueGrant(t *testing.T) {
	k := fixedKit(t)
	g := jwtx.Grant{Subject: testSub, SessionID: testSID, Version: 3, ID: testJTI, IssuedAt: now.Add(-time.Minute)}
	tok, c, err := k.Signer.IssueGrant(g)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	decodeSegment(t, strings.Split(tok, ".")[1], &payload)
	if payload["sid"] != testSID || payload["jti"] != testJTI || payload["iat"] != float64(now.Add(-time.Minute).Unix()) {
		t.Fatalf("payload %v", payload)
	}
	if c.SessionID != testSID || c.ID != testJTI || !c.IssuedAt.Equal(now.Add(-time.Minute)) || !c.ExpiresAt.Equal(now.Add(14*time.Minute)) {
		t.Fatalf("claims %+v", c)
	}
	again, _, err := k.Signer.IssueGrant(g)
	if err != nil || again != tok {
		t.Fatalf("the same grant signed again differs (%v):\n%s\n%s", err, tok, again)
	}
	parsed, err := k.Validator(t, jwtxtest.NewMemoryStore()).Parse(tok)
	if err != nil || parsed.SessionID != testSID {
		t.Fatalf("Parse = %+v, %v", parsed, err)
	}
	plain, _, err := k.Signer.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	var plainPayload map[string]any
	if decodeSegment(t, strings.Split(plain, ".")[1], &plainPayload); plainPayload["sid"] != nil {
		t.Fatal("a token without a session carries sid")
	}
	for name, bad := range map[string]jwtx.Grant{
		"SessionNotUUID": {Subject: testSub, SessionID: "s1"},
		"SessionUpper":   {Subject: testSub, SessionID: strings.ToUpper(testSID)},
		"IDNotUUID":      {Subject: testSub, ID: "j1"},
	} {
		if _, _, err := k.Signer.IssueGrant(bad); err == nil {
			t.Errorf("%s: IssueGrant succeeded", name)
		}
	}
}

// TestParse_SessionClaim: sid must be a canonical UUID string when present.
func TestParse_SessionClaim(t *testing.T) {
	k := fixedKit(t)
	v := k.Validator(t, jwtxtest.NewMemoryStore())
	base := `"iss":"` + k.Issuer + `","sub":"` + testSub + `","aud":"` + k.Audience + `","exp":` +
		strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `,"jti":"` + testJTI + `","ver":0`
	hdr := `{"alg":"EdDSA","typ":"at+jwt","kid":"` + k.Signer.KeyID() + `"}`
	for _, tc := range []struct {
		name, extra string
		ok          bool
	}{
		{"UUID", `,"sid":"` + testSID + `"`, true},
		{"NotUUID", `,"sid":"abc"`, false},
		{"UpperCase", `,"sid":"` + strings.ToUpper(testSID) + `"`, false},
		{"Number", `,"sid":5`, false},
		{"Null", `,"sid":null`, false},
		{"CaseVariant", `,"SID":"` + testSID + `"`, false},
		{"Twice", `,"sid":"` + testSID + `","sid":"` + testJTI + `"`, false},
	} {
		c, err := v.Parse(k.SignRaw(hdr, "{"+base+tc.extra+"}"))
		switch {
		case tc.ok && (err != nil || c.SessionID != testSID):
			t.Errorf("%s: Parse = %+v, %v", tc.name, c, err)
		case !tc.ok && !errors.Is(err, jwtx.ErrMalformedToken):
			t.Errorf("%s: Parse error %v, want ErrMalformedToken", tc.name, err)
		}
	}
}

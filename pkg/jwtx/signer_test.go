package jwtx_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
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

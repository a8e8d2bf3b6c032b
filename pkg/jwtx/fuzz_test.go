package jwtx_test

// Fuzz targets of the validator. Seeds: every token of the hostile corpus
// (added in code) plus the inputs under testdata/fuzz/<target>/ found by
// earlier fuzzing. Run one with, e.g.:
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s ./pkg/jwtx

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// fuzzValidator validates the fixture's tokens (fixed key, fixed clock),
// without revocation check.
func fuzzValidator(f *testing.F, fx *hostileFixture, legacy bool) *jwtx.Validator {
	cfg := fx.k.Config(nil)
	cfg.AcceptLegacy = legacy
	return mustValidator(f, cfg)
}

// checkAccepted asserts what every accepted token must satisfy, whatever
// path led to the acceptance.
func checkAccepted(t *testing.T, fx *hostileFixture, token string, c *jwtx.Claims, legacy bool) {
	t.Helper()
	if !jwtx.IsUUID(c.Subject) || (c.ID != "" || !legacy) && !jwtx.IsUUID(c.ID) || c.Version < 0 {
		t.Fatalf("accepted claims sub=%q jti=%q ver=%d", c.Subject, c.ID, c.Version)
	}
	lw := jwtx.DefaultLeeway
	if !now.Before(c.ExpiresAt.Add(lw)) || c.NotBefore.After(now.Add(lw)) || c.IssuedAt.After(now.Add(lw)) {
		t.Fatalf("accepted outside its time window: exp %s nbf %s iat %s, now %s", c.ExpiresAt, c.NotBefore, c.IssuedAt, now)
	}
	if c.Issuer != fx.k.Issuer || !slices.Contains(c.Audience, fx.k.Audience) {
		t.Fatalf("accepted iss %q aud %q", c.Issuer, c.Audience)
	}
	// Independent check: canonical segments, our key's signature, and a
	// header whose every member encoding/json would also read our way.
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %d segments", len(parts))
	}
	raw := make([][]byte, 3)
	for i, p := range parts {
		b, err := enc.DecodeString(p)
		if err != nil || enc.EncodeToString(b) != p {
			t.Fatalf("accepted a non-canonical segment %d", i)
		}
		raw[i] = b
	}
	if !ed25519.Verify(fx.k.Signer.PublicKey(), []byte(parts[0]+"."+parts[1]), raw[2]) {
		t.Fatal("accepted a signature ed25519.Verify rejects")
	}
	var h map[string]any
	if err := json.Unmarshal(raw[0], &h); err != nil {
		t.Fatalf("accepted a header encoding/json rejects: %v", err)
	}
	for name := range h {
		for _, reg := range []string{"alg", "typ", "kid", "crit"} {
			if strings.EqualFold(name, reg) && (name != reg || reg == "crit") {
				t.Fatalf("accepted header member %q", name)
			}
		}
	}
	if h["alg"] != "EdDSA" || h["kid"] != fx.kid {
		t.Fatalf("accepted header alg %v kid %v", h["alg"], h["kid"])
	}
}

// checkRejected asserts what every rejection must satisfy.
func checkRejected(t *testing.T, c *jwtx.Claims, err error) {
	t.Helper()
	if c != nil {
		t.Fatalf("claims returned with error %v", err)
	}
	if !errors.Is(err, jwtx.ErrInvalidToken) {
		t.Fatalf("rejection %v does not match ErrInvalidToken", err)
	}
	n := 0
	for _, s := range fineSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 || len(err.Error()) > 200 {
		t.Fatalf("rejection %.100q matches %d reasons or is %d bytes long", err, n, len(err.Error()))
	}
}

// FuzzParse feeds arbitrary strings to the validator: no panic, every
// rejection is one well-formed sentinel, every acceptance satisfies the
// invariants of checkAccepted, and the outcome is deterministic.
func FuzzParse(f *testing.F) {
	fx := newHostileFixture(f)
	for _, tc := range fx.corpus(f) {
		if len(tc.token) <= jwtx.DefaultMaxTokenSize+16 {
			f.Add(tc.token)
		}
	}
	f.Add(fx.token(nil, nil))
	v := fuzzValidator(f, fx, false)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Parse(token)
		if err != nil {
			checkRejected(t, c, err)
		} else {
			checkAccepted(t, fx, token, c, false)
		}
		c2, err2 := v.Parse(token)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || !cmp.Equal(c, c2, cmpopts.IgnoreUnexported(jwtx.Claims{})) {
			t.Fatalf("Parse is not deterministic: %v / %v", err, err2)
		}
	})
}

// FuzzSignedPayload signs arbitrary claim sets with our key: whatever the
// validator accepts has claims of the accepted form, in the time window,
// and agreeing with a plain encoding/json decode (no smuggled value).
func FuzzSignedPayload(f *testing.F) {
	fx := newHostileFixture(f)
	for _, tc := range fx.corpus(f) {
		if p := segment(tc.token, 1); p != "" && len(p) < 4096 {
			f.Add(p)
		}
	}
	v := fuzzValidator(f, fx, true)
	hdr := fx.header(nil)
	f.Fuzz(func(t *testing.T, payload string) {
		token := fx.k.SignRaw(hdr, payload)
		c, err := v.Parse(token)
		if err != nil {
			checkRejected(t, c, err)
			return
		}
		checkAccepted(t, fx, token, c, true)
		var plain struct {
			Iss string `json:"iss"`
			Sub string `json:"sub"`
			JTI string `json:"jti"`
			Ver int64  `json:"ver"`
		}
		if err := json.Unmarshal([]byte(payload), &plain); err != nil {
			t.Fatalf("accepted a payload encoding/json rejects: %v", err)
		}
		if plain.Iss != c.Issuer || plain.Sub != c.Subject || plain.JTI != c.ID || plain.Ver != c.Version {
			t.Fatalf("claims %+v disagree with encoding/json %+v", c, plain)
		}
	})
}

// FuzzSignedHeader signs arbitrary headers over a valid claim set with our
// key: only EdDSA with our kid, an at+jwt typ and no crit may pass.
func FuzzSignedHeader(f *testing.F) {
	fx := newHostileFixture(f)
	for _, tc := range fx.corpus(f) {
		if h := segment(tc.token, 0); h != "" && len(h) < 4096 {
			f.Add(h)
		}
	}
	v := fuzzValidator(f, fx, false)
	pl := fx.claims(nil)
	f.Fuzz(func(t *testing.T, header string) {
		token := fx.k.SignRaw(header, pl)
		c, err := v.Parse(token)
		if err != nil {
			checkRejected(t, c, err)
			return
		}
		checkAccepted(t, fx, token, c, false)
		var h struct {
			Typ string `json:"typ"`
		}
		_ = json.Unmarshal([]byte(header), &h)
		if typ := strings.ToLower(strings.TrimPrefix(strings.ToLower(h.Typ), "application/")); typ != jwtx.TokenType {
			t.Fatalf("accepted typ %q", h.Typ)
		}
	})
}

// segment returns the decoded segment i of token, or "".
func segment(token string, i int) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := enc.DecodeString(parts[i])
	if err != nil {
		return ""
	}
	return string(b)
}

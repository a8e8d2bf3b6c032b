package jwtx_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
	"github.com/eventjwt/eventjwt/pkg/revocation"
)

const extAudience = "orders"

// allAlgs are the asymmetric algorithms an issuer of another product may
// sign with.
var allAlgs = []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA}

// staticIssuer is idp's jwtx.Issuer with its keys in memory (no HTTP),
// each bound to its algorithm, typ JWT.
func staticIssuer(t *testing.T, idp *jwtxtest.Issuer) jwtx.Issuer {
	t.Helper()
	var keys []*jwtx.PublicKey
	for _, alg := range allAlgs {
		k, err := jwtx.NewPublicKey(idp.KeyID(alg), idp.PublicKey(alg), alg)
		if err != nil {
			t.Fatalf("NewPublicKey %s: %v", alg, err)
		}
		keys = append(keys, k)
	}
	return jwtx.Issuer{Issuer: idp.URL, Audience: extAudience, PublicKeys: keys, Types: []string{"JWT"}}
}

// twoIssuers returns this project's kit, another issuer, and a validator
// accepting both, reading revocations from store.
func twoIssuers(t *testing.T, store jwtx.RevocationStore, ext func(*jwtx.Issuer)) (*jwtxtest.Kit, *jwtxtest.Issuer, *jwtx.Validator) {
	t.Helper()
	k := fixedKit(t)
	idp := jwtxtest.NewIssuer(t, k.Now)
	cfg := k.Config(store)
	is := staticIssuer(t, idp)
	if ext != nil {
		ext(&is)
	}
	cfg.Issuers = []jwtx.Issuer{is}
	return k, idp, mustValidator(t, cfg)
}

// Tokens of every algorithm from another issuer are accepted beside this
// project's own; their subject may be any string, and handlers reach
// scopes, roles and any member typed.
func TestIssuers_EveryAlgorithm(t *testing.T) {
	k, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), nil)
	ctx := context.Background()
	if _, err := v.Validate(ctx, k.Token(t, testSub, 0)); err != nil {
		t.Fatalf("own token: %v", err)
	}
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			cl := idp.Claims("auth0|64f1c2a9", extAudience)
			cl["scope"] = "openid orders:read"
			cl["roles"] = []string{"admin"}
			cl["tenant"] = "acme"
			cl["realm_access"] = map[string]any{"roles": []string{"offline_access"}}
			c, err := v.Validate(ctx, idp.Token(t, alg, cl))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.Subject != "auth0|64f1c2a9" || c.UserID != revocation.ExternalID(idp.URL, c.Subject) || !revocation.IsUUID(c.UserID) {
				t.Errorf("Subject %q UserID %q, want the subject and its ExternalID", c.Subject, c.UserID)
			}
			if !c.HasScope("orders:read") || c.HasScope("orders:write") || !c.HasRole("admin") {
				t.Errorf("Scopes %q Roles %q", c.Scopes, c.Roles)
			}
			tenant, err := jwtx.ClaimAs[string](c, "tenant")
			if err != nil || tenant != "acme" {
				t.Errorf("ClaimAs tenant = %q, %v", tenant, err)
			}
			realm, err := jwtx.ClaimAs[struct{ Roles []string }](c, "realm_access")
			if err != nil || !slices.Equal(realm.Roles, []string{"offline_access"}) {
				t.Errorf("ClaimAs realm_access = %+v, %v", realm, err)
			}
			if _, err := jwtx.ClaimAs[string](c, "absent"); !errors.Is(err, jwtx.ErrClaimMissing) {
				t.Errorf("ClaimAs absent: %v, want ErrClaimMissing", err)
			}
			// The verified-token cache serves the same token again.
			c2, err := v.Validate(ctx, idp.Token(t, alg, cl))
			if err != nil || c2.UserID != c.UserID {
				t.Errorf("second Validate: %v", err)
			}
		})
	}
}

// The algorithm is the key's, never the token's: a signature of one
// scheme presented as another, a key used for an algorithm it is not
// bound to, HMAC with a public key as the secret, alg none, and tokens
// that cross from one issuer to the other are all refused.
func TestIssuers_AlgorithmConfusion(t *testing.T) {
	k, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), nil)
	ctx := context.Background()
	cl := idp.Claims("alice", extAudience)
	payload := mustJSON(cl)
	sign := func(alg, hdr string) string {
		tok, err := idp.SignRaw(alg, hdr, payload)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	swapHeader := func(tok, hdr string) string {
		_, rest, _ := strings.Cut(tok, ".")
		return b64(hdr) + "." + rest
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(idp.PublicKey(jwtx.AlgRS256))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		want  error
	}{
		{"RS256 signature under a PS256 header, RS256 kid", swapHeader(sign(jwtx.AlgRS256, `{"alg":"RS256","typ":"JWT","kid":"test-RS256"}`), `{"alg":"PS256","typ":"JWT","kid":"test-RS256"}`), jwtx.ErrBadSignature},
		{"PS256 signature on the RS256-bound key", sign(jwtx.AlgPS256, `{"alg":"PS256","typ":"JWT","kid":"test-RS256"}`), jwtx.ErrBadSignature},
		{"RS256 signature on the PS256-bound key", sign(jwtx.AlgRS256, `{"alg":"RS256","typ":"JWT","kid":"test-PS256"}`), jwtx.ErrBadSignature},
		{"ES256 header naming the RSA key", swapHeader(sign(jwtx.AlgES256, `{"alg":"ES256","typ":"JWT","kid":"test-ES256"}`), `{"alg":"ES256","typ":"JWT","kid":"test-RS256"}`), jwtx.ErrBadSignature},
		{"EdDSA header naming the EC key", swapHeader(sign(jwtx.AlgEdDSA, `{"alg":"EdDSA","typ":"JWT","kid":"test-EdDSA"}`), `{"alg":"EdDSA","typ":"JWT","kid":"test-ES256"}`), jwtx.ErrBadSignature},
		{"HS256 with the RSA public key as secret", jwtxtest.ResignHS256(sign(jwtx.AlgRS256, `{"alg":"RS256","typ":"JWT","kid":"test-RS256"}`), "test-RS256", rsaDER), jwtx.ErrAlgorithmNotAllowed},
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(payload) + ".", jwtx.ErrInvalidToken},
		{"ES384", swapHeader(sign(jwtx.AlgES256, `{"alg":"ES256","typ":"JWT","kid":"test-ES256"}`), `{"alg":"ES384","typ":"JWT","kid":"test-ES256"}`), jwtx.ErrAlgorithmNotAllowed},
		{"own issuer's key signing for the other issuer", k.SignRaw(`{"alg":"EdDSA","typ":"JWT","kid":"`+k.Signer.KeyID()+`"}`, payload), jwtx.ErrUnknownKey},
		{"other issuer's key signing for the own issuer", idp.Token(t, jwtx.AlgEdDSA, claimsMap(k, nil)), jwtx.ErrWrongType},
		{"other issuer's key signing for the own issuer, at+jwt", idp.Sign(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": "test-EdDSA"}, claimsMap(k, nil)), jwtx.ErrUnknownKey},
		{"unknown kid", swapHeader(sign(jwtx.AlgRS256, `{"alg":"RS256","typ":"JWT","kid":"test-RS256"}`), `{"alg":"RS256","typ":"JWT","kid":"other"}`), jwtx.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Validate(ctx, tc.token)
			if !errors.Is(err, tc.want) || c != nil {
				t.Errorf("Validate = %v, %v; want %v", c, err, tc.want)
			}
		})
	}
}

// An issuer limited to RS256 refuses its own ES256 tokens; an issuer that
// names no algorithm of a key type the key cannot serve is a configuration
// error.
func TestIssuers_AllowList(t *testing.T) {
	_, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), func(is *jwtx.Issuer) { is.Algorithms = []string{jwtx.AlgRS256} })
	ctx := context.Background()
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgRS256, idp.Claims("a", extAudience))); err != nil {
		t.Fatalf("RS256: %v", err)
	}
	for _, alg := range []string{jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA} {
		if _, err := v.Validate(ctx, idp.Token(t, alg, idp.Claims("a", extAudience))); !errors.Is(err, jwtx.ErrAlgorithmNotAllowed) {
			t.Errorf("%s with RS256 allowed only: %v, want ErrAlgorithmNotAllowed", alg, err)
		}
	}
}

// typ is checked per issuer: at+jwt by default, JWT when configured, an
// absent typ only when "" is listed.
func TestIssuers_Types(t *testing.T) {
	for _, tc := range []struct {
		types []string
		typ   any // nil: no typ member
		ok    bool
	}{
		{nil, "at+jwt", true}, {nil, "application/at+JWT", true}, {nil, "JWT", false}, {nil, nil, false},
		{[]string{"JWT"}, "jwt", true}, {[]string{"JWT"}, "at+jwt", false}, {[]string{"JWT"}, nil, false},
		{[]string{"JWT", ""}, nil, true}, {[]string{"at+jwt"}, "id_token+jwt", false}, {nil, 7, false},
	} {
		_, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), func(is *jwtx.Issuer) { is.Types = tc.types })
		hdr := map[string]any{"alg": "ES256", "kid": idp.KeyID(jwtx.AlgES256)}
		if tc.typ != nil {
			hdr["typ"] = tc.typ
		}
		_, err := v.Validate(context.Background(), idp.Sign(t, hdr, idp.Claims("a", extAudience)))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, jwtx.ErrWrongType)) {
			t.Errorf("Types %q, typ %v: %v", tc.types, tc.typ, err)
		}
	}
}

// Revocation works for another issuer's tokens through the ids
// revocation.ExternalID gives their jti, sid and sub; a token without jti
// is accepted only when allowed, and is still revoked with its user.
func TestIssuers_Revocation(t *testing.T) {
	store := jwtxtest.NewMemoryStore()
	_, idp, v := twoIssuers(t, store, func(is *jwtx.Issuer) { is.AllowNoJTI = true })
	ctx := context.Background()
	cl := idp.Claims("alice@example.com", extAudience)
	cl["sid"] = "kc-session-1"
	tok := idp.Token(t, jwtx.AlgRS256, cl)
	c, err := v.Validate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	q := c.Query()
	if q.JTI != revocation.ExternalID(idp.URL, cl["jti"].(string)) || q.SessionID != revocation.ExternalID(idp.URL, "kc-session-1") || q.UserID != c.UserID {
		t.Fatalf("Query = %+v", q)
	}
	store.RevokeToken(q.JTI)
	if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevoked) {
		t.Errorf("after TokenRevoked: %v, want ErrRevoked", err)
	}
	cl2 := idp.Claims("alice@example.com", extAudience)
	cl2["sid"] = "kc-session-1"
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgES256, cl2)); err != nil {
		t.Errorf("another token of the session: %v", err)
	}
	store.RevokeSession(q.SessionID)
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgES256, cl2)); !errors.Is(err, jwtx.ErrRevoked) {
		t.Errorf("after SessionRevoked: %v, want ErrRevoked", err)
	}
	noJTI := idp.Claims("bob", extAudience)
	delete(noJTI, "jti")
	tok3 := idp.Token(t, jwtx.AlgPS256, noJTI)
	c3, err := v.Validate(ctx, tok3)
	if err != nil {
		t.Fatalf("token without jti, allowed: %v", err)
	}
	store.SetUserVersion(c3.UserID, 1)
	if _, err := v.Validate(ctx, tok3); !errors.Is(err, jwtx.ErrRevoked) {
		t.Errorf("after UserTokensRevoked: %v, want ErrRevoked", err)
	}

	_, idp2, strict := twoIssuers(t, store, nil)
	noJTI2 := idp2.Claims("bob", extAudience)
	delete(noJTI2, "jti")
	if _, err := strict.Validate(ctx, idp2.Token(t, jwtx.AlgPS256, noJTI2)); !errors.Is(err, jwtx.ErrLegacyToken) {
		t.Errorf("token without jti, not allowed: %v, want ErrLegacyToken", err)
	}
}

// Ids of other issuers are bounded strings without control characters;
// this project's issuer keeps its UUID rules.
func TestIssuers_IDForms(t *testing.T) {
	k, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		sub  any
		ok   bool
	}{
		{"e-mail", "alice@example.com", true},
		{"255 bytes", strings.Repeat("a", jwtx.MaxIDLength), true},
		{"256 bytes", strings.Repeat("a", jwtx.MaxIDLength+1), false},
		{"empty", "", false},
		{"NUL", "a\x00b", false},
		{"newline", "a\nb", false},
		{"DEL", "a\x7fb", false},
		{"number", 42, false},
	} {
		cl := idp.Claims("x", extAudience)
		cl["sub"] = tc.sub
		_, err := v.Validate(ctx, idp.Token(t, jwtx.AlgES256, cl))
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, jwtx.ErrMalformedToken)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := v.Validate(ctx, kitToken(k, nil, map[string]any{"sub": "alice"})); !errors.Is(err, jwtx.ErrMalformedToken) {
		t.Errorf("own issuer, non-UUID sub: %v, want ErrMalformedToken", err)
	}
	if _, err := v.Validate(ctx, kitToken(k, nil, map[string]any{"ver": nil})); !errors.Is(err, jwtx.ErrMalformedToken) {
		t.Errorf("own issuer, jti without ver: %v, want ErrMalformedToken", err)
	}
}

// Each issuer's audience and leeway apply to its tokens only.
func TestIssuers_AudienceAndLeeway(t *testing.T) {
	_, idp, v := twoIssuers(t, jwtxtest.NewMemoryStore(), func(is *jwtx.Issuer) { is.Leeway = 2 * time.Minute })
	ctx := context.Background()
	cl := idp.Claims("a", "someone-else")
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgRS256, cl)); !errors.Is(err, jwtx.ErrWrongAudience) {
		t.Errorf("wrong audience: %v", err)
	}
	cl = idp.Claims("a", extAudience)
	cl["exp"] = now.Add(-90 * time.Second).Unix() // past, within the issuer's 2m leeway
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgRS256, cl)); err != nil {
		t.Errorf("expired 90s ago with a 2m leeway: %v", err)
	}
	cl["exp"] = now.Add(-3 * time.Minute).Unix()
	if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgRS256, cl)); !errors.Is(err, jwtx.ErrExpired) {
		t.Errorf("expired 3m ago with a 2m leeway: %v", err)
	}
}

// Configurations that could not work, or would widen what is accepted,
// are refused when the Validator is made.
func TestIssuers_ConfigErrors(t *testing.T) {
	k := fixedKit(t)
	idp := jwtxtest.NewIssuer(t, k.Now)
	good := staticIssuer(t, idp)
	for _, tc := range []struct {
		name   string
		change func(*jwtx.Config)
	}{
		{"two key sources", func(c *jwtx.Config) { c.Issuers[0].JWKSURL = idp.URL + "/jwks.json" }},
		{"HS256 without secrets", func(c *jwtx.Config) { c.Issuers[0].Algorithms = []string{jwtx.AlgHS256} }},
		{"RS256 with an Ed25519 key set", func(c *jwtx.Config) {
			c.Issuers[0] = jwtx.Issuer{Issuer: "https://x", Audience: "a", Keys: k.Keys, Algorithms: []string{jwtx.AlgRS256}}
		}},
		{"unsupported algorithm", func(c *jwtx.Config) { c.Issuers[0].Algorithms = []string{"RS512"} }},
		{"none", func(c *jwtx.Config) { c.Issuers[0].Algorithms = []string{"none"} }},
		{"same issuer twice", func(c *jwtx.Config) { c.Issuers = append(c.Issuers, good) }},
		{"same as the shorthand", func(c *jwtx.Config) { c.Issuers[0].Issuer = k.Issuer }},
		{"no audience", func(c *jwtx.Config) { c.Issuers[0].Audience = "" }},
		{"no keys", func(c *jwtx.Config) { c.Issuers[0].PublicKeys = nil }},
	} {
		cfg := k.Config(jwtxtest.NewMemoryStore())
		cfg.Issuers = []jwtx.Issuer{good}
		tc.change(&cfg)
		if _, err := jwtx.NewValidator(cfg); err == nil {
			t.Errorf("%s: NewValidator succeeded", tc.name)
		}
	}
	only := jwtx.Config{Issuers: []jwtx.Issuer{good}, Revocation: jwtxtest.NewMemoryStore(), Now: k.Now}
	if _, err := jwtx.NewValidator(only); err != nil {
		t.Errorf("Issuers alone: %v", err)
	}
}

// claimsMap is claims() as a map, for signers that take one.
func claimsMap(k *jwtxtest.Kit, changes map[string]any) map[string]any {
	m := map[string]any{
		"iss": k.Issuer, "sub": testSub, "aud": k.Audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(15 * time.Minute).Unix(),
		"jti": testJTI, "ver": 0,
	}
	return apply(m, changes)
}

// b64 is base64url without padding, as JOSE writes segments.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

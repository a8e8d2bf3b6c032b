package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// Tokens signed by npm jose (testdata/jose/sign.mjs) on the machine's
// Node.js: a JOSE implementation that shares no code, and no reading of
// the RFCs, with this project. jwtx must accept them through discovery,
// refuse them once tampered with, and enforce revocations published for
// their (iss, sub) and (iss, jti).

// joseAlgs are the algorithms sign.mjs signs with, one key each.
var joseAlgs = []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA}

// joseTypes are the typ headers sign.mjs writes, one token each.
var joseTypes = []string{"JWT", "at+jwt"}

// joseDir is the npm package of sign.mjs.
const joseDir = "testdata/jose"

// joseInstall serialises npm ci: parallel tests must not install into
// one node_modules at once.
var joseInstall sync.Mutex

// joseOutput is what sign.mjs prints.
type joseOutput struct {
	JWKS json.RawMessage `json:"jwks"`
	// Tokens holds, per claims set in input order, the token signed with
	// each algorithm (RS256, ...) and typ (JWT, at+jwt).
	Tokens []map[string]map[string]string `json:"tokens"`
}

// signWithJose runs sign.mjs on claims (one claims set per token subject)
// and returns its keys and tokens. Node.js and npm are required: the test
// fails, naming what to install, when they are missing.
func signWithJose(t *testing.T, claims ...map[string]any) joseOutput {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node (Node.js 20 or later) is required to sign tokens with npm jose: %v; install Debian's nodejs and npm packages (.ci/run does)", err)
	}
	installJose(t)
	in, err := json.Marshal(map[string]any{"claims": claims})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "sign.mjs")
	cmd.Dir = joseDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node sign.mjs: %v\n%s", err, stderr.String())
	}
	var out joseOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node sign.mjs printed no JSON (%v):\n%s", err, stdout.String())
	}
	if len(out.Tokens) != len(claims) {
		t.Fatalf("sign.mjs signed %d claims sets, want %d", len(out.Tokens), len(claims))
	}
	for i, byAlg := range out.Tokens {
		for _, alg := range joseAlgs {
			for _, typ := range joseTypes {
				if strings.Count(byAlg[alg][typ], ".") != 2 {
					t.Fatalf("sign.mjs: claims set %d has no %s %s token: %q", i, alg, typ, byAlg[alg][typ])
				}
			}
		}
	}
	return out
}

// installJose runs npm ci in joseDir when jose is not installed there yet
// (a fresh clone; .ci/run installs it beforehand).
func installJose(t *testing.T) {
	t.Helper()
	joseInstall.Lock()
	defer joseInstall.Unlock()
	if _, err := os.Stat(filepath.Join(joseDir, "node_modules", "jose", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("npm is required to install npm jose into %s: %v; install Debian's nodejs and npm packages (.ci/run does)", joseDir, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = joseDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s (needs the npm registry once): %v\n%s", joseDir, err, out)
	}
}

// joseIssuer is an identity provider on loopback: its discovery document
// and JWK Set, the keys of sign.mjs. Its URL is the issuer.
type joseIssuer struct {
	srv                     *httptest.Server
	jwks                    atomic.Pointer[[]byte]
	discoveryHits, jwksHits atomic.Int64
}

// startJoseIssuer serves /.well-known/openid-configuration (issuer = the
// server's own URL) and /jwks.json; SetJWKS provides the keys.
func startJoseIssuer(t *testing.T) *joseIssuer {
	t.Helper()
	is := &joseIssuer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		is.discoveryHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.srv.URL,
			"jwks_uri":                              is.srv.URL + "/jwks.json",
			"authorization_endpoint":                is.srv.URL + "/authorize",
			"token_endpoint":                        is.srv.URL + "/oauth/token",
			"response_types_supported":              []string{"code"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": joseAlgs,
		})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		is.jwksHits.Add(1)
		body := is.jwks.Load()
		if body == nil {
			http.Error(w, "no keys yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(*body)
	})
	is.srv = httptest.NewUnstartedServer(mux)
	is.srv.Start() // sets srv.URL before any handler runs
	t.Cleanup(is.srv.Close)
	return is
}

// URL is the issuer: the server's base URL, without a trailing slash.
func (is *joseIssuer) URL() string { return is.srv.URL }

// SetJWKS sets the JWK Set the server serves.
func (is *joseIssuer) SetJWKS(body []byte) { is.jwks.Store(&body) }

// Config is the jwtx.Issuer of this provider: keys through discovery,
// every algorithm of sign.mjs (the default), the given typ values.
func (is *joseIssuer) Config(audience string, types ...string) jwtx.Issuer {
	return jwtx.Issuer{
		Issuer:    is.URL(),
		Audience:  audience,
		Discovery: true,
		Types:     types,
		Remote:    jwtx.RemoteKeySetConfig{Client: is.srv.Client(), Timeout: 5 * time.Second},
	}
}

// joseClaims is a claims set as an Auth0-like provider writes it, for
// subject sub and token id jti (not UUIDs), valid for an hour.
func joseClaims(iss, sub, jti string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":                         iss,
		"sub":                         sub,
		"aud":                         []string{"orders", "https://api.example/"},
		"iat":                         now.Unix(),
		"nbf":                         now.Add(-time.Minute).Unix(),
		"exp":                         now.Add(time.Hour).Unix(),
		"jti":                         jti,
		"azp":                         "spa-client",
		"scope":                       "openid read:orders write:orders",
		"https://acme.example/tenant": "acme-eu",
		"realm_access":                map[string]any{"roles": []string{"buyer", "auditor"}},
	}
}

// newJoseValidator is a validator of the issuer's tokens with the given
// types, reading revocations from store.
func newJoseValidator(t *testing.T, is *joseIssuer, store jwtx.RevocationStore, types ...string) *jwtx.Validator {
	t.Helper()
	v, err := jwtx.NewValidator(jwtx.Config{Issuers: []jwtx.Issuer{is.Config("orders", types...)}, Revocation: store})
	if err != nil {
		t.Fatalf("validator of %s: %v", is.URL(), err)
	}
	return v
}

// memoryStore is a revocation store that knows of no revocation and has
// its checkpoint: the status of every token is known, and good.
func memoryStore() *jwtxtest.MemoryStore {
	m := jwtxtest.NewMemoryStore()
	m.SetInitialized(true)
	return m
}

// validate is v.Validate bounded by five seconds.
func validate(t *testing.T, v *jwtx.Validator, token string) (*jwtx.Claims, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return v.Validate(ctx, token)
}

// Tokens of every algorithm jose signs with are accepted through the
// issuer's discovery document, with typ JWT where the issuer is configured
// for it and at+jwt where it is not, and their claims read back as signed.
func TestThirdPartyJoseAccepted(t *testing.T) {
	is := startJoseIssuer(t)
	const sub, jti = "auth0|64f1c2d3e4b5a6978899aabb", "jose-token-1"
	out := signWithJose(t, joseClaims(is.URL(), sub, jti))
	is.SetJWKS(out.JWKS)
	tokens := out.Tokens[0]

	configs := []struct {
		name           string
		types          []string
		accept, refuse string
	}{
		{"TypeJWT", []string{"JWT"}, "JWT", "at+jwt"},
		{"TypeDefault", nil, "at+jwt", "JWT"},
	}
	var userID string
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			v := newJoseValidator(t, is, memoryStore(), cfg.types...)
			for _, alg := range joseAlgs {
				c, err := validate(t, v, tokens[alg][cfg.accept])
				if err != nil {
					t.Fatalf("%s typ %s: rejected: %v", alg, cfg.accept, err)
				}
				checkJoseClaims(t, alg, c, is.URL(), sub, jti)
				if userID == "" {
					userID = c.UserID
				} else if c.UserID != userID {
					t.Fatalf("%s: UserID %s, another algorithm's token of the same sub had %s", alg, c.UserID, userID)
				}
				if _, err := validate(t, v, tokens[alg][cfg.refuse]); !errors.Is(err, jwtx.ErrWrongType) {
					t.Fatalf("%s typ %s with Types %q: err = %v, want ErrWrongType", alg, cfg.refuse, cfg.types, err)
				}
			}
		})
	}
	if is.discoveryHits.Load() == 0 || is.jwksHits.Load() == 0 {
		t.Fatalf("keys did not come through discovery: %d discovery and %d JWKS requests", is.discoveryHits.Load(), is.jwksHits.Load())
	}
}

// checkJoseClaims compares c with joseClaims(iss, sub, jti).
func checkJoseClaims(t *testing.T, alg string, c *jwtx.Claims, iss, sub, jti string) {
	t.Helper()
	if c.Issuer != iss || c.Subject != sub || c.ID != jti || c.Version != 0 {
		t.Fatalf("%s: iss %q sub %q jti %q ver %d, want %q %q %q 0", alg, c.Issuer, c.Subject, c.ID, c.Version, iss, sub, jti)
	}
	if want := []string{"orders", "https://api.example/"}; !slices.Equal(c.Audience, want) {
		t.Fatalf("%s: aud %q, want %q", alg, c.Audience, want)
	}
	if want := []string{"openid", "read:orders", "write:orders"}; !slices.Equal(c.Scopes, want) || !c.HasScope("write:orders") {
		t.Fatalf("%s: scopes %q, want %q", alg, c.Scopes, want)
	}
	if tenant, err := jwtx.ClaimAs[string](c, "https://acme.example/tenant"); err != nil || tenant != "acme-eu" {
		t.Fatalf("%s: tenant claim %q, %v; want acme-eu", alg, tenant, err)
	}
	realm, err := jwtx.ClaimAs[struct {
		Roles []string `json:"roles"`
	}](c, "realm_access")
	if err != nil || !slices.Equal(realm.Roles, []string{"buyer", "auditor"}) {
		t.Fatalf("%s: realm_access %+v, %v", alg, realm, err)
	}
	if _, err := jwtx.ClaimAs[string](c, "no_such_claim"); !errors.Is(err, jwtx.ErrClaimMissing) {
		t.Fatalf("%s: missing claim: err = %v, want ErrClaimMissing", alg, err)
	}
	if time.Until(c.ExpiresAt) < 50*time.Minute || c.IssuedAt.IsZero() || c.NotBefore.IsZero() {
		t.Fatalf("%s: exp %s iat %s nbf %s", alg, c.ExpiresAt, c.IssuedAt, c.NotBefore)
	}
	q := c.Query()
	if !jwtx.IsUUID(c.UserID) || c.UserID == sub || q.UserID != c.UserID {
		t.Fatalf("%s: UserID %q (query %q), want a UUID standing for sub %q", alg, c.UserID, q.UserID, sub)
	}
	if !jwtx.IsUUID(q.JTI) || q.JTI == jti || q.JTI == c.UserID {
		t.Fatalf("%s: revocation jti %q, want a UUID standing for jti %q", alg, q.JTI, jti)
	}
}

// A jose token changed in any part is refused, for every algorithm, by a
// validator that accepts it untouched.
func TestThirdPartyJoseTampered(t *testing.T) {
	is := startJoseIssuer(t)
	out := signWithJose(t, joseClaims(is.URL(), "jane.doe@example.com", "jose-token-2"))
	is.SetJWKS(out.JWKS)
	v := newJoseValidator(t, is, memoryStore(), "JWT")
	kids := joseKIDs(t, out.JWKS)
	// Each algorithm's look-alike: the same key type (RS256 and PS256) or
	// another curve (ES256 and EdDSA).
	swap := map[string]string{jwtx.AlgRS256: jwtx.AlgPS256, jwtx.AlgPS256: jwtx.AlgRS256, jwtx.AlgES256: jwtx.AlgEdDSA, jwtx.AlgEdDSA: jwtx.AlgES256}

	for _, alg := range joseAlgs {
		t.Run(alg, func(t *testing.T) {
			token := out.Tokens[0][alg]["JWT"]
			if _, err := validate(t, v, token); err != nil {
				t.Fatalf("untouched token rejected: %v", err)
			}
			other := swap[alg]
			cases := []struct {
				name  string
				token string
				want  error
			}{
				{"PayloadOtherSub", editPayload(t, token, func(c map[string]any) { c["sub"] = "auth0|mallory" }), jwtx.ErrBadSignature},
				{"PayloadLongerExp", editPayload(t, token, func(c map[string]any) { c["exp"] = time.Now().Add(48 * time.Hour).Unix() }), jwtx.ErrBadSignature},
				{"SignatureBitFlipped", flipSignatureBit(t, token), jwtx.ErrBadSignature},
				{"SignatureOfAnotherToken", withSignatureOf(token, out.Tokens[0][alg]["at+jwt"]), jwtx.ErrInvalidToken},
				{"AlgSwapped", editHeader(t, token, func(h map[string]any) { h["alg"] = other }), jwtx.ErrInvalidToken},
				{"KidOfAnotherKey", editHeader(t, token, func(h map[string]any) { h["kid"] = kids[other] }), jwtx.ErrInvalidToken},
				{"AlgAndKidOfAnotherKey", editHeader(t, token, func(h map[string]any) { h["alg"], h["kid"] = other, kids[other] }), jwtx.ErrInvalidToken},
				{"AlgNone", noneToken(t, token), jwtx.ErrAlgorithmNotAllowed},
				{"UnknownKid", editHeader(t, token, func(h map[string]any) { h["kid"] = "not-" + kids[alg] }), jwtx.ErrUnknownKey},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c, err := validate(t, v, tc.token)
					if err == nil {
						t.Fatalf("tampered token accepted (sub %q)", c.Subject)
					}
					if !errors.Is(err, tc.want) || !errors.Is(err, jwtx.ErrInvalidToken) {
						t.Fatalf("err = %v, want %v (an invalid token)", err, tc.want)
					}
				})
			}
		})
	}
}

// joseKIDs returns the kid of each algorithm's key in jwks.
func joseKIDs(t *testing.T, jwks []byte) map[string]string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]string{}
	for _, k := range set.Keys {
		if k.Use != "sig" || k.KID == "" || k.D != "" {
			t.Fatalf("sign.mjs key %+v: want a public signing key with a kid", k)
		}
		kids[k.Alg] = k.KID
	}
	for _, alg := range joseAlgs {
		if kids[alg] == "" {
			t.Fatalf("sign.mjs JWKS has no %s key: %s", alg, jwks)
		}
	}
	if keys, err := jwtx.ParseJWKSKeys(jwks); err != nil || len(keys) != len(joseAlgs) {
		t.Fatalf("ParseJWKSKeys(jose JWKS) = %d keys, %v; want %d", len(keys), err, len(joseAlgs))
	}
	return kids
}

var b64 = base64.RawURLEncoding

// editSegment decodes segment i (0 header, 1 payload) of token as a JSON
// object, lets edit change it, and puts it back, leaving the signature.
func editSegment(t *testing.T, token string, i int, edit func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	raw, err := b64.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts[i] = b64.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func editHeader(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()
	return editSegment(t, token, 0, edit)
}

func editPayload(t *testing.T, token string, edit func(map[string]any)) string {
	t.Helper()
	return editSegment(t, token, 1, edit)
}

// flipSignatureBit flips one bit in the middle of the signature.
func flipSignatureBit(t *testing.T, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 0x10
	return token[:i+1] + b64.EncodeToString(sig)
}

// withSignatureOf is token's header and payload with from's signature.
func withSignatureOf(token, from string) string {
	return token[:strings.LastIndexByte(token, '.')] + from[strings.LastIndexByte(from, '.'):]
}

// noneToken is token unsigned: alg none and an empty signature.
func noneToken(t *testing.T, token string) string {
	t.Helper()
	token = editHeader(t, token, func(h map[string]any) { h["alg"] = "none" })
	return token[:strings.LastIndexByte(token, '.')+1]
}

// Revocations of another issuer's tokens go through the real pipeline
// (JetStream, the revocation service, Redis) under the ids jwtx derives
// from (iss, jti) and (iss, sub): a TokenRevoked ends one token of a user,
// a UserTokensRevoked every token of another; nobody else is affected.
func TestThirdPartyJoseRevocation(t *testing.T) {
	s := newStack(t, stackOpts{})
	is := startJoseIssuer(t)
	const (
		alice = "auth0|alice-7f3a"
		bob   = "bob@example.com"
		carol = "google-oauth2|104538223154985"
	)
	sets := []struct{ name, sub, jti string }{
		{"alice-1", alice, "alice-token-1"},
		{"alice-2", alice, "alice-token-2"},
		{"bob-1", bob, "bob-token-1"},
		{"bob-2", bob, "bob-token-2"},
		{"carol-1", carol, "carol-token-1"},
	}
	claims := make([]map[string]any, len(sets))
	for i, set := range sets {
		claims[i] = joseClaims(is.URL(), set.sub, set.jti)
	}
	out := signWithJose(t, claims...)
	is.SetJWKS(out.JWKS)

	opts, err := jwtx.RedisOptions(s.Redis.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	v := newJoseValidator(t, is, jwtx.NewRedisStore(rdb), "JWT", "at+jwt")

	// tokensOf lists every token (each algorithm and typ) of the named sets.
	tokensOf := func(names ...string) map[string]string {
		all := map[string]string{}
		for i, set := range sets {
			if !slices.Contains(names, set.name) {
				continue
			}
			for _, alg := range joseAlgs {
				for _, typ := range joseTypes {
					all[set.name+" "+alg+" "+typ] = out.Tokens[i][alg][typ]
				}
			}
		}
		return all
	}
	expect := func(when string, tokens map[string]string, want error) {
		t.Helper()
		for name, tok := range tokens {
			if _, err := validate(t, v, tok); !errors.Is(err, want) {
				t.Fatalf("%s: %s: err = %v, want %v", when, name, err, want)
			}
		}
	}
	expect("before any revocation", tokensOf("alice-1", "alice-2", "bob-1", "bob-2", "carol-1"), nil)

	claimsOf := func(name string) *jwtx.Claims {
		t.Helper()
		c, err := validate(t, v, tokensOf(name)[name+" RS256 JWT"])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return c
	}
	a1, b1 := claimsOf("alice-1"), claimsOf("bob-1")
	if a1.UserID == b1.UserID || a1.UserID != claimsOf("alice-2").UserID || b1.UserID != claimsOf("bob-2").UserID {
		t.Fatalf("UserIDs: alice %s and %s, bob %s and %s: want one per subject", a1.UserID, claimsOf("alice-2").UserID, b1.UserID, claimsOf("bob-2").UserID)
	}

	pub := events.NewPublisher(s.NATS.JetStream(t))
	publish := func(ev events.Event) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	rejectedSoon := func(what, token string) {
		t.Helper()
		testkit.Eventually(t, 10*time.Second, what+" enforced at the validator", func() bool {
			_, err := validate(t, v, token)
			return errors.Is(err, jwtx.ErrRevoked)
		})
	}

	// One token of alice, by its jti as the revocation service keys it.
	q := a1.Query()
	publish(events.TokenRevoked{UserID: q.UserID, JTI: q.JTI, ExpiresAt: a1.ExpiresAt, Reason: "idp_logout", Actor: events.SystemActor("idp-webhook")}.Event(time.Now()))
	rejectedSoon("TokenRevoked for alice-1", tokensOf("alice-1")["alice-1 RS256 JWT"])
	if n, err := rdb.Exists(t.Context(), jwtx.BlacklistKey(q.JTI)).Result(); err != nil || n != 1 {
		t.Fatalf("%s: exists = %d, %v", jwtx.BlacklistKey(q.JTI), n, err)
	}
	expect("after alice-1's TokenRevoked", tokensOf("alice-1"), jwtx.ErrRevoked)
	expect("after alice-1's TokenRevoked", tokensOf("alice-2", "bob-1", "bob-2", "carol-1"), nil)

	// Every token of bob: none has ver, which counts as 0, below 1.
	if b1.Version != 0 {
		t.Fatalf("bob's token has ver %d, want 0 (absent)", b1.Version)
	}
	publish(events.UserTokensRevoked{UserID: b1.UserID, Version: 1, Reason: "idp_event", Actor: events.SystemActor("idp-webhook")}.Event(time.Now()))
	rejectedSoon("UserTokensRevoked for bob", tokensOf("bob-2")["bob-2 EdDSA at+jwt"])
	expect("after bob's UserTokensRevoked", tokensOf("bob-1", "bob-2", "alice-1"), jwtx.ErrRevoked)
	expect("after bob's UserTokensRevoked", tokensOf("alice-2", "carol-1"), nil)
}

package jwtx_test

// The hostile-token corpus: every attack on the validator we know of, one
// named case each, with the sentinel it must be rejected with and the
// reason. The cases live in hostile_*_test.go by concern (algorithms and
// signatures, header and keys, claims, shape and precedence); this file
// builds the fixture, runs the corpus and proves the run causes no file,
// network or database access (hostile_io_test.go).

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// hostileCase is one token of the corpus.
type hostileCase struct {
	name    string
	token   string
	want    error  // sentinel Validate must match; nil only for boundary cases that must pass
	reason  string // the attack, and why this outcome is the right one
	legacy  bool   // validator configured with AcceptLegacy
	maxSize int    // validator MaxTokenSize when not the default
}

// fineSentinels are the reasons a token is invalid; a rejection must match
// exactly one of them.
var fineSentinels = []error{
	jwtx.ErrMissingToken, jwtx.ErrMalformedToken, jwtx.ErrTokenTooLarge, jwtx.ErrUnknownKey,
	jwtx.ErrBadSignature, jwtx.ErrExpired, jwtx.ErrNotYetValid, jwtx.ErrLegacyToken,
	jwtx.ErrAlgorithmNotAllowed, jwtx.ErrWrongType, jwtx.ErrCriticalHeader,
	jwtx.ErrWrongIssuer, jwtx.ErrWrongAudience,
}

// testKey derives a fixed Ed25519 key from name, so that tokens written to
// testdata (fuzz seeds) stay validly signed.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("eventjwt/pkg/jwtx test key: " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// counter counts requests and TCP connections to a test server.
type counter struct{ requests, conns atomic.Int64 }

// countingServer starts an httptest server answering body, counting what
// reaches it.
func countingServer(t testing.TB, body string) (url string, c *counter) {
	t.Helper()
	c = &counter{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json", c
}

// hostileFixture is what the corpus is built from: our issuer (fixed key,
// fixed clock), an attacker with a key of their own, and a key server the
// attacker controls, named by jku and x5u in every hostile header.
type hostileFixture struct {
	k        *jwtxtest.Kit
	kid      string
	attacker *jwtxtest.Kit
	keyURL   string   // serves the attacker's JWKS; must never be contacted
	keyHits  *counter // requests and connections to keyURL
	attJWK   map[string]any
}

func newHostileFixture(t testing.TB) *hostileFixture {
	t.Helper()
	clock := func() time.Time { return now }
	k := jwtxtest.New(t, jwtxtest.WithNow(clock), jwtxtest.WithKey(testKey("issuer")))
	att := jwtxtest.New(t, jwtxtest.WithNow(clock), jwtxtest.WithKey(testKey("attacker")))
	attJWKS, err := att.Keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	url, hits := countingServer(t, string(attJWKS))
	return &hostileFixture{
		k: k, kid: k.Signer.KeyID(), attacker: att, keyURL: url, keyHits: hits,
		attJWK: map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(att.Signer.PublicKey())},
	}
}

// header is a well-formed header naming our kid and, as every hostile
// header does, the attacker's key server in jku and x5u; changes as in
// the package helper header (nil removes a member).
func (f *hostileFixture) header(changes map[string]any) string {
	h := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": f.kid, "jku": f.keyURL, "x5u": f.keyURL}
	return mustJSON(apply(h, changes))
}

// claims is a well-formed claim set with changes.
func (f *hostileFixture) claims(changes map[string]any) string { return claims(f.k, changes) }

// token signs header and claim changes with our key.
func (f *hostileFixture) token(hdr, cl map[string]any) string {
	return f.k.SignRaw(f.header(hdr), f.claims(cl))
}

// corpus returns every case of every concern.
func (f *hostileFixture) corpus(t testing.TB) []hostileCase {
	t.Helper()
	var all []hostileCase
	for _, part := range [][]hostileCase{
		f.algorithmCases(t), f.signatureCases(), f.keyCases(), f.headerCases(),
		f.timeCases(), f.issuerAudienceCases(), f.identifierCases(), f.shapeCases(), f.precedenceCases(),
	} {
		all = append(all, part...)
	}
	seen := make(map[string]bool, len(all))
	for _, tc := range all {
		if seen[tc.name] || tc.reason == "" {
			t.Fatalf("corpus case %q: duplicate name or no reason", tc.name)
		}
		seen[tc.name] = true
	}
	return all
}

// validators builds one validator per configuration the corpus needs,
// all reading revocation state from store and keys from resolver.
type validators map[[2]int]*jwtx.Validator

func (f *hostileFixture) validators(t testing.TB, cases []hostileCase, resolver jwtx.KeyResolver, store jwtx.RevocationStore) validators {
	t.Helper()
	vs := validators{}
	for _, tc := range cases {
		key := tc.config()
		if vs[key] != nil {
			continue
		}
		cfg := f.k.Config(store)
		cfg.Keys, cfg.Resolver = nil, resolver
		cfg.AcceptLegacy, cfg.MaxTokenSize = tc.legacy, tc.maxSize
		vs[key] = mustValidator(t, cfg)
	}
	return vs
}

func (tc hostileCase) config() [2]int {
	legacy := 0
	if tc.legacy {
		legacy = 1
	}
	return [2]int{legacy, tc.maxSize}
}

func (vs validators) of(tc hostileCase) *jwtx.Validator { return vs[tc.config()] }

// checkOutcome checks one result of Validate against the case.
func checkOutcome(t *testing.T, tc hostileCase, c *jwtx.Claims, err error) {
	t.Helper()
	if tc.want == nil {
		if err != nil {
			t.Fatalf("Validate: %v; want it accepted (%s)", err, tc.reason)
		}
		if !jwtx.IsUUID(c.Subject) || !jwtx.IsUUID(c.ID) {
			t.Errorf("accepted claims sub=%q jti=%q", c.Subject, c.ID)
		}
		return
	}
	if err == nil {
		t.Fatalf("Validate accepted the token; want %v (%s)", tc.want, tc.reason)
	}
	t.Logf("rejected: %v", err)
	if c != nil {
		t.Errorf("Validate returned claims %+v with error %v", c, err)
	}
	if !errors.Is(err, tc.want) || !errors.Is(err, jwtx.ErrInvalidToken) {
		t.Errorf("Validate error %q; want %q (%s)", err, tc.want, tc.reason)
	}
	var n int
	for _, s := range fineSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("error %q matches %d reasons, want exactly 1", err, n)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error message of %d bytes echoes the token: %.80q...", len(err.Error()), err)
	}
}

// TestHostileTokens runs the corpus through Validate. A rejected token
// must never reach the revocation store (Redis); the attacker's key server
// named in jku/x5u must never be contacted.
func TestHostileTokens(t *testing.T) {
	f := newHostileFixture(t)
	cases := f.corpus(t)
	if len(cases) < 40 {
		t.Fatalf("corpus has %d cases, want at least 40", len(cases))
	}
	store := jwtxtest.NewMemoryStore()
	vs := f.validators(t, cases, f.k.Keys, store)
	accepted := 0
	for _, tc := range cases {
		if tc.want == nil {
			accepted++
		}
		t.Run(tc.name, func(t *testing.T) {
			c, err := vs.of(tc).Validate(context.Background(), tc.token)
			checkOutcome(t, tc, c, err)
		})
	}
	t.Logf("corpus: %d tokens, %d of them boundary cases that must pass", len(cases), accepted)
	if got := store.Calls(); got != accepted {
		t.Errorf("revocation store consulted %d times, want %d (only for tokens that passed every check)", got, accepted)
	}
	if r, c := f.keyHits.requests.Load(), f.keyHits.conns.Load(); r != 0 || c != 0 {
		t.Errorf("jku/x5u key server: %d requests, %d connections; keys were fetched from a token header", r, c)
	}
}

// TestHostileTokens_RemoteKeySet runs the corpus against a validator that
// follows our JWKS URL: the outcomes are the same, the attacker's server
// is never contacted, and the flood of unknown kids causes at most one
// refresh (the clock does not move, so the rate-limit interval never ends).
func TestHostileTokens_RemoteKeySet(t *testing.T) {
	f := newHostileFixture(t)
	cases := f.corpus(t)
	jwks, err := f.k.Keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	url, jwksHits := countingServer(t, string(jwks))
	remote, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: url, Now: f.k.Now, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	vs := f.validators(t, cases, remote, jwtxtest.NewMemoryStore())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := vs.of(tc).Validate(context.Background(), tc.token)
			checkOutcome(t, tc, c, err)
		})
	}
	if got := jwksHits.requests.Load(); got > 2 {
		t.Errorf("JWKS fetched %d times for %d hostile tokens, want the first fetch plus at most one refresh", got, len(cases))
	}
	if r, c := f.keyHits.requests.Load(), f.keyHits.conns.Load(); r != 0 || c != 0 {
		t.Errorf("jku/x5u key server: %d requests, %d connections", r, c)
	}
}

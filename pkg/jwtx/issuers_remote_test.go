package jwtx_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// Another issuer's keys found by OIDC discovery: every algorithm is
// accepted, and a token naming an issuer that is not configured causes
// no request at all.
func TestIssuers_Discovery(t *testing.T) {
	k := fixedKit(t)
	idp := jwtxtest.NewIssuer(t, k.Now)
	cfg := k.Config(jwtxtest.NewMemoryStore())
	cfg.Issuers = []jwtx.Issuer{idp.Config(extAudience)}
	v := mustValidator(t, cfg)
	ctx := context.Background()
	for _, alg := range allAlgs {
		c, err := v.Validate(ctx, idp.Token(t, alg, idp.Claims("alice", extAudience)))
		if err != nil {
			t.Fatalf("%s through discovery: %v", alg, err)
		}
		if c.Issuer != idp.URL {
			t.Errorf("iss %q", c.Issuer)
		}
	}
	if got := idp.Requests(); got != 2 {
		t.Errorf("%d requests to the issuer, want 2 (metadata, then the key set)", got)
	}

	// A token of an issuer that is not configured, whose iss is another
	// server's URL: refused, and neither server is asked anything.
	stranger := jwtxtest.NewIssuer(t, k.Now)
	before := idp.Requests()
	if _, err := v.Validate(ctx, stranger.Token(t, jwtx.AlgRS256, stranger.Claims("alice", extAudience))); !errors.Is(err, jwtx.ErrWrongIssuer) {
		t.Errorf("unconfigured issuer: %v, want ErrWrongIssuer", err)
	}
	if idp.Requests() != before || stranger.Requests() != 0 {
		t.Errorf("requests after an unconfigured issuer's token: idp %d (was %d), stranger %d", idp.Requests(), before, stranger.Requests())
	}
}

// A key set the issuer serves that the rules refuse (an RSA key of 1024
// bits signing the token) never verifies anything, and a discovery
// document naming another issuer is refused: tokens fail as unknown keys.
func TestIssuers_DiscoveryRefusesWhatWouldWiden(t *testing.T) {
	k := fixedKit(t)
	ctx := context.Background()
	t.Run("SmallRSA", func(t *testing.T) {
		idp := jwtxtest.NewIssuer(t, k.Now)
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		enc := base64.RawURLEncoding
		idp.SetJWKS([]byte(`{"keys":[{"kty":"RSA","kid":"small","alg":"RS256","n":"` + enc.EncodeToString(small.N.Bytes()) +
			`","e":"` + enc.EncodeToString(big.NewInt(int64(small.E)).Bytes()) + `"}]}`))
		cfg := k.Config(jwtxtest.NewMemoryStore())
		cfg.Issuers = []jwtx.Issuer{idp.Config(extAudience)}
		v := mustValidator(t, cfg)
		tok := signRS256(t, small, "small", idp.Claims("alice", extAudience))
		// Refused by its signature's size before any key is looked up;
		// the key set itself is refused too (jwk_test.go).
		if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrInvalidToken) {
			t.Errorf("token signed by a 1024-bit key: %v, want ErrInvalidToken", err)
		}
	})
	t.Run("IssuerMismatch", func(t *testing.T) {
		idp := jwtxtest.NewIssuer(t, k.Now)
		// The metadata names this issuer; the validator is told another
		// URL on the same server is the issuer.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"https://elsewhere.example","jwks_uri":"` + idp.URL + `/jwks.json"}`))
		}))
		t.Cleanup(srv.Close)
		cfg := k.Config(jwtxtest.NewMemoryStore())
		cfg.Issuers = []jwtx.Issuer{{Issuer: srv.URL, Audience: extAudience, Discovery: true, Types: []string{"JWT"}}}
		v := mustValidator(t, cfg)
		cl := idp.Claims("alice", extAudience)
		cl["iss"] = srv.URL
		if _, err := v.Validate(ctx, idp.Token(t, jwtx.AlgRS256, cl)); !errors.Is(err, jwtx.ErrKeysUnavailable) {
			t.Errorf("metadata of another issuer: %v, want ErrKeysUnavailable", err)
		}
		if idp.Requests() != 0 {
			t.Errorf("the key set named by the refused metadata was fetched %d times", idp.Requests())
		}
	})
}

// A discovery endpoint that never answers holds one validation for at
// most KeyWait, not for the fetch's own timeout.
func TestIssuers_SlowDiscoveryBoundedByKeyWait(t *testing.T) {
	k := fixedKit(t)
	idp := jwtxtest.NewIssuer(t, k.Now)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	const wait = 200 * time.Millisecond
	cfg := k.Config(jwtxtest.NewMemoryStore())
	cfg.KeyWait = wait
	cfg.Issuers = []jwtx.Issuer{{Issuer: srv.URL, Audience: extAudience, Discovery: true, Types: []string{"JWT"},
		Remote: jwtx.RemoteKeySetConfig{Timeout: 30 * time.Second}}}
	v := mustValidator(t, cfg)
	cl := idp.Claims("alice", extAudience)
	cl["iss"] = srv.URL
	start := time.Now()
	_, err := v.Validate(context.Background(), idp.Token(t, jwtx.AlgES256, cl))
	took := time.Since(start)
	if !errors.Is(err, jwtx.ErrKeysUnavailable) || !errors.Is(err, jwtx.ErrRevocationUnavailable) {
		t.Fatalf("token whose issuer's keys never loaded: %v, want ErrKeysUnavailable (503, retry)", err)
	}
	// The bound is KeyWait; the slack is for a loaded machine, far below
	// the 30 s the fetch itself may take.
	if took > wait+2*time.Second {
		t.Errorf("Validate took %s with a hung discovery endpoint, want about KeyWait (%s)", took, wait)
	}
	t.Logf("Validate with a hung discovery endpoint: %v after %s", err, took)
}

// signRS256 signs claims with key under kid, header typ JWT.
func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	tok, err := jwtxtest.SignRSA(key, `{"alg":"RS256","typ":"JWT","kid":"`+kid+`"}`, mustJSON(claims))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// RefreshUntilLoaded keeps trying a JWK Set that is not served yet and
// returns once it is; with nothing ever served it returns at the deadline.
func TestRemoteKeySet_RefreshUntilLoaded(t *testing.T) {
	k := fixedKit(t)
	jwks, err := k.Keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if hits.Add(1) >= 3 {
			up.Store(true)
		}
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	keys, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: srv.URL, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := keys.RefreshUntilLoaded(ctx, 10*time.Millisecond); err != nil || !keys.Loaded() {
		t.Fatalf("RefreshUntilLoaded = %v (loaded %v) after %d requests", err, keys.Loaded(), hits.Load())
	}
	if hits.Load() < 3 {
		t.Errorf("loaded after %d requests, want the third", hits.Load())
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	never, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: down.URL, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := never.RefreshUntilLoaded(short, 10*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) || never.Loaded() {
		t.Errorf("never served: %v, want DeadlineExceeded", err)
	}
}

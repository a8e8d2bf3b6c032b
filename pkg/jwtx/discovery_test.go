package jwtx_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// idpServer is an identity provider on loopback serving a discovery
// document at /.well-known/openid-configuration and a JWK Set at /jwks,
// both changeable while a test runs. Its handlers can block; they are
// released when the test ends.
type idpServer struct {
	url      string // the issuer: the server's base URL
	discHits atomic.Int64
	jwksHits atomic.Int64
	release  chan struct{} // closed at the end of the test

	mu       sync.Mutex
	disc     http.HandlerFunc
	jwks     http.HandlerFunc
	discBody string
	jwksBody string
	discCC   string // Cache-Control of the discovery document
	jwksCC   string
}

func newIDPServer(t *testing.T, jwks []byte) *idpServer {
	t.Helper()
	s := &idpServer{release: make(chan struct{}), jwksBody: string(jwks)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		disc, jh, db, jb, dcc, jcc := s.disc, s.jwks, s.discBody, s.jwksBody, s.discCC, s.jwksCC
		s.mu.Unlock()
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			s.discHits.Add(1)
			if disc != nil {
				disc(w, r)
				return
			}
			if dcc != "" {
				w.Header().Set("Cache-Control", dcc)
			}
			_, _ = w.Write([]byte(db))
		case "/jwks":
			s.jwksHits.Add(1)
			if jh != nil {
				jh(w, r)
				return
			}
			if jcc != "" {
				w.Header().Set("Cache-Control", jcc)
			}
			_, _ = w.Write([]byte(jb))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(s.release) }) // runs first: handlers return, Close does not wait
	s.url = srv.URL
	s.setDiscovery(t, map[string]any{"issuer": s.url, "jwks_uri": s.url + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	return s
}

func (s *idpServer) setDiscovery(t *testing.T, doc map[string]any) {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	s.set(func(s *idpServer) { s.discBody, s.disc = string(b), nil })
}

func (s *idpServer) set(f func(s *idpServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// block waits until the client gives up or the test ends.
func (s *idpServer) block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.release:
	}
}

// newDiscoveryRemote returns a RemoteKeySet for s by discovery, with every
// algorithm allowed.
func newDiscoveryRemote(t *testing.T, s *idpServer, clock *fakeClock, change func(*jwtx.RemoteKeySetConfig)) *jwtx.RemoteKeySet {
	t.Helper()
	cfg := jwtx.RemoteKeySetConfig{Issuer: s.url, Discovery: true, Algorithms: []string{}, Now: clock.Now, Logger: discard, Timeout: 2 * time.Second}
	if change != nil {
		change(&cfg)
	}
	r, err := jwtx.NewRemoteKeySet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRemoteKeySet_Discovery(t *testing.T) {
	rk := testRSAKey(t)
	srv := newIDPServer(t, jwksOf(t, jwkOf(t, "r1", rk.Public()).with("alg", "RS256", "use", "sig")))
	srv.set(func(s *idpServer) { s.discCC, s.jwksCC = "max-age=3600", "max-age=60" })
	clock := newFakeClock(now)
	r := newDiscoveryRemote(t, srv, clock, nil)
	ctx := context.Background()
	if srv.discHits.Load() != 0 {
		t.Fatal("NewRemoteKeySet fetched")
	}
	k, ok := r.LookupKeyRefresh(ctx, "r1")
	if !ok {
		t.Fatal("key of the discovered JWKS not found")
	}
	if !k.Verify(jwtx.AlgRS256, jwkInput, jwkSign(t, jwtx.AlgRS256, rk, jwkInput)) || k.Allows(jwtx.AlgPS256) {
		t.Errorf("key algorithms %v, want RS256 verifying", k.Algorithms())
	}
	if d, j := srv.discHits.Load(), srv.jwksHits.Load(); d != 1 || j != 1 {
		t.Fatalf("%d discovery and %d JWKS fetches, want 1 and 1", d, j)
	}

	// The JWKS goes stale first: only it is fetched again.
	clock.Advance(time.Minute)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d, j := srv.discHits.Load(), srv.jwksHits.Load(); d != 1 || j != 2 {
		t.Fatalf("JWKS stale: %d discovery and %d JWKS fetches, want 1 and 2", d, j)
	}

	// The document goes stale: it is fetched again, as part of the refresh.
	clock.Advance(time.Hour)
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d, j := srv.discHits.Load(), srv.jwksHits.Load(); d != 2 || j != 3 {
		t.Fatalf("document stale: %d discovery and %d JWKS fetches, want 2 and 3", d, j)
	}

	// Unknown kids: one refresh per RefreshInterval, document included
	// only when stale.
	for range 20 {
		if _, ok := r.LookupKeyRefresh(ctx, "unknown"); ok {
			t.Fatal("unknown kid found")
		}
	}
	if d, j := srv.discHits.Load(), srv.jwksHits.Load(); d != 2 || j != 4 {
		t.Errorf("20 unknown kids: %d discovery and %d JWKS fetches, want 2 and 4", d, j)
	}
}

func TestRemoteKeySet_DiscoveryIssuerWithSlash(t *testing.T) {
	ek := testECKey(t)
	srv := newIDPServer(t, jwksOf(t, jwkOf(t, "e1", ek.Public())))
	// OIDC Discovery 4.3: the document's issuer is the configured one, as
	// is, slash included; the path drops the slash.
	srv.setDiscovery(t, map[string]any{"issuer": srv.url + "/", "jwks_uri": srv.url + "/jwks"})
	r := newDiscoveryRemote(t, srv, newFakeClock(now), func(c *jwtx.RemoteKeySetConfig) { c.Issuer = srv.url + "/" })
	if _, ok := r.LookupKeyRefresh(context.Background(), "e1"); !ok {
		t.Fatal("key not found")
	}
	r = newDiscoveryRemote(t, srv, newFakeClock(now), nil) // issuer without the slash
	if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("issuer %q accepted for a document naming %q: %v", srv.url, srv.url+"/", err)
	}
}

func TestRemoteKeySet_DiscoveryPinnedURL(t *testing.T) {
	srv := newIDPServer(t, jwksOf(t, jwkOf(t, "d1", testEdKey(t).Public())))
	ctx := context.Background()
	r := newDiscoveryRemote(t, srv, newFakeClock(now), func(c *jwtx.RemoteKeySetConfig) { c.URL = srv.url + "/jwks" })
	if err := r.Refresh(ctx); err != nil {
		t.Fatalf("jwks_uri equal to URL: %v", err)
	}
	r = newDiscoveryRemote(t, srv, newFakeClock(now), func(c *jwtx.RemoteKeySetConfig) { c.URL = srv.url + "/other-jwks" })
	if err := r.Refresh(ctx); err == nil {
		t.Error("jwks_uri other than the configured URL accepted")
	}
	if n := srv.jwksHits.Load(); n != 1 {
		t.Errorf("%d JWKS fetches, want 1 (none for the mismatch)", n)
	}
}

func TestRemoteKeySet_DiscoveryFailureKeepsLastGood(t *testing.T) {
	rk := testRSAKey(t)
	good := jwksOf(t, jwkOf(t, "r1", rk.Public()))
	srv := newIDPServer(t, good)
	clock := newFakeClock(now)
	r := newDiscoveryRemote(t, srv, clock, nil)
	ctx := context.Background()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// The document turns hostile and the JWKS at a new place would carry
	// other keys: neither is used.
	srv.setDiscovery(t, map[string]any{"issuer": "https://evil.example", "jwks_uri": srv.url + "/jwks"})
	srv.set(func(s *idpServer) {
		s.jwksBody = string(jwksOf(t, jwkOf(t, "r2", rk.Public())))
	})
	clock.Advance(2 * jwtx.DefaultMaxCacheAge)
	jwksBefore := srv.jwksHits.Load()
	if err := r.Refresh(ctx); err == nil {
		t.Fatal("refresh with a mismatched issuer succeeded")
	}
	if n := srv.jwksHits.Load(); n != jwksBefore {
		t.Error("JWKS fetched after a failed discovery")
	}
	if _, ok := r.LookupKey("r1"); !ok {
		t.Error("last good key lost")
	}
	if _, ok := r.LookupKey("r2"); ok {
		t.Error("key loaded despite the failed discovery")
	}
	// The document recovers: the refresh succeeds and the new keys load.
	srv.setDiscovery(t, map[string]any{"issuer": srv.url, "jwks_uri": srv.url + "/jwks"})
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.LookupKey("r2"); !ok {
		t.Error("new key not loaded after discovery recovered")
	}
}

func TestNewRemoteKeySet_DiscoveryConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  jwtx.RemoteKeySetConfig
		ok   bool
	}{
		{"HTTPS", jwtx.RemoteKeySetConfig{Issuer: "https://idp.example/realms/a", Discovery: true}, true},
		{"Loopback", jwtx.RemoteKeySetConfig{Issuer: "http://127.0.0.1:8080", Discovery: true}, true},
		{"HTTPAllowed", jwtx.RemoteKeySetConfig{Issuer: "http://idp.internal", Discovery: true, AllowInsecureHTTP: true}, true},
		{"WithPinnedURL", jwtx.RemoteKeySetConfig{Issuer: "https://idp.example", URL: "https://keys.example/jwks", Discovery: true}, true},
		{"IssuerIgnoredWithoutDiscovery", jwtx.RemoteKeySetConfig{Issuer: "not a url", URL: "https://idp.example/jwks"}, true},
		{"Algorithms", jwtx.RemoteKeySetConfig{URL: "https://idp.example/jwks", Algorithms: []string{jwtx.AlgRS256, jwtx.AlgES256}}, true},
		{"ErrNoIssuer", jwtx.RemoteKeySetConfig{Discovery: true}, false},
		{"ErrHTTPIssuer", jwtx.RemoteKeySetConfig{Issuer: "http://idp.example", Discovery: true}, false},
		{"ErrRelativeIssuer", jwtx.RemoteKeySetConfig{Issuer: "idp.example", Discovery: true}, false},
		{"ErrIssuerQuery", jwtx.RemoteKeySetConfig{Issuer: "https://idp.example/?tenant=a", Discovery: true}, false},
		{"ErrIssuerFragment", jwtx.RemoteKeySetConfig{Issuer: "https://idp.example/#a", Discovery: true}, false},
		{"ErrBadPinnedURL", jwtx.RemoteKeySetConfig{Issuer: "https://idp.example", URL: "http://keys.example/jwks", Discovery: true}, false},
		{"ErrAlgorithmsHS256", jwtx.RemoteKeySetConfig{URL: "https://idp.example/jwks", Algorithms: []string{jwtx.AlgHS256}}, false},
		{"ErrAlgorithmsNone", jwtx.RemoteKeySetConfig{URL: "https://idp.example/jwks", Algorithms: []string{"none"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := jwtx.NewRemoteKeySet(tc.cfg); (err == nil) != tc.ok {
				t.Errorf("NewRemoteKeySet: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

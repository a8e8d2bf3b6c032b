package jwtx_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// jwksServer serves a JWK Set that tests change as they go.
type jwksServer struct {
	url  string
	hits atomic.Int64

	mu           sync.Mutex
	handler      http.HandlerFunc // when set, answers instead of body
	body         string
	cacheControl string
}

func newJWKSServer(t *testing.T, keys *jwtx.KeySet) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(t, keys)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		h, body, cc := s.handler, s.body, s.cacheControl
		s.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/.well-known/jwks.json"
	return s
}

func (s *jwksServer) setKeys(t *testing.T, keys *jwtx.KeySet) {
	t.Helper()
	data, err := keys.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.handler = string(data), nil
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func newRemote(t *testing.T, url string, clock *fakeClock, change func(*jwtx.RemoteKeySetConfig)) *jwtx.RemoteKeySet {
	t.Helper()
	cfg := jwtx.RemoteKeySetConfig{URL: url, Now: clock.Now, Logger: discard, Timeout: 2 * time.Second}
	if change != nil {
		change(&cfg)
	}
	r, err := jwtx.NewRemoteKeySet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRemoteKeySet_FetchesLazilyAndCaches(t *testing.T) {
	k := fixedKit(t)
	srv := newJWKSServer(t, k.Keys)
	srv.set(func(s *jwksServer) { s.cacheControl = "public, max-age=120" })
	clock := newFakeClock(now)
	r := newRemote(t, srv.url, clock, nil)
	ctx := context.Background()
	kid := k.Signer.KeyID()
	if srv.hits.Load() != 0 {
		t.Fatal("NewRemoteKeySet fetched")
	}
	if _, ok := r.LookupRefresh(ctx, kid); !ok {
		t.Fatal("first lookup did not fetch the key")
	}
	for range 50 {
		if _, ok := r.LookupRefresh(ctx, kid); !ok {
			t.Fatal("cached key lost")
		}
	}
	clock.Advance(119 * time.Second)
	r.Lookup(kid)
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches within max-age, want 1", n)
	}
	// Stale: the cached set keeps answering while it is refreshed.
	next := jwtxtest.New(t)
	srv.setKeys(t, jwtx.NewKeySet(k.Signer.PublicKey(), next.Signer.PublicKey()))
	clock.Advance(time.Second)
	if _, ok := r.Lookup(kid); !ok {
		t.Fatal("stale set not served during the refresh")
	}
	eventually(t, "the background refresh", func() bool { _, ok := r.Lookup(next.Signer.KeyID()); return ok })
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestRemoteKeySet_CacheControl(t *testing.T) {
	k := fixedKit(t)
	tests := []struct {
		header string
		want   time.Duration // how long the set is used
	}{
		{"", jwtx.DefaultCacheAge},
		{"public, max-age=300", 5 * time.Minute},
		{"max-age=7200", jwtx.DefaultMaxCacheAge},
		{"max-age=5", jwtx.DefaultMinCacheAge},
		{"no-store", jwtx.DefaultMinCacheAge},
		{"max-age=600, max-age=120", 2 * time.Minute},
		{"Max-Age=180", 3 * time.Minute},
		{"max-age=banana", jwtx.DefaultCacheAge},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			srv := newJWKSServer(t, k.Keys)
			srv.set(func(s *jwksServer) { s.cacheControl = tc.header })
			clock := newFakeClock(now)
			r := newRemote(t, srv.url, clock, nil)
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.want - time.Second)
			r.Lookup(k.Signer.KeyID())
			if n := srv.hits.Load(); n != 1 {
				t.Fatalf("refreshed before %s", tc.want)
			}
			clock.Advance(time.Second)
			r.Lookup(k.Signer.KeyID())
			eventually(t, "a refresh at "+tc.want.String(), func() bool { return srv.hits.Load() == 2 })
		})
	}
}

func TestRemoteKeySet_UnknownKidsRateLimited(t *testing.T) {
	k := fixedKit(t)
	srv := newJWKSServer(t, k.Keys)
	clock := newFakeClock(now)
	r := newRemote(t, srv.url, clock, func(c *jwtx.RemoteKeySetConfig) { c.RefreshInterval = 30 * time.Second })
	v := mustValidator(t, jwtx.Config{Resolver: r, Issuer: k.Issuer, Audience: k.Audience, DisableRevocationCheck: true, Now: clock.Now})
	ctx := context.Background()
	if err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				tok := jwtxtest.New(t, jwtxtest.WithNow(clock.Now)).Token(t, testSub, int64(i))
				if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrUnknownKey) {
					t.Errorf("token of an unknown key: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("200 unknown kids: %d fetches, want 2 (start-up + one refresh)", n)
	}
	clock.Advance(29 * time.Second)
	flood()
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("29 s later: %d fetches, want still 2", n)
	}
	clock.Advance(time.Second)
	flood()
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("one interval later: %d fetches, want 3", n)
	}
}

func TestRemoteKeySet_PicksUpRotation(t *testing.T) {
	clock := newFakeClock(now)
	ring, err := jwtx.NewKeyRing(jwtx.KeyRingConfig{Signer: jwtx.SignerConfig{
		Key: testKey("remote-1"), Issuer: "https://auth.test", Audience: "api", TTL: time.Minute, Now: clock.Now,
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, ring.Keys())
	r := newRemote(t, srv.url, clock, nil)
	v := mustValidator(t, jwtx.Config{Resolver: r, Issuer: "https://auth.test", Audience: "api", DisableRevocationCheck: true, Now: clock.Now})
	parse := func(tok string) error { _, err := v.Validate(context.Background(), tok); return err }
	old, _, err := ring.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := parse(old); err != nil {
		t.Fatal(err)
	}
	oldKid, _, err := ring.Rotate(testKey("remote-2"))
	if err != nil {
		t.Fatal(err)
	}
	srv.setKeys(t, ring.Keys())
	tok, _, err := ring.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := parse(tok); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if err := parse(old); err != nil {
		t.Fatalf("token of the retired key: %v", err)
	}
	clock.Advance(time.Minute + jwtx.DefaultLeeway) // the retired key's deadline
	srv.setKeys(t, ring.Keys())
	clock.Advance(jwtx.DefaultCacheAge) // the cache expires; the next lookup refreshes
	r.Lookup("")
	eventually(t, "the retired key to disappear", func() bool {
		_, ok := r.Lookup(oldKid)
		return !ok
	})
	if n := srv.hits.Load(); n != 3 {
		t.Errorf("%d fetches, want 3 (first, rotation miss, expiry)", n)
	}
}

func TestRemoteKeySet_KeepsLastGoodSet(t *testing.T) {
	k := fixedKit(t)
	kid := k.Signer.KeyID()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("redirect followed")
	}))
	t.Cleanup(other.Close)
	huge := `{"keys":[],"pad":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"Status500", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }},
		{"Status404", http.NotFound},
		{"Garbage", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>login</html>")) }},
		{"EmptySet", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) }},
		{"PrivateKey", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"x"}]}`))
		}},
		{"Oversize", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(huge)) }},
		{"OversizeChunked", func(w http.ResponseWriter, _ *http.Request) {
			for range 20 {
				_, _ = w.Write([]byte(strings.Repeat(" ", 64<<10)))
				w.(http.Flusher).Flush()
			}
		}},
		{"Redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL, http.StatusFound) }},
		{"Hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, k.Keys)
			clock := newFakeClock(now)
			r := newRemote(t, srv.url, clock, func(c *jwtx.RemoteKeySetConfig) { c.Timeout = 200 * time.Millisecond })
			ctx := context.Background()
			if err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			srv.set(func(s *jwksServer) { s.handler = tc.h })
			err := r.Refresh(ctx)
			if err == nil {
				t.Fatal("Refresh succeeded on a bad answer")
			}
			t.Logf("Refresh: %v", err)
			if _, ok := r.LookupRefresh(ctx, kid); !ok {
				t.Error("last good key lost")
			}
			clock.Advance(time.Hour) // stale: background refresh fails too
			if _, ok := r.LookupRefresh(ctx, kid); !ok {
				t.Error("last good key lost after a failed background refresh")
			}
		})
	}
}

func TestNewRemoteKeySet_Config(t *testing.T) {
	tests := []struct {
		name string
		cfg  jwtx.RemoteKeySetConfig
		ok   bool
	}{
		{"HTTPS", jwtx.RemoteKeySetConfig{URL: "https://auth.example/.well-known/jwks.json"}, true},
		{"LoopbackV4", jwtx.RemoteKeySetConfig{URL: "http://127.0.0.1:8080/jwks"}, true},
		{"LoopbackV6", jwtx.RemoteKeySetConfig{URL: "http://[::1]:8080/jwks"}, true},
		{"Localhost", jwtx.RemoteKeySetConfig{URL: "http://localhost:8080/jwks"}, true},
		{"HTTPAllowed", jwtx.RemoteKeySetConfig{URL: "http://auth.internal/jwks", AllowInsecureHTTP: true}, true},
		{"ErrHTTP", jwtx.RemoteKeySetConfig{URL: "http://auth.internal/jwks"}, false},
		{"ErrHTTPLocalhostLookalike", jwtx.RemoteKeySetConfig{URL: "http://localhost.evil.test/jwks"}, false},
		{"ErrFile", jwtx.RemoteKeySetConfig{URL: "file:///etc/jwks.json"}, false},
		{"ErrRelative", jwtx.RemoteKeySetConfig{URL: "/.well-known/jwks.json"}, false},
		{"ErrEmpty", jwtx.RemoteKeySetConfig{}, false},
		{"ErrNegative", jwtx.RemoteKeySetConfig{URL: "https://a.example", Timeout: -1}, false},
		{"ErrMinAboveMax", jwtx.RemoteKeySetConfig{URL: "https://a.example", MinCacheAge: time.Hour, MaxCacheAge: time.Minute}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := jwtx.NewRemoteKeySet(tc.cfg); (err == nil) != tc.ok {
				t.Errorf("NewRemoteKeySet: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	k := fixedKit(t)
	cfg := k.Config(nil)
	cfg.Resolver = jwtx.NewKeySet()
	if _, err := jwtx.NewValidator(cfg); err == nil {
		t.Error("NewValidator accepted both Keys and Resolver")
	}
}

func TestRemoteKeySet_TypedKeys(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	srv := newIDPServer(t, jwksOf(t, jwkOf(t, "r", rk.Public()), jwkOf(t, "e", ek.Public()).with("alg", "ES256"), jwkOf(t, "d", dk.Public())))
	clock := newFakeClock(now)
	r := newRemote(t, srv.url+"/jwks", clock, func(c *jwtx.RemoteKeySetConfig) {
		c.Algorithms = []string{jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA}
	})
	ctx := context.Background()
	for kid, want := range map[string][]string{"r": {jwtx.AlgPS256}, "e": {jwtx.AlgES256}, "d": {jwtx.AlgEdDSA}} {
		k, ok := r.LookupKeyRefresh(ctx, kid)
		if !ok {
			t.Fatalf("kid %s not found", kid)
		}
		if got := k.Algorithms(); !slices.Equal(got, want) {
			t.Errorf("kid %s: Algorithms %v, want %v", kid, got, want)
		}
	}
	// Lookup and LookupRefresh keep answering Ed25519 keys only, without
	// refreshing for a key of another type.
	if pub, ok := r.LookupRefresh(ctx, "d"); !ok || !pub.Equal(dk.Public()) {
		t.Error("LookupRefresh lost the Ed25519 key")
	}
	if _, ok := r.Lookup("r"); ok {
		t.Error("Lookup returned an RSA key as Ed25519")
	}
	if _, ok := r.LookupRefresh(ctx, "e"); ok {
		t.Error("LookupRefresh returned an EC key as Ed25519")
	}
	if n := srv.jwksHits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	// An unknown kid refreshes once per RefreshInterval.
	for range 10 {
		if _, ok := r.LookupKeyRefresh(ctx, "unknown"); ok {
			t.Fatal("unknown kid found")
		}
	}
	if n := srv.jwksHits.Load(); n != 2 {
		t.Errorf("10 unknown kids: %d fetches, want 2", n)
	}
}

func TestRemoteKeySet_OwnRulesTyped(t *testing.T) {
	k := fixedKit(t)
	srv := newJWKSServer(t, k.Keys)
	r := newRemote(t, srv.url, newFakeClock(now), nil) // Algorithms nil: ParseJWKS
	pk, ok := r.LookupKeyRefresh(context.Background(), k.Signer.KeyID())
	if !ok {
		t.Fatal("own key not found")
	}
	if got := pk.Algorithms(); !slices.Equal(got, []string{jwtx.AlgEdDSA}) || pk.Thumbprint() != k.Signer.KeyID() {
		t.Errorf("own key: Algorithms %v, thumbprint %s", got, pk.Thumbprint())
	}
	// Another issuer's RSA set is not this project's JWKS.
	srv.set(func(s *jwksServer) { s.body = string(jwksOf(t, jwkOf(t, "r", testRSAKey(t).Public()))) })
	if err := r.Refresh(context.Background()); err == nil {
		t.Error("RSA-only set accepted under the own rules")
	}
}

func TestRemoteKeySet_LogsSkippedKeys(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	srv := newIDPServer(t, jwksOf(t, jwkOf(t, "d", testEdKey(t).Public()), jwkOf(t, "small", testRSA1024(t).Public())))
	r := newRemote(t, srv.url+"/jwks", newFakeClock(now), func(c *jwtx.RemoteKeySetConfig) {
		c.Algorithms, c.Logger = []string{}, logger
	})
	for range 2 {
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "1 RSA key of 1024 bits"); n != 1 {
		t.Errorf("skipped key logged %d times over two identical refreshes, want once:\n%s", n, out)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

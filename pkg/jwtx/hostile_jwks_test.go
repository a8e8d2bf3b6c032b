package jwtx_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// TestParseJWKSKeys_HostileSetRefused: inputs that refuse the whole set,
// good keys beside them included.
func TestParseJWKSKeys_HostileSetRefused(t *testing.T) {
	rk, dk := testRSAKey(t), testEdKey(t)
	good := jwkOf(t, "good", dk.Public())
	rsaJWK := jwkOf(t, "r", rk.Public())
	set := func(keys ...jwkMap) string { return string(jwksOf(t, append([]jwkMap{good}, keys...)...)) }
	goodJSON := string(jwkOK(json.Marshal(good))(t))
	many := make([]jwkMap, 101)
	for i := range many {
		many[i] = good.with("kid", "k"+strconv.Itoa(i))
	}
	cases := []struct{ name, body string }{
		{"Oversize", `{"keys":[` + goodJSON + `],"pad":"` + strings.Repeat("a", 1<<20) + `"}`},
		{"DuplicateKeysMember", `{"keys":[],"keys":[` + goodJSON + `]}`},
		{"DuplicateKeysMemberCase", `{"keys":[` + goodJSON + `],"KEYS":[]}`},
		{"DuplicateMemberInKey", `{"keys":[` + strings.Replace(goodJSON, `{`, `{"kid":"other",`, 1) + `]}`},
		{"CaseVariantPrivateMember", `{"keys":[` + strings.Replace(goodJSON, `{`, `{"D":"AAAA",`, 1) + `]}`},
		{"CaseVariantKty", `{"keys":[` + strings.Replace(goodJSON, `"kty"`, `"Kty"`, 1) + `]}`},
		{"TooDeep", `{"keys":[` + goodJSON + `],"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`},
		{"NotUTF8", `{"keys":[` + goodJSON + `],"x":"` + "\xff" + `"}`},
		{"TrailingData", `{"keys":[` + goodJSON + `]}{}`},
		{"NotAnObject", `[` + goodJSON + `]`},
		{"NoKeys", `{"k":[]}`},
		{"KeysNull", `{"keys":null}`},
		{"KeysObject", `{"keys":{"a":` + goodJSON + `}}`},
		{"KeyNotAnObject", `{"keys":[` + goodJSON + `,"key"]}`},
		{"Empty", ``},
		{"EmptySet", `{"keys":[]}`},
		{"TooManyKeys", string(jwksOf(t, many...))},
		{"DuplicateKid", set(good.with("x", jwkOf(t, "", jwkOtherPublic(t, jwtx.AlgEdDSA))["x"]))},
		{"DuplicateKidAcrossTypes", set(rsaJWK.with("kid", "good"))},
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		cases = append(cases,
			struct{ name, body string }{"PrivateMember_" + m, set(rsaJWK.with(m, "AQAB"))},
			// Even a key that would be skipped refuses the set: someone
			// published a secret.
			struct{ name, body string }{"PrivateMemberOnSkippedKey_" + m, set(jwkMap{"kty": "oct", "kid": "h", m: "c2VjcmV0"})},
		)
	}
	cases = append(cases, struct{ name, body string }{"PrivateMemberNull", set(rsaJWK.with("d", json.RawMessage("null")))})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, err := jwtx.ParseJWKSKeys([]byte(c.body))
			if err == nil {
				t.Fatalf("set accepted with keys %v", kidsOf(keys))
			}
			if keys != nil {
				t.Errorf("keys returned with the error: %v", kidsOf(keys))
			}
		})
	}
	if _, err := jwtx.ParseJWKSKeys(jwksOf(t, many[:100]...)); err != nil {
		t.Errorf("100 keys refused: %v", err)
	}
}

// TestParseJWKSKeys_HostileKeySkipped: keys that never become usable.
// Each is tried alone (the set is refused, naming why) and beside a good
// key (only the good key loads).
func TestParseJWKSKeys_HostileKeySkipped(t *testing.T) {
	rk, ek, dk := testRSAKey(t), testECKey(t), testEdKey(t)
	rsaJWK, ecJWK, edJWK := jwkOf(t, "bad", rk.Public()), jwkOf(t, "bad", ek.Public()), jwkOf(t, "bad", dk.Public())
	big8200 := new(big.Int).Lsh(big.NewInt(1), 8199)
	big8200.Or(big8200, jwkOK(rand.Int(rand.Reader, big8200))(t)).SetBit(big8200, 0, 1)
	offCurve := jwkOK(jwkB64.DecodeString(ecJWK["y"].(string)))(t)
	offCurve[31] ^= 1
	cases := []struct {
		name   string
		key    jwkMap
		algs   []string
		reason string // in the error of the set holding it alone
	}{
		{"AlgNoneRSA", rsaJWK.with("alg", "none"), nil, `RSA key with alg "none"`},
		{"AlgNoneOKP", edJWK.with("alg", "none"), nil, `OKP key with alg "none"`},
		{"HS256OnRSA", rsaJWK.with("alg", "HS256"), nil, `alg "HS256"`},
		{"ES256OnRSA", rsaJWK.with("alg", "ES256"), nil, `alg "ES256"`},
		{"EdDSAOnRSA", rsaJWK.with("alg", "EdDSA"), nil, `alg "EdDSA"`},
		{"RS256OnEC", ecJWK.with("alg", "RS256"), nil, `EC key with alg "RS256"`},
		{"ES384OnEC", ecJWK.with("alg", "ES384"), nil, `alg "ES384"`},
		{"RS256OnOKP", edJWK.with("alg", "RS256"), nil, `alg "RS256"`},
		{"AlgLowercase", rsaJWK.with("alg", "rs256"), nil, `alg "rs256"`},
		{"AlgNotString", rsaJWK.with("alg", 256), nil, "malformed alg"},
		{"AlgNotAllowed", rsaJWK.with("alg", "PS256"), []string{jwtx.AlgRS256}, "not allowed"},
		{"TypeNotAllowed", ecJWK, []string{jwtx.AlgRS256, jwtx.AlgEdDSA}, "no allowed algorithm"},
		{"UseEnc", rsaJWK.with("use", "enc"), nil, `use "enc"`},
		{"UseNotString", rsaJWK.with("use", []string{"sig"}), nil, "with use"},
		{"KeyOpsSignOnly", rsaJWK.with("key_ops", []string{"sign"}), nil, "key_ops without verify"},
		{"KeyOpsEncrypt", ecJWK.with("key_ops", []string{"encrypt", "wrapKey"}), nil, "key_ops without verify"},
		{"KeyOpsNotArray", rsaJWK.with("key_ops", "verify"), nil, "key_ops without verify"},
		{"NoKid", rsaJWK.with("kid", nil), nil, "without kid"},
		{"EmptyKid", rsaJWK.with("kid", ""), nil, "without kid"},
		{"KidNotString", rsaJWK.with("kid", 7), nil, "without kid"},
		{"KidTooLong", rsaJWK.with("kid", strings.Repeat("k", 257)), nil, "kid over 256 bytes"},
		{"Oct", jwkMap{"kty": "oct", "kid": "bad", "alg": "HS256"}, nil, `kty "oct"`},
		{"UnknownKty", rsaJWK.with("kty", "RSA-PSS"), nil, `kty "RSA-PSS"`},
		{"NoKty", rsaJWK.with("kty", nil), nil, "without kty"},
		{"KtyNotString", rsaJWK.with("kty", 1), nil, "without kty"},
		{"RSA1024", jwkOf(t, "bad", testRSA1024(t).Public()), nil, "RSA key of 1024 bits"},
		{"RSA8200", rsaJWK.with("n", jwkB64.EncodeToString(big8200.Bytes())), nil, "RSA key of 8200 bits"},
		{"RSAEvenExponent", rsaJWK.with("e", jwkB64.EncodeToString([]byte{1, 0, 0})), nil, "bad exponent"},
		{"RSAExponent1", rsaJWK.with("e", "AQ"), nil, "bad exponent"},
		{"RSAExponentHuge", rsaJWK.with("e", jwkB64.EncodeToString([]byte{1, 0, 0, 0, 1})), nil, "bad exponent"},
		{"RSAExponentMissing", rsaJWK.with("e", nil), nil, "malformed n or e"},
		{"RSAModulusPadded", rsaJWK.with("n", rsaJWK["n"].(string)+"=="), nil, "malformed n or e"},
		{"RSAModulusStdBase64", rsaJWK.with("n", strings.NewReplacer("-", "+", "_", "/").Replace(rsaJWK["n"].(string))+"+"), nil, "malformed n or e"},
		{"RSAModulusEmpty", rsaJWK.with("n", ""), nil, "malformed n or e"},
		{"RSAModulusNumber", rsaJWK.with("n", 12345), nil, "malformed n or e"},
		{"ECP384", ecJWK.with("crv", "P-384"), nil, `curve "P-384"`},
		{"ECsecp256k1", ecJWK.with("crv", "secp256k1"), nil, `curve "secp256k1"`},
		{"ECNoCurve", ecJWK.with("crv", nil), nil, `curve ""`},
		{"ECShortX", ecJWK.with("x", jwkB64.EncodeToString(make([]byte, 31))), nil, "malformed x or y"},
		{"ECLongY", ecJWK.with("y", jwkB64.EncodeToString(make([]byte, 33))), nil, "malformed x or y"},
		{"ECOffCurve", ecJWK.with("y", jwkB64.EncodeToString(offCurve)), nil, "not on the curve"},
		{"ECZeroPoint", ecJWK.with("x", jwkB64.EncodeToString(make([]byte, 32)), "y", jwkB64.EncodeToString(make([]byte, 32))), nil, "not on the curve"},
		{"OKPX25519", edJWK.with("crv", "X25519"), nil, `curve "X25519"`},
		{"OKPEd448", edJWK.with("crv", "Ed448"), nil, `curve "Ed448"`},
		{"OKPShortX", edJWK.with("x", jwkB64.EncodeToString(make([]byte, 31))), nil, "malformed x"},
	}
	good := jwkOf(t, "good", jwkOtherPublic(t, jwtx.AlgEdDSA))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys, err := jwtx.ParseJWKSKeys(jwksOf(t, c.key), c.algs...)
			if err == nil {
				t.Fatalf("key accepted: %v", kidsOf(keys))
			}
			if want := "1 key skipped: 1 "; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %q does not say %q and %q", err, want, c.reason)
			}
			algs := c.algs
			if algs != nil {
				algs = append(algs, jwtx.AlgEdDSA)
			}
			keys, err = jwtx.ParseJWKSKeys(jwksOf(t, c.key, good), algs...)
			if err != nil {
				t.Fatalf("set with a good key refused: %v", err)
			}
			if got := kidsOf(keys); len(got) != 1 || got[0] != "good:EdDSA" {
				t.Errorf("keys %v, want only good:EdDSA", got)
			}
		})
	}
	t.Run("SkippedKeyMaySharekid", func(t *testing.T) {
		// Only usable keys must have distinct kids: an encryption key of
		// the same kid is no ambiguity.
		keys, err := jwtx.ParseJWKSKeys(jwksOf(t, good, rsaJWK.with("kid", "good", "use", "enc")))
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %v, err %v", kidsOf(keys), err)
		}
	})
}

// hostileRemote serves a good set, then hostile answers, and checks that
// the RemoteKeySet answers within the caller's deadline, never loads a
// key the hostile answer carries, and keeps the good key.
func TestRemoteKeySet_HostileJWKS(t *testing.T) {
	rk, ek := testRSAKey(t), testECKey(t)
	good := jwksOf(t, jwkOf(t, "good", rk.Public()))
	evilJWK := jwkOf(t, "evil", ek.Public())
	write := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }
	}
	var srv *idpServer // set below; the handlers read it when called
	cases := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"HugeBody", write(`{"keys":[` + string(jwkOK(json.Marshal(evilJWK))(t)) + `],"x":"` + strings.Repeat("a", 2<<20) + `"}`)},
		{"HugeContentLength", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			_, _ = w.Write([]byte(`{"keys":[`))
			srv.block(r)
		}},
		{"EndlessChunkedBody", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[`))
			for r.Context().Err() == nil {
				if _, err := w.Write([]byte(strings.Repeat(" ", 64<<10))); err != nil {
					return
				}
			}
		}},
		{"SlowHeaders", func(_ http.ResponseWriter, r *http.Request) { srv.block(r) }},
		{"SlowBody", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[`))
			w.(http.Flusher).Flush()
			srv.block(r)
		}},
		{"Redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, srv.url+"/.well-known/openid-configuration", http.StatusFound)
		}},
		{"HTML", write(`<html><body>Sign in</body></html>`)},
		{"Status503", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }},
		{"WrongKeyTypes", write(string(jwksOf(t, jwkMap{"kty": "oct", "kid": "evil", "alg": "HS256"}, evilJWK.with("crv", "P-521"))))},
		{"AlgNone", write(string(jwksOf(t, jwkOf(t, "evil", rk.Public()).with("alg", "none"))))},
		{"DuplicateKids", write(string(jwksOf(t, evilJWK, jwkOf(t, "evil", rk.Public()))))},
		{"PrivateKey", write(string(jwksOf(t, evilJWK.with("d", "AAAA"))))},
		{"SmallRSA", write(string(jwksOf(t, jwkOf(t, "evil", testRSA1024(t).Public()))))},
		{"DuplicateMembers", write(`{"keys":[{"kty":"EC","kty":"oct","kid":"evil"}]}`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv = newIDPServer(t, good)
			clock := newFakeClock(now)
			// The fetch timeout outlasts the callers' deadline: the
			// deadline, not the timeout, must bound the wait.
			r := newRemote(t, srv.url+"/jwks", clock, func(c *jwtx.RemoteKeySetConfig) {
				c.Timeout, c.Algorithms = 2*time.Second, []string{}
			})
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.set(func(s *idpServer) { s.jwks = c.h })
			checkHostileLookup(t, r, clock)
		})
	}
}

// checkHostileLookup asks r for the hostile server's kid and the good
// one, under a deadline, after the good set went stale.
func checkHostileLookup(t *testing.T, r *jwtx.RemoteKeySet, clock *fakeClock) {
	t.Helper()
	clock.Advance(2 * jwtx.DefaultMaxCacheAge)
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	if k, ok := r.LookupKeyRefresh(ctx, "evil"); ok {
		t.Errorf("hostile key loaded: %v", k.Algorithms())
	}
	if took := time.Since(start); took > deadline+time.Second {
		t.Errorf("LookupKeyRefresh took %s, deadline %s", took, deadline)
	}
	if _, ok := r.LookupKey("good"); !ok {
		t.Error("last good key lost")
	}
	if _, ok := r.LookupKeyRefresh(context.Background(), "good"); !ok {
		t.Error("last good key lost (LookupKeyRefresh)")
	}
}

// TestRemoteKeySet_HostileDiscovery: discovery documents that must never
// lead to keys, each after a good document and set were loaded.
func TestRemoteKeySet_HostileDiscovery(t *testing.T) {
	rk := testRSAKey(t)
	good := jwksOf(t, jwkOf(t, "good", rk.Public()))
	evil := jwksOf(t, jwkOf(t, "evil", rk.Public()))
	evilSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(evil) }))
	t.Cleanup(evilSrv.Close)
	var srv *idpServer
	doc := func(issuer, jwksURI string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, issuer, jwksURI)
		}
	}
	raw := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }
	}
	cases := []struct {
		name string
		h    func() http.HandlerFunc // built once srv is known
	}{
		{"IssuerMismatch", func() http.HandlerFunc { return doc("https://evil.example", evilSrv.URL) }},
		{"IssuerTrailingSlash", func() http.HandlerFunc { return doc(srv.url+"/", evilSrv.URL) }},
		{"IssuerCase", func() http.HandlerFunc { return doc(strings.ToUpper(srv.url), evilSrv.URL) }},
		{"IssuerMissing", func() http.HandlerFunc { return raw(`{"jwks_uri":"` + evilSrv.URL + `"}`) }},
		{"IssuerNotString", func() http.HandlerFunc { return raw(`{"issuer":["` + srv.url + `"],"jwks_uri":"` + evilSrv.URL + `"}`) }},
		{"DuplicateIssuer", func() http.HandlerFunc {
			return raw(`{"issuer":"https://evil.example","issuer":"` + srv.url + `","jwks_uri":"` + evilSrv.URL + `"}`)
		}},
		{"DuplicateJWKSURI", func() http.HandlerFunc {
			return raw(`{"issuer":"` + srv.url + `","jwks_uri":"` + srv.url + `/jwks","JWKS_URI":"` + evilSrv.URL + `"}`)
		}},
		{"JWKSURIOtherHostOverHTTP", func() http.HandlerFunc { return doc(srv.url, "http://keys.evil.example/jwks") }},
		{"JWKSURIFile", func() http.HandlerFunc { return doc(srv.url, "file:///etc/passwd") }},
		{"JWKSURIJavascript", func() http.HandlerFunc { return doc(srv.url, "javascript:alert(1)") }},
		{"JWKSURIRelative", func() http.HandlerFunc { return doc(srv.url, "/jwks") }},
		{"JWKSURIMissing", func() http.HandlerFunc { return raw(`{"issuer":"` + srv.url + `"}`) }},
		{"Oversize", func() http.HandlerFunc {
			return raw(`{"issuer":"` + srv.url + `","jwks_uri":"` + evilSrv.URL + `","x":"` + strings.Repeat("a", 256<<10) + `"}`)
		}},
		{"HTML", func() http.HandlerFunc { return raw(`<html>login</html>`) }},
		{"Redirect", func() http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, evilSrv.URL, http.StatusFound) }
		}},
		{"SlowHeaders", func() http.HandlerFunc { return func(_ http.ResponseWriter, r *http.Request) { srv.block(r) } }},
		{"Status500", func() http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "x", http.StatusInternalServerError) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv = newIDPServer(t, good)
			clock := newFakeClock(now)
			r := newDiscoveryRemote(t, srv, clock, nil)
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.set(func(s *idpServer) { s.disc = c.h() })
			checkHostileLookup(t, r, clock)
			// A new set with only the hostile document never gets a key,
			// even when every name resolves to the hostile server.
			fresh := newDiscoveryRemote(t, srv, newFakeClock(now), func(c *jwtx.RemoteKeySetConfig) {
				c.Client = dialEvilFor(srv.url, evilSrv.URL)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			if _, ok := fresh.LookupKeyRefresh(ctx, "evil"); ok {
				t.Error("hostile document gave a key")
			}
		})
	}
}

// dialEvilFor returns a client that reaches the server at keep for its
// host and the server at evil for any other host: what a hostile network
// (DNS, or a path without TLS) does.
func dialEvilFor(keep, evil string) *http.Client {
	keepHost := strings.TrimPrefix(keep, "http://")
	evilHost := strings.TrimPrefix(evil, "http://")
	d := &net.Dialer{Timeout: time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != keepHost {
				addr = evilHost
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// FuzzParseJWKSKeys: whatever the set, ParseJWKSKeys does not panic, and
// every key it returns has a kid of at most 256 bytes, distinct, and only
// algorithms of its allow-list.
func FuzzParseJWKSKeys(f *testing.F) {
	f.Add(string(jwksOf(f, jwkOf(f, "r", testRSAKey(f).Public()), jwkOf(f, "e", testECKey(f).Public()))), true)
	f.Add(string(jwksOf(f, jwkOf(f, "d", testEdKey(f).Public()).with("alg", "EdDSA", "use", "sig"))), false)
	f.Add(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`, false)
	f.Add(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB","alg":"none"}]}`, true)
	f.Fuzz(func(t *testing.T, body string, narrow bool) {
		allowed := []string{jwtx.AlgRS256, jwtx.AlgPS256, jwtx.AlgES256, jwtx.AlgEdDSA}
		var algs []string
		if narrow {
			algs = []string{jwtx.AlgPS256, jwtx.AlgEdDSA}
			allowed = algs
		}
		keys, err := jwtx.ParseJWKSKeys([]byte(body), algs...)
		if err != nil {
			if keys != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k.KeyID() == "" || len(k.KeyID()) > 256 || seen[k.KeyID()] {
				t.Fatalf("kid %q", k.KeyID())
			}
			seen[k.KeyID()] = true
			if len(k.Algorithms()) == 0 {
				t.Fatal("key without algorithms")
			}
			for _, a := range k.Algorithms() {
				if !slices.Contains(allowed, a) {
					t.Fatalf("algorithm %s outside %v", a, allowed)
				}
			}
		}
	})
}

package jwtx_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

func TestThumbprint_RFC8037(t *testing.T) {
	// RFC 8037 appendix A.2 and A.3.
	x, err := enc.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := jwtx.Thumbprint(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("Thumbprint = %q, want %q", got, want)
	}
}

func newPub(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestKeySet_AddLookupRemove(t *testing.T) {
	a, b := newPub(t), newPub(t)
	s := jwtx.NewKeySet(a)
	kidB := s.Add(b)
	if kidB != jwtx.Thumbprint(b) {
		t.Errorf("Add returned %q, want the thumbprint", kidB)
	}
	if got, ok := s.Lookup(jwtx.Thumbprint(a)); !ok || !got.Equal(a) {
		t.Errorf("Lookup(a) = %v, %v", got, ok)
	}
	s.Remove(kidB)
	if _, ok := s.Lookup(kidB); ok || s.Len() != 1 {
		t.Errorf("after Remove: found=%v len=%d", ok, s.Len())
	}
	if _, ok := s.Lookup("nope"); ok {
		t.Error("Lookup of an unknown kid succeeded")
	}
	var zero jwtx.KeySet
	zero.Add(a) // the zero value is usable
	if _, ok := zero.Lookup(jwtx.Thumbprint(a)); !ok {
		t.Error("zero KeySet lost its key")
	}
}

func TestKeySet_JWKSRoundTrip(t *testing.T) {
	a, b := newPub(t), newPub(t)
	data, err := json.Marshal(jwtx.NewKeySet(a, b))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("JWKS %s has %d keys", data, len(doc.Keys))
	}
	for _, k := range doc.Keys {
		want := map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "x": k["x"], "kid": k["kid"]}
		if diff := cmp.Diff(want, k); diff != "" {
			t.Errorf("JWK (-want +got):\n%s", diff)
		}
	}
	parsed, err := jwtx.ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []ed25519.PublicKey{a, b} {
		if got, ok := parsed.Lookup(jwtx.Thumbprint(pub)); !ok || !got.Equal(pub) {
			t.Errorf("parsed set lacks key %x", pub)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	pub := newPub(t)
	x := enc.EncodeToString(pub)
	kid := jwtx.Thumbprint(pub)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "OK", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"` + kid + `"}]}`, ok: true},
		{name: "OKNoKid", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`, ok: true},
		{name: "OKSkipsRSA", in: `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`, ok: true},
		{name: "OKSkipsX25519", in: `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + x + `"},{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`, ok: true},
		{name: "ErrKidMismatch", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"my-key"}]}`},
		{name: "ErrPrivatePart", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"}]}`},
		{name: "ErrAlg", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"HS256"}]}`},
		{name: "ErrUse", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","use":"enc"}]}`},
		{name: "ErrShortX", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`},
		{name: "ErrBadBase64", in: `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `=="}]}`},
		{name: "ErrNoUsableKey", in: `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`},
		{name: "ErrEmpty", in: `{"keys":[]}`},
		{name: "ErrDuplicateMember", in: `{"keys":[],"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}]}`},
		{name: "ErrNotJSON", in: `keys`},
		{name: "ErrTooLarge", in: `{"keys":[],"pad":"` + strings.Repeat("a", 1<<20) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := jwtx.ParseJWKS([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseJWKS error %v, want ok=%v", err, tc.ok)
			}
			if tc.ok {
				if _, found := s.Lookup(kid); !found {
					t.Error("key not found by thumbprint")
				}
			}
		})
	}
}

func TestKeySet_Handler(t *testing.T) {
	s := jwtx.NewKeySet(newPub(t))
	want, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method     string
		wantStatus int
		wantBody   string
	}{
		{method: http.MethodGet, wantStatus: http.StatusOK, wantBody: string(want)},
		{method: http.MethodHead, wantStatus: http.StatusOK},
		{method: http.MethodPost, wantStatus: http.StatusMethodNotAllowed, wantBody: `{"error":"method_not_allowed","message":"use GET"}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, "/.well-known/jwks.json", nil))
			if rec.Code != tc.wantStatus || rec.Body.String() != tc.wantBody {
				t.Errorf("%s: %d %q, want %d %q", tc.method, rec.Code, rec.Body, tc.wantStatus, tc.wantBody)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); tc.wantStatus == http.StatusOK && !strings.Contains(cc, "max-age=300") {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

func TestPrivateKeyPEM(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	data, err := jwtx.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("PEM %q", data)
	}
	got, err := jwtx.ParsePrivateKeyPEM(data)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("round trip: %v", err)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"NotPEM":     []byte("hello"),
		"WrongBlock": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"ECDSAKey":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"Garbage":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
	}
	for name, in := range bad {
		if _, err := jwtx.ParsePrivateKeyPEM(in); err == nil {
			t.Errorf("%s: ParsePrivateKeyPEM accepted it", name)
		}
	}
	if _, err := jwtx.MarshalPrivateKeyPEM(priv[:10]); err == nil {
		t.Error("MarshalPrivateKeyPEM accepted a short key")
	}
}

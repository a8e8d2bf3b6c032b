package jwtx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// b64 is the unpadded base64url encoding used by JOSE, strict about the
// unused bits of the last character.
var b64 = base64.RawURLEncoding.Strict()

// Thumbprint returns the RFC 7638 JWK thumbprint of an Ed25519 public key
// (SHA-256, base64url without padding). It is the key's kid.
func Thumbprint(pub ed25519.PublicKey) string {
	// Members in lexicographic order, no whitespace (RFC 7638 section 3.2).
	// The base64url alphabet needs no JSON escaping.
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:])
}

// KeySet is a set of Ed25519 public keys indexed by kid (their thumbprint).
// It is safe for concurrent use: keys may be added, retired and removed
// while validators read it, which is how keys rotate. The zero value is an
// empty set using time.Now.
//
// A retired key (see Retire) stays in the set, accepted by Lookup and
// published by MarshalJSON, until its retirement deadline on the set's
// clock; after that it is gone as if removed.
type KeySet struct {
	mu      sync.RWMutex
	keys    map[string]ed25519.PublicKey
	retired map[string]time.Time // kid -> instant the key is dropped
	now     func() time.Time
}

// NewKeySet returns a KeySet holding keys. It panics on a key that is not
// ed25519.PublicKeySize bytes long, a programming error.
func NewKeySet(keys ...ed25519.PublicKey) *KeySet {
	s := &KeySet{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for _, k := range keys {
		s.Add(k)
	}
	return s
}

// SetClock sets the clock retirement deadlines are compared with; nil
// restores time.Now. Tests inject a fake clock with it.
func (s *KeySet) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// clock returns the current time; s.mu must be held.
func (s *KeySet) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// live reports whether the key kid, known to be in s.keys, is usable at t;
// s.mu must be held.
func (s *KeySet) live(kid string, t time.Time) bool {
	until, retired := s.retired[kid]
	return !retired || t.Before(until)
}

// Add adds pub to the set and returns its kid. Adding a retired key makes
// it active again. It panics on a key of the wrong length, a programming
// error.
func (s *KeySet) Add(pub ed25519.PublicKey) (kid string) {
	if len(pub) != ed25519.PublicKeySize {
		panic(fmt.Sprintf("jwtx: Ed25519 public key of %d bytes", len(pub)))
	}
	kid = Thumbprint(pub)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = make(map[string]ed25519.PublicKey)
	}
	s.keys[kid] = slices.Clone(pub)
	delete(s.retired, kid)
	s.prune()
	return kid
}

// Retire keeps the key kid published and accepted until until, then drops
// it. To let every token the key signed live out its life, until should be
// the moment the key stopped signing plus the longest token lifetime plus
// the validators' leeway (KeyRing.Rotate computes exactly that). Retiring
// a retired key moves its deadline; a deadline not after now drops the key
// at once. Retire reports whether kid was in the set.
func (s *KeySet) Retire(kid string, until time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[kid]; !ok || !s.live(kid, s.clock()) {
		return false
	}
	if s.retired == nil {
		s.retired = make(map[string]time.Time)
	}
	s.retired[kid] = until
	s.prune()
	return true
}

// RetiredUntil reports the retirement deadline of the key kid; ok is false
// when the key is absent, dropped, or not retired.
func (s *KeySet) RetiredUntil(kid string) (until time.Time, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	until, ok = s.retired[kid]
	if !ok || !s.live(kid, s.clock()) {
		return time.Time{}, false
	}
	return until, true
}

// prune deletes the keys whose retirement deadline has passed; s.mu must
// be held for writing.
func (s *KeySet) prune() {
	t := s.clock()
	for kid := range s.retired {
		if !s.live(kid, t) {
			delete(s.keys, kid)
			delete(s.retired, kid)
		}
	}
}

// Remove removes the key with the given kid at once, retired or not: the
// way to drop a compromised key.
func (s *KeySet) Remove(kid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, kid)
	delete(s.retired, kid)
}

// Lookup returns the key with the given kid, unless it is absent or its
// retirement deadline has passed.
func (s *KeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[kid]
	if !ok {
		return nil, false
	}
	if until, retired := s.retired[kid]; retired && !s.clock().Before(until) {
		return nil, false
	}
	return k, true
}

// Len returns the number of usable keys in the set (retired keys past
// their deadline excluded).
func (s *KeySet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, n := s.clock(), 0
	for kid := range s.keys {
		if s.live(kid, t) {
			n++
		}
	}
	return n
}

// jwk is one key of a JWK Set, as served and as accepted.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	D   string `json:"d,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

type jwks struct {
	Keys []jwk `json:"keys"`
}

// MarshalJSON encodes the usable keys of the set (retired keys until their
// deadline included) as a JWK Set (RFC 7517), sorted by kid:
// {"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"}]}.
func (s *KeySet) MarshalJSON() ([]byte, error) {
	s.mu.RLock()
	set := jwks{Keys: make([]jwk, 0, len(s.keys))}
	t := s.clock()
	for kid, k := range s.keys {
		if !s.live(kid, t) {
			continue
		}
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(k), Kid: kid, Alg: "EdDSA", Use: "sig"})
	}
	s.mu.RUnlock()
	slices.SortFunc(set.Keys, func(a, b jwk) int { return strings.Compare(a.Kid, b.Kid) })
	return json.Marshal(set)
}

// Handler serves the set as a JWK Set, for GET /.well-known/jwks.json. It
// answers GET and HEAD with Content-Type application/json and
// Cache-Control: public, max-age=300; any other method gets 405.
func (s *KeySet) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method_not_allowed", Message: "use GET"})
			return
		}
		body, err := s.MarshalJSON()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal", Message: "cannot encode key set"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(body)
		}
	})
}

// maxJWKSSize bounds the input of ParseJWKS.
const maxJWKSSize = 1 << 20

// ParseJWKS parses a JWK Set. Keys of another type (kty other than OKP, or
// crv other than Ed25519) are skipped, as RFC 7517 section 5 recommends. An
// Ed25519 key is rejected, and with it the whole set, when its x is not 32
// bytes of base64url, when it carries a private part (d), when its alg or
// use (if present) is not EdDSA / sig, or when its kid (if present) differs
// from its RFC 7638 thumbprint: keys are only ever looked up by thumbprint.
// A set without any usable key is an error.
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > maxJWKSSize {
		return nil, fmt.Errorf("jwtx: JWKS larger than %d bytes", maxJWKSSize)
	}
	if err := checkJSON(data); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS: %w", err)
	}
	var set jwks
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&set); err != nil {
		return nil, fmt.Errorf("jwtx: JWKS: %w", err)
	}
	ks := NewKeySet()
	for i, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		pub, err := parseJWK(k)
		if err != nil {
			return nil, fmt.Errorf("jwtx: JWKS key %d: %w", i, err)
		}
		ks.Add(pub)
	}
	if ks.Len() == 0 {
		return nil, errors.New("jwtx: JWKS has no Ed25519 key")
	}
	return ks, nil
}

func parseJWK(k jwk) (ed25519.PublicKey, error) {
	if k.D != "" {
		return nil, errors.New("contains a private key")
	}
	if k.Alg != "" && k.Alg != "EdDSA" {
		return nil, errors.New("alg is not EdDSA")
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, errors.New("use is not sig")
	}
	x, err := b64.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("x is not a base64url Ed25519 public key")
	}
	pub := ed25519.PublicKey(x)
	if k.Kid != "" && k.Kid != Thumbprint(pub) {
		return nil, errors.New("kid is not the key's RFC 7638 thumbprint")
	}
	return pub, nil
}

// ParsePrivateKeyPEM parses an Ed25519 private key from a PKCS#8 PEM block
// ("PRIVATE KEY"), as written by MarshalPrivateKeyPEM or
// `openssl genpkey -algorithm ed25519`.
func ParsePrivateKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("jwtx: no PEM block found")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("jwtx: PEM block %q, want PRIVATE KEY (PKCS#8)", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("jwtx: parse PKCS#8 key: %w", err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("jwtx: PKCS#8 key is %T, want Ed25519", key)
	}
	return priv, nil
}

// MarshalPrivateKeyPEM encodes an Ed25519 private key as a PKCS#8 PEM block.
func MarshalPrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("jwtx: Ed25519 private key of %d bytes", len(key))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("jwtx: marshal PKCS#8 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

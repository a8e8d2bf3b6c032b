// Package jwtxtest provides test doubles for code that uses jwtx: a Kit
// with a signer on a fresh Ed25519 key and the matching key set, and
// MemoryStore, an in-memory RevocationStore.
//
//	kit := jwtxtest.New(t)
//	store := jwtxtest.NewMemoryStore()
//	v := kit.Validator(t, store)
//	token := kit.Token(t, userID, 0)
package jwtxtest

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// Defaults of a Kit.
const (
	DefaultIssuer   = "https://auth.test"
	DefaultAudience = "eventjwt-test"
)

// Kit is a signer on a fresh key, its key set, and the settings a
// validator needs to accept its tokens.
type Kit struct {
	Signer   *jwtx.Signer
	Key      ed25519.PrivateKey
	Keys     *jwtx.KeySet
	Issuer   string
	Audience string
	Now      func() time.Time // the clock of the signer and of Validator
}

// Option changes a Kit's settings.
type Option func(*jwtx.SignerConfig)

// WithIssuer sets the issuer (default DefaultIssuer).
func WithIssuer(iss string) Option { return func(c *jwtx.SignerConfig) { c.Issuer = iss } }

// WithAudience sets the audience (default DefaultAudience).
func WithAudience(aud string) Option { return func(c *jwtx.SignerConfig) { c.Audience = aud } }

// WithTTL sets the token lifetime (default jwtx.DefaultTTL).
func WithTTL(ttl time.Duration) Option { return func(c *jwtx.SignerConfig) { c.TTL = ttl } }

// WithNow sets the clock of the signer and of the Kit's validators.
func WithNow(now func() time.Time) Option { return func(c *jwtx.SignerConfig) { c.Now = now } }

// WithKey signs with key instead of a fresh one.
func WithKey(key ed25519.PrivateKey) Option { return func(c *jwtx.SignerConfig) { c.Key = key } }

// New returns a Kit with a fresh key.
func New(tb testing.TB, opts ...Option) *Kit {
	tb.Helper()
	cfg := jwtx.SignerConfig{Issuer: DefaultIssuer, Audience: DefaultAudience, Now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Key == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatalf("jwtxtest: generate key: %v", err)
		}
		cfg.Key = priv
	}
	s, err := jwtx.NewSigner(cfg)
	if err != nil {
		tb.Fatalf("jwtxtest: %v", err)
	}
	return &Kit{
		Signer:   s,
		Key:      cfg.Key,
		Keys:     jwtx.NewKeySet(s.PublicKey()),
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		Now:      cfg.Now,
	}
}

// NewSigner returns a signer on a fresh key and the key set holding its
// public key.
func NewSigner(tb testing.TB, opts ...Option) (*jwtx.Signer, *jwtx.KeySet) {
	tb.Helper()
	k := New(tb, opts...)
	return k.Signer, k.Keys
}

// Config returns a validator configuration accepting the Kit's tokens and
// checking revocation in store, or not checking revocation at all when
// store is nil.
func (k *Kit) Config(store jwtx.RevocationStore) jwtx.Config {
	return jwtx.Config{
		Keys:                   k.Keys,
		Issuer:                 k.Issuer,
		Audience:               k.Audience,
		Revocation:             store,
		DisableRevocationCheck: store == nil,
		Now:                    k.Now,
	}
}

// Validator returns a validator for the Kit's tokens; see Config.
func (k *Kit) Validator(tb testing.TB, store jwtx.RevocationStore) *jwtx.Validator {
	tb.Helper()
	v, err := jwtx.NewValidator(k.Config(store))
	if err != nil {
		tb.Fatalf("jwtxtest: %v", err)
	}
	return v
}

// Token issues a token for subject at version and returns it.
func (k *Kit) Token(tb testing.TB, subject string, version int64) string {
	tb.Helper()
	tok, _, err := k.Signer.Issue(subject, version)
	if err != nil {
		tb.Fatalf("jwtxtest: issue: %v", err)
	}
	return tok
}

// SignRaw signs arbitrary header and payload JSON with the Kit's key, as
// given, and returns the compact token: the way to hand-craft hostile or
// legacy tokens in tests.
func (k *Kit) SignRaw(header, payload string) string {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return input + "." + enc.EncodeToString(ed25519.Sign(k.Key, []byte(input)))
}

// ResignHS256 returns token's payload signed with HS256 under kid and
// secret, with the header an HS256 issuer would send: for validators
// configured with jwtx.Config.HMACKeys.
func ResignHS256(token, kid string, secret []byte) string {
	enc := base64.RawURLEncoding
	hdr := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"at+jwt","kid":"` + kid + `"}`))
	payload := token
	if _, rest, ok := strings.Cut(token, "."); ok {
		payload, _, _ = strings.Cut(rest, ".")
	}
	input := hdr + "." + payload
	mac := hmac.New(sha256.New, secret)
	_, _ = mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

package jwtx_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// hsSecret is the shared secret of the HS256 tests.
var hsSecret = []byte("0123456789abcdef0123456789abcdef-hs256-test")

// hsToken re-signs the payload of the EdDSA token tok with HS256.
func hsToken(tok, kid string, secret []byte) string { return jwtxtest.ResignHS256(tok, kid, secret) }

// hsValidator accepts the Kit's EdDSA tokens and HS256 tokens under kid
// "hs1" signed with hsSecret.
func hsValidator(t testing.TB, k *jwtxtest.Kit, store jwtx.RevocationStore) *jwtx.Validator {
	t.Helper()
	cfg := k.Config(store)
	cfg.HMACKeys = map[string][]byte{"hs1": hsSecret}
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHS256(t *testing.T) {
	k := jwtxtest.New(t)
	store := jwtxtest.NewMemoryStore()
	user := uuid.NewString()
	ed := k.Token(t, user, 0)
	hs := hsToken(ed, "hs1", hsSecret)
	v := hsValidator(t, k, store)
	ctx := context.Background()
	for _, tok := range []string{ed, hs} {
		c, err := v.Validate(ctx, tok)
		if err != nil || c.Subject != user {
			t.Fatalf("Validate = %v, %v; want the claims of %s", c, err, user)
		}
	}
	// Revocation applies to HS256 tokens exactly as to EdDSA ones.
	c, _ := v.Parse(hs)
	store.RevokeToken(c.ID)
	if _, err := v.Validate(ctx, hs); !errors.Is(err, jwtx.ErrRevoked) {
		t.Fatalf("revoked HS256 token: err = %v, want ErrRevoked", err)
	}

	pubAsSecret := []byte(k.Signer.PublicKey())
	edOnly := k.Validator(t, nil)
	for _, tc := range []struct {
		name string
		v    *jwtx.Validator
		tok  string
		want error
	}{
		{"NoHMACKeysConfigured", edOnly, hs, jwtx.ErrAlgorithmNotAllowed},
		{"WrongSecret", v, hsToken(ed, "hs1", []byte(strings.Repeat("x", 40))), jwtx.ErrBadSignature},
		{"UnknownHMACKid", v, hsToken(ed, "hs2", hsSecret), jwtx.ErrUnknownKey},
		// Key confusion: HMAC keyed with the Ed25519 public key under the
		// Ed25519 key's kid. The kid is looked up among HMAC keys only.
		{"PublicKeyAsSecret", v, hsToken(ed, k.Signer.KeyID(), pubAsSecret), jwtx.ErrUnknownKey},
		{"PublicKeyAsSecretEdOnly", edOnly, hsToken(ed, k.Signer.KeyID(), pubAsSecret), jwtx.ErrAlgorithmNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.v.Parse(tc.tok); !errors.Is(err, tc.want) {
				t.Fatalf("Parse err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHS256Config(t *testing.T) {
	k := jwtxtest.New(t)
	for _, tc := range []struct {
		name string
		keys map[string][]byte
		ok   bool
	}{
		{"OK", map[string][]byte{"a": hsSecret}, true},
		{"ShortSecret", map[string][]byte{"a": hsSecret[:31]}, false},
		{"EmptyKid", map[string][]byte{"": hsSecret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := k.Config(nil)
			cfg.HMACKeys = tc.keys
			if _, err := jwtx.NewValidator(cfg); (err == nil) != tc.ok {
				t.Fatalf("NewValidator err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// HMAC keys alone are enough: no Ed25519 key set needed.
	cfg := k.Config(nil)
	cfg.Keys, cfg.HMACKeys = nil, map[string][]byte{"hs1": hsSecret}
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ed := k.Token(t, uuid.NewString(), 0)
	if _, err := v.Parse(hsToken(ed, "hs1", hsSecret)); err != nil {
		t.Fatalf("HS256 with HMAC keys only: %v", err)
	}
	if _, err := v.Parse(ed); !errors.Is(err, jwtx.ErrAlgorithmNotAllowed) {
		t.Fatalf("EdDSA without an Ed25519 key set: err = %v, want ErrAlgorithmNotAllowed", err)
	}
}

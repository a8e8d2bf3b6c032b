package jwtx_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// clock is a settable clock for the verified-token cache tests.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// countingKeys counts Lookup calls on a KeySet and can answer every kid
// with another key: a cache hit must look the key up (is it still the key
// the token verified with?).
type countingKeys struct {
	*jwtx.KeySet
	lookups atomic.Int64
	other   atomic.Pointer[ed25519.PublicKey]
}

func (k *countingKeys) Lookup(kid string) (ed25519.PublicKey, bool) {
	k.lookups.Add(1)
	if o := k.other.Load(); o != nil {
		return *o, true
	}
	return k.KeySet.Lookup(kid)
}

func TestVerifiedCache(t *testing.T) {
	clk := &clock{}
	clk.ns.Store(time.Now().UnixNano())
	k := jwtxtest.New(t, jwtxtest.WithNow(clk.now), jwtxtest.WithTTL(10*time.Minute))
	store := jwtxtest.NewMemoryStore()
	v := k.Validator(t, store)
	ctx := context.Background()
	user := uuid.NewString()
	tok := k.Token(t, user, 0)

	first, err := v.Validate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := v.Validate(ctx, tok)
	if err != nil {
		t.Fatalf("cached token: %v", err)
	}
	if again == first || again.ID != first.ID || again.Subject != user {
		t.Fatalf("cached claims %+v, want a copy of %+v", again, first)
	}
	// The caller owns the claims it gets: changing them changes no cache.
	again.Audience[0], again.Subject = "mutated", "mutated"
	if c, err := v.Validate(ctx, tok); err != nil || c.Audience[0] != k.Audience || c.Subject != user {
		t.Fatalf("after the caller mutated its copy: %+v, %v", c, err)
	}

	t.Run("RevokedWhileCached", func(t *testing.T) {
		tok := k.Token(t, uuid.NewString(), 0)
		c, err := v.Validate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		store.RevokeToken(c.ID)
		if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevoked) {
			t.Fatalf("revoked cached token: err = %v, want ErrRevoked", err)
		}
	})
	t.Run("UserVersionRaisedWhileCached", func(t *testing.T) {
		u := uuid.NewString()
		tok := k.Token(t, u, 0)
		if _, err := v.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		store.SetUserVersion(u, 1)
		if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevoked) {
			t.Fatalf("logout-all on a cached token: err = %v, want ErrRevoked", err)
		}
	})
	t.Run("StoreDownWhileCached", func(t *testing.T) {
		s := jwtxtest.NewMemoryStore()
		v := k.Validator(t, s)
		tok := k.Token(t, uuid.NewString(), 0)
		if _, err := v.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		s.FailWith(errors.New("down"))
		if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrRevocationUnavailable) {
			t.Fatalf("store down, cached token: err = %v, want ErrRevocationUnavailable", err)
		}
	})
	t.Run("KeyRemovedWhileCached", func(t *testing.T) {
		k2 := jwtxtest.New(t, jwtxtest.WithNow(clk.now))
		v := k2.Validator(t, nil)
		tok := k2.Token(t, uuid.NewString(), 0)
		if _, err := v.Parse(tok); err != nil {
			t.Fatal(err)
		}
		k2.Keys.Remove(k2.Signer.KeyID())
		if _, err := v.Parse(tok); !errors.Is(err, jwtx.ErrUnknownKey) {
			t.Fatalf("key removed, cached token: err = %v, want ErrUnknownKey", err)
		}
	})
	t.Run("TamperedIsNotAHit", func(t *testing.T) {
		bad := tok[:len(tok)-2] + flip(tok[len(tok)-2]) + tok[len(tok)-1:]
		if _, err := v.Validate(ctx, bad); !errors.Is(err, jwtx.ErrInvalidToken) {
			t.Fatalf("tampered copy of a cached token: err = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("ExpiresWithToken", func(t *testing.T) {
		tok := k.Token(t, uuid.NewString(), 0)
		if _, err := v.Validate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		clk.advance(10*time.Minute + jwtx.DefaultLeeway)
		if _, err := v.Validate(ctx, tok); !errors.Is(err, jwtx.ErrExpired) {
			t.Fatalf("expired cached token: err = %v, want ErrExpired", err)
		}
	})
}

// flip returns a base64url character other than c.
func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestVerifiedCacheSkipsSignature(t *testing.T) {
	k := jwtxtest.New(t)
	keys := &countingKeys{KeySet: k.Keys}
	cfg := k.Config(nil)
	cfg.Keys, cfg.Resolver = nil, keys
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok := k.Token(t, uuid.NewString(), 0)
	for range 3 {
		if _, err := v.Parse(tok); err != nil {
			t.Fatal(err)
		}
	}
	// One lookup to verify, one per hit to confirm the key is still there.
	if got := keys.lookups.Load(); got != 3 {
		t.Fatalf("%d key lookups for 3 parses, want 3", got)
	}
	defer keys.other.Store(nil)
	// With the cache off every parse verifies; allocations show the
	// difference (a hit copies the claims: 2 allocations).
	if a := testing.AllocsPerRun(100, func() { _, _ = v.Parse(tok) }); a > 2 {
		t.Fatalf("cache hit: %v allocations, want <= 2", a)
	}
	cfg.VerifiedCacheSize = -1
	off, err := jwtx.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = off.Parse(tok) }); a <= 2 {
		t.Fatalf("cache off: %v allocations, the cache test above proves nothing", a)
	}
	// The kid now names another key (a JWKS rebound it): the cached entry
	// no longer counts and the signature is checked again, and fails.
	other, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys.other.Store(&other)
	if _, err := v.Parse(tok); !errors.Is(err, jwtx.ErrBadSignature) {
		t.Fatalf("kid rebound to another key: err = %v, want ErrBadSignature", err)
	}
}

func TestVerifiedCacheBounded(t *testing.T) {
	k := jwtxtest.New(t)
	cfg := k.Config(nil)
	cfg.VerifiedCacheSize = 32
	v, err := jwtx.NewValidator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := v.Parse(k.Token(t, uuid.NewString(), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := jwtx.VerifiedCacheLen(v); n > 32 || n < 16 {
		t.Fatalf("cache of 32 holds %d entries after 200 tokens", n)
	}
}

package jwtx_test

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// jwksKids returns the kids a KeySet publishes.
func jwksKids(t *testing.T, s *jwtx.KeySet) []string {
	t.Helper()
	data, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range doc.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

func TestKeySet_Retire(t *testing.T) {
	clock := newFakeClock(now)
	a, b := newPub(t), newPub(t)
	s := jwtx.NewKeySet(a, b)
	s.SetClock(clock.Now)
	kidA, kidB := jwtx.Thumbprint(a), jwtx.Thumbprint(b)
	until := now.Add(10 * time.Minute)
	if !s.Retire(kidA, until) {
		t.Fatal("Retire of a present key returned false")
	}
	if s.Retire("nope", until) {
		t.Error("Retire of an absent key returned true")
	}
	check := func(when string, wantA, wantRetired bool) {
		t.Helper()
		_, gotA := s.Lookup(kidA)
		_, gotB := s.Lookup(kidB)
		_, retired := s.RetiredUntil(kidA)
		published := len(jwksKids(t, s))
		if gotA != wantA || !gotB || retired != wantRetired || s.Len() != published || (published == 2) != wantA {
			t.Errorf("%s: lookup a=%v b=%v, retired=%v, Len=%d, published %d; want a=%v retired=%v", when, gotA, gotB, retired, s.Len(), published, wantA, wantRetired)
		}
	}
	check("right after Retire", true, true)
	clock.Advance(10*time.Minute - time.Nanosecond)
	check("1ns before the deadline", true, true)
	clock.Advance(time.Nanosecond)
	check("at the deadline", false, false)
	if s.Retire(kidA, until.Add(time.Hour)) {
		t.Error("a dropped key was retired again")
	}
	s.Add(a) // re-adding makes it active again
	clock.Advance(24 * time.Hour)
	check("re-added", true, false)
	s.Retire(kidB, now) // a deadline in the past drops at once
	if _, ok := s.Lookup(kidB); ok {
		t.Error("key retired with a past deadline still found")
	}
}

// ringKit is a KeyRing on a fake clock, with a validator reading its keys.
type ringKit struct {
	clock *fakeClock
	ring  *jwtx.KeyRing
	v     *jwtx.Validator
}

func newRingKit(t *testing.T, ttl time.Duration) *ringKit {
	t.Helper()
	clock := newFakeClock(now)
	ring, err := jwtx.NewKeyRing(jwtx.KeyRingConfig{Signer: jwtx.SignerConfig{
		Key: testKey("ring-1"), Issuer: "https://auth.test", Audience: "api", TTL: ttl, Now: clock.Now,
	}})
	if err != nil {
		t.Fatal(err)
	}
	v := mustValidator(t, jwtx.Config{
		Keys: ring.Keys(), Issuer: "https://auth.test", Audience: "api", DisableRevocationCheck: true, Now: clock.Now,
	})
	return &ringKit{clock: clock, ring: ring, v: v}
}

func (k *ringKit) issue(t *testing.T) string {
	t.Helper()
	tok, _, err := k.ring.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestKeyRing_RotateKeepsOldTokensUntilTheyExpire(t *testing.T) {
	const ttl = 15 * time.Minute
	k := newRingKit(t, ttl)
	oldKid := k.ring.Signer().KeyID()
	oldTok := k.issue(t) // issued at T0, expires at T0+15m
	retired, until, err := k.ring.Rotate(testKey("ring-2"))
	if err != nil {
		t.Fatal(err)
	}
	if retired != oldKid || !until.Equal(now.Add(ttl+jwtx.DefaultLeeway)) {
		t.Fatalf("Rotate = %q, %s; want %q, T0+TTL+leeway", retired, until, oldKid)
	}
	newKid := k.ring.Signer().KeyID()
	if newKid == oldKid || len(jwksKids(t, k.ring.Keys())) != 2 {
		t.Fatalf("after Rotate: active %q, published %v", newKid, jwksKids(t, k.ring.Keys()))
	}
	k.clock.Advance(10 * time.Minute)
	newTok := k.issue(t) // issued at T0+10m with the new key
	for _, tok := range []string{oldTok, newTok} {
		if _, err := k.v.Parse(tok); err != nil {
			t.Fatalf("at T0+10m: %v", err)
		}
	}
	k.clock.Advance(ttl + jwtx.DefaultLeeway - 10*time.Minute - time.Second) // T0+15m29s
	if _, err := k.v.Parse(oldTok); err != nil {
		t.Fatalf("old token 1s before the retired key's deadline: %v", err)
	}
	k.clock.Advance(time.Second) // T0+15m30s: the old key is gone
	if _, err := k.v.Parse(oldTok); !errors.Is(err, jwtx.ErrUnknownKey) {
		t.Fatalf("old token at the deadline: %v, want ErrUnknownKey", err)
	}
	if got := jwksKids(t, k.ring.Keys()); len(got) != 1 || got[0] != newKid {
		t.Fatalf("published after the deadline: %v, want only %q", got, newKid)
	}
	if _, err := k.v.Parse(newTok); err != nil {
		t.Fatalf("new token: %v", err)
	}
}

// A token signed with the retired key after the rotation (the key leaked,
// or a replica still signed with it) is accepted only until the deadline.
func TestKeyRing_RemovedKidRejected(t *testing.T) {
	k := newRingKit(t, time.Minute)
	oldKey := testKey("ring-1")
	if _, _, err := k.ring.Rotate(testKey("ring-2")); err != nil {
		t.Fatal(err)
	}
	late, err := jwtx.NewSigner(jwtx.SignerConfig{Key: oldKey, Issuer: "https://auth.test", Audience: "api", TTL: time.Hour, Now: k.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := late.Issue(testSub, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.v.Parse(tok); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	k.clock.Advance(time.Minute + jwtx.DefaultLeeway)
	if _, err := k.v.Parse(tok); !errors.Is(err, jwtx.ErrUnknownKey) {
		t.Fatalf("after the deadline, exp still ahead: %v, want ErrUnknownKey", err)
	}
	k.ring.Keys().Remove(k.ring.Signer().KeyID()) // emergency removal of the active key
	if _, err := k.v.Parse(k.issue(t)); !errors.Is(err, jwtx.ErrUnknownKey) {
		t.Fatalf("token of a removed active key: %v", err)
	}
}

func TestKeyRing_RotateErrors(t *testing.T) {
	k := newRingKit(t, time.Minute)
	if _, _, err := k.ring.Rotate(testKey("ring-1")); err == nil {
		t.Error("rotating to the active key succeeded")
	}
	if _, _, err := k.ring.Rotate(ed25519.PrivateKey{1, 2, 3}); err == nil {
		t.Error("rotating to a short key succeeded")
	}
	if _, err := jwtx.NewKeyRing(jwtx.KeyRingConfig{Signer: jwtx.SignerConfig{Key: testKey("x"), Issuer: "i", Audience: "a"}, Leeway: -1}); err == nil {
		t.Error("negative leeway accepted")
	}
}

func TestKeyRing_ConcurrentIssueAndRotate(t *testing.T) {
	k := newRingKit(t, time.Hour)
	var wg sync.WaitGroup
	tokens := make(chan string, 400)
	for range 4 {
		wg.Go(func() {
			for range 100 {
				tok, _, err := k.ring.Issue(testSub, 0)
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- tok
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if _, _, err := k.ring.Rotate(testKey("rotation-" + string(rune('a'+i)))); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	close(tokens)
	for tok := range tokens {
		if _, err := k.v.Parse(tok); err != nil {
			t.Fatalf("token issued during rotations: %v", err)
		}
	}
	if n := len(jwksKids(t, k.ring.Keys())); n != 21 {
		t.Errorf("published %d keys, want 21 (active + 20 retired, none past its deadline)", n)
	}
}

package jwtx

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"
)

// KeyRingConfig configures a KeyRing.
type KeyRingConfig struct {
	// Signer holds the first active private key and the token settings
	// (issuer, audience, TTL, clock) every key of the ring signs with.
	Signer SignerConfig
	// Leeway is the clock skew the validators tolerate; a retired key stays
	// published this long after its last token expired. Default
	// DefaultLeeway; it must not be below the validators' Config.Leeway.
	Leeway time.Duration
	// Keys is where the ring publishes its public keys (serve it with
	// Keys.Handler). Default: a new KeySet on the signer's clock. A set
	// passed here should use that clock too (KeySet.SetClock).
	Keys *KeySet
}

// KeyRing is the issuer side of key rotation: one active signing key, and
// a KeySet publishing its public key together with the retired keys whose
// tokens may still be alive. It is safe for concurrent use.
//
//	ring, err := jwtx.NewKeyRing(jwtx.KeyRingConfig{Signer: cfg})
//	mux.Handle("GET /.well-known/jwks.json", ring.Keys().Handler())
//	token, claims, err := ring.Issue(userID, version)
//	// later, with the next key published ahead of time if validators cache the JWKS:
//	retiredKid, until, err := ring.Rotate(nextKey)
type KeyRing struct {
	mu     sync.RWMutex
	cfg    SignerConfig
	leeway time.Duration
	active *Signer
	keys   *KeySet
}

// NewKeyRing returns a KeyRing signing with cfg.Signer.Key.
func NewKeyRing(cfg KeyRingConfig) (*KeyRing, error) {
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("jwtx: negative key ring leeway %s", cfg.Leeway)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	s, err := NewSigner(cfg.Signer)
	if err != nil {
		return nil, err
	}
	keys := cfg.Keys
	if keys == nil {
		keys = NewKeySet()
		keys.SetClock(s.now)
	}
	keys.Add(s.PublicKey())
	return &KeyRing{cfg: cfg.Signer, leeway: cfg.Leeway, active: s, keys: keys}, nil
}

// Signer returns the active signer.
func (r *KeyRing) Signer() *Signer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.active
}

// Keys returns the set of published public keys: the active key and the
// retired keys until their deadline.
func (r *KeyRing) Keys() *KeySet { return r.keys }

// Issue signs a token with the active key; see Signer.Issue.
func (r *KeyRing) Issue(subject string, version int64) (token string, claims Claims, err error) {
	return r.Signer().Issue(subject, version)
}

// Rotate makes next the active signing key. The previous key stops
// signing at once but stays published and accepted until until: now plus
// the token TTL plus the leeway, when the last token it signed has expired
// for every validator; then the KeySet drops it. It returns the retired
// key's kid and its deadline. Rotating to the active key is an error.
//
// Validators that cache the JWKS (RemoteKeySet) learn the new key on their
// first token signed with it, at most one refresh per their rate-limit
// interval; to spare that first refresh, Keys().Add(next public key) one
// cache lifetime before calling Rotate.
func (r *KeyRing) Rotate(next ed25519.PrivateKey) (retiredKid string, until time.Time, err error) {
	cfg := r.cfg
	cfg.Key = next
	s, err := NewSigner(cfg)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("jwtx: rotate: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.active
	if s.KeyID() == old.KeyID() {
		return "", time.Time{}, errors.New("jwtx: rotate: next key is the active key")
	}
	until = old.now().Add(old.TTL() + r.leeway)
	r.keys.Add(s.PublicKey())
	if !r.keys.Retire(old.KeyID(), until) {
		// The active key was removed from the set by hand; keep it out.
		until = time.Time{}
	}
	r.active = s
	return old.KeyID(), until, nil
}

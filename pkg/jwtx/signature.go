package jwtx

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
)

// Algorithms a Validator can accept (the JWS "alg" values).
const (
	// AlgEdDSA is Ed25519 (RFC 8037), what the auth service signs with.
	AlgEdDSA = "EdDSA"
	// AlgHS256 is HMAC with SHA-256, accepted only with Config.HMACKeys.
	AlgHS256 = "HS256"
)

// minHMACKeySize is the smallest HS256 secret accepted: RFC 7518 section
// 3.2 requires a key at least as long as the hash output.
const minHMACKeySize = sha256.Size

// maxCachedHeaders bounds the header cache. An issuer uses a handful of
// headers (one per key); only headers of tokens whose signature verified
// are cached, so a full cache means many keys, not an attack.
const maxCachedHeaders = 64

// jose is the part of a checked JOSE header the Validator uses.
type jose struct {
	alg string
	kid string
	typ string // normalised (normalType); "" when absent
}

// headerCache maps encoded header segments that verified before to their
// checked content, so that the header of a known issuer's token is not
// decoded again. Reads take no lock.
type headerCache struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]jose]
}

func (c *headerCache) get(seg string) (jose, bool) {
	m := c.m.Load()
	if m == nil {
		return jose{}, false
	}
	h, ok := (*m)[seg]
	return h, ok
}

// add records seg, unless present or the cache is full.
func (c *headerCache) add(seg string, h jose) {
	if _, ok := c.get(seg); ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	next := map[string]jose{}
	if old != nil {
		if len(*old) >= maxCachedHeaders {
			return
		}
		next = maps.Clone(*old)
	}
	next[seg] = h
	c.m.Store(&next)
}

// signatureSize returns the size of an alg signature; 0 for RSA, whose
// size is the key's.
func signatureSize(alg string) int {
	switch alg {
	case AlgHS256:
		return sha256.Size
	case AlgRS256, AlgPS256:
		return 0
	}
	return ed25519.SignatureSize // EdDSA, and ES256's r||s
}

// RSA signatures are as long as the modulus: 2048 to 8192 bits.
const (
	minRSASignature = 2048 / 8
	maxRSASignature = 8192 / 8
)

// decodeSignature decodes the signature segment into dst (which must have
// room for ed25519.SignatureSize bytes) and checks its size for alg; an
// RSA signature, sized by its key, is decoded into a new slice and its
// exact size checked by the key.
func decodeSignature(dst []byte, seg, alg string) ([]byte, error) {
	want := signatureSize(alg)
	if want == 0 {
		if n := b64.DecodedLen(len(seg)); n < minRSASignature || n > maxRSASignature {
			if _, err := b64.DecodeString(seg); err != nil {
				return nil, fmt.Errorf("jwtx: signature is not base64url: %w", ErrMalformedToken)
			}
			return nil, fmt.Errorf("jwtx: RSA signature of %d bytes: %w", n, ErrBadSignature)
		}
		out, err := b64.DecodeString(seg)
		if err != nil {
			return nil, fmt.Errorf("jwtx: signature is not base64url: %w", ErrMalformedToken)
		}
		return out, nil
	}
	if b64.EncodedLen(want) != len(seg) {
		if _, err := b64.DecodeString(seg); err != nil {
			return nil, fmt.Errorf("jwtx: signature is not base64url: %w", ErrMalformedToken)
		}
		return nil, fmt.Errorf("jwtx: signature of %d bytes, want %d: %w", b64.DecodedLen(len(seg)), want, ErrBadSignature)
	}
	dst = dst[:want]
	var in [88]byte // b64.EncodedLen(ed25519.SignatureSize) == 86
	if _, err := b64.Decode(dst, in[:copy(in[:], seg)]); err != nil {
		return nil, fmt.Errorf("jwtx: signature is not base64url: %w", ErrMalformedToken)
	}
	return dst, nil
}

// verifySignature reports whether sig is alg's signature of input under
// key (an Ed25519 public key or an HMAC secret).
func verifySignature(alg string, key []byte, input string, sig []byte) bool {
	if alg == AlgHS256 {
		mac := hmac.New(sha256.New, key)
		_, _ = mac.Write([]byte(input))
		var sum [sha256.Size]byte
		return hmac.Equal(mac.Sum(sum[:0]), sig)
	}
	return ed25519.Verify(key, []byte(input), sig)
}

// Package password hashes and verifies passwords with argon2id, encoded as
// PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash), and holds the
// policy new passwords must meet (CheckPolicy: length, username, a list of
// common passwords). Hashing is memory-hard, so a semaphore bounds how many
// run at once; verifying a password for a user that does not exist hashes
// against a dummy so the response time does not reveal which usernames
// exist.
//
//	err := password.CheckPolicy("alice", "correct horse") // nil, or a *WeakError
//	h, err := password.New(password.DefaultParams(), 0)
//	encoded, err := h.Hash(ctx, "correct horse")
//	err = h.Verify(ctx, encoded, "correct horse") // nil, or ErrMismatch
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password: mismatch")
	// ErrMalformedHash means an encoded hash is not an argon2id PHC string
	// this package can read.
	ErrMalformedHash = errors.New("password: malformed hash")
)

// Params are the argon2id cost parameters.
type Params struct {
	// MemoryKiB is the memory per hash in KiB (RFC 9106 m).
	MemoryKiB uint32
	// Iterations is the number of passes (t).
	Iterations uint32
	// Parallelism is the number of lanes (p).
	Parallelism uint8
	// SaltLength is the random salt size in bytes; defaults to 16.
	SaltLength uint32
	// KeyLength is the derived key size in bytes; defaults to 32.
	KeyLength uint32
}

// DefaultParams returns 64 MiB, 2 iterations, 2 lanes, a 16-byte salt and
// a 32-byte key: above the OWASP Password Storage Cheat Sheet's floor for
// argon2id (19 MiB, 2 iterations) and close to RFC 9106's recommendation
// when memory is constrained (64 MiB, 3 iterations), at about 50-100 ms per
// hash on one core.
func DefaultParams() Params {
	return Params{MemoryKiB: 64 * 1024, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32}
}

// Limits on decoded parameters, so a corrupt or hostile stored hash cannot
// make a verification allocate gigabytes.
const (
	maxMemoryKiB  = 4 << 20 // 4 GiB
	maxIterations = 100
	maxKeyLength  = 1024
	maxSaltLength = 1024
)

// Validate reports whether the parameters are usable.
func (p Params) Validate() error {
	switch {
	case p.Parallelism < 1:
		return errors.New("password: parallelism must be at least 1")
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("password: iterations must be between 1 and %d", maxIterations)
	case p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("password: memory must be between 8*parallelism (%d) and %d KiB", 8*uint32(p.Parallelism), maxMemoryKiB)
	case p.SaltLength != 0 && (p.SaltLength < 8 || p.SaltLength > maxSaltLength):
		return errors.New("password: salt length must be between 8 and 1024 bytes")
	case p.KeyLength != 0 && (p.KeyLength < 16 || p.KeyLength > maxKeyLength):
		return errors.New("password: key length must be between 16 and 1024 bytes")
	}
	return nil
}

func (p Params) withDefaults() Params {
	if p.SaltLength == 0 {
		p.SaltLength = 16
	}
	if p.KeyLength == 0 {
		p.KeyLength = 32
	}
	return p
}

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  string
}

// New returns a Hasher that hashes with p and runs at most maxConcurrent
// hashes at once (0 means GOMAXPROCS). It computes a dummy hash with p for
// VerifyDummy.
func New(p Params, maxConcurrent int) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p.withDefaults(), sem: make(chan struct{}, maxConcurrent)}
	dummyPassword := make([]byte, 32)
	_, _ = rand.Read(dummyPassword) // crypto/rand.Read never fails
	dummy, err := h.Hash(context.Background(), string(dummyPassword))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Params returns the parameters new hashes use.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password with a fresh random salt. It
// waits for a free slot in the semaphore, or returns ctx's error.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	_, _ = rand.Read(salt)
	key, err := h.derive(ctx, []byte(password), salt, h.params)
	if err != nil {
		return "", err
	}
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.MemoryKiB, h.params.Iterations, h.params.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify returns nil when password matches encoded, ErrMismatch when it
// does not, ErrMalformedHash when encoded cannot be read, or ctx's error.
// The comparison is constant-time.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) error {
	p, salt, want, err := Decode(encoded)
	if err != nil {
		return err
	}
	got, err := h.derive(ctx, []byte(password), salt, p)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// VerifyDummy spends the time of a Verify against a hash no password
// matches, and returns ErrMismatch (or ctx's error). Call it when the user
// does not exist, so that timing does not tell an attacker so.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.Verify(ctx, h.dummy, password); err != nil {
		return err
	}
	return ErrMismatch // unreachable in practice: the dummy password is random
}

// NeedsRehash reports whether encoded was made with other parameters than
// the Hasher's, so the caller can store a fresh hash after a login.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := Decode(encoded)
	if err != nil {
		return true
	}
	return p.MemoryKiB != h.params.MemoryKiB || p.Iterations != h.params.Iterations ||
		p.Parallelism != h.params.Parallelism || uint32(len(salt)) != h.params.SaltLength ||
		uint32(len(key)) != h.params.KeyLength
}

func (h *Hasher) derive(ctx context.Context, password, salt []byte, p Params) ([]byte, error) {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting for a hashing slot: %w", ctx.Err())
	}
	defer func() { <-h.sem }()
	return argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLength), nil
}

// Decode parses an argon2id PHC string into its parameters, salt and key.
func Decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	var par uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &par); err != nil || n != 3 || par > 255 {
		return Params{}, nil, nil, fmt.Errorf("%w: bad parameters %q", ErrMalformedHash, parts[3])
	}
	p.Parallelism = uint8(par) //nolint:gosec // bounded above
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: key: %w", ErrMalformedHash, err)
	}
	p.SaltLength, p.KeyLength = uint32(len(salt)), uint32(len(key)) //nolint:gosec // bounded by Validate
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

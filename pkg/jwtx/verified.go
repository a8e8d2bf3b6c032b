package jwtx

import (
	"hash/maphash"
	"sync"
	"time"
)

// DefaultVerifiedCacheSize is the number of verified tokens a Validator
// remembers unless Config.VerifiedCacheSize says otherwise.
const DefaultVerifiedCacheSize = 10_000

// verifiedShards splits the verified-token cache so that concurrent
// validations rarely wait on the same lock.
const verifiedShards = 16

// verifiedCache remembers tokens whose signature and claim types were
// checked, so that a token presented again skips the signature (as Envoy's
// jwt_authn cache does). Entries are keyed by a seeded hash of the exact
// token bytes and hold the whole token, compared on every hit: a hash
// collision can only cost a miss, never accept another token. An entry
// expires with its token (exp plus leeway); the cache holds at most max
// entries, evicting an expired or else an arbitrary one when full. What a
// hit skips is only the signature and decoding: key liveness, claim values
// (time) and revocation are checked on every request.
type verifiedCache struct {
	seed     maphash.Seed
	perShard int
	shards   [verifiedShards]verifiedShard
}

type verifiedShard struct {
	mu sync.RWMutex
	m  map[uint64]*verifiedEntry
}

// verifiedEntry is one verified token.
type verifiedEntry struct {
	token   string
	claims  Claims
	is      *issuer
	alg     string
	kid     string
	key     string // the key it verified with: Ed25519 bytes or a key's thumbprint ("" for HMAC)
	expires time.Time
}

// newVerifiedCache returns a cache of about size entries, or nil when size
// is not positive (the cache is off).
func newVerifiedCache(size int) *verifiedCache {
	if size <= 0 {
		return nil
	}
	c := &verifiedCache{seed: maphash.MakeSeed(), perShard: max(1, size/verifiedShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*verifiedEntry)
	}
	return c
}

func (c *verifiedCache) shard(h uint64) *verifiedShard { return &c.shards[h%verifiedShards] }

// get returns the entry for token, or nil. An entry past its expiry is
// removed and not returned.
func (c *verifiedCache) get(token string, now time.Time) *verifiedEntry {
	h := maphash.String(c.seed, token)
	s := c.shard(h)
	s.mu.RLock()
	e := s.m[h]
	s.mu.RUnlock()
	if e == nil || e.token != token {
		return nil
	}
	if !now.Before(e.expires) {
		c.remove(token)
		return nil
	}
	return e
}

// add remembers e, evicting one entry when the shard is full.
func (c *verifiedCache) add(e *verifiedEntry, now time.Time) {
	h := maphash.String(c.seed, e.token)
	s := c.shard(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[h]; !ok && len(s.m) >= c.perShard {
		var victim uint64
		scanned := 0
		for k, old := range s.m { // map order is random: an arbitrary victim
			victim = k
			if scanned++; !now.Before(old.expires) || scanned == 8 {
				break
			}
		}
		delete(s.m, victim)
	}
	s.m[h] = e
}

// remove forgets token.
func (c *verifiedCache) remove(token string) {
	h := maphash.String(c.seed, token)
	s := c.shard(h)
	s.mu.Lock()
	if e := s.m[h]; e != nil && e.token == token {
		delete(s.m, h)
	}
	s.mu.Unlock()
}

// len returns the number of entries.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

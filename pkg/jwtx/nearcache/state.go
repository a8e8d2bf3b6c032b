package nearcache

import (
	"math"
	"sync"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// uuidKey is a UUID in binary form: 16 bytes, no pointer, so the maps
// below are never scanned by the garbage collector.
type uuidKey [16]byte

// userEntry is a user's token version and when it stops protecting
// anything (Unix seconds, rounded up).
type userEntry struct {
	version int64
	exp     uint32
}

// state is one materialised view of the stream: the same content as the
// Redis keys token_blacklist:{jti}, session_revoked:{sid} and
// user_token_version:{user_id}, with
// the same expiry rules (see rules), in memory. It is safe for concurrent
// use.
type state struct {
	mu       sync.RWMutex
	tokens   map[uuidKey]uint32 // jti -> expiry, Unix seconds rounded up
	sessions map[uuidKey]uint32 // sid -> expiry, Unix seconds rounded up
	users    map[uuidKey]userEntry
}

// newState returns an empty state sized for about n events.
func newState(n uint64) *state {
	n = min(n, 1<<26) // a hint, not a promise: bound a corrupt count
	return &state{
		tokens:   make(map[uuidKey]uint32, n),
		sessions: make(map[uuidKey]uint32, n/16),
		users:    make(map[uuidKey]userEntry, n/64),
	}
}

// rules are the expiry rules of the revocation service (revocation.Retention,
// which services/revocation/internal/store applies too), so that a
// near-cache and Redis give the same answers.
type rules = revocation.Retention

// ceilSeconds converts Unix milliseconds to Unix seconds, rounded up, so
// that an entry never expires before the Redis key would; saturated to the
// uint32 range (the year 2106).
func ceilSeconds(ms int64) uint32 {
	s := ms / 1000
	if ms%1000 > 0 {
		s++
	}
	return uint32(min(max(s, 0), math.MaxUint32))
}

// apply applies one valid event at time nowMS (Unix milliseconds) and
// reports whether it changed anything. Like the revocation service's
// function:
//   - an event whose expiry has passed is skipped;
//   - an expiry is only ever extended: an entry keeps the later of its own
//     expiry and the event's (revocation.Retention.Expiry), for tokens and
//     users alike;
//   - a user version is only ever raised; a lower one changes nothing but
//     the expiry.
//
// An entry whose expiry has passed counts as absent, as the expired Redis
// key would, even before the sweep removes it.
func (s *state) apply(r rules, ev revocation.Event, nowMS int64) bool {
	at, _ := r.Expiry(ev, time.UnixMilli(nowMS))
	expMS := at.UnixMilli()
	if expMS <= nowMS {
		return false
	}
	exp := ceilSeconds(expMS)
	nowSec := nowMS / 1000
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Type {
	case revocation.TypeTokenRevoked:
		return extendEntry(s.tokens, ev.JTI, exp, nowSec)
	case revocation.TypeSessionRevoked:
		return extendEntry(s.sessions, ev.SessionID, exp, nowSec)
	case revocation.TypeUserTokensRevoked:
		k, ok := parseUUID(ev.UserID)
		if !ok {
			return false
		}
		next := userEntry{version: ev.Version, exp: exp}
		if cur, ok := s.users[k]; ok && int64(cur.exp) > nowSec {
			next = userEntry{version: max(cur.version, ev.Version), exp: max(cur.exp, exp)}
			if next == cur {
				return false
			}
		}
		s.users[k] = next
		return true
	}
	return false
}

// extendEntry sets the expiry of m's entry for id (a canonical UUID) to
// exp unless it already expires later, and reports whether it changed.
func extendEntry(m map[uuidKey]uint32, id string, exp uint32, nowSec int64) bool {
	k, ok := parseUUID(id)
	if !ok {
		return false
	}
	if cur, ok := m[k]; ok && int64(cur) > nowSec && cur >= exp {
		return false
	}
	m[k] = exp
	return true
}

// query is one lookup: a token id and a session id, each only when
// present, and a user.
type query struct {
	jti, sid       uuidKey
	hasJTI, hasSID bool
	user           uuidKey
}

// lookup returns the state of q's token, session and user. It does not
// allocate. Entries past their expiry but not yet swept still count: the
// answer can only be stricter than Redis's, and a token past its expiry
// fails the claim check anyway.
func (s *state) lookup(q query) (tokenRevoked, sessionRevoked bool, version int64) {
	s.mu.RLock()
	if q.hasJTI {
		_, tokenRevoked = s.tokens[q.jti]
	}
	if q.hasSID {
		_, sessionRevoked = s.sessions[q.sid]
	}
	version = s.users[q.user].version
	s.mu.RUnlock()
	return tokenRevoked, sessionRevoked, version
}

// sweepChunk bounds the entries one sweep step visits holding the lock.
const sweepChunk = 16 << 10

// sweep removes the entries whose expiry is at or before nowSec and
// returns how many it removed. It holds the write lock for at most
// sweepChunk entries at a time; each step starts at a random position of
// the map (Go's iteration order), so on maps larger than a chunk an
// expired entry may survive one sweep and go at a later one.
func (s *state) sweep(nowSec int64) int {
	return sweepMap(&s.mu, s.tokens, nowSec, func(e uint32) uint32 { return e }) +
		sweepMap(&s.mu, s.sessions, nowSec, func(e uint32) uint32 { return e }) +
		sweepMap(&s.mu, s.users, nowSec, func(e userEntry) uint32 { return e.exp })
}

// sweepMap sweeps m in steps of at most sweepChunk entries under mu, until
// it has visited as many entries as m held at the start.
func sweepMap[V any](mu *sync.RWMutex, m map[uuidKey]V, nowSec int64, exp func(V) uint32) (removed int) {
	mu.RLock()
	size := len(m)
	mu.RUnlock()
	for visited := 0; visited < size; {
		n, r, whole := sweepStep(mu, m, nowSec, exp)
		visited += n
		removed += r
		if whole {
			break
		}
	}
	return removed
}

// sweepStep visits at most sweepChunk entries of m holding mu; whole
// reports whether it saw the entire map.
func sweepStep[V any](mu *sync.RWMutex, m map[uuidKey]V, nowSec int64, exp func(V) uint32) (visited, removed int, whole bool) {
	mu.Lock()
	defer mu.Unlock()
	for k, v := range m {
		if visited == sweepChunk {
			return visited, removed, false
		}
		visited++
		if int64(exp(v)) <= nowSec {
			delete(m, k)
			removed++
		}
	}
	return visited, removed, true
}

// counts returns the number of token, session and user entries.
func (s *state) counts() (tokens, sessions, users int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tokens), len(s.sessions), len(s.users)
}

// parseUUID parses a canonical lower-case UUID (as revocation.IsUUID and
// jwtx.IsUUID require) without allocating.
func parseUUID(s string) (u uuidKey, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; {
		switch i {
		case 8, 13, 18, 23:
			i++
			continue
		}
		hi, lo := unhex(s[i]), unhex(s[i+1])
		if hi > 15 || lo > 15 {
			return uuidKey{}, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xff
}

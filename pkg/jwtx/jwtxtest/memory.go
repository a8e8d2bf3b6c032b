package jwtxtest

import (
	"context"
	"sync"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// MemoryStore is an in-memory jwtx.RevocationStore. Its zero value is
// ready to use and initialized (as if the revocation checkpoint existed).
// It is safe for concurrent use.
type MemoryStore struct {
	mu            sync.Mutex
	revoked       map[string]bool
	sessions      map[string]bool
	versions      map[string]int64
	uninitialized bool
	err           error
	calls         int
}

var _ jwtx.RevocationStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty, initialized store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// RevocationState implements jwtx.RevocationStore. It returns ctx's error
// when ctx is done, and the error set by FailWith, if any.
func (m *MemoryStore) RevocationState(ctx context.Context, q jwtx.RevocationQuery) (jwtx.RevocationState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if err := ctx.Err(); err != nil {
		return jwtx.RevocationState{}, err
	}
	if m.err != nil {
		return jwtx.RevocationState{}, m.err
	}
	return jwtx.RevocationState{
		Initialized:    !m.uninitialized,
		TokenRevoked:   q.JTI != "" && m.revoked[q.JTI],
		SessionRevoked: q.SessionID != "" && m.sessions[q.SessionID],
		UserVersion:    m.versions[q.UserID],
	}, nil
}

// RevokeSession marks the session sid as revoked.
func (m *MemoryStore) RevokeSession(sid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = make(map[string]bool)
	}
	m.sessions[sid] = true
}

// RevokeToken blacklists the token jti.
func (m *MemoryStore) RevokeToken(jti string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = make(map[string]bool)
	}
	m.revoked[jti] = true
}

// SetUserVersion sets the token version of user: tokens with a lower ver
// are revoked.
func (m *MemoryStore) SetUserVersion(user string, v int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions == nil {
		m.versions = make(map[string]int64)
	}
	m.versions[user] = v
}

// SetInitialized sets whether the revocation checkpoint exists; false
// makes every check fail closed with jwtx.ErrRevocationUnavailable.
func (m *MemoryStore) SetInitialized(ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uninitialized = !ok
}

// FailWith makes every RevocationState call return err; nil restores
// normal answers.
func (m *MemoryStore) FailWith(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// Calls returns how many times RevocationState was called.
func (m *MemoryStore) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

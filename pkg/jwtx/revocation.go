package jwtx

import (
	"context"
	"fmt"
	"time"

	"github.com/eventjwt/eventjwt/pkg/revocation"
)

// Redis keys written by the revocation service and read by validators.
// They are public interface (docs/CONTRACT.md, "Redis keys"), defined once
// in package revocation; these are the same constants.
const (
	// KeyPrefixTokenBlacklist is followed by a jti; the key exists while the
	// token is revoked (it expires with the token).
	KeyPrefixTokenBlacklist = revocation.KeyPrefixTokenBlacklist
	// KeyPrefixUserTokenVersion is followed by a user id; the integer value
	// is the user's token version: tokens with a lower ver are revoked.
	KeyPrefixUserTokenVersion = revocation.KeyPrefixUserTokenVersion
	// KeyCheckpoint holds the last stream sequence applied to Redis. When it
	// is missing, Redis lost its data and is being rebuilt: validators fail
	// closed.
	KeyCheckpoint = revocation.KeyCheckpoint
	// KeyHeartbeat holds the Unix milliseconds at which the revocation
	// service last knew this Redis caught up with the stream; a RedisStore
	// fails closed when it is older than RedisStoreOptions.MaxStaleness.
	KeyHeartbeat = revocation.KeyHeartbeat
	// KeyPrefixSessionRevoked is followed by a session id (sid); the key
	// exists while the session is revoked.
	KeyPrefixSessionRevoked = revocation.KeyPrefixSessionRevoked
)

// BlacklistKey returns the Redis key that marks the token jti as revoked.
func BlacklistKey(jti string) string { return revocation.BlacklistKey(jti) }

// UserVersionKey returns the Redis key holding the token version of userID.
func UserVersionKey(userID string) string { return revocation.UserVersionKey(userID) }

// SessionKey returns the Redis key that marks the session sid as revoked.
func SessionKey(sid string) string { return revocation.SessionKey(sid) }

// RevocationQuery names what a revocation check asks about one token.
type RevocationQuery struct {
	// JTI is the token id; "" for a legacy token without jti.
	JTI string
	// SessionID is the sid claim; "" for a token without a session.
	SessionID string
	// UserID is the user's id (Claims.UserID); required.
	UserID string
}

// Query returns the revocation query for the token c describes: its jti,
// sid and sub as revocation ids (themselves for this project's UUIDs,
// revocation.ExternalID of the issuer and the claim otherwise).
func (c *Claims) Query() RevocationQuery {
	if c.UserID == "" { // Claims made by hand rather than by a Validator
		c.setRevocationIDs()
	}
	return RevocationQuery{JTI: c.revJTI, SessionID: c.revSID, UserID: c.UserID}
}

// RevocationState is what a RevocationStore knows about one token.
type RevocationState struct {
	Initialized    bool  // revocation:checkpoint present
	TokenRevoked   bool  // token_blacklist:{jti} present (always false when jti == "")
	SessionRevoked bool  // session_revoked:{sid} present (always false when sid == "")
	UserVersion    int64 // user_token_version:{sub}; 0 when absent
}

// RevocationStore reads the revocation state of a token. Implementations
// must honour the context deadline and return an error when the state
// cannot be read in full; RedisStore is the production implementation and
// jwtxtest.MemoryStore an in-memory one for tests.
type RevocationStore interface {
	// RevocationState returns the state for the token q names: its jti
	// ("" for a legacy token), its session ("" for none) and its user.
	RevocationState(ctx context.Context, q RevocationQuery) (RevocationState, error)
}

// LocalRevocationStore is a RevocationStore that can often answer from
// memory, such as a near-cache following the revocation stream. The
// Validator asks LocalRevocationState first and only calls
// RevocationState (with the RevocationTimeout budget) when it returns
// ok == false, for example because the in-memory view is too stale.
type LocalRevocationStore interface {
	RevocationStore
	// LocalRevocationState answers without I/O and without blocking, or
	// returns ok == false when it cannot answer from memory.
	LocalRevocationState(q RevocationQuery) (st RevocationState, ok bool)
}

// checkRevocation decides on a token whose signature and claims passed.
func (v *Validator) checkRevocation(ctx context.Context, c *Claims) error {
	if v.local != nil {
		if st, ok := v.local.LocalRevocationState(c.Query()); ok {
			return decideRevocation(c, st, nil)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, v.revTimeout)
	defer cancel()
	start := time.Now()
	st, err := v.store.RevocationState(ctx, c.Query())
	v.metrics.observeRevocation(time.Since(start))
	return decideRevocation(c, st, err)
}

// decideRevocation applies the revocation rules to the state read for c.
func decideRevocation(c *Claims, st RevocationState, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("jwtx: read revocation state: %w: %w", ErrRevocationUnavailable, err)
	case !st.Initialized:
		return fmt.Errorf("jwtx: revocation store has no checkpoint (rebuilding): %w", ErrRevocationUnavailable)
	case st.TokenRevoked:
		return fmt.Errorf("jwtx: token id is blacklisted: %w", ErrRevoked)
	case st.SessionRevoked:
		return fmt.Errorf("jwtx: token's session is revoked: %w", ErrRevoked)
	case c.Version < st.UserVersion:
		return fmt.Errorf("jwtx: token version %d below user version %d: %w", c.Version, st.UserVersion, ErrRevoked)
	}
	return nil
}

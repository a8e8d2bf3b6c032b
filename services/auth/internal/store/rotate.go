package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RotateStatus classifies a presented refresh token.
type RotateStatus int

// What Rotate found.
const (
	// RotateUnknown: no refresh token has the hash.
	RotateUnknown RotateStatus = iota
	// RotateExpired: the token is past its expiry.
	RotateExpired
	// RotateRevoked: the token's session is revoked.
	RotateRevoked
	// RotateReuse: the token was spent longer ago than the grace window.
	RotateReuse
	// RotateGrace: the token was spent within the grace window; Rotation
	// holds the successor it got then.
	RotateGrace
	// Rotated: the token was live; it is now spent and the successor stored.
	Rotated
)

// String returns the status's name.
func (s RotateStatus) String() string {
	switch s {
	case RotateExpired:
		return "expired"
	case RotateRevoked:
		return "revoked"
	case RotateReuse:
		return "reuse"
	case RotateGrace:
		return "grace"
	case Rotated:
		return "rotated"
	}
	return "unknown"
}

// RotateRequest is one refresh: the presented token's hash and what its
// successor is.
type RotateRequest struct {
	Hash []byte
	// SuccessorHash is the hash of the successor refresh token.
	SuccessorHash []byte
	// SuccessorJTI is the jti of the successor access token.
	SuccessorJTI string
	// Now is the time of the refresh: the successor access token's iat.
	Now time.Time
	// Grace is how long a spent token is answered its successor again.
	Grace time.Duration
	// RefreshTTL is the successor refresh token's lifetime.
	RefreshTTL time.Duration
	// AccessTTL is the successor access token's lifetime.
	AccessTTL time.Duration
}

// Rotation is the answer of Rotate.
type Rotation struct {
	Status RotateStatus
	// Session is the token's session (zero for RotateUnknown).
	Session Session
	// Token is the presented token's row (zero for RotateUnknown).
	Token RefreshToken
	// SuccessorHash and Grant describe the successor pair (Rotated and
	// RotateGrace); Grant.Version is the user's token version read in the
	// rotation's transaction.
	SuccessorHash []byte
	// SuccessorExpiresAt is the successor refresh token's expiry.
	SuccessorExpiresAt time.Time
	Grant              Grant
}

// Rotate classifies the refresh token with req.Hash and, when it is live,
// spends it and stores its successor, all in one transaction: of
// concurrent rotations of one token exactly one sees it live; the others
// see it spent within the grace window, with the same successor.
func (s *DB) Rotate(ctx context.Context, req RotateRequest) (Rotation, error) {
	var out Rotation
	err := s.inTx(ctx, "rotate refresh token", func(tx handle) error {
		var err error
		out, err = rotate(ctx, tx, req)
		return err
	})
	return out, err
}

func rotate(ctx context.Context, tx handle, req RotateRequest) (Rotation, error) {
	var (
		out            Rotation
		issued, until  int64
		spent, succIAT sql.NullInt64
		succVer        sql.NullInt64
		succHash       []byte
		succJTI        sql.NullString
	)
	err := tx.QueryRowContext(ctx, `SELECT hash, sid, user_id, issued_at, expires_at, spent_at,
		successor_hash, successor_jti, successor_iat, successor_version FROM refresh_tokens WHERE hash = ?`+tx.d.lockToken, req.Hash).
		Scan(&out.Token.Hash, &out.Token.SessionID, &out.Token.UserID, &issued, &until, &spent,
			&succHash, &succJTI, &succIAT, &succVer)
	if errors.Is(err, sql.ErrNoRows) {
		return Rotation{Status: RotateUnknown}, nil
	}
	if err != nil {
		return Rotation{}, fmt.Errorf("look up: %w", err)
	}
	out.Token.IssuedAt, out.Token.ExpiresAt = fromNanos(issued), fromNanos(until)
	if out.Session, err = getSessionLock(ctx, tx, out.Token.SessionID, tx.d.lockSession); err != nil {
		return Rotation{}, err
	}
	now := req.Now
	switch {
	case !out.Session.RevokedAt.IsZero():
		out.Status = RotateRevoked
		return out, nil
	case !out.Token.ExpiresAt.After(now):
		out.Status = RotateExpired
		return out, nil
	case spent.Valid:
		if now.Sub(fromNanos(spent.Int64)) > req.Grace {
			out.Status = RotateReuse
			return out, nil
		}
		out.Status = RotateGrace
		out.SuccessorHash = succHash
		out.Grant = Grant{JTI: succJTI.String, IssuedAt: nullNanos(succIAT), Version: succVer.Int64}
		// The successor was issued with the same expiry rule at spent time.
		out.SuccessorExpiresAt = fromNanos(spent.Int64).Add(req.RefreshTTL)
		var sexp int64
		if err := tx.QueryRowContext(ctx, `SELECT expires_at FROM refresh_tokens WHERE hash = ?`, succHash).Scan(&sexp); err == nil {
			out.SuccessorExpiresAt = fromNanos(sexp)
		}
		return out, nil
	}
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT token_version FROM users WHERE id = ?`, out.Token.UserID).Scan(&version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Rotation{}, fmt.Errorf("user %s: %w", out.Token.UserID, ErrNotFound)
		}
		return Rotation{}, fmt.Errorf("token version: %w", err)
	}
	out.Status = Rotated
	out.SuccessorHash = req.SuccessorHash
	out.SuccessorExpiresAt = now.Add(req.RefreshTTL)
	out.Grant = Grant{JTI: req.SuccessorJTI, IssuedAt: now, Version: version}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET spent_at = ?, successor_hash = ?,
		successor_jti = ?, successor_iat = ?, successor_version = ? WHERE hash = ? AND spent_at IS NULL`,
		nanos(now), req.SuccessorHash, req.SuccessorJTI, nanos(now), version, req.Hash); err != nil {
		return Rotation{}, fmt.Errorf("spend: %w", err)
	}
	if err := insertToken(ctx, tx, RefreshToken{Hash: req.SuccessorHash, SessionID: out.Token.SessionID,
		UserID: out.Token.UserID, IssuedAt: now, ExpiresAt: out.SuccessorExpiresAt}); err != nil {
		return Rotation{}, err
	}
	accessExp := now.Add(req.AccessTTL)
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_used_at = ?,
		access_expires_at = max(access_expires_at, ?), expires_at = max(expires_at, ?) WHERE sid = ?`,
		nanos(now), nanos(accessExp), nanos(out.SuccessorExpiresAt), out.Token.SessionID); err != nil {
		return Rotation{}, fmt.Errorf("update session: %w", err)
	}
	out.Session.LastUsedAt = now
	if accessExp.After(out.Session.AccessExpiresAt) {
		out.Session.AccessExpiresAt = accessExp
	}
	if out.SuccessorExpiresAt.After(out.Session.ExpiresAt) {
		out.Session.ExpiresAt = out.SuccessorExpiresAt
	}
	return out, nil
}

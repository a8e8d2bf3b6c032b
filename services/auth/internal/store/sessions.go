package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrSessionNotFound means no session has the given id (for that user).
var ErrSessionNotFound = errors.New("store: session not found")

// MaxUserAgentLen bounds the stored user agent; longer ones are cut.
const MaxUserAgentLen = 256

const sessionSchema = `
CREATE TABLE IF NOT EXISTS sessions (
	sid                 TEXT    PRIMARY KEY,
	user_id             TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at          INTEGER NOT NULL,
	last_used_at        INTEGER NOT NULL,
	user_agent          TEXT    NOT NULL DEFAULT '',
	client_addr         TEXT    NOT NULL DEFAULT '',
	access_expires_at   INTEGER NOT NULL,
	expires_at          INTEGER NOT NULL,
	revoked_at          INTEGER,
	revoke_reason       TEXT    NOT NULL DEFAULT '',
	revocation_enforced INTEGER NOT NULL DEFAULT 0 CHECK (revocation_enforced IN (0, 1))
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS refresh_tokens (
	hash              BLOB    PRIMARY KEY,
	sid               TEXT    NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
	user_id           TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	issued_at         INTEGER NOT NULL,
	expires_at        INTEGER NOT NULL,
	spent_at          INTEGER,
	successor_hash    BLOB,
	successor_jti     TEXT,
	successor_iat     INTEGER,
	successor_version INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS refresh_tokens_sid ON refresh_tokens (sid);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires ON refresh_tokens (expires_at);
`

// Session is one login: the refresh tokens and access tokens it issued.
type Session struct {
	// ID is the sid, a UUID.
	ID     string
	UserID string
	// CreatedAt is the login; LastUsedAt the latest refresh.
	CreatedAt, LastUsedAt time.Time
	// UserAgent is cut to MaxUserAgentLen bytes.
	UserAgent string
	// ClientAddr is a coarse prefix of the client address (IPv4 /24,
	// IPv6 /48).
	ClientAddr string
	// AccessExpiresAt is the latest expiry of any access token of the
	// session: what a SessionRevoked event must cover.
	AccessExpiresAt time.Time
	// ExpiresAt is the latest expiry of any refresh token of the session.
	ExpiresAt time.Time
	// RevokedAt is zero while the session is active.
	RevokedAt    time.Time
	RevokeReason string
	// RevocationEnforced is set once the SessionRevoked event of a
	// revoked session was seen enforced.
	RevocationEnforced bool
}

// Active reports whether the session is neither revoked nor expired at now.
func (s Session) Active(now time.Time) bool {
	return s.RevokedAt.IsZero() && s.ExpiresAt.After(now)
}

// RefreshToken is a stored refresh token: only its SHA-256 hash is kept.
type RefreshToken struct {
	Hash      []byte
	SessionID string
	UserID    string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Grant is what an access token issued by a rotation was signed from, kept
// so that a replay within the grace window gets a byte-identical token.
type Grant struct {
	JTI      string
	IssuedAt time.Time
	Version  int64
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nullNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// CreateSession stores a new session and its first refresh token in one
// transaction (login). The session's ExpiresAt is set to the token's.
func (s *DB) CreateSession(ctx context.Context, sess Session, first RefreshToken) error {
	sess.UserAgent = truncateUTF8(sess.UserAgent, MaxUserAgentLen)
	if sess.LastUsedAt.IsZero() {
		sess.LastUsedAt = sess.CreatedAt
	}
	return s.inTx(ctx, "create session", func(tx handle) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sessions
			(sid, user_id, created_at, last_used_at, user_agent, client_addr, access_expires_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.ID, sess.UserID, nanos(sess.CreatedAt), nanos(sess.LastUsedAt), sess.UserAgent, sess.ClientAddr,
			nanos(sess.AccessExpiresAt), nanos(first.ExpiresAt)); err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return insertToken(ctx, tx, RefreshToken{Hash: first.Hash, SessionID: sess.ID, UserID: sess.UserID,
			IssuedAt: first.IssuedAt, ExpiresAt: first.ExpiresAt})
	})
}

func insertToken(ctx context.Context, tx handle, t RefreshToken) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, sid, user_id, issued_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`, t.Hash, t.SessionID, t.UserID, nanos(t.IssuedAt), nanos(t.ExpiresAt)); err != nil {
		return fmt.Errorf("insert refresh token: %w", err)
	}
	return nil
}

// maxTxAttempts bounds the runs of a transaction that the engine aborted
// as retryable (a PostgreSQL deadlock between replicas).
const maxTxAttempts = 3

// inTx runs fn in one transaction (immediate, on SQLite), again when the
// engine aborted it as retryable.
func (s *DB) inTx(ctx context.Context, op string, fn func(tx handle) error) error {
	release, err := s.write(ctx)
	if err != nil {
		return err
	}
	defer release()
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, op, fn)
		if err == nil || s.d.retryable == nil || !s.d.retryable(err) || attempt == maxTxAttempts || ctx.Err() != nil {
			return err
		}
	}
}

func (s *DB) tryTx(ctx context.Context, op string, fn func(tx handle) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", op, err)
	}
	if err := fn(handle{r: tx, d: s.d}); err != nil {
		_ = tx.Rollback()
		if errors.Is(err, ErrSessionNotFound) || errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", op, err)
	}
	return nil
}

const sessionCols = `sid, user_id, created_at, last_used_at, user_agent, client_addr,
	access_expires_at, expires_at, revoked_at, revoke_reason, revocation_enforced`

type rowScanner interface{ Scan(dest ...any) error }

func scanSession(r rowScanner) (Session, error) {
	var (
		ss                           Session
		created, used, access, until int64
		revoked                      sql.NullInt64
		enforced                     int64
	)
	if err := r.Scan(&ss.ID, &ss.UserID, &created, &used, &ss.UserAgent, &ss.ClientAddr,
		&access, &until, &revoked, &ss.RevokeReason, &enforced); err != nil {
		return Session{}, err
	}
	ss.CreatedAt, ss.LastUsedAt = fromNanos(created), fromNanos(used)
	ss.AccessExpiresAt, ss.ExpiresAt = fromNanos(access), fromNanos(until)
	ss.RevokedAt, ss.RevocationEnforced = nullNanos(revoked), enforced == 1
	return ss, nil
}

func getSession(ctx context.Context, q handle, sid string) (Session, error) {
	return getSessionLock(ctx, q, sid, "")
}

// getSessionLock reads the session, the query ending with lock (a row
// lock clause, or "").
func getSessionLock(ctx context.Context, q handle, sid, lock string) (Session, error) {
	ss, err := scanSession(q.QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE sid = ?`+lock, sid))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Session{}, fmt.Errorf("session %s: %w", sid, ErrSessionNotFound)
	case err != nil:
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	return ss, nil
}

// Session returns the session with that sid.
func (s *DB) Session(ctx context.Context, sid string) (Session, error) {
	return getSession(ctx, s.h(), sid)
}

// ActiveSessions returns the user's sessions neither revoked nor expired
// at now, the most recently used first.
func (s *DB) ActiveSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	return s.querySessions(ctx, `WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
		ORDER BY last_used_at DESC, sid`, userID, nanos(now))
}

func (s *DB) querySessions(ctx context.Context, where string, args ...any) ([]Session, error) {
	return querySessions(ctx, s.h(), where, args...)
}

func querySessions(ctx context.Context, q handle, where string, args ...any) ([]Session, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: sessions: %w", err)
		}
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	return out, nil
}

// RevokeSession marks the user's session sid revoked with reason (the
// first reason is kept when it already was) and returns it. Someone
// else's session, or an unknown one, is ErrSessionNotFound.
func (s *DB) RevokeSession(ctx context.Context, userID, sid, reason string, now time.Time) (Session, error) {
	var out Session
	err := s.inTx(ctx, "revoke session", func(tx handle) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE sid = ? AND user_id = ? AND revoked_at IS NULL`, nanos(now), reason, sid, userID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		ss, err := getSession(ctx, tx, sid)
		if err != nil {
			return err
		}
		if ss.UserID != userID {
			return fmt.Errorf("session %s of another user: %w", sid, ErrSessionNotFound)
		}
		out = ss
		return nil
	})
	return out, err
}

// RevokeUserSessions marks every active session of the user revoked with
// reason, except the session exceptSID ("" for none), in one transaction.
// It returns the sessions whose revocation still has to be enforced: the
// ones revoked now and earlier ones (other than exceptSID) whose
// revocation was never confirmed enforced and whose access tokens may still
// live, so that a retry republishes them.
func (s *DB) RevokeUserSessions(ctx context.Context, userID, exceptSID, reason string, now time.Time) ([]Session, error) {
	var out []Session
	err := s.inTx(ctx, "revoke user sessions", func(tx handle) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE user_id = ? AND sid != ? AND revoked_at IS NULL`, nanos(now), reason, userID, exceptSID); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		var err error
		out, err = querySessions(ctx, tx, `WHERE user_id = ? AND sid != ? AND revoked_at IS NOT NULL
			AND revocation_enforced = 0 AND access_expires_at > ? ORDER BY created_at, sid`,
			userID, exceptSID, nanos(now))
		return err
	})
	return out, err
}

// MarkRevocationEnforced records that the revocation of session sid was
// seen enforced at the validators.
func (s *DB) MarkRevocationEnforced(ctx context.Context, sid string) error {
	release, err := s.write(ctx)
	if err != nil {
		return err
	}
	defer release()
	if _, err := s.h().ExecContext(ctx,
		`UPDATE sessions SET revocation_enforced = 1 WHERE sid = ? AND revoked_at IS NOT NULL`, sid); err != nil {
		return fmt.Errorf("store: mark revocation enforced: %w", err)
	}
	return nil
}

// Sweep deletes up to limit sessions (with their refresh tokens) and
// refresh tokens that expired before now-margin, and returns how many rows
// it deleted. A session is swept once both its refresh tokens and its
// access tokens are past; a revoked one only once its revocation no longer
// matters (its access tokens expired).
func (s *DB) Sweep(ctx context.Context, now time.Time, margin time.Duration, limit int) (int64, error) {
	cut := nanos(now.Add(-margin))
	var n int64
	err := s.inTx(ctx, "sweep", func(tx handle) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE hash IN
			(SELECT hash FROM refresh_tokens WHERE expires_at < ? LIMIT ?)`, cut, limit)
		if err != nil {
			return fmt.Errorf("refresh tokens: %w", err)
		}
		n, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE sid IN
			(SELECT sid FROM sessions WHERE expires_at < ? AND access_expires_at < ? LIMIT ?)`, cut, cut, limit)
		if err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
		m, _ := res.RowsAffected()
		n += m
		return nil
	})
	return n, err
}

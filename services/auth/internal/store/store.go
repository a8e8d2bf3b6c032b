// Package store keeps the auth service's users: id, username (unique
// regardless of ASCII case), password hash and token version; and their
// sessions with the refresh tokens (stored as hashes) that rotate within
// them. The database is SQLite (Open, one process) or PostgreSQL
// (OpenPostgres, shared by replicas); the schema is versioned
// (schema_migrations) and migrated at open.
//
//	db, err := store.Open(ctx, "auth.db", time.Now)
//	err = db.CreateUser(ctx, store.User{ID: id, Username: "alice", PasswordHash: h})
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound means no user has the given id or username.
	ErrNotFound = errors.New("store: user not found")
	// ErrUsernameTaken means another user already has the username,
	// compared case-insensitively.
	ErrUsernameTaken = errors.New("store: username taken")
)

// User is one account.
type User struct {
	// ID is a UUID; it is the sub of the user's tokens.
	ID string
	// Username is kept as registered; lookups ignore ASCII case.
	Username string
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	// TokenVersion is the ver claim of tokens issued now; tokens with a
	// lower ver are revoked. It is only ever raised.
	TokenVersion int64
	// CreatedAt is when the user registered.
	CreatedAt time.Time
}

// DB is the user store. It is safe for concurrent use.
type DB struct {
	db  *sql.DB
	d   *dialect
	now func() time.Time
	// writer admits one writing statement or transaction of this process
	// at a time. SQLite has one writer per file; without this, concurrent
	// writers find the file locked and SQLite's busy handler retries them
	// with sleeps of up to 100 ms, which under load (refreshes at 500/s)
	// turned into a latency tail of seconds. Waiting here is FIFO-fair
	// enough and honours the caller's context. The busy timeout still
	// covers other processes on the same file. nil on PostgreSQL, which
	// has row locks.
	writer chan struct{}
}

// h runs queries on the database in its dialect.
func (s *DB) h() handle { return handle{r: s.db, d: s.d} }

// write takes the writer slot, waiting at most until ctx is done, and
// returns its release.
func (s *DB) write(ctx context.Context) (release func(), err error) {
	if s.writer == nil {
		return func() {}, nil
	}
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("store: waiting to write: %w", ctx.Err())
	}
}

const schema = `
CREATE TABLE IF NOT EXISTS users (
	id            TEXT    PRIMARY KEY,
	username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	password_hash TEXT    NOT NULL,
	token_version INTEGER NOT NULL DEFAULT 0 CHECK (token_version >= 0),
	created_at    TEXT    NOT NULL
) STRICT;
`

// Open opens (creating if needed) the SQLite database at path, in WAL mode
// with a busy timeout, and applies the schema. now stamps new users; nil
// means time.Now.
func Open(ctx context.Context, path string, now func() time.Time) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: database path %q must not contain '?' or '#'", path)
	}
	if now == nil {
		now = time.Now
	}
	// The file holds password hashes: create it private. SQLite gives its
	// -wal and -shm files the same permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	_ = f.Close()
	dsn := "file:" + path + "?_busy_timeout=5000&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migrate(ctx, db, sqliteDialect); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return &DB{db: db, d: sqliteDialect, now: now, writer: make(chan struct{}, 1)}, nil
}

// Close closes the database.
func (s *DB) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// CreateUser inserts u. CreatedAt is set from the store's clock when zero.
// It returns ErrUsernameTaken when the username exists in any case.
func (s *DB) CreateUser(ctx context.Context, u User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	release, err := s.write(ctx)
	if err != nil {
		return err
	}
	defer release()
	_, err = s.h().ExecContext(ctx,
		`INSERT INTO users (id, username, password_hash, token_version, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Username, u.PasswordHash, u.TokenVersion, u.CreatedAt.UTC().Format(time.RFC3339Nano))
	if err != nil {
		if s.d.uniqueViolation(err) {
			return fmt.Errorf("create user %q: %w", u.Username, ErrUsernameTaken)
		}
		return fmt.Errorf("store: create user: %w", err)
	}
	return nil
}

// UserByUsername returns the user with that username, ignoring ASCII case.
func (s *DB) UserByUsername(ctx context.Context, username string) (User, error) {
	return s.queryUser(ctx, `WHERE username = ?`, username)
}

// UserByID returns the user with that id.
func (s *DB) UserByID(ctx context.Context, id string) (User, error) {
	return s.queryUser(ctx, `WHERE id = ?`, id)
}

// UsernameExists reports whether a user has that username, ignoring ASCII
// case.
func (s *DB) UsernameExists(ctx context.Context, username string) (bool, error) {
	var one int
	err := s.h().QueryRowContext(ctx, `SELECT 1 FROM users WHERE username = ?`, username).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: username exists: %w", err)
	}
	return true, nil
}

// SetPasswordHash replaces the user's password hash (after a login with
// outdated hashing parameters).
func (s *DB) SetPasswordHash(ctx context.Context, id, hash string) error {
	release, err := s.write(ctx)
	if err != nil {
		return err
	}
	defer release()
	res, err := s.h().ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	if err != nil {
		return fmt.Errorf("store: set password hash: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set password hash of %s: %w", id, ErrNotFound)
	}
	return nil
}

// TokenVersion returns the user's current token version.
func (s *DB) TokenVersion(ctx context.Context, id string) (int64, error) {
	var v int64
	err := s.h().QueryRowContext(ctx, `SELECT token_version FROM users WHERE id = ?`, id).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("token version of %s: %w", id, ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("store: token version: %w", err)
	}
	return v, nil
}

// SetTokenVersionAtLeast raises the user's token version to v unless it is
// already higher (it is never lowered), atomically, and returns the version
// now stored.
func (s *DB) SetTokenVersionAtLeast(ctx context.Context, id string, v int64) (int64, error) {
	release, err := s.write(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	var got int64
	err = s.h().QueryRowContext(ctx,
		`UPDATE users SET token_version = max(token_version, ?) WHERE id = ? RETURNING token_version`,
		v, id).Scan(&got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, fmt.Errorf("set token version of %s: %w", id, ErrNotFound)
	case err != nil:
		return 0, fmt.Errorf("store: set token version: %w", err)
	}
	return got, nil
}

func (s *DB) queryUser(ctx context.Context, where string, arg any) (User, error) {
	var (
		u       User
		created string
	)
	err := s.h().QueryRowContext(ctx,
		`SELECT id, username, password_hash, token_version, created_at FROM users `+where, arg).
		Scan(&u.ID, &u.Username, &u.PasswordHash, &u.TokenVersion, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return User{}, fmt.Errorf("user %v: %w", arg, ErrNotFound)
	case err != nil:
		return User{}, fmt.Errorf("store: query user: %w", err)
	}
	u.CreatedAt, err = time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return User{}, fmt.Errorf("store: user %s has a bad created_at %q: %w", u.ID, created, err)
	}
	return u, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL runs through database/sql with pgx's driver (pgx/v5/stdlib)
// rather than pgxpool: the SQLite store is database/sql already, so both
// engines share every query, transaction and scan of this package, and
// database/sql's pool is enough for a store whose statements are short.

var postgresDialect = &dialect{
	name:            "postgres",
	q:               pgQuery,
	lockToken:       " FOR UPDATE",
	lockSession:     " FOR NO KEY UPDATE",
	uniqueViolation: func(err error) bool { return pgCode(err) == "23505" },
	// 40P01 deadlock_detected, 40001 serialization_failure: the
	// transaction was rolled back and can run again.
	retryable:       func(err error) bool { c := pgCode(err); return c == "40P01" || c == "40001" },
	migrations:      postgresMigrations,
	migrationsTable: postgresMigrationsTable,
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// CheckPostgresURL reports whether raw is a PostgreSQL URL that pgx
// accepts (postgres:// or postgresql://, with its query parameters such
// as sslmode). The error never repeats the password.
func CheckPostgresURL(raw string) error {
	_, err := parsePostgresURL(raw)
	return err
}

func parsePostgresURL(raw string) (*pgx.ConnConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("scheme %q: want postgres:// or postgresql://", u.Scheme)
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's message names the URL with the password redacted.
		return nil, fmt.Errorf("pgx: %w", err)
	}
	return cfg, nil
}

// postgresAdvisoryLock is the key of the session-level advisory lock
// held while migrating, so that replicas starting at once apply each
// migration once ("eventjwt" in ASCII).
const postgresAdvisoryLock int64 = 0x6576656e746a7774

// OpenPostgres connects to the PostgreSQL database at rawURL
// (postgres://user:password@host:5432/db?sslmode=verify-full) and
// applies the pending migrations, under an advisory lock. now stamps new
// users; nil means time.Now. Several replicas may share the database:
// every operation that must be atomic is one statement or a transaction
// with row locks.
func OpenPostgres(ctx context.Context, rawURL string, now func() time.Time) (*DB, error) {
	cfg, err := parsePostgresURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: database URL: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := migratePostgres(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &DB{db: db, d: postgresDialect, now: now}, nil
}

// migratePostgres applies the migrations on one connection holding the
// advisory lock.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, postgresAdvisoryLock); err != nil {
		return fmt.Errorf("store: migrations: take the advisory lock: %w", err)
	}
	defer func() {
		// The lock ends with the session anyway; unlock so that a pooled
		// connection does not keep it.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, postgresAdvisoryLock)
	}()
	return migrate(ctx, conn, postgresDialect)
}

const postgresMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER     PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// postgresMigrations is the schema of the SQLite migrations in
// PostgreSQL's types: times as nanoseconds (BIGINT) and created_at as
// RFC 3339 text, as on SQLite, so that both engines store the same
// values; usernames unique through their ASCII-folded copy.
var postgresMigrations = []migration{{Version: 1, SQL: `
CREATE TABLE users (
	id            TEXT   PRIMARY KEY,
	username      TEXT   NOT NULL,
	username_fold TEXT   NOT NULL GENERATED ALWAYS AS (` + asciiFold("username") + `) STORED,
	password_hash TEXT   NOT NULL,
	token_version BIGINT NOT NULL DEFAULT 0 CHECK (token_version >= 0),
	created_at    TEXT   NOT NULL,
	CONSTRAINT users_username_fold_key UNIQUE (username_fold)
);
CREATE TABLE sessions (
	sid                 TEXT    PRIMARY KEY,
	user_id             TEXT    NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at          BIGINT  NOT NULL,
	last_used_at        BIGINT  NOT NULL,
	user_agent          TEXT    NOT NULL DEFAULT '',
	client_addr         TEXT    NOT NULL DEFAULT '',
	access_expires_at   BIGINT  NOT NULL,
	expires_at          BIGINT  NOT NULL,
	revoked_at          BIGINT,
	revoke_reason       TEXT    NOT NULL DEFAULT '',
	revocation_enforced INTEGER NOT NULL DEFAULT 0 CHECK (revocation_enforced IN (0, 1))
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE TABLE refresh_tokens (
	hash              BYTEA  PRIMARY KEY,
	sid               TEXT   NOT NULL REFERENCES sessions(sid) ON DELETE CASCADE,
	user_id           TEXT   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	issued_at         BIGINT NOT NULL,
	expires_at        BIGINT NOT NULL,
	spent_at          BIGINT,
	successor_hash    BYTEA,
	successor_jti     TEXT,
	successor_iat     BIGINT,
	successor_version BIGINT
);
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
`}}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration is one version of the schema: SQL brings the schema of the
// version before it to Version. Migrations are only ever appended, and a
// binary that finds a newer version than it knows keeps working (they
// add, they do not take away).
type migration struct {
	Version int
	SQL     string
}

// sqliteMigrations is the SQLite schema. Version 1 is the schema this
// store had before it was versioned, with IF NOT EXISTS: a database made
// then adopts it unchanged.
var sqliteMigrations = []migration{{Version: 1, SQL: schema + sessionSchema}}

const sqliteMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT`

type beginner interface {
	runner
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// migrate applies d's migrations that schema_migrations does not list,
// each in its own transaction with its row in schema_migrations. On
// SQLite that transaction is immediate (the DSN's _txlock): two processes
// opening one file take turns; on PostgreSQL the caller holds the
// advisory lock.
func migrate(ctx context.Context, c beginner, d *dialect) error {
	if _, err := c.ExecContext(ctx, d.migrationsTable); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, m := range d.migrations {
		if err := applyMigration(ctx, c, d, m); err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", m.Version, d.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, c beginner, d *dialect, m migration) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	h := handle{r: tx, d: d}
	var one int
	err = h.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.Version).Scan(&one)
	switch {
	case err == nil:
		return nil // applied before
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := h.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.Version); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SchemaVersion returns the newest migration applied to the database.
func (s *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.h().QueryRowContext(ctx, `SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1`).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

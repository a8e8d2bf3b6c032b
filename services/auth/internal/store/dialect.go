package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
)

// dialect is what differs between the engines. Queries are written once,
// in SQLite's words (? placeholders, max(a, b), username compared with
// COLLATE NOCASE); SQLite runs them as written, byte for byte, and
// PostgreSQL runs them translated by its dialect's q (cached).
type dialect struct {
	name string
	// q turns a query written for SQLite into this engine's.
	q func(query string) string
	// lockToken and lockSession end the rotation's reads of the refresh
	// token and of its session: "" on SQLite (its write transaction is
	// already exclusive), row locks on PostgreSQL, so that of several
	// replicas rotating one token one sees it live and the others wait
	// and see it spent.
	lockToken, lockSession string
	// uniqueViolation reports a unique or primary key constraint failure.
	uniqueViolation func(error) bool
	// retryable reports a transaction aborted by the engine that can be
	// run again as it is (PostgreSQL's deadlock and serialization
	// failures); nil: none.
	retryable func(error) bool
	// migrations is the versioned schema, in order; migrationsTable
	// creates schema_migrations.
	migrations      []migration
	migrationsTable string
}

var sqliteDialect = &dialect{
	name:            "sqlite",
	q:               func(query string) string { return query },
	uniqueViolation: isUniqueViolation,
	migrations:      sqliteMigrations,
	migrationsTable: sqliteMigrationsTable,
}

// runner is what *sql.DB, *sql.Conn and *sql.Tx share.
type runner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// handle runs queries written for SQLite on r in d's words.
type handle struct {
	r runner
	d *dialect
}

// ExecContext runs query, translated.
func (h handle) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return h.r.ExecContext(ctx, h.d.q(query), args...)
}

// QueryContext runs query, translated.
func (h handle) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return h.r.QueryContext(ctx, h.d.q(query), args...)
}

// QueryRowContext runs query, translated.
func (h handle) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return h.r.QueryRowContext(ctx, h.d.q(query), args...)
}

// asciiFold is the PostgreSQL expression folding ASCII letters to lower
// case and leaving every other character alone: what SQLite's NOCASE
// collation compares, whatever the database's locale.
func asciiFold(expr string) string {
	return "translate(" + expr + ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
}

var pgQueries sync.Map // SQLite query -> PostgreSQL query

// pgQuery translates a query of this package from SQLite to PostgreSQL:
// max( of two values is GREATEST(, a username compared with ? is compared
// through the folded column (users.username_fold, unique), and the ?
// placeholders are numbered $1, $2, ... None of the queries has a ? or
// max( inside a string literal.
func pgQuery(query string) string {
	if v, ok := pgQueries.Load(query); ok {
		return v.(string)
	}
	out := strings.ReplaceAll(query, "max(", "GREATEST(")
	out = strings.ReplaceAll(out, "username = ?", "username_fold = "+asciiFold("?"))
	var b strings.Builder
	n := 0
	for _, r := range out {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	pgQueries.Store(query, b.String())
	return b.String()
}

package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/plugd/plugd/internal/store/sqlstore/sqltext"
)

// This file is the one place where the databases differ at run time. Queries are written once,
// in the SQL the three share, with ? placeholders; what they cannot share is asked of the
// dialect here: placeholders, row locks, how a timestamp is passed, an INSERT that skips a taken
// key, and what an error means. (The schema differs too: see migrate.go.)

// dialect is the database kind behind a DB.
type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
	dialectMySQL // MySQL and MariaDB
)

// dialects is every dialect, in the order migration variants are checked.
var dialects = []dialect{dialectSQLite, dialectPostgres, dialectMySQL}

func (d dialect) String() string {
	switch d {
	case dialectPostgres:
		return "postgres"
	case dialectMySQL:
		return "mysql"
	}
	return "sqlite"
}

// sql is query in the dialect's placeholders: PostgreSQL numbers them ($1, $2, ...).
func (d dialect) sql(query string) string {
	if d == dialectPostgres {
		return sqltext.Rebind(query)
	}
	return query
}

// rowLocks tells whether the database locks rows (PostgreSQL, MySQL) rather than running one
// writer at a time (SQLite, whose BEGIN IMMEDIATE already holds the database's only write lock).
func (d dialect) rowLocks() bool { return d != dialectSQLite }

// forUpdate is the row-lock suffix of a SELECT, empty where no row locks are needed.
func (d dialect) forUpdate() string {
	if d.rowLocks() {
		return " FOR UPDATE"
	}
	return ""
}

// forShare is the shared row-lock suffix of a SELECT. MariaDB lacks FOR SHARE; MySQL has both.
func (d dialect) forShare() string {
	switch d {
	case dialectPostgres:
		return " FOR SHARE"
	case dialectMySQL:
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// ts is how a timestamp is passed: fixed-width text on SQLite, a time.Time elsewhere (pgx sends
// TIMESTAMPTZ; the MySQL driver formats it in UTC, the location it is configured with).
func (d dialect) ts(t time.Time) any {
	t = normTime(t)
	if d == dialectSQLite {
		return sqltext.FormatTime(t)
	}
	return t
}

// migrationsTable creates schema_migrations (see migrate.go).
func (d dialect) migrationsTable() string {
	switch d {
	case dialectPostgres:
		return "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
	case dialectMySQL:
		return "CREATE TABLE IF NOT EXISTS schema_migrations (version VARBINARY(255) NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
	}
	return "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
}

// tableExists counts (0 or 1) the tables of the current database or search path named ?.
func (d dialect) tableExists() string {
	switch d {
	case dialectPostgres:
		// to_regclass follows search_path, as the unqualified table names of the queries do.
		return "SELECT COUNT(*) FROM (SELECT to_regclass(CAST(? AS text)) AS t) x WHERE t IS NOT NULL"
	case dialectMySQL:
		return "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	return "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
}

// retryable tells whether a transaction that failed with err may succeed when run again: a
// deadlock or a serialization failure.
func (d dialect) retryable(err error) bool {
	switch d {
	case dialectPostgres:
		return isPgCode(err, "40P01") || isPgCode(err, "40001")
	case dialectMySQL:
		return isMySQLCode(err, 1213) // ER_LOCK_DEADLOCK
	}
	return false
}

// ---- statements -------------------------------------------------------------------------------

// insertOrSkip runs insert, an INSERT of one row, and reports 0 rows instead of failing when the
// row's key is taken; conflict lists the key's columns ("" for any unique key). MySQL has no
// such clause (INSERT IGNORE also swallows other errors, and ON DUPLICATE KEY UPDATE counts a
// no-op update as a row found), so there the duplicate key error, which ends only the statement,
// is the answer. MySQL reports any unique key that way: a caller inserting into a table with
// two of them tells which one was taken by looking.
func (c conn) insertOrSkip(ctx context.Context, insert, conflict string, args ...any) (int64, error) {
	if c.d == dialectMySQL {
		n, err := c.exec(ctx, insert, args...)
		if isUniqueViolation(err) {
			return 0, nil
		}
		return n, err
	}
	clause := " ON CONFLICT DO NOTHING"
	if conflict != "" {
		clause = " ON CONFLICT (" + conflict + ") DO NOTHING"
	}
	return c.exec(ctx, insert+clause, args...)
}

// ---- errors -----------------------------------------------------------------------------------

func isPgCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}

func isMySQLCode(err error, code uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == code
}

// isUniqueViolation tells whether err is a broken UNIQUE or PRIMARY KEY rule, on any database.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if isPgCode(err, "23505") || isMySQLCode(err, 1062) { // unique_violation, ER_DUP_ENTRY
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return true
		case 19: // SQLITE_CONSTRAINT without extended codes
			return strings.Contains(se.Error(), "UNIQUE")
		}
	}
	return false
}

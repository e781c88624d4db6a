// Package sqlstore implements store.Store on SQLite (modernc.org/sqlite, pure Go: the
// zero-config default), PostgreSQL (pgx through database/sql) and MySQL or MariaDB
// (go-sql-driver/mysql), with one schema and one set of queries. The differences are kept to
// dialect.go (placeholders: queries are written with ? and rebound to $n for PostgreSQL; row
// locks: FOR UPDATE on PostgreSQL and MySQL, SQLite runs one writer at a time; how timestamps
// are passed; an INSERT that skips a taken key; error codes) and to the migration files that
// must differ.
//
// Stored forms, chosen so that every database gives back exactly what was written:
//   - timestamps are UTC, truncated to microseconds (PostgreSQL's precision): TIMESTAMPTZ on
//     PostgreSQL, DATETIME(6) on MySQL, fixed-width RFC 3339 text on SQLite (so text order is
//     time order);
//   - JSON is text, kept byte for byte; an empty json.RawMessage is stored as null;
//   - text compares byte for byte (MySQL keeps identifiers in VARBINARY columns for that);
//   - ids are text: UUIDv7 made here when the caller leaves them empty, tenants are any string
//     (up to 255 bytes on MySQL, whose keys must have a length).
//
// Open* only connect; the caller runs Migrate, so a deployment decides when its schema changes.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore/sqltext"
)

// DB is a store.Store on an SQL database. It is safe for concurrent use, and several processes
// may share one database.
type DB struct {
	sql     *sql.DB
	dialect dialect
	// writer holds one token on SQLite: the write transactions of this process queue on it in Go
	// instead of spinning in SQLite's busy handler, which stays for other processes. Nil on
	// PostgreSQL, whose row locks let writers run side by side.
	writer chan struct{}
	// migrations is the migration set; tests swap in their own.
	migrations fs.FS
	// stmts caches prepared reads on SQLite, where preparing costs about as much as running a
	// point lookup. (pgx caches prepared statements per connection by itself.)
	stmts stmtCache
	// storageLimit is the plugin storage quota used when Set is given none; 0 means
	// backwards.DefaultStorageLimit (see SetStorageLimit).
	storageLimit atomic.Int64
}

var _ store.Store = (*DB)(nil)

// sqliteBusyTimeout is how long a write waits for another process holding the SQLite write lock.
const sqliteBusyTimeout = 10 * time.Second

// OpenSQLite opens (creating it and its folder when missing) the SQLite database at path, in WAL
// mode with foreign keys on and every transaction started with BEGIN IMMEDIATE, so a transaction
// that reads then writes never fails half way for want of the write lock.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open sqlite: database path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	// A file: URI, so the path is taken literally once %, ? and # are escaped.
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	dsn := "file:" + esc + "?_txlock=immediate" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(8)
	sdb.SetMaxIdleConns(8)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db := &DB{sql: sdb, dialect: dialectSQLite, writer: make(chan struct{}, 1), migrations: embeddedMigrations()}
	db.writer <- struct{}{}
	return db, nil
}

// PostgresOptions tunes the connection pool and what happens when the database is missing.
type PostgresOptions struct {
	MaxOpenConns    int           // 0: database/sql's default (no limit)
	MaxIdleConns    int           // 0: database/sql's default (2)
	ConnMaxLifetime time.Duration // 0: connections are reused forever
	// CreateDatabase creates the DSN's database when it does not exist, by connecting to
	// DefaultDatabase (default "postgres") and running CREATE DATABASE.
	CreateDatabase  bool
	DefaultDatabase string
}

// OpenPostgres connects to the PostgreSQL database of dsn (a URL or key=value string, as pgx
// reads them).
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: bad DSN: %w", err)
	}
	sdb, err := pingPostgres(ctx, cfg)
	if err != nil && opts.CreateDatabase && isPgCode(err, "3D000") { // invalid_catalog_name
		if cerr := createDatabase(ctx, cfg, opts.DefaultDatabase); cerr != nil {
			return nil, cerr
		}
		sdb, err = pingPostgres(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres database %q on %s: %w", cfg.Database, cfg.Host, err)
	}
	if opts.MaxOpenConns > 0 {
		sdb.SetMaxOpenConns(opts.MaxOpenConns)
	}
	if opts.MaxIdleConns > 0 {
		sdb.SetMaxIdleConns(opts.MaxIdleConns)
	}
	if opts.ConnMaxLifetime > 0 {
		sdb.SetConnMaxLifetime(opts.ConnMaxLifetime)
	}
	return &DB{sql: sdb, dialect: dialectPostgres, migrations: embeddedMigrations()}, nil
}

func pingPostgres(ctx context.Context, cfg *pgx.ConnConfig) (*sql.DB, error) {
	sdb := stdlib.OpenDB(*cfg)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return sdb, nil
}

// createDatabase runs CREATE DATABASE for cfg's database through the maintenance database.
// Another process creating it at the same moment is not an error.
func createDatabase(ctx context.Context, cfg *pgx.ConnConfig, maintenance string) error {
	if maintenance == "" {
		maintenance = "postgres"
	}
	if cfg.Database == "" || cfg.Database == maintenance {
		return fmt.Errorf("open postgres: database %q does not exist and cannot be created through itself", cfg.Database)
	}
	admin := cfg.Copy()
	admin.Database = maintenance
	sdb, err := pingPostgres(ctx, admin)
	if err != nil {
		return fmt.Errorf("open postgres: database %q does not exist, and connecting to %q to create it failed: %w", cfg.Database, maintenance, err)
	}
	defer sdb.Close()
	_, err = sdb.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if err != nil && !isPgCode(err, "42P04") { // duplicate_database
		return fmt.Errorf("open postgres: create database %q: %w", cfg.Database, err)
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.stmts.close()
	return db.sql.Close()
}

// Ping checks that the database answers (for health checks).
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// ---- running statements -------------------------------------------------------------------------

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders on either dialect.
type conn struct {
	q querier
	d dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, c.d.sql(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.sql(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.sql(query), args...)
}

// forUpdate is the dialect's row-lock suffix of a SELECT.
func (c conn) forUpdate() string { return c.d.forUpdate() }

// ts is how a timestamp is passed to the database (see the package doc).
func (c conn) ts(t time.Time) any { return c.d.ts(t) }

// tsOrNull is ts, with the zero time stored as NULL.
func (c conn) tsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.ts(t)
}

// read is a conn on the pool, for statements outside transactions.
func (db *DB) read() conn {
	if db.dialect == dialectSQLite {
		return conn{q: cachedReads{db}, d: db.dialect}
	}
	return conn{q: db.sql, d: db.dialect}
}

// readUncached is read without the statement cache, for query texts that vary from call to call
// (IN lists), which would only fill it.
func (db *DB) readUncached() conn { return conn{q: db.sql, d: db.dialect} }

// stmtCache holds prepared statements by query text, up to stmtCacheSize of them.
type stmtCache struct {
	mu     sync.Mutex
	m      map[string]*sql.Stmt
	closed bool
}

const stmtCacheSize = 64

func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok || c.closed || len(c.m) >= stmtCacheSize {
		return st
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil // run unprepared, which reports the error
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m, c.closed = nil, true
}

// cachedReads runs statements through the DB's prepared-statement cache.
type cachedReads struct{ db *DB }

func (r cachedReads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.sql.ExecContext(ctx, query, args...)
}

func (r cachedReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.db.stmts.get(ctx, r.db.sql, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.db.sql.QueryContext(ctx, query, args...)
}

func (r cachedReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.db.stmts.get(ctx, r.db.sql, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.db.sql.QueryRowContext(ctx, query, args...)
}

// errRetry asks tx to run the transaction again: a row read without a lock changed before the
// lock was taken.
var errRetry = errors.New("concurrent change, retry")

const txAttempts = 5

// tx runs fn in a transaction and commits it when fn returns nil. On PostgreSQL a deadlock or
// serialization failure, and errRetry from fn, run fn again (so fn must only touch the database).
func (db *DB) tx(ctx context.Context, fn func(c conn) error) error {
	if db.writer != nil {
		select {
		case <-db.writer:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { db.writer <- struct{}{} }()
	}
	var err error
	for range txAttempts {
		err = db.tx1(ctx, fn)
		if err == nil || !(errors.Is(err, errRetry) || db.dialect.retryable(err)) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (db *DB) tx1(ctx context.Context, fn func(c conn) error) error {
	t, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(conn{q: t, d: db.dialect}); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// placeholders is "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// limit is the LIMIT/OFFSET clause of a page; Size 0 means every row.
func limit(p store.Page) (string, []any, error) {
	if p.Size < 0 || p.Page < 0 {
		return "", nil, fmt.Errorf("bad page %d of size %d: both must be >= 0", p.Page, p.Size)
	}
	if p.Size == 0 {
		return "", nil, nil
	}
	return " LIMIT ? OFFSET ?", []any{p.Size, p.Offset()}, nil
}

// ---- errors -------------------------------------------------------------------------------------

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// ---- values -------------------------------------------------------------------------------------

// normTime is t as the database gives it back: UTC, microseconds.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func now() time.Time { return normTime(time.Now()) }

// orNow is t, or now when t is zero.
func orNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return normTime(t)
}

// timeCol scans a timestamp column of either dialect into a UTC time; NULL is the zero time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case time.Time:
		*c.t = v.UTC()
	case string:
		t, err := sqltext.ParseTime(v)
		if err != nil {
			return err
		}
		*c.t = t
	case []byte:
		t, err := sqltext.ParseTime(string(v))
		if err != nil {
			return err
		}
		*c.t = t
	default:
		return fmt.Errorf("timestamp column holds a %T, want text or a time", v)
	}
	return nil
}

// jsonCol scans a JSON text column.
type jsonCol struct{ m *json.RawMessage }

func (c jsonCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.m = nil
	case string:
		*c.m = json.RawMessage(v)
	case []byte:
		*c.m = append(json.RawMessage(nil), v...)
	default:
		return fmt.Errorf("JSON column holds a %T, want text", v)
	}
	return nil
}

// jsonText is raw as stored: null when empty, an error naming field when it is not JSON.
func jsonText(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "null", nil
	}
	if !json.Valid(raw) {
		return "", fmt.Errorf("%s is not valid JSON: %.40q", field, raw)
	}
	return string(raw), nil
}

// need reports an empty required value by name.
func need(op string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return fmt.Errorf("%s: %s is empty", op, fields[i])
		}
	}
	return nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

const hookAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newHookID is a random 16-character [a-z0-9] id: about 82 bits, not guessable, so the hook URL
// itself is the secret of an endpoint.
func newHookID() string {
	const n = 16
	out := make([]byte, 0, n)
	var buf [32]byte
	for len(out) < n {
		rand.Read(buf[:]) // never fails (crypto/rand)
		for _, b := range buf {
			// 252 = 7*36: rejecting the top 4 byte values keeps every letter equally likely.
			if b < 252 && len(out) < n {
				out = append(out, hookAlphabet[b%36])
			}
		}
	}
	return string(out)
}

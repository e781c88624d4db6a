package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Migrations live in migrations/ as NNNN_name.sql, run on every database, or as the set
// NNNN_name.sqlite.sql, NNNN_name.postgres.sql and NNNN_name.mysql.sql where the SQL must differ
// (a set must be whole: a version with variants has one for each database). A version
// ("0001_init") is applied once, in its own transaction, and recorded in schema_migrations.
// Applied files must never change: add a new version instead.
//
// MySQL commits every DDL statement on its own, so there a migration is not one transaction:
// its statements run one by one, and when one fails, the tables, columns and indexes the
// migration had added are dropped again (see undoMySQLMigration), which leaves the schema as it
// was for the additive changes migrations make. A change that cannot be undone that way (a
// column's type, a dropped table) belongs in a migration of its own, as its only statement.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func embeddedMigrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	return sub
}

type migration struct {
	num     int
	version string // "0001_init"
	file    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+?)(?:\.(sqlite|postgres|mysql))?\.sql$`)

// loadMigrations reads the migration set for d, oldest first.
func loadMigrations(fsys fs.FS, d dialect) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	type version struct {
		name     string
		num      int
		common   string
		variants map[string]string // dialect -> file
	}
	byNum := map[int]*version{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql or NNNN_name.{sqlite,postgres,mysql}.sql", e.Name())
		}
		num, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("migration file %q: %w", e.Name(), err)
		}
		v := byNum[num]
		if v == nil {
			v = &version{name: m[1] + "_" + m[2], num: num, variants: map[string]string{}}
			byNum[num] = v
		}
		if v.name != m[1]+"_"+m[2] {
			return nil, fmt.Errorf("migration files %q and %q share the number %s", v.name, e.Name(), m[1])
		}
		if m[3] == "" {
			v.common = e.Name()
		} else {
			v.variants[m[3]] = e.Name()
		}
	}
	out := make([]migration, 0, len(byNum))
	for _, v := range byNum {
		// The set must be whole for every database, whichever one this is.
		if v.common != "" && len(v.variants) > 0 {
			return nil, fmt.Errorf("migration %s has both a common file and dialect variants: keep one form", v.name)
		}
		if v.common == "" {
			for _, dd := range dialects {
				if v.variants[dd.String()] == "" {
					return nil, fmt.Errorf("migration %s has no %s variant (%s.%s.sql) and no common %s.sql", v.name, dd, v.name, dd, v.name)
				}
			}
		}
		file := v.variants[d.String()]
		if file == "" {
			file = v.common
		}
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", file, err)
		}
		out = append(out, migration{num: v.num, version: v.name, file: file, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].num < out[j].num })
	return out, nil
}

// migrateLockKey is the PostgreSQL advisory lock migrators take: "plugdmig" as an int64.
const migrateLockKey int64 = 0x706c7567646d6967

// mysqlMigrateLock names the MySQL user lock migrators take. User locks are server-wide, so the
// name carries the database's (hashed: lock names are at most 64 characters).
const mysqlMigrateLock = "CONCAT('plugd_migrate:', SHA1(DATABASE()))"

// Migrate applies the migrations this binary has and the database lacks, oldest first, each in
// its own transaction, and returns the versions it applied (none when the schema is current).
// Migrators of several processes may run at once: on PostgreSQL and MySQL they queue on a lock
// of the database server, on SQLite each migration's BEGIN IMMEDIATE transaction checks again
// that it is still missing. Versions in the database that this binary does not know (a newer
// binary migrated it) are left alone.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	migs, err := loadMigrations(db.migrations, db.dialect)
	if err != nil {
		return nil, err
	}
	if !db.dialect.rowLocks() {
		return db.applyAll(ctx, func(fn func(conn) error) error { return db.tx(ctx, fn) }, migs)
	}
	// One connection holds the lock and runs every migration.
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer c.Close()
	unlock, err := lockMigrations(ctx, c, db.dialect)
	if err != nil {
		return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("migrate: release the migration lock: %w", uerr)
		}
	}()
	return db.applyAll(ctx, func(fn func(conn) error) error {
		t, err := c.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(conn{q: t, d: db.dialect}); err != nil {
			_ = t.Rollback()
			return err
		}
		return t.Commit()
	}, migs)
}

// lockMigrations takes the database server's migration lock on c and returns its release.
func lockMigrations(ctx context.Context, c *sql.Conn, d dialect) (unlock func() error, err error) {
	if d == dialectPostgres {
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return nil, err
		}
		return func() error {
			_, err := c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
			return err
		}, nil
	}
	// GET_LOCK waits at most its timeout and then answers 0: ask again until ctx ends.
	for {
		var got sql.NullInt64
		if err := c.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlMigrateLock+", 10)").Scan(&got); err != nil {
			return nil, err
		}
		if got.Valid && got.Int64 == 1 {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return func() error {
		_, err := c.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK("+mysqlMigrateLock+")")
		return err
	}, nil
}

// applyAll creates schema_migrations if needed and applies every missing migration, each through
// inTx.
func (db *DB) applyAll(ctx context.Context, inTx func(func(conn) error) error, migs []migration) ([]string, error) {
	err := inTx(func(c conn) error {
		_, err := c.exec(ctx, db.dialect.migrationsTable())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range migs {
		ran := false
		err := inTx(func(c conn) error {
			ran = false
			var one int
			err := c.queryRow(ctx, "SELECT 1 FROM schema_migrations WHERE version = ?", m.version).Scan(&one)
			if err == nil {
				return nil // applied already, by us earlier or by another migrator
			}
			if !isNoRows(err) {
				return err
			}
			if err := runMigration(ctx, c, m); err != nil {
				return fmt.Errorf("run %s: %w", m.file, err)
			}
			if _, err := c.exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.version, c.ts(now())); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %w", m.version, err)
		}
		if ran {
			applied = append(applied, m.version)
		}
	}
	return applied, nil
}

// runMigration runs the statements of m. PostgreSQL and SQLite take the file at once, inside the
// transaction; on MySQL each statement commits itself, so they run one by one, and a failure
// undoes what the earlier ones added.
func runMigration(ctx context.Context, c conn, m migration) error {
	if c.d != dialectMySQL {
		_, err := c.exec(ctx, m.sql)
		return err
	}
	before, err := mysqlSchema(ctx, c)
	if err != nil {
		return fmt.Errorf("read the schema: %w", err)
	}
	for i, stmt := range splitStatements(m.sql) {
		if _, err := c.exec(ctx, stmt); err != nil {
			err = fmt.Errorf("statement %d: %w", i+1, err)
			if uerr := undoMySQLMigration(ctx, c, before); uerr != nil {
				return fmt.Errorf("%w; undoing the statements before it failed too, fix the schema by hand: %v", err, uerr)
			}
			return err
		}
	}
	return nil
}

// mysqlObjects is what the current MySQL database holds: tables, "table.column" and
// "table.index" names.
type mysqlObjects struct{ tables, columns, indexes map[string]bool }

func mysqlSchema(ctx context.Context, c conn) (mysqlObjects, error) {
	o := mysqlObjects{tables: map[string]bool{}, columns: map[string]bool{}, indexes: map[string]bool{}}
	for _, q := range []struct {
		sql  string
		into map[string]bool
	}{
		{"SELECT table_name, '' FROM information_schema.tables WHERE table_schema = DATABASE()", o.tables},
		{"SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE()", o.columns},
		{"SELECT DISTINCT table_name, index_name FROM information_schema.statistics WHERE table_schema = DATABASE()", o.indexes},
	} {
		rows, err := c.query(ctx, q.sql)
		if err != nil {
			return o, err
		}
		for rows.Next() {
			var table, name string
			if err := rows.Scan(&table, &name); err != nil {
				rows.Close()
				return o, err
			}
			if name == "" {
				q.into[table] = true
			} else {
				q.into[table+"."+name] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// undoMySQLMigration drops what is in the database now and was not in before: new tables (with
// foreign key checks off, so their order does not matter), then new indexes and columns of the
// tables that were there.
func undoMySQLMigration(ctx context.Context, c conn, before mysqlObjects) error {
	now, err := mysqlSchema(ctx, c)
	if err != nil {
		return err
	}
	var stmts []string
	for t := range now.tables {
		if !before.tables[t] {
			stmts = append(stmts, "DROP TABLE "+quoteMySQLName(t))
		}
	}
	for ti := range now.indexes {
		t, i, _ := strings.Cut(ti, ".")
		if before.tables[t] && !before.indexes[ti] {
			stmts = append(stmts, "ALTER TABLE "+quoteMySQLName(t)+" DROP INDEX "+quoteMySQLName(i))
		}
	}
	for tc := range now.columns {
		t, col, _ := strings.Cut(tc, ".")
		if before.tables[t] && !before.columns[tc] {
			stmts = append(stmts, "ALTER TABLE "+quoteMySQLName(t)+" DROP COLUMN "+quoteMySQLName(col))
		}
	}
	if len(stmts) == 0 {
		return nil
	}
	if _, err := c.exec(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return err
	}
	defer c.exec(context.WithoutCancel(ctx), "SET SESSION foreign_key_checks = 1")
	for _, s := range stmts {
		if _, err := c.exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// splitStatements cuts a migration file into its statements at the semicolons outside quotes
// and comments, leaving out the empty ones. (Migration files are ours, embedded in the binary;
// this is not a parser of outside input.)
func splitStatements(script string) []string {
	var out []string
	start := 0
	var quote byte // the quote we are inside, or 0
	flush := func(end int) {
		if s := strings.TrimSpace(script[start:end]); s != "" && !onlyComments(s) {
			out = append(out, s)
		}
		start = end + 1
	}
	for i := 0; i < len(script); i++ {
		ch := script[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"' || ch == '`':
			quote = ch
		case ch == '-' && strings.HasPrefix(script[i:], "--"):
			if j := strings.IndexByte(script[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(script)
			}
		case ch == '/' && strings.HasPrefix(script[i:], "/*"):
			if j := strings.Index(script[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(script)
			}
		case ch == ';':
			flush(i)
		}
	}
	if start < len(script) {
		flush(len(script))
	}
	return out
}

// onlyComments tells whether s, trimmed, holds nothing but -- comments.
func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "--") {
			return false
		}
	}
	return true
}

// Pending lists the versions Migrate would apply, oldest first.
func (db *DB) Pending(ctx context.Context) ([]string, error) {
	migs, err := loadMigrations(db.migrations, db.dialect)
	if err != nil {
		return nil, err
	}
	done, err := db.appliedVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range migs {
		if !done[m.version] {
			out = append(out, m.version)
		}
	}
	return out, nil
}

// appliedVersions is the set recorded in schema_migrations (empty when the table is missing).
func (db *DB) appliedVersions(ctx context.Context) (map[string]bool, error) {
	c := db.read()
	var n int
	if err := c.queryRow(ctx, db.dialect.tableExists(), "schema_migrations").Scan(&n); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	done := map[string]bool{}
	if n == 0 {
		return done, nil
	}
	rows, err := c.query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		done[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	return done, nil
}

package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// Migrations live in migrations/ as NNNN_name.sql, run on both databases, or as the pair
// NNNN_name.sqlite.sql and NNNN_name.postgres.sql where the SQL must differ. A version
// ("0001_init") is applied once, in its own transaction, and recorded in schema_migrations.
// Applied files must never change: add a new version instead.
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

var migrationName = regexp.MustCompile(`^([0-9]{4,})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

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
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql or NNNN_name.{sqlite,postgres}.sql", e.Name())
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
		// The set must be whole for both databases, whichever one this is.
		if v.common != "" && len(v.variants) > 0 {
			return nil, fmt.Errorf("migration %s has both a common file and dialect variants: keep one form", v.name)
		}
		if v.common == "" {
			for _, dd := range []dialect{dialectSQLite, dialectPostgres} {
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

// Migrate applies the migrations this binary has and the database lacks, oldest first, each in
// its own transaction, and returns the versions it applied (none when the schema is current).
// Migrators of several processes may run at once: on PostgreSQL they queue on an advisory lock,
// on SQLite each migration's BEGIN IMMEDIATE transaction checks again that it is still missing.
// Versions in the database that this binary does not know (a newer binary migrated it) are left
// alone.
func (db *DB) Migrate(ctx context.Context) (applied []string, err error) {
	migs, err := loadMigrations(db.migrations, db.dialect)
	if err != nil {
		return nil, err
	}
	if db.dialect == dialectPostgres {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
		}
		defer func() {
			_, uerr := c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
			if uerr != nil && err == nil {
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
	return db.applyAll(ctx, func(fn func(conn) error) error { return db.tx(ctx, fn) }, migs)
}

// applyAll creates schema_migrations if needed and applies every missing migration, each through
// inTx.
func (db *DB) applyAll(ctx context.Context, inTx func(func(conn) error) error, migs []migration) ([]string, error) {
	tsType := "TIMESTAMPTZ"
	if db.dialect == dialectSQLite {
		tsType = "TEXT"
	}
	err := inTx(func(c conn) error {
		_, err := c.exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at "+tsType+" NOT NULL)")
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
			if _, err := c.exec(ctx, m.sql); err != nil {
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
	exists := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if db.dialect == dialectPostgres {
		// to_regclass follows search_path, as the unqualified table names of the queries do.
		exists = "SELECT COUNT(*) FROM (SELECT to_regclass('schema_migrations') AS t) x WHERE t IS NOT NULL"
	}
	var n int
	if err := c.queryRow(ctx, exists).Scan(&n); err != nil {
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

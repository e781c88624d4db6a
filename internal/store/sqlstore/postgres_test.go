package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plugd/plugd/internal/store"
)

// The PostgreSQL tests run when PLUGD_TEST_POSTGRES_DSN names a server where the user may
// CREATE DATABASE (scripts/postgres.sh starts one). Each test makes its own database, dropped at
// the end, and each store in it its own schema, so runs never see each other's rows.

func postgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PLUGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_POSTGRES_DSN is not set (run scripts/postgres.sh)")
		}
		t.Skip("PLUGD_TEST_POSTGRES_DSN is not set (scripts/postgres.sh starts a server)")
	}
	return dsn
}

// withDatabase is dsn on another database and, when schema is set, with that search_path.
func withDatabase(t testing.TB, dsn, database, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + database
		q := u.Query()
		if schema != "" {
			q.Set("options", "-c search_path="+schema)
		}
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads + literally
		return u.String()
	}
	out := dsn + " dbname=" + database
	if schema != "" {
		out += " options='-c search_path=" + schema + "'"
	}
	return out
}

// pgTestDB is one fresh database of a test.
type pgTestDB struct {
	dsn     string // of the server, as given
	name    string
	admin   *sql.DB
	schemas atomic.Int64
}

// freshPostgres creates a new database through OpenPostgres' CreateDatabase (so that path is
// tested by every run) and drops it when the test ends.
func freshPostgres(t testing.TB) *pgTestDB {
	t.Helper()
	server := postgresDSN(t)
	name := fmt.Sprintf("plugd_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	db, err := OpenPostgres(t.Context(), withDatabase(t, server, name, ""), PostgresOptions{CreateDatabase: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &pgTestDB{dsn: server, name: name, admin: db.sql}
	t.Cleanup(func() {
		db.Close()
		maint, err := OpenPostgres(context.Background(), server, PostgresOptions{})
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer maint.Close()
		if _, err := maint.sql.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return p
}

// schemaDSN makes a new empty schema and returns a DSN whose search_path is it.
func (p *pgTestDB) schemaDSN(t testing.TB) string {
	t.Helper()
	schema := fmt.Sprintf("s%d", p.schemas.Add(1))
	if _, err := p.admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	return withDatabase(t, p.dsn, p.name, schema)
}

func openPostgres(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := OpenPostgres(t.Context(), dsn, PostgresOptions{MaxOpenConns: 20, MaxIdleConns: 4, ConnMaxLifetime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgres(t *testing.T) {
	pg := freshPostgres(t)
	runConformance(t, func(t *testing.T) store.Store {
		db := openPostgres(t, pg.schemaDSN(t))
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestPostgresMigrations(t *testing.T) {
	pg := freshPostgres(t)
	runMigrationSuite(t, func(t *testing.T) func() *DB {
		dsn := pg.schemaDSN(t)
		return func() *DB { return openPostgres(t, dsn) }
	})
}

func TestOpenPostgres(t *testing.T) {
	pg := freshPostgres(t)
	server := pg.dsn

	t.Run("MissingDatabase", func(t *testing.T) {
		missing := pg.name + "_missing"
		_, err := OpenPostgres(t.Context(), withDatabase(t, server, missing, ""), PostgresOptions{})
		wantErr(t, err, nil, missing)
		_, err = OpenPostgres(t.Context(), withDatabase(t, server, missing, ""), PostgresOptions{CreateDatabase: true, DefaultDatabase: "no_such_maintenance_db"})
		wantErr(t, err, nil, missing, "no_such_maintenance_db")
	})

	t.Run("CreateTwice", func(t *testing.T) {
		// The database exists now: CreateDatabase is a no-op.
		db, err := OpenPostgres(t.Context(), withDatabase(t, server, pg.name, ""), PostgresOptions{CreateDatabase: true})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	})

	t.Run("BadDSN", func(t *testing.T) {
		_, err := OpenPostgres(t.Context(), "postgres://%zz", PostgresOptions{})
		wantErr(t, err, nil, "DSN")
	})

	t.Run("PostgresDSN", func(t *testing.T) {
		// The daemon's separate settings, rebuilt into a DSN, reach the server, extras included.
		cfg, err := pgx.ParseConfig(server)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(cfg.Host, "/") {
			t.Skip("server DSN is a unix socket")
		}
		if _, err := pg.admin.ExecContext(t.Context(), "CREATE SCHEMA IF NOT EXISTS extras_schema"); err != nil {
			t.Fatal(err)
		}
		dsn := PostgresDSN(cfg.Host, int(cfg.Port), cfg.User, cfg.Password, pg.name, "disable", "-c search_path=extras_schema")
		db := openPostgres(t, dsn)
		var db2, path string
		if err := db.sql.QueryRowContext(t.Context(), "SELECT current_database(), current_setting('search_path')").Scan(&db2, &path); err != nil {
			t.Fatal(err)
		}
		equal(t, "database and search_path", []string{db2, path}, []string{pg.name, "extras_schema"})
	})
}

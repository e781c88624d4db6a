package sqlstore

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/plugd/plugd/internal/store"
)

// openSQLite opens a new handle on the SQLite file at path, closed when the test ends.
func openSQLite(t testing.TB, path string) *DB {
	t.Helper()
	db, err := OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T) {
	runConformance(t, func(t *testing.T) store.Store {
		db := openSQLite(t, filepath.Join(t.TempDir(), "plugd.db"))
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestSQLiteMigrations(t *testing.T) {
	runMigrationSuite(t, func(t *testing.T) func() *DB {
		path := filepath.Join(t.TempDir(), "plugd.db")
		return func() *DB { return openSQLite(t, path) }
	})
}

// TestOpenSQLite checks the connection settings every handle gets, on a path that needs its
// folders created and has characters a file: URI would otherwise eat.
func TestOpenSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a b", "c?d#e%f", "plugd.db")
	db := openSQLite(t, path)
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "1"},
	} {
		var got string
		if err := db.sql.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	var file string
	if err := db.sql.QueryRowContext(t.Context(), "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		t.Fatal(err)
	}
	if file != path {
		t.Errorf("database file is %q, want %q", file, path)
	}
	if _, err := OpenSQLite(t.Context(), ""); err == nil {
		t.Error("an empty path opened")
	}
}

// TestStmtCache: reads on SQLite go through prepared statements, at most stmtCacheSize of them;
// past that, and after Close, queries still run (unprepared, or failing as a closed DB does).
func TestStmtCache(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "plugd.db"))
	for i := range stmtCacheSize + 10 {
		var got int
		if err := db.read().queryRow(t.Context(), fmt.Sprintf("SELECT %d + ?", i), 1).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != i+1 {
			t.Fatalf("query %d gave %d", i, got)
		}
	}
	if n := len(db.stmts.m); n != stmtCacheSize {
		t.Fatalf("%d statements cached, want %d", n, stmtCacheSize)
	}
	// A query that does not prepare reports its error through the unprepared path.
	db.stmts.close()
	db.stmts.closed = false
	var x int
	err := db.read().queryRow(t.Context(), "SELECT nope FROM nowhere").Scan(&x)
	wantErr(t, err, nil, "nowhere")
	db.Close()
	if err := db.read().queryRow(t.Context(), "SELECT 1").Scan(&x); err == nil {
		t.Fatal("a closed DB answered")
	}
}

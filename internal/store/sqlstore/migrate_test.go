package sqlstore

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// allVersions is every embedded version, as Migrate applies them on a new database.
func allVersions(t *testing.T, d dialect) []string {
	t.Helper()
	migs, err := loadMigrations(embeddedMigrations(), d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range migs {
		out = append(out, m.version)
	}
	return out
}

// runMigrationSuite runs the migration tests of a dialect. fresh makes a new, empty database and
// returns a function opening handles on it.
func runMigrationSuite(t *testing.T, fresh func(t *testing.T) func() *DB) {
	t.Run("Idempotent", func(t *testing.T) {
		defer guard(t)
		open := fresh(t)
		db := open()
		want := allVersions(t, db.dialect)
		if len(want) == 0 {
			t.Fatal("no embedded migrations")
		}
		equal(t, "pending on a new database", must(db.Pending(t.Context())), want)
		equal(t, "first migrate", must(db.Migrate(t.Context())), want)
		equal(t, "second migrate", len(must(db.Migrate(t.Context()))), 0)
		equal(t, "pending after", len(must(db.Pending(t.Context()))), 0)
		// Another handle (another process) sees the same.
		equal(t, "migrate from a second handle", len(must(open().Migrate(t.Context()))), 0)
	})

	t.Run("Concurrent", func(t *testing.T) {
		defer guard(t)
		open := fresh(t)
		handles := []*DB{open(), open(), open()}
		want := allVersions(t, handles[0].dialect)
		var mu sync.Mutex
		var applied []string
		var wg sync.WaitGroup
		for _, h := range handles {
			wg.Go(func() {
				got, err := h.Migrate(t.Context())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				applied = append(applied, got...)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(applied)
		equal(t, "each version applied exactly once", applied, want)
		for _, h := range handles {
			equal(t, "pending", len(must(h.Pending(t.Context()))), 0)
		}
	})

	t.Run("FailedMigrationRollsBack", func(t *testing.T) {
		defer guard(t)
		db := fresh(t)()
		db.migrations = fstest.MapFS{
			"0001_first.sql":           {Data: []byte("CREATE TABLE first_t (id INTEGER PRIMARY KEY);")},
			"0002_second.sqlite.sql":   {Data: []byte("CREATE TABLE second_t (at TEXT);")},
			"0002_second.postgres.sql": {Data: []byte("CREATE TABLE second_t (at TIMESTAMPTZ);")},
			"0002_second.mysql.sql":    {Data: []byte("CREATE TABLE second_t (at DATETIME(6));")},
			// The first statement works, the second fails: neither may stay.
			"0003_broken.sql": {Data: []byte("CREATE TABLE third_t (id INTEGER);\nCREATE TABLE first_t (id INTEGER);")},
			"0004_after.sql":  {Data: []byte("CREATE TABLE fourth_t (id INTEGER);")},
		}
		applied, err := db.Migrate(t.Context())
		wantErr(t, err, nil, "0003_broken", "0003_broken.sql")
		equal(t, "applied before the failure", applied, []string{"0001_first", "0002_second"})
		equal(t, "pending", must(db.Pending(t.Context())), []string{"0003_broken", "0004_after"})
		for table, exists := range map[string]bool{"first_t": true, "second_t": true, "third_t": false, "fourth_t": false} {
			_, err := db.sql.ExecContext(t.Context(), "SELECT COUNT(*) FROM "+table)
			if (err == nil) != exists {
				t.Errorf("table %s: exists=%v, want %v (%v)", table, err == nil, exists, err)
			}
		}
		// Fixed, it goes on from where it stopped.
		db.migrations.(fstest.MapFS)["0003_broken.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE third_t (id INTEGER);")}
		equal(t, "after the fix", must(db.Migrate(t.Context())), []string{"0003_broken", "0004_after"})
	})

	t.Run("FailedAlterRollsBack", func(t *testing.T) {
		// A column and an index added to a table that was there, then a failure: both go again
		// (MySQL, which commits each DDL statement, drops them), so the fixed version applies.
		defer guard(t)
		db := fresh(t)()
		db.migrations = fstest.MapFS{
			"0001_first.sql": {Data: []byte("CREATE TABLE first_t (id INTEGER PRIMARY KEY);")},
			"0002_alter.sql": {Data: []byte("ALTER TABLE first_t ADD COLUMN extra INTEGER;\nCREATE INDEX first_t_extra ON first_t (extra);\nCREATE TABLE first_t (id INTEGER);")},
		}
		applied, err := db.Migrate(t.Context())
		wantErr(t, err, nil, "0002_alter")
		equal(t, "applied before the failure", applied, []string{"0001_first"})
		if _, err := db.sql.ExecContext(t.Context(), "SELECT extra FROM first_t"); err == nil {
			t.Fatal("the failed migration's column stayed")
		}
		db.migrations.(fstest.MapFS)["0002_alter.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE first_t ADD COLUMN extra INTEGER;\nCREATE INDEX first_t_extra ON first_t (extra);")}
		equal(t, "after the fix", must(db.Migrate(t.Context())), []string{"0002_alter"})
		_, err = db.sql.ExecContext(t.Context(), "SELECT extra FROM first_t")
		ok(t, err)
	})
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	cases := []struct {
		name    string
		fs      fstest.MapFS
		sqlite  []string // the files chosen, in order
		pg      []string
		mysql   []string
		wantErr string
	}{
		{
			name: "common and variants, ordered by number",
			fs: fstest.MapFS{
				"0010_late.sql":        file("late"),
				"0002_b.sqlite.sql":    file("b sqlite"),
				"0002_b.postgres.sql":  file("b pg"),
				"0002_b.mysql.sql":     file("b mysql"),
				"0001_a.sql":           file("a"),
				"10000_far_future.sql": file("far"),
			},
			sqlite: []string{"0001_a.sql", "0002_b.sqlite.sql", "0010_late.sql", "10000_far_future.sql"},
			pg:     []string{"0001_a.sql", "0002_b.postgres.sql", "0010_late.sql", "10000_far_future.sql"},
			mysql:  []string{"0001_a.sql", "0002_b.mysql.sql", "0010_late.sql", "10000_far_future.sql"},
		},
		{name: "bad name", fs: fstest.MapFS{"init.sql": file("")}, wantErr: `"init.sql"`},
		{name: "bad dialect", fs: fstest.MapFS{"0001_a.oracle.sql": file("")}, wantErr: `"0001_a.oracle.sql"`},
		{name: "number shared", fs: fstest.MapFS{"0001_a.sql": file(""), "0001_b.sql": file("")}, wantErr: "share the number 0001"},
		{name: "variant missing", fs: fstest.MapFS{"0001_a.postgres.sql": file("")}, wantErr: "0001_a has no sqlite variant"},
		{name: "mysql variant missing", fs: fstest.MapFS{"0001_a.postgres.sql": file(""), "0001_a.sqlite.sql": file("")}, wantErr: "0001_a has no mysql variant (0001_a.mysql.sql)"},
		{name: "both forms", fs: fstest.MapFS{"0001_a.sql": file(""), "0001_a.sqlite.sql": file(""), "0001_a.postgres.sql": file("")}, wantErr: "both a common file and dialect variants"},
		{name: "empty", fs: fstest.MapFS{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, d := range dialects {
				migs, err := loadMigrations(c.fs, d)
				if c.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), c.wantErr) {
						t.Fatalf("%s: got error %v, want one with %q", d, err, c.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var files []string
				for _, m := range migs {
					files = append(files, m.file)
					if m.sql != string(c.fs[m.file].Data) {
						t.Errorf("%s: body of %s is %q", d, m.file, m.sql)
					}
				}
				want := map[dialect][]string{dialectSQLite: c.sqlite, dialectPostgres: c.pg, dialectMySQL: c.mysql}[d]
				equal(t, d.String(), files, want)
			}
		})
	}
}

// TestEmbeddedMigrations checks the shipped set loads for every database with the same versions,
// and that the variants of each version create the same tables and indexes, in the same order.
func TestEmbeddedMigrations(t *testing.T) {
	s := allVersions(t, dialectSQLite)
	for _, d := range dialects {
		equal(t, d.String()+" versions", allVersions(t, d), s)
	}
	if !slices.Contains(s, "0001_init") {
		t.Fatalf("versions %v lack 0001_init", s)
	}
	objects := func(d dialect) [][]string {
		migs, err := loadMigrations(embeddedMigrations(), d)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for _, m := range migs {
			var names []string
			for _, stmt := range splitStatements(m.sql) {
				for _, line := range strings.Split(stmt, "\n") {
					if f := strings.Fields(line); len(f) >= 3 && f[0] == "CREATE" && (f[1] == "TABLE" || f[1] == "INDEX") {
						names = append(names, f[1]+" "+f[2])
					}
				}
			}
			out = append(out, names)
		}
		return out
	}
	want := objects(dialectPostgres)
	for _, d := range dialects {
		equal(t, "tables and indexes of the "+d.String()+" variants", objects(d), want)
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- a comment; with a semicolon
CREATE TABLE a (x TEXT DEFAULT 'a;b', "y;" INT, ` + "`z;`" + ` INT); /* block; comment */
CREATE INDEX a_x ON a (x);

-- trailing comment only
`
	equal(t, "statements", splitStatements(script), []string{
		"-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT 'a;b', \"y;\" INT, `z;` INT)",
		"/* block; comment */\nCREATE INDEX a_x ON a (x)",
	})
	equal(t, "no final semicolon", splitStatements("SELECT 1;SELECT 2"), []string{"SELECT 1", "SELECT 2"})
	equal(t, "empty", len(splitStatements(" ;\n-- x\n;")), 0)
}

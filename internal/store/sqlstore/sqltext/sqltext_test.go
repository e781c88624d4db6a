package sqltext

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

func TestRebind(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{`"we?ird" = ? AND z = 'it''s ?'`, `"we?ird" = $1 AND z = 'it''s ?'`},
		{"? ? ? ? ? ? ? ? ? ? ?", "$1 $2 $3 $4 $5 $6 $7 $8 $9 $10 $11"},
	}
	for _, c := range cases {
		if got := Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPostgresDSN(t *testing.T) {
	cases := []struct {
		name                                  string
		host                                  string
		port                                  int
		user, password, database, ssl, extras string
		want                                  string
	}{
		{"plain", "db.local", 5432, "plugd", "secret", "dify_plugin", "disable", "",
			"postgres://plugd:secret@db.local:5432/dify_plugin?sslmode=disable"},
		{"escaped password", "db", 5432, "u", "p@ss/w?rd#%", "d", "", "",
			"postgres://u:p%40ss%2Fw%3Frd%23%25@db:5432/d"},
		{"no password, no port", "db", 0, "u", "", "d", "require", "",
			"postgres://u@db/d?sslmode=require"},
		{"extras", "127.0.0.1", 5432, "u", "", "d", "disable", "-c search_path=plugd",
			"postgres://u@127.0.0.1:5432/d?options=-c%20search_path%3Dplugd&sslmode=disable"},
		{"ipv6", "::1", 5432, "u", "", "d", "", "", "postgres://u@[::1]:5432/d"},
		{"unix socket", "/var/run/postgresql", 5433, "u", "", "d", "", "",
			"postgres://u@/d?host=%2Fvar%2Frun%2Fpostgresql&port=5433"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := PostgresDSN(c.host, c.port, c.user, c.password, c.database, c.ssl, c.extras)
			if got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("pgx cannot read %s: %v", got, err)
			}
			wantPort := uint16(c.port)
			if c.port == 0 {
				wantPort = 5432
			}
			gotParts := []any{cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database, cfg.RuntimeParams["options"]}
			wantParts := []any{c.host, wantPort, c.user, c.password, c.database, c.extras}
			if !reflect.DeepEqual(gotParts, wantParts) {
				t.Fatalf("pgx read %v, want %v", gotParts, wantParts)
			}
		})
	}
}

// FuzzPostgresDSN: whatever the user, password, database and extras, pgx reads back what the
// daemon's settings said.
func FuzzPostgresDSN(f *testing.F) {
	f.Add("plugd", "secret", "dify_plugin", "-c search_path=x")
	f.Add("u s", "p@:/?#%&=+", "d b/c", "")
	f.Add("", "", "postgres", "")
	f.Add("ü", "'\"\\", "名前", "-c a=b -c c=d")
	f.Fuzz(func(t *testing.T, user, password, database, extras string) {
		for _, s := range []string{user, password, database, extras} {
			if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Skip("PostgreSQL names hold no control characters")
			}
		}
		if user == "" {
			password = "" // a password needs a user in a URL
		}
		if strings.HasPrefix(database, "/") {
			t.Skip("a database name starting with / is not expressible in a URL path")
		}
		dsn := PostgresDSN("127.0.0.1", 5432, user, password, database, "disable", extras)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("pgx cannot read %q: %v", dsn, err)
		}
		wantUser := user
		if user == "" {
			wantUser = cfg.User // pgx falls back to the OS user
		}
		got := []string{cfg.User, cfg.Password, cfg.Database, cfg.RuntimeParams["options"]}
		want := []string{wantUser, password, database, extras}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: pgx read %q, want %q", dsn, got, want)
		}
	})
}

func TestParseTime(t *testing.T) {
	utc := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	cases := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2025-01-02T03:04:05.678901Z", utc, false},
		{"2025-01-02T11:04:05.678901+08:00", utc, false},
		{"2025-01-02 03:04:05.678901+00:00", utc, false},
		{"2025-01-02 03:04:05.678901", utc, false},
		{FormatTime(utc.In(time.FixedZone("x", -7200))), utc, false},
		{"yesterday", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseTime(%q): error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), c.in) {
			t.Errorf("error %q does not quote the input", err)
		}
		if !got.Equal(c.want) || (err == nil && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, want %v in UTC", c.in, got, c.want)
		}
	}
	if a, b := FormatTime(utc), FormatTime(utc.Add(time.Hour)); len(a) != len(b) || a >= b {
		t.Errorf("FormatTime is not fixed-width and ordered: %q, %q", a, b)
	}
}

// FuzzParseTime: a stored timestamp (another writer's text, a damaged row) is read without
// panicking, and any time it yields survives our own format and parse.
func FuzzParseTime(f *testing.F) {
	f.Add("2025-01-02T03:04:05.678901Z")
	f.Add("2025-01-02 03:04:05.678901+00:00")
	f.Add("2025-01-02 03:04:05")
	f.Add("9999-12-31T23:59:59.999999999-23:59")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			if !strings.Contains(err.Error(), "RFC 3339") {
				t.Fatalf("error %q does not say what was expected", err)
			}
			return
		}
		if got.Year() < 0 || got.Year() > 9999 {
			return // outside what the fixed-width layout holds
		}
		back, err := ParseTime(FormatTime(got))
		if err != nil {
			t.Fatalf("our own form of %v does not read back: %v", got, err)
		}
		if want := got.Truncate(time.Microsecond); !back.Equal(want) {
			t.Fatalf("round trip of %v gave %v", got, back)
		}
	})
}

package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/plugd/plugd/internal/store"
)

// The MySQL tests run when PLUGD_TEST_MYSQL_DSN names a MySQL or MariaDB server
// (mysql://user:password@host:port/, the database ignored) where the user may CREATE and DROP
// DATABASE, CREATE USER and GRANT
// (scripts/mariadb.sh starts one). MySQL's databases are its schemas, so every store gets a
// database of its own, created through OpenMySQL's CreateDatabase (so that path is tested by
// every run) and dropped when its test ends.

func mysqlServer(t testing.TB) *mysql.Config {
	t.Helper()
	dsn := os.Getenv("PLUGD_TEST_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_MYSQL_DSN is not set (run scripts/mariadb.sh)")
		}
		t.Skip("PLUGD_TEST_MYSQL_DSN is not set (scripts/mariadb.sh starts a server)")
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		t.Fatalf("PLUGD_TEST_MYSQL_DSN %q is not a mysql://user:password@host:port/ URL (%v)", dsn, err)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = "tcp", u.Host
	if u.Port() == "" {
		cfg.Addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	return cfg
}

// mysqlDatabases numbers the test databases of this process.
var mysqlDatabases atomic.Int64

// newMySQLDatabase returns the DSN of a database name nobody uses yet (not created), dropped
// when the test ends if it was created meanwhile.
func newMySQLDatabase(t testing.TB) string {
	t.Helper()
	server := mysqlServer(t)
	cfg := server.Clone()
	cfg.DBName = fmt.Sprintf("plugd_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9, mysqlDatabases.Add(1))
	t.Cleanup(func() {
		admin, err := sql.Open("mysql", server.FormatDSN())
		if err != nil {
			t.Errorf("drop test database %s: %v", cfg.DBName, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+quoteMySQLName(cfg.DBName)); err != nil {
			t.Errorf("drop test database %s: %v", cfg.DBName, err)
		}
	})
	return cfg.FormatDSN()
}

func openTestMySQL(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := OpenMySQL(t.Context(), dsn, MySQLOptions{MaxOpenConns: 20, MaxIdleConns: 4, ConnMaxLifetime: time.Minute, CreateDatabase: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMySQL(t *testing.T) {
	runConformance(t, func(t *testing.T) store.Store {
		db := openTestMySQL(t, newMySQLDatabase(t))
		if _, err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestMySQLMigrations(t *testing.T) {
	runMigrationSuite(t, func(t *testing.T) func() *DB {
		dsn := newMySQLDatabase(t)
		return func() *DB { return openTestMySQL(t, dsn) }
	})
}

func TestOpenMySQL(t *testing.T) {
	server := mysqlServer(t)

	t.Run("MissingDatabase", func(t *testing.T) {
		dsn := newMySQLDatabase(t)
		cfg, _ := mysql.ParseDSN(dsn)
		_, err := OpenMySQL(t.Context(), dsn, MySQLOptions{})
		wantErr(t, err, nil, cfg.DBName, "Unknown database")
	})

	t.Run("CreateTwice", func(t *testing.T) {
		dsn := newMySQLDatabase(t)
		openTestMySQL(t, dsn)
		// The database exists now: CreateDatabase is a no-op.
		openTestMySQL(t, dsn)
	})

	t.Run("BadDSN", func(t *testing.T) {
		_, err := OpenMySQL(t.Context(), "plugd@tcp(127.0.0.1:1", MySQLOptions{})
		wantErr(t, err, nil, "DSN")
		_, err = OpenMySQL(t.Context(), server.FormatDSN()[:strings.LastIndex(server.FormatDSN(), "/")+1], MySQLOptions{})
		wantErr(t, err, nil, "names no database")
	})

	t.Run("Session", func(t *testing.T) {
		// Every connection gets the settings the queries rely on, whatever the server's defaults.
		db := openTestMySQL(t, newMySQLDatabase(t))
		var mode, zone, collation string
		err := db.sql.QueryRowContext(t.Context(), "SELECT @@SESSION.sql_mode, @@SESSION.time_zone, @@SESSION.collation_connection").Scan(&mode, &zone, &collation)
		ok(t, err)
		for _, m := range []string{"ANSI_QUOTES", "STRICT_ALL_TABLES"} {
			if !strings.Contains(mode, m) {
				t.Errorf("sql_mode %q lacks %s", mode, m)
			}
		}
		equal(t, "time zone and collation", []string{zone, collation}, []string{"+00:00", "utf8mb4_bin"})
		// The isolation level's variable has two names (MariaDB 10, MySQL 8): ask the server
		// what a transaction sees instead. Under READ COMMITTED a second read in the same
		// transaction sees a row committed after the first.
		_, err = db.Migrate(t.Context())
		ok(t, err)
		tx, err := db.sql.BeginTx(t.Context(), nil)
		ok(t, err)
		defer tx.Rollback()
		count := func() (n int) {
			ok(t, tx.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM debug_keys").Scan(&n))
			return n
		}
		before := count()
		_, _, err = db.DebugKey(t.Context(), "tenant-iso", time.Hour)
		ok(t, err)
		equal(t, "rows seen after another transaction's commit", count(), before+1)
	})

	t.Run("Settings", func(t *testing.T) {
		// The daemon's separate settings reach the server as they are, even a user name with a
		// colon and a password with the characters a DSN gives meaning to.
		if server.Net != "tcp" {
			t.Skip("server DSN is not TCP")
		}
		host, portText, err := net.SplitHostPort(server.Addr)
		ok(t, err)
		port, err := strconv.Atoi(portText)
		ok(t, err)
		cfg, _ := mysql.ParseDSN(newMySQLDatabase(t))
		user := fmt.Sprintf("plugd:t%d", mysqlDatabases.Add(1))
		const password = "p@:/?#%&=()'\""
		admin := openTestMySQL(t, newMySQLDatabase(t))
		_, err = admin.sql.ExecContext(t.Context(), "CREATE USER ?@'%' IDENTIFIED BY ?", user, password)
		ok(t, err)
		t.Cleanup(func() { admin.sql.ExecContext(context.Background(), "DROP USER ?@'%'", user) })
		_, err = admin.sql.ExecContext(t.Context(), "GRANT ALL PRIVILEGES ON "+quoteMySQLName(cfg.DBName)+".* TO ?@'%'", user)
		ok(t, err)

		s := MySQLSettings{Host: host, Port: port, User: user, Password: password, Database: cfg.DBName, SSLMode: "disable"}
		db, err := OpenMySQLSettings(t.Context(), s, MySQLOptions{CreateDatabase: true})
		ok(t, err)
		defer db.Close()
		var name, current string
		ok(t, db.sql.QueryRowContext(t.Context(), "SELECT DATABASE(), CURRENT_USER()").Scan(&name, &current))
		equal(t, "database and user", []string{name, current}, []string{cfg.DBName, user + "@%"})

		s.Password = "wrong"
		_, err = OpenMySQLSettings(t.Context(), s, MySQLOptions{})
		wantErr(t, err, nil, "Access denied", cfg.DBName)
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error shows the password: %v", err)
		}
		s.SSLMode = "sometimes"
		_, err = OpenMySQLSettings(t.Context(), s, MySQLOptions{})
		wantErr(t, err, nil, `"sometimes"`)
	})
}

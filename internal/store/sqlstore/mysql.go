package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLOptions tunes the connection pool and what happens when the database is missing.
type MySQLOptions struct {
	MaxOpenConns    int           // 0: database/sql's default (no limit)
	MaxIdleConns    int           // 0: database/sql's default (2)
	ConnMaxLifetime time.Duration // 0: connections are reused forever
	// CreateDatabase creates the DSN's database (utf8mb4, utf8mb4_bin) when it does not exist.
	// MySQL needs no maintenance database for that: the statement runs on a connection to none.
	CreateDatabase bool
}

// mysqlSession is what every connection runs first, so that the queries written for all three
// databases mean the same here:
//   - ANSI_QUOTES: "key" is a column name (KEY is reserved), as in PostgreSQL and SQLite;
//   - STRICT_ALL_TABLES: a value too long for its column is an error, never cut short;
//   - time zone +00:00: DATETIME(6) columns hold UTC;
//   - READ COMMITTED: as PostgreSQL's default, so a statement sees what committed before it
//     (under REPEATABLE READ plain reads would see the transaction's first snapshot while locking
//     reads see the newest rows), and InnoDB takes no gap locks, which only add deadlocks here.
//
// (The isolation level is set by statement because its variable is tx_isolation on MariaDB 10
// and transaction_isolation on MySQL 8.)
var mysqlSession = []string{
	"SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'ANSI_QUOTES', 'STRICT_ALL_TABLES'), time_zone = '+00:00'",
	"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
}

// OpenMySQL connects to the MySQL or MariaDB database of dsn, in go-sql-driver/mysql's format
// (user:password@tcp(host:port)/database?options; OpenMySQLSettings takes separate settings).
// The driver options the store depends on are set whatever the DSN says: times parsed, in UTC;
// utf8mb4 with binary collation; affected rows counted as rows matched, as the other databases
// count them; parameters interpolated by the driver (one round trip per statement instead of
// prepare, execute and close). The server's max_allowed_packet must hold the largest plugin
// storage value (PERSISTENCE_STORAGE_MAX_SIZE, 100 MiB by default) with some room to spare.
func OpenMySQL(ctx context.Context, dsn string, opts MySQLOptions) (*DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("open mysql: bad DSN: %w", err)
	}
	return openMySQL(ctx, cfg, opts)
}

// MySQLSettings are the daemon's separate connection settings (the reference's DB_HOST,
// DB_PORT, DB_USERNAME, DB_PASSWORD, DB_DATABASE, DB_SSL_MODE). They go to the driver as they
// are, never through a DSN string, whose format cannot carry a user name holding a colon.
type MySQLSettings struct {
	Host     string // a name or address; one starting with / is the server's unix socket file
	Port     int    // <= 0: 3306
	User     string
	Password string
	Database string
	// SSLMode takes PostgreSQL's names, as DB_SSL_MODE does: disable (no TLS), allow and prefer
	// (TLS when the server offers it), require, verify-ca and verify-full (TLS with the server's
	// certificate verified, as the reference daemon does for require).
	SSLMode string
	// Timeouts of the driver: dialing, and each network read and write (0: the driver's, none
	// for reads and writes; 10 s for dialing).
	ConnectTimeout, ReadTimeout, WriteTimeout time.Duration
}

// OpenMySQLSettings is OpenMySQL with the connection given by separate settings.
func OpenMySQLSettings(ctx context.Context, s MySQLSettings, opts MySQLOptions) (*DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = s.User, s.Password, s.Database
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = s.ConnectTimeout, s.ReadTimeout, s.WriteTimeout
	port := s.Port
	if port <= 0 {
		port = 3306
	}
	if strings.HasPrefix(s.Host, "/") {
		cfg.Net, cfg.Addr = "unix", s.Host
	} else {
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(port))
	}
	switch s.SSLMode {
	case "", "disable":
	case "allow", "prefer":
		cfg.TLSConfig = "preferred"
	case "require", "verify-ca", "verify-full":
		cfg.TLSConfig = "true"
	default:
		return nil, fmt.Errorf("open mysql: SSL mode %q is not one of disable, allow, prefer, require, verify-ca, verify-full", s.SSLMode)
	}
	return openMySQL(ctx, cfg, opts) // the connector turns TLSConfig's name into a *tls.Config
}

func openMySQL(ctx context.Context, cfg *mysql.Config, opts MySQLOptions) (*DB, error) {
	if cfg.DBName == "" {
		return nil, errors.New("open mysql: the DSN names no database (user:password@tcp(host:port)/DATABASE)")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.Collation = "utf8mb4_bin"
	cfg.ClientFoundRows = true
	cfg.InterpolateParams = true
	cfg.MultiStatements = false
	// The server's max_allowed_packet is the limit that counts (a plugin storage value of
	// PERSISTENCE_STORAGE_MAX_SIZE must fit in it); the driver's own would only fail first.
	cfg.MaxAllowedPacket = 1 << 30
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	sdb, err := pingMySQL(ctx, cfg)
	if err != nil && opts.CreateDatabase && isMySQLCode(err, 1049) { // ER_BAD_DB_ERROR
		if cerr := createMySQLDatabase(ctx, cfg); cerr != nil {
			return nil, cerr
		}
		sdb, err = pingMySQL(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open mysql database %q on %s: %w", cfg.DBName, cfg.Addr, err)
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
	return &DB{sql: sdb, dialect: dialectMySQL, migrations: embeddedMigrations()}, nil
}

func pingMySQL(ctx context.Context, cfg *mysql.Config) (*sql.DB, error) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	sdb := sql.OpenDB(sessionConnector{connector, mysqlSession})
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, err
	}
	return sdb, nil
}

// createMySQLDatabase creates cfg's database. Another process creating it at the same moment is
// not an error.
func createMySQLDatabase(ctx context.Context, cfg *mysql.Config) error {
	admin := cfg.Clone()
	admin.DBName = ""
	sdb, err := pingMySQL(ctx, admin)
	if err != nil {
		return fmt.Errorf("open mysql: database %q does not exist, and connecting to %s to create it failed: %w", cfg.DBName, cfg.Addr, err)
	}
	defer sdb.Close()
	_, err = sdb.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteMySQLName(cfg.DBName)+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	if err != nil {
		return fmt.Errorf("open mysql: create database %q: %w", cfg.DBName, err)
	}
	return nil
}

// quoteMySQLName quotes an identifier with backquotes, which mean a name whatever sql_mode says.
func quoteMySQLName(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// sessionConnector runs statements on every new connection before the pool hands it out.
type sessionConnector struct {
	driver.Connector
	init []string
}

func (c sessionConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := cn.(driver.ExecerContext)
	if !ok {
		cn.Close()
		return nil, fmt.Errorf("mysql driver connection %T cannot run statements", cn)
	}
	for _, q := range c.init {
		if _, err := ex.ExecContext(ctx, q, nil); err != nil {
			cn.Close()
			return nil, fmt.Errorf("set up mysql session (%s): %w", q, err)
		}
	}
	return cn, nil
}

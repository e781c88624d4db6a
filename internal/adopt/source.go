package adopt

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// Settings locate a reference deployment: its database and its object storage, read from the
// reference's own variables (DB_*, PLUGIN_STORAGE_*, the S3 ones and the object prefixes).
type Settings struct {
	DBType                                    string // postgresql or pgbouncer (mysql: see Open)
	DBHost, DBUser, DBPassword, DBName, DBSSL string
	DBPort                                    int
	DBExtras                                  string
	StorageType                               string // local, s3, or another (OtherStorage)
	// OtherStorage: a storage type this package does not open itself (Azure Blob, GCS, the
	// vendors' S3-compatible APIs); the caller opens it (daemon.OpenSourceBlob reads the same
	// settings) and passes it to OpenWithStorage.
	OtherStorage                                  bool
	LocalRoot                                     string
	lookup                                        func(string) string
	PackagePath, InstalledPath, MediaPath, KVPath string
}

// SettingsFrom reads Settings with lookup (the reference's .env, flags over it). Defaults are
// the reference's; a relative PLUGIN_STORAGE_LOCAL_ROOT is taken from base, the folder the
// reference ran in (its default, "storage", is relative to it).
func SettingsFrom(lookup func(string) string, base string) (Settings, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(lookup(name)); v != "" {
			return v
		}
		return def
	}
	s := Settings{
		DBType: strings.ToLower(get("DB_TYPE", "postgresql")),
		DBHost: get("DB_HOST", "localhost"), DBUser: get("DB_USERNAME", ""), DBPassword: lookup("DB_PASSWORD"),
		DBName: get("DB_DATABASE", "dify_plugin"), DBSSL: get("DB_SSL_MODE", "disable"), DBExtras: get("DB_EXTRAS", ""),
		StorageType: strings.ToLower(get("PLUGIN_STORAGE_TYPE", "local")),
		LocalRoot:   get("PLUGIN_STORAGE_LOCAL_ROOT", "storage"),
		PackagePath: get("PLUGIN_PACKAGE_CACHE_PATH", "plugin_packages"), InstalledPath: get("PLUGIN_INSTALLED_PATH", "plugin"),
		MediaPath: get("PLUGIN_MEDIA_CACHE_PATH", "assets"), KVPath: get("PERSISTENCE_STORAGE_PATH", "persistence"),
		lookup: lookup,
	}
	defPort := "5432"
	switch s.DBType {
	case "mysql", "oceanbase", "seekdb", "mariadb":
		defPort = "3306"
	}
	port := get("DB_PORT", defPort)
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return s, fmt.Errorf("reference DB_PORT=%q is not a port number", port)
	}
	s.DBPort = p
	switch s.DBType {
	case "postgresql", "postgres", "pgbouncer":
		s.DBType = "postgresql"
	case "mysql", "oceanbase", "seekdb", "mariadb":
		// The reference rewrites oceanbase and seekdb to mysql.
		s.DBType = "mysql"
	default:
		return s, fmt.Errorf("reference DB_TYPE=%q is none of postgresql, pgbouncer, mysql", s.DBType)
	}
	switch s.StorageType {
	case "local", "local_file":
		s.StorageType = "local"
		if !filepath.IsAbs(s.LocalRoot) {
			s.LocalRoot = filepath.Join(base, s.LocalRoot)
		}
	case "s3", "aws_s3", "aws-s3":
		s.StorageType = "s3"
	default:
		// Checked, and refused with the setting named, by whoever opens it.
		s.OtherStorage = true
	}
	for _, p := range []*string{&s.PackagePath, &s.InstalledPath, &s.MediaPath, &s.KVPath} {
		*p = strings.Trim(*p, "/")
	}
	return s, nil
}

// Source is an open reference deployment, read only.
type Source struct {
	DB   *sql.DB
	Blob blob.Store
	S    Settings
}

// Close closes the database connections.
func (s *Source) Close() error { return s.DB.Close() }

// Open connects to the reference's database and storage without writing to either: every
// session is read-only (PostgreSQL: default_transaction_read_only on; MySQL: the session's
// transaction_read_only), so the server refuses any write whatever a bug here would try; no
// database or bucket or folder is created; and the rows are read in one read-only transaction
// (Read).
func Open(ctx context.Context, s Settings) (*Source, error) {
	if s.OtherStorage {
		return nil, fmt.Errorf("reference PLUGIN_STORAGE_TYPE=%s: open the storage with daemon.OpenSourceBlob and pass it to OpenWithStorage", s.StorageType)
	}
	b, err := openBlob(ctx, s)
	if err != nil {
		return nil, err
	}
	return OpenWithStorage(ctx, s, b)
}

// OpenWithStorage is Open with the reference's object storage already opened (read-only: the
// caller opened it without creating anything) by the caller.
func OpenWithStorage(ctx context.Context, s Settings, storage blob.Store) (*Source, error) {
	db, err := openDB(ctx, s)
	if err != nil {
		return nil, err
	}
	return &Source{DB: db, Blob: storage, S: s}, nil
}

func openDB(ctx context.Context, s Settings) (*sql.DB, error) {
	if s.DBType == "mysql" {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Passwd, cfg.Net, cfg.DBName = s.DBUser, s.DBPassword, "tcp", s.DBName
		cfg.Addr = net.JoinHostPort(s.DBHost, strconv.Itoa(s.DBPort))
		cfg.ParseTime = true
		if s.DBSSL == "require" {
			cfg.TLSConfig = "skip-verify" // the reference's DB_SSL_MODE=require: encrypted, not verified
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("reference database: %w", err)
		}
		db := sql.OpenDB(readOnlyConnector{conn})
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("reference database %q on %s: %w", s.DBName, cfg.Addr, err)
		}
		return db, nil
	}
	dsn := sqlstore.PostgresDSN(s.DBHost, s.DBPort, s.DBUser, s.DBPassword, s.DBName, s.DBSSL, s.DBExtras)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("reference database: %w", err)
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	// PgBouncer in transaction mode cannot keep prepared statements between transactions.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	db := stdlib.OpenDB(*cfg)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("reference database %q on %s:%d: %w", s.DBName, s.DBHost, s.DBPort, err)
	}
	return db, nil
}

// readOnlyConnector makes every MySQL session read-only before it is used. (MySQL 8 and
// MariaDB 11.1 call the variable transaction_read_only, older MariaDB and MySQL 5.7
// tx_read_only; SET SESSION TRANSACTION READ ONLY sets whichever the server has.)
type readOnlyConnector struct{ driver.Connector }

func (c readOnlyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		conn.Close()
		return nil, errors.New("reference database: the MySQL driver cannot run statements")
	}
	if _, err := ex.ExecContext(ctx, "SET SESSION TRANSACTION READ ONLY", nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("reference database: making the session read-only: %w", err)
	}
	return conn, nil
}

func openBlob(ctx context.Context, s Settings) (blob.Store, error) {
	if s.StorageType == "s3" {
		cfg, err := blob.S3ConfigFromEnv(s.lookup)
		if err != nil {
			return nil, fmt.Errorf("reference storage: %w", err)
		}
		cfg.CreateBucket = false
		b, err := blob.NewS3(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("reference storage: %w", err)
		}
		return b, nil
	}
	// blob.NewDir makes a missing folder; a missing reference folder is a wrong setting.
	fi, err := os.Stat(s.LocalRoot)
	if err != nil {
		return nil, fmt.Errorf("reference storage PLUGIN_STORAGE_LOCAL_ROOT=%s: %w", s.LocalRoot, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("reference storage PLUGIN_STORAGE_LOCAL_ROOT=%s is not a folder", s.LocalRoot)
	}
	return blob.NewDir(s.LocalRoot)
}

// errNoTable marks a table the reference's schema lacks (an older version).
var errNoTable = errors.New("no such table")

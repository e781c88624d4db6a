package vault_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/vault"
)

var noEnv = func(string) (string, bool) { return "", false }

func openSQLite(t *testing.T, dir string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(dir, "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPostgres makes a fresh database for the test on the server of PLUGD_TEST_POSTGRES_DSN
// and drops it at the end; it returns the store and the database's DSN.
func openPostgres(t *testing.T) (*sqlstore.DB, string) {
	t.Helper()
	server := os.Getenv("PLUGD_TEST_POSTGRES_DSN")
	if server == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_POSTGRES_DSN is not set")
		}
		t.Skip("PLUGD_TEST_POSTGRES_DSN is not set (scripts/test-deps.sh starts a server)")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Skipf("PLUGD_TEST_POSTGRES_DSN is not a postgres:// URL; this test needs one")
	}
	name := fmt.Sprintf("plugd_vault_%d_%d", os.Getpid(), time.Now().UnixNano())
	u.Path = "/" + name
	dsn := u.String()
	db, err := sqlstore.OpenPostgres(t.Context(), dsn, sqlstore.PostgresOptions{CreateDatabase: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, dsn
}

// openMySQL makes a fresh database for the test on the server of PLUGD_TEST_MYSQL_DSN
// (mysql://user:password@host:port/) and drops it at the end; it returns the store and the
// settings it was opened with.
func openMySQL(t *testing.T) (*sqlstore.DB, sqlstore.MySQLSettings) {
	t.Helper()
	server := os.Getenv("PLUGD_TEST_MYSQL_DSN")
	if server == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_REQUIRE_SERVICES=1 but PLUGD_TEST_MYSQL_DSN is not set")
		}
		t.Skip("PLUGD_TEST_MYSQL_DSN is not set (scripts/test-deps.sh starts a server)")
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "mysql" {
		t.Fatalf("PLUGD_TEST_MYSQL_DSN %q is not a mysql:// URL", server)
	}
	port, _ := strconv.Atoi(u.Port())
	password, _ := u.User.Password()
	set := sqlstore.MySQLSettings{Host: u.Hostname(), Port: port, User: u.User.Username(), Password: password,
		Database: fmt.Sprintf("plugd_vault_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)}
	db, err := sqlstore.OpenMySQLSettings(t.Context(), set, sqlstore.MySQLOptions{CreateDatabase: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		cfg := mysql.NewConfig()
		cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", u.Host, set.User, set.Password
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			t.Errorf("drop %s: %v", set.Database, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + set.Database + "`"); err != nil {
			t.Errorf("drop %s: %v", set.Database, err)
		}
	})
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db, set
}

func newVault(t *testing.T, keys vault.KeyStore, dataDir string) *vault.Vault {
	t.Helper()
	ring, err := vault.LoadKeyring(noEnv, dataDir, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(keys, ring)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type secret struct{ tenant, cred, clear, sealed string }

// sealMany seals distinctive secrets for several tenants and keeps the sealed text in the
// database the way a credential table would (here: plugin storage rows).
func sealMany(t *testing.T, v *vault.Vault, db *sqlstore.DB, tenants, each int) []secret {
	t.Helper()
	var out []secret
	for i := range tenants {
		for j := range each {
			s := secret{
				tenant: fmt.Sprintf("tenant-%d", i),
				cred:   fmt.Sprintf("provider-%d/api_key", j),
				clear:  fmt.Sprintf("sk-PLAINTEXT-MARKER-%d-%d-zq", i, j),
			}
			var err error
			if s.sealed, err = v.SealString(t.Context(), s.tenant, s.cred, s.clear); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(s.sealed, "PLAINTEXT") {
				t.Fatal("sealed text holds the secret")
			}
			ns := backwards.Namespace{TenantID: s.tenant, PluginID: "vault-test"}
			if err := db.Set(t.Context(), ns, strings.ReplaceAll(s.cred, "/", "."), []byte(s.sealed), 0); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
	}
	return out
}

func openAll(t *testing.T, v *vault.Vault, db *sqlstore.DB, secrets []secret) {
	t.Helper()
	for _, s := range secrets {
		stored, err := db.Get(t.Context(), backwards.Namespace{TenantID: s.tenant, PluginID: "vault-test"}, strings.ReplaceAll(s.cred, "/", "."))
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.OpenString(t.Context(), s.tenant, s.cred, string(stored))
		if err != nil || got != s.clear {
			t.Fatalf("%s %s: got %q, %v", s.tenant, s.cred, got, err)
		}
	}
}

func TestRoundTripAndNoPlaintextInSQLiteFile(t *testing.T) {
	dir := t.TempDir()
	db := openSQLite(t, dir)
	v := newVault(t, db, dir)
	secrets := sealMany(t, v, db, 3, 4)
	openAll(t, v, db, secrets)
	// A fresh process (no cached keys) reads them too.
	openAll(t, newVault(t, db, dir), db, secrets)

	// Empty and binary values round-trip.
	for _, clear := range [][]byte{{}, {0, 1, 2, 255}} {
		s, err := v.Seal(t.Context(), "t", "c", clear)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Open(t.Context(), "t", "c", s)
		if err != nil || !bytes.Equal(got, clear) {
			t.Fatalf("%v: %v %v", clear, got, err)
		}
		parts, err := vault.ParseSealed(string(s))
		if err != nil {
			t.Fatal(err)
		}
		got, err = v.OpenValue(t.Context(), "t", "c", parts)
		if err != nil || !bytes.Equal(got, clear) {
			t.Fatalf("%v: %v %v", clear, got, err)
		}
	}

	keyText, err := os.ReadFile(filepath.Join(dir, vault.MasterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "plugd.db*"))
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte("vault:v1:")) {
		t.Fatal("the database holds no sealed value: the check below would prove nothing")
	}
	if bytes.Contains(all, []byte("PLAINTEXT-MARKER")) {
		t.Fatal("a secret is in the SQLite file in clear")
	}
	if bytes.Contains(all, bytes.TrimSpace(keyText)) {
		t.Fatal("the master key is in the SQLite file")
	}
}

func TestMovedOrAlteredValuesAreRefused(t *testing.T) {
	dir := t.TempDir()
	db := openSQLite(t, dir)
	v := newVault(t, db, dir)
	ctx := t.Context()
	sealed, err := v.SealString(ctx, "acme", "prov-1/api_key", "sk-live-1234567890")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.SealString(ctx, "globex", "prov-1/api_key", "other"); err != nil {
		t.Fatal(err)
	}
	s, _ := vault.ParseSealed(sealed)
	flipped := vault.Sealed{KeyVersion: s.KeyVersion, Box: append([]byte(nil), s.Box...)}
	flipped.Box[len(flipped.Box)/2] ^= 1
	cases := map[string]func() (string, error){
		"other tenant":     func() (string, error) { return v.OpenString(ctx, "globex", "prov-1/api_key", sealed) },
		"other credential": func() (string, error) { return v.OpenString(ctx, "acme", "prov-2/api_key", sealed) },
		"other field":      func() (string, error) { return v.OpenString(ctx, "acme", "prov-1/secret", sealed) },
		"altered":          func() (string, error) { return v.OpenString(ctx, "acme", "prov-1/api_key", flipped.String()) },
		"other version": func() (string, error) {
			return v.OpenString(ctx, "acme", "prov-1/api_key", vault.Sealed{KeyVersion: 2, Box: s.Box}.String())
		},
		"truncated":  func() (string, error) { return v.OpenString(ctx, "acme", "prov-1/api_key", sealed[:20]) },
		"not sealed": func() (string, error) { return v.OpenString(ctx, "acme", "prov-1/api_key", "sk-live-1234567890") },
	}
	for name, open := range cases {
		got, err := open()
		if !errors.Is(err, vault.ErrOpen) {
			t.Errorf("%s: want ErrOpen, got %q, %v", name, got, err)
		}
	}
	if got, err := v.OpenString(ctx, "acme", "prov-1/api_key", sealed); err != nil || got != "sk-live-1234567890" {
		t.Fatalf("the original no longer opens: %q %v", got, err)
	}
}

// swappingStore hands out another tenant's wrapped data key, as an attacker with write access
// to the table could: the unwrap must fail rather than use it.
type swappingStore struct {
	vault.KeyStore
	from, to string
}

func (s swappingStore) DataKeys(ctx context.Context, tenant string) ([]store.DataKey, error) {
	if tenant != s.to {
		return s.KeyStore.DataKeys(ctx, tenant)
	}
	keys, err := s.KeyStore.DataKeys(ctx, s.from)
	for i := range keys {
		keys[i].TenantID = s.to
	}
	return keys, err
}

func TestMovedDataKeyIsRefused(t *testing.T) {
	dir := t.TempDir()
	db := openSQLite(t, dir)
	v := newVault(t, db, dir)
	if _, err := v.SealString(t.Context(), "acme", "c", "x"); err != nil {
		t.Fatal(err)
	}
	sealed, err := v.SealString(t.Context(), "globex", "c", "y")
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := vault.LoadKeyring(noEnv, dir, &bytes.Buffer{})
	v2, _ := vault.New(swappingStore{KeyStore: db, from: "acme", to: "globex"}, ring)
	if _, err := v2.OpenString(t.Context(), "globex", "c", sealed); !errors.Is(err, vault.ErrOpen) {
		t.Fatalf("a data key moved between tenants was used: %v", err)
	}
}

// failingStore stops re-wrapping after n rows, as a crash in the middle of a rotation would.
type failingStore struct {
	vault.KeyStore
	mu   sync.Mutex
	left int
}

func (s *failingStore) RewrapDataKey(ctx context.Context, tenant string, version int, from, to string, wrapped []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left == 0 {
		return errors.New("simulated crash")
	}
	s.left--
	return s.KeyStore.RewrapDataKey(ctx, tenant, version, from, to, wrapped)
}

func testRotation(t *testing.T, db *sqlstore.DB, dir string) {
	v := newVault(t, db, dir)
	secrets := sealMany(t, v, db, 5, 3)
	before, _ := os.ReadFile(filepath.Join(dir, vault.MasterKeyFileName))

	// Interrupted after two tenants: everything stays readable, by old and new processes.
	rep, err := vault.RotateKeyFile(t.Context(), &failingStore{KeyStore: db, left: 2}, dir)
	if err == nil || rep.Rewrapped != 2 {
		t.Fatalf("interrupted rotation: %+v %v", rep, err)
	}
	openAll(t, newVault(t, db, dir), db, secrets)
	// A tenant sealing its first secret mid-rotation gets a key under the new master key.
	late := sealMany(t, newVault(t, db, dir), db, 6, 1)[5:]

	rep, err = vault.RotateKeyFile(t.Context(), db, dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rewrapped != 3 || rep.Already != 3 {
		t.Fatalf("second run: %+v", rep)
	}
	after, _ := os.ReadFile(filepath.Join(dir, vault.MasterKeyFileName))
	if bytes.Equal(before, after) {
		t.Fatal("the master key file did not change")
	}
	if _, err := os.Stat(filepath.Join(dir, vault.MasterKeyFileName+".next")); !os.IsNotExist(err) {
		t.Fatalf("the rotation's new-key file is left over: %v", err)
	}
	fresh := newVault(t, db, dir)
	openAll(t, fresh, db, secrets)
	openAll(t, fresh, db, late)
	rows, err := db.AllDataKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ring, _ := vault.LoadKeyring(noEnv, dir, &bytes.Buffer{})
	for _, r := range rows {
		if r.MasterKeyID != ring.Current.ID() {
			t.Fatalf("data key of %s still under %s", r.TenantID, r.MasterKeyID)
		}
	}
	// The old key alone opens nothing any more.
	oldKey, _ := vault.ParseMasterKey(string(before))
	old, _ := vault.New(db, vault.Keyring{Current: oldKey})
	if _, err := old.OpenString(t.Context(), secrets[0].tenant, secrets[0].cred, secrets[0].sealed); !errors.Is(err, vault.ErrOpen) {
		t.Fatalf("the retired master key still opens: %v", err)
	}
}

func TestRotationSQLite(t *testing.T) {
	dir := t.TempDir()
	testRotation(t, openSQLite(t, dir), dir)
}

func TestPostgres(t *testing.T) {
	db, dsn := openPostgres(t)
	dir := t.TempDir()
	v := newVault(t, db, dir)
	secrets := sealMany(t, v, db, 2, 3)
	openAll(t, newVault(t, db, dir), db, secrets)
	if pgDump, err := exec.LookPath("pg_dump"); err == nil {
		out, err := exec.CommandContext(t.Context(), pgDump, "--data-only", dsn).CombinedOutput()
		switch {
		case err != nil && strings.Contains(string(out), "version mismatch"):
			t.Logf("pg_dump skipped: %s", out)
		case err != nil:
			t.Fatalf("pg_dump: %v\n%s", err, out)
		default:
			if !bytes.Contains(out, []byte("vault_data_keys")) || !bytes.Contains(out, []byte("vault-test")) {
				t.Fatal("the dump lacks the vault's rows: the check below would prove nothing")
			}
			if bytes.Contains(out, []byte("PLAINTEXT-MARKER")) {
				t.Fatal("a secret is in the PostgreSQL dump in clear")
			}
		}
	}
	testRotation(t, db, dir)
}

func TestKeyring(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	ring, err := vault.LoadKeyring(noEnv, dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, vault.MasterKeyFileName)
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if !strings.Contains(out.String(), path) {
		t.Fatalf("generation not announced: %q", out.String())
	}
	again, err := vault.LoadKeyring(noEnv, dir, &bytes.Buffer{})
	if err != nil || again.Current.ID() != ring.Current.ID() {
		t.Fatalf("second start got another key: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := vault.LoadKeyring(noEnv, dir, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file was accepted: %v", err)
	}

	k1, _ := vault.GenerateMasterKey()
	k2, _ := vault.GenerateMasterKey()
	env := map[string]string{"PLUGD_MASTER_KEY": k1.String(), "PLUGD_MASTER_KEY_PREVIOUS": k2.String()}
	r, err := vault.LoadKeyring(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir(), &bytes.Buffer{})
	if err != nil || r.Current.ID() != k1.ID() || len(r.Previous) != 1 || r.Previous[0].ID() != k2.ID() {
		t.Fatalf("%+v %v", r, err)
	}
	// openssl rand -base64 32 output is accepted.
	if _, err := vault.ParseMasterKey("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80="); err != nil {
		t.Fatal(err)
	}
	env["PLUGD_MASTER_KEY"] = "too-short"
	if _, err := vault.LoadKeyring(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, t.TempDir(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "PLUGD_MASTER_KEY") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"abc":               "***",
		"abcdef":            "******",
		"abcdefg":           "ab***fg",
		"sk-1234567890abcd": "sk*************cd",
		"ключ-секрет":       "кл*******ет",
	} {
		if got := vault.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// keyStoreConflicts checks the store's answers that make concurrent nodes safe: a second
// CreateDataKey of one version and a re-wrap of a row no longer under the expected master key
// are conflicts, not overwrites.
func keyStoreConflicts(t *testing.T, db *sqlstore.DB) {
	ctx := t.Context()
	k := store.DataKey{TenantID: "conflict", Version: 1, MasterKeyID: "m1", Wrapped: []byte{1, 2, 3}}
	if err := db.CreateDataKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Wrapped = []byte{9}
	if err := db.CreateDataKey(ctx, k); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	if err := db.RewrapDataKey(ctx, "conflict", 1, "m0", "m2", []byte{4}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("re-wrap from the wrong key: %v", err)
	}
	if err := db.RewrapDataKey(ctx, "conflict", 1, "m1", "m2", []byte{4, 5}); err != nil {
		t.Fatal(err)
	}
	got, err := db.DataKeys(ctx, "conflict")
	if err != nil || len(got) != 1 || got[0].MasterKeyID != "m2" || !bytes.Equal(got[0].Wrapped, []byte{4, 5}) || got[0].CreatedAt.IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	if err := db.CreateDataKey(ctx, store.DataKey{TenantID: "conflict", Version: 0, MasterKeyID: "m", Wrapped: []byte{1}}); err == nil {
		t.Fatal("version 0 accepted")
	}
}

func TestMySQL(t *testing.T) {
	db, set := openMySQL(t)
	dir := t.TempDir()
	v := newVault(t, db, dir)
	secrets := sealMany(t, v, db, 2, 3)
	openAll(t, newVault(t, db, dir), db, secrets)
	dump, err := exec.LookPath("mariadb-dump")
	if err != nil {
		dump, err = exec.LookPath("mysqldump")
	}
	if err == nil {
		out, err := exec.CommandContext(t.Context(), dump, "--no-defaults", "--protocol=tcp", "-h", set.Host, "-P", strconv.Itoa(set.Port),
			"-u", set.User, "-p"+set.Password, "--no-create-info", set.Database).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", dump, err, out)
		}
		if !bytes.Contains(out, []byte("vault_data_keys")) || !bytes.Contains(out, []byte("vault-test")) {
			t.Fatal("the dump lacks the vault's rows: the check below would prove nothing")
		}
		if bytes.Contains(out, []byte("PLAINTEXT-MARKER")) {
			t.Fatal("a secret is in the MySQL dump in clear")
		}
	}
	testRotation(t, db, dir)
}

func TestKeyStoreSQLite(t *testing.T) { keyStoreConflicts(t, openSQLite(t, t.TempDir())) }

func TestKeyStorePostgres(t *testing.T) {
	db, _ := openPostgres(t)
	keyStoreConflicts(t, db)
}

func TestKeyStoreMySQL(t *testing.T) {
	db, _ := openMySQL(t)
	keyStoreConflicts(t, db)
}

// FuzzParseSealed: stored text is outside input once a database can be edited; parsing must
// never panic, and whatever parses prints back the same.
func FuzzParseSealed(f *testing.F) {
	f.Add("vault:v1:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("vault:v1:0:")
	f.Add("vault:v1:99999999999999999999:x")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := vault.ParseSealed(text)
		if err != nil {
			if !errors.Is(err, vault.ErrOpen) {
				t.Fatalf("error without ErrOpen: %v", err)
			}
			return
		}
		again, err := vault.ParseSealed(s.String())
		if err != nil || again.KeyVersion != s.KeyVersion || !bytes.Equal(again.Box, s.Box) {
			t.Fatalf("%q -> %+v -> %v", text, s, err)
		}
	})
}

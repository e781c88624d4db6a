package adopt

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

const fixtureDir = "../../testdata/adopt/postgres"

// testDSN is the test PostgreSQL server, or a skip (a failure when services are required).
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("PLUGD_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			tb.Fatal("PLUGD_TEST_POSTGRES_DSN is not set (PLUGD_TEST_REQUIRE_SERVICES=1)")
		}
		tb.Skip("PLUGD_TEST_POSTGRES_DSN is not set")
	}
	return dsn
}

// freshDB makes an empty database on the test server, dropped when the test ends.
func freshDB(tb testing.TB, dsn, prefix string) string {
	tb.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), dsn); err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	return u.String()
}

// referenceSchema makes a database holding the reference's schema as its own migration made
// it: the fixture's dump (made by the real reference) with its rows removed.
func referenceSchema(tb testing.TB, dsn string) string {
	tb.Helper()
	ctx := context.Background()
	dump, err := os.ReadFile(filepath.Join(fixtureDir, "dump.sql"))
	if err != nil {
		tb.Fatal(err)
	}
	var ddl strings.Builder
	for _, line := range strings.SplitAfter(string(dump), "\n") {
		if !strings.HasPrefix(line, "\\") && !strings.HasPrefix(line, "INSERT INTO ") {
			ddl.WriteString(line)
		}
	}
	ref := freshDB(tb, dsn, "plugd_adopt_synth")
	conn, err := pgx.Connect(ctx, ref)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, ddl.String()); err != nil {
		tb.Fatalf("the reference's schema: %v", err)
	}
	return ref
}

// synthReference fills a reference schema with tenants x plugins installations of distinct
// packages (variants of the fixture's adoptkv plugin), one endpoint with a secret and one KV
// value per installation, and a finished install task per tenant, as the reference stores them.
func synthReference(tb testing.TB, ref, storage string, tenants, plugins int) {
	tb.Helper()
	ctx := context.Background()
	src := "../../testdata/adopt/plugins/adoptkv"
	var files []pkgfile.File
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(src, p)
		files = append(files, pkgfile.File{Name: filepath.ToSlash(rel), Data: b})
		return err
	})
	conn, err := pgx.Connect(ctx, ref)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	uids := make([]string, plugins)
	batch := &pgx.Batch{}
	id := 0
	newID := func() string { id++; return fmt.Sprintf("019b0000-0000-7000-8000-%012x", id) }
	for p := range plugins {
		variant := make([]pkgfile.File, len(files))
		for i, f := range files {
			variant[i] = f
			if f.Name == "manifest.yaml" {
				variant[i].Data = bytes.Replace(f.Data, []byte("name: adoptkv"), []byte(fmt.Sprintf("name: synth%d", p)), 1)
			}
		}
		var buf bytes.Buffer
		if err := pkgfile.WriteFiles(ctx, &buf, variant); err != nil {
			tb.Fatal(err)
		}
		pkg, err := pkgfile.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), pkgfile.DefaultLimits())
		if err != nil {
			tb.Fatal(err)
		}
		sum, err := pkg.Checksum(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		pid := fmt.Sprintf("plugd/synth%d", p)
		uids[p] = pid + ":0.0.1@" + sum
		obj := filepath.Join(storage, "plugin_packages", filepath.FromSlash(uids[p]))
		if err := os.MkdirAll(filepath.Dir(obj), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(obj, buf.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
		batch.Queue(`INSERT INTO plugin_declarations (id, created_at, updated_at, plugin_unique_identifier, plugin_id, declaration) VALUES ($1, now(), now(), $2, $3, '{}')`, newID(), uids[p], pid)
		batch.Queue(`INSERT INTO plugins (id, created_at, updated_at, plugin_unique_identifier, plugin_id, refers, install_type, manifest_type, source) VALUES ($1, now(), now(), $2, $3, $4, 'local', 'plugin', 'package')`, newID(), uids[p], pid, tenants)
	}
	for tn := range tenants {
		tenant := fmt.Sprintf("00000000-0000-4000-8000-%012x", tn)
		for p := range plugins {
			pid := fmt.Sprintf("plugd/synth%d", p)
			batch.Queue(`INSERT INTO plugin_installations (id, created_at, updated_at, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, endpoints_setups, endpoints_active, source, meta) VALUES ($1, now(), now(), $2, $3, $4, 'local', 1, 1, 'marketplace', '{"n":1}')`,
				newID(), tenant, pid, uids[p])
			batch.Queue(`INSERT INTO endpoints (id, created_at, updated_at, name, hook_id, tenant_id, user_id, plugin_id, expired_at, enabled, settings) VALUES ($1, now(), now(), 'e', $2, $3, 'u', $4, '2050-01-01', true, '{"api_key":"enc:secret"}')`,
				newID(), fmt.Sprintf("h%015x", tn*plugins+p), tenant, pid)
			obj := filepath.Join(storage, "persistence", tenant, "plugd", fmt.Sprintf("synth%d", p), "greeting")
			if err := os.MkdirAll(filepath.Dir(obj), 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(obj, []byte("hello "+tenant), 0o644); err != nil {
				tb.Fatal(err)
			}
		}
		batch.Queue(`INSERT INTO install_tasks (id, created_at, updated_at, status, tenant_id, total_plugins, completed_plugins, plugins) VALUES ($1, now(), now(), 'failed', $2, 1, 1, '[{"plugin_unique_identifier":"`+uids[0]+`","labels":{"en_US":"x"},"icon":"","icon_dark":"","plugin_id":"plugd/synth0","status":"failed","message":"boom","source":"package"}]')`,
			newID(), tenant)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		tb.Fatalf("filling the synthetic reference: %v", err)
	}
}

// newTarget is a fresh plugd store (PostgreSQL) and storage folder.
func newTarget(tb testing.TB, dsn string) (*sqlstore.DB, *install.Manager) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenPostgres(ctx, freshDB(tb, dsn, "plugd_adopt_target"), sqlstore.PostgresOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	blobs, err := blob.NewDir(filepath.Join(tb.TempDir(), "blob"))
	if err != nil {
		tb.Fatal(err)
	}
	mgr := install.New(install.Config{Store: db, Blob: blobs, TempDir: tb.TempDir()})
	tb.Cleanup(mgr.Close)
	return db, mgr
}

func openSynth(tb testing.TB, ref, storage string) *Source {
	tb.Helper()
	u, _ := url.Parse(ref)
	pw, _ := u.User.Password()
	vals := map[string]string{"DB_HOST": u.Hostname(), "DB_PORT": u.Port(), "DB_USERNAME": u.User.Username(), "DB_PASSWORD": pw,
		"DB_DATABASE": strings.TrimPrefix(u.Path, "/"), "PLUGIN_STORAGE_LOCAL_ROOT": storage}
	s, err := SettingsFrom(func(k string) string { return vals[k] }, "/")
	if err != nil {
		tb.Fatal(err)
	}
	src, err := Open(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { src.Close() })
	return src
}

// BenchmarkAdopt1000 adopts a synthetic reference of 1,000 installations (100 tenants x 10
// plugins, 10 distinct packages), 1,000 endpoints, 1,000 KV values and 100 install tasks into
// a fresh plugd store on PostgreSQL; "again" is the second, idempotent run over the result.
func BenchmarkAdopt1000(b *testing.B) {
	dsn := testDSN(b)
	ref := referenceSchema(b, dsn)
	storage := b.TempDir()
	synthReference(b, ref, storage, 100, 10)
	src := openSynth(b, ref, storage)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			db, mgr := newTarget(b, dsn)
			b.StartTimer()
			rep, err := (&Adopter{Source: src, Store: db, KV: db, Packages: mgr}).Run(b.Context())
			if err != nil || rep.Failed() || rep.Counts[KindInstallation].Imported != 1000 {
				b.Fatalf("%v %+v", err, rep)
			}
		}
	})
	b.Run("again", func(b *testing.B) {
		db, mgr := newTarget(b, dsn)
		a := &Adopter{Source: src, Store: db, KV: db, Packages: mgr}
		if _, err := a.Run(b.Context()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rep, err := a.Run(b.Context())
			if err != nil || rep.Counts[KindInstallation].Unchanged != 1000 {
				b.Fatalf("%v %+v", err, rep.Counts[KindInstallation])
			}
		}
	})
}

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
	"github.com/plugd/plugd/internal/daemon"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// TestAdoptSynthetic runs adoption over a reference made to the real reference's schema
// (the fixture's dump without its rows) with rows of the kinds plugd cannot take over.
func TestAdoptSynthetic(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	ref := referenceSchema(t, dsn)
	storage := t.TempDir()
	synthReference(t, ref, storage, 3, 2)
	conn, err := pgx.Connect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	remote := "3f1c0e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6/dbg:0.0.1@" + strings.Repeat("cd", 32)
	serverless := "acme/lambda:0.0.1@" + strings.Repeat("ef", 32)
	for _, q := range []string{
		`INSERT INTO plugins (id, created_at, updated_at, plugin_unique_identifier, plugin_id, refers, install_type, manifest_type, source) VALUES ('019b0000-0000-7000-8000-0000000f0001', now(), now(), '` + serverless + `', 'acme/lambda', 1, 'serverless', 'plugin', 'marketplace')`,
		`INSERT INTO serverless_runtimes (id, created_at, updated_at, plugin_unique_identifier, function_url, function_name, type, checksum) VALUES ('019b0000-0000-7000-8000-0000000f0002', now(), now(), '` + serverless + `', 'https://fn', 'fn', 'serverless', 'x')`,
		`INSERT INTO plugin_installations (id, created_at, updated_at, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, endpoints_setups, endpoints_active, source, meta) VALUES ('019b0000-0000-7000-8000-0000000f0003', now(), now(), '00000000-0000-4000-8000-000000000000', 'acme/lambda', '` + serverless + `', 'serverless', 0, 0, 'marketplace', '{}')`,
		`INSERT INTO plugins (id, created_at, updated_at, plugin_unique_identifier, plugin_id, refers, install_type, manifest_type, source) VALUES ('019b0000-0000-7000-8000-0000000f0004', now(), now(), '` + remote + `', '3f1c0e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6/dbg', 1, 'remote', 'plugin', '')`,
		`INSERT INTO plugin_installations (id, created_at, updated_at, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, endpoints_setups, endpoints_active, source, meta) VALUES ('019b0000-0000-7000-8000-0000000f0005', now(), now(), '00000000-0000-4000-8000-000000000001', '3f1c0e2a-1b2c-4d5e-8f90-a1b2c3d4e5f6/dbg', '` + remote + `', 'remote', 0, 0, '', NULL)`,
		// An endpoint whose plugin the tenant uninstalled: the reference keeps it.
		`INSERT INTO endpoints (id, created_at, updated_at, name, hook_id, tenant_id, user_id, plugin_id, expired_at, enabled, settings) VALUES ('019b0000-0000-7000-8000-0000000f0006', now(), now(), 'orphan', 'orphanhook000000', '00000000-0000-4000-8000-000000000002', 'u', 'acme/gone', '2050-01-01', true, '{}')`,
		// A task still running.
		`INSERT INTO install_tasks (id, created_at, updated_at, status, tenant_id, total_plugins, completed_plugins, plugins) VALUES ('019b0000-0000-7000-8000-0000000f0007', now(), now(), 'running', '00000000-0000-4000-8000-000000000002', 1, 0, '[]')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	src := openSynth(t, ref, storage)

	// The source connection refuses writes whatever adopt would try.
	if _, err := src.DB.ExecContext(ctx, "DELETE FROM endpoints"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a write through the reference's connection: %v, want a read-only refusal", err)
	}

	db, mgr := newTarget(t, dsn)
	a := &Adopter{Source: src, Store: db, KV: db, Packages: mgr, DryRun: true}
	rep, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := db.ListInstallations(ctx, "00000000-0000-4000-8000-000000000000", store.Page{Page: 1, Size: 10}); len(got) != 0 {
		t.Fatalf("the dry run installed %v", got)
	}
	dry := *rep.Counts[KindInstallation]

	a.DryRun = false
	rep, err = a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := *rep.Counts[KindInstallation]; got != dry || got != (Counts{Imported: 6, Skipped: 2}) {
		t.Errorf("installations: %+v, dry run %+v, want 6 imported, 2 skipped", got, dry)
	}
	for kind, want := range map[string]Counts{
		KindPackage: {Imported: 2}, KindEndpoint: {Imported: 6, Skipped: 1}, KindKV: {Imported: 6}, KindTask: {Imported: 3, Skipped: 1},
	} {
		if got := *rep.Counts[kind]; got != want {
			t.Errorf("%s: %+v, want %+v", kind, got, want)
		}
	}
	reasons := map[string]bool{}
	for _, p := range rep.Problems {
		if p.Action == "" {
			t.Errorf("problem without an action: %+v", p)
		}
		switch {
		case strings.Contains(p.Reason, "serverless"):
			reasons["serverless"] = true
		case strings.Contains(p.Reason, "remote-debugging plugin"):
			reasons["remote"] = true
		case strings.Contains(p.Reason, "uninstalled the plugin"):
			reasons["orphan endpoint"] = true
		case strings.Contains(p.Reason, "still running"):
			reasons["running task"] = true
		case p.Kind == KindDebugging:
			reasons["debug keys"] = true
		}
	}
	if len(reasons) != 5 {
		t.Errorf("not every kind of object plugd cannot take over is listed: %v\n%+v", reasons, rep.Problems)
	}
	if rep.Failed() {
		t.Errorf("failed: %+v", rep.Problems)
	}
	// The secret settings are carried byte for byte and the counters match the endpoints.
	e, err := db.GetEndpointByHook(ctx, "h000000000000000")
	if err != nil || string(e.Settings) != `{"api_key":"enc:secret"}` || !e.Enabled {
		t.Errorf("endpoint: %+v %v", e, err)
	}
	in, err := db.GetInstallationByPlugin(ctx, "00000000-0000-4000-8000-000000000000", "plugd/synth0")
	if err != nil || in.EndpointsSetups != 1 || in.EndpointsActive != 1 || in.Source != "marketplace" || string(in.Meta) != `{"n":1}` {
		t.Errorf("installation: %+v %v", in, err)
	}

	// On the reference meanwhile: an endpoint is disabled, another removed, a plugin
	// uninstalled. The next run updates the first and lists the others, removing nothing.
	for _, q := range []string{
		`UPDATE endpoints SET enabled = false WHERE hook_id = 'h000000000000000'`,
		`DELETE FROM endpoints WHERE hook_id = 'h000000000000001'`,
		`DELETE FROM plugin_installations WHERE tenant_id = '00000000-0000-4000-8000-000000000002' AND plugin_id = 'plugd/synth1'`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rep, err = a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := *rep.Counts[KindEndpoint]; got != (Counts{Updated: 1, Unchanged: 4, Skipped: 1}) {
		t.Errorf("endpoints after changes: %+v", got)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].What != "[enabled] changed" {
		t.Errorf("changes: %+v", rep.Changes)
	}
	var goneHook, goneInst bool
	for _, p := range rep.Problems {
		goneHook = goneHook || (p.Level == "note" && strings.Contains(p.Reason, "h000000000000001") && strings.Contains(p.Reason, "no longer on the reference"))
		goneInst = goneInst || (p.Level == "note" && strings.Contains(p.Reason, "plugd/synth1") && strings.Contains(p.Reason, "no longer on the reference"))
	}
	if !goneHook || !goneInst {
		t.Errorf("removals on the reference not listed (endpoint %v, installation %v): %+v", goneHook, goneInst, rep.Problems)
	}
	if e, err := db.GetEndpointByHook(ctx, "h000000000000000"); err != nil || e.Enabled {
		t.Errorf("disabled endpoint: %+v %v", e, err)
	}
}

// TestAdoptFromS3 reads the reference's objects from S3-compatible storage (the reference's
// PLUGIN_STORAGE_TYPE=s3 settings), the bucket holding what its local folder would.
func TestAdoptFromS3(t *testing.T) {
	var s3 [3]string
	for i, k := range []string{"PLUGD_TEST_S3_ENDPOINT", "PLUGD_TEST_S3_ACCESS_KEY", "PLUGD_TEST_S3_SECRET_KEY"} {
		s3[i] = testServer(t, k)
	}
	bucket := fmt.Sprintf("plugd-adopt-%d", time.Now().UnixNano())
	up, err := blob.NewS3(context.Background(), blob.S3Config{Endpoint: s3[0], Bucket: bucket, AccessKey: s3[1], SecretKey: s3[2],
		UseSSL: strings.HasPrefix(s3[0], "https://"), PathStyle: true, CreateBucket: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	adoptFromStorage(t, up, map[string]string{"PLUGIN_STORAGE_TYPE": "s3", "S3_ENDPOINT": s3[0], "PLUGIN_STORAGE_OSS_BUCKET": bucket,
		"AWS_ACCESS_KEY": s3[1], "AWS_SECRET_KEY": s3[2], "AWS_REGION": "us-east-1", "S3_USE_PATH_STYLE": "true"})
}

// TestAdoptFromAzure reads the reference's storage on Azure Blob (Azurite) through
// daemon.OpenSourceBlob, as `plugd adopt` does for every type but local and S3, and checks
// that a missing container is an error rather than created.
func TestAdoptFromAzure(t *testing.T) {
	conn := blob.AzuriteConnectionString(testServer(t, "PLUGD_TEST_AZURE_ENDPOINT"),
		testServer(t, "PLUGD_TEST_AZURE_ACCOUNT"), testServer(t, "PLUGD_TEST_AZURE_KEY"))
	container := fmt.Sprintf("plugd-adopt-%d", time.Now().UnixNano())
	ctx := context.Background()
	vals := map[string]string{"PLUGIN_STORAGE_TYPE": "azure_blob", "AZURE_BLOB_STORAGE_CONNECTION_STRING": conn,
		"AZURE_BLOB_STORAGE_CONTAINER_NAME": container}
	if _, err := daemon.OpenSourceBlob(ctx, func(k string) string { return vals[k] }); err == nil {
		t.Fatal("a missing container was opened (or created) on the reference's side")
	}
	up, err := blob.NewAzure(ctx, blob.AzureConfig{ConnectionString: conn, Container: container, CreateContainer: true})
	if err != nil {
		t.Fatal(err)
	}
	adoptFromStorage(t, up, vals)
}

// testServer is the value of a test server's variable; the test skips without it, or fails
// under PLUGD_TEST_REQUIRE_SERVICES=1.
func testServer(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set (PLUGD_TEST_REQUIRE_SERVICES=1)", name)
		}
		t.Skipf("%s is not set", name)
	}
	return v
}

// adoptFromStorage builds a synthetic reference whose objects are copied into up, adopts it
// with the reference's storage settings vals (plus its database's) the way `plugd adopt`
// opens them, and checks the counts.
func adoptFromStorage(t *testing.T, up blob.Store, vals map[string]string) {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	ref := referenceSchema(t, dsn)
	dir := t.TempDir()
	synthReference(t, ref, dir, 2, 2)
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return up.Put(ctx, filepath.ToSlash(rel), bytes.NewReader(b), int64(len(b)))
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ref)
	pw, _ := u.User.Password()
	for k, v := range map[string]string{"DB_HOST": u.Hostname(), "DB_PORT": u.Port(), "DB_USERNAME": u.User.Username(), "DB_PASSWORD": pw,
		"DB_DATABASE": strings.TrimPrefix(u.Path, "/")} {
		vals[k] = v
	}
	lookup := func(k string) string { return vals[k] }
	set, err := SettingsFrom(lookup, "/")
	if err != nil {
		t.Fatal(err)
	}
	var src *Source
	if set.OtherStorage {
		storage, err := daemon.OpenSourceBlob(ctx, lookup)
		if err != nil {
			t.Fatal(err)
		}
		src, err = OpenWithStorage(ctx, set, storage)
		if err != nil {
			t.Fatal(err)
		}
	} else if src, err = Open(ctx, set); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	db, mgr := newTarget(t, dsn)
	rep, err := (&Adopter{Source: src, Store: db, KV: db, Packages: mgr}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]Counts{KindPackage: {Imported: 2}, KindInstallation: {Imported: 4}, KindKV: {Imported: 4}} {
		if got := *rep.Counts[kind]; got != want {
			t.Errorf("%s: %+v, want %+v (problems %+v)", kind, got, want, rep.Problems)
		}
	}
}

// TestAdoptIntoSQLite: plugd's default store is SQLite; adoption into it is the same.
func TestAdoptIntoSQLite(t *testing.T) {
	dsn := testDSN(t)
	ctx := context.Background()
	ref := referenceSchema(t, dsn)
	storage := t.TempDir()
	synthReference(t, ref, storage, 3, 2)
	src := openSynth(t, ref, storage)
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDir(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	mgr := install.New(install.Config{Store: db, Blob: blobs, TempDir: t.TempDir()})
	defer mgr.Close()
	a := &Adopter{Source: src, Store: db, KV: db, Packages: mgr}
	for run, want := range []Counts{{Imported: 6}, {Unchanged: 6}} {
		rep, err := a.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := *rep.Counts[KindInstallation]; got != want || rep.Failed() {
			t.Errorf("run %d: installations %+v, want %+v (problems %+v)", run+1, got, want, rep.Problems)
		}
	}
}

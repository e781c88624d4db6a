package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// needService skips a test whose service is not configured, or fails it when
// PLUGD_TEST_REQUIRE_SERVICES=1.
func needService(t *testing.T, what string, vars ...string) []string {
	t.Helper()
	vals := make([]string, len(vars))
	var missing []string
	for i, v := range vars {
		vals[i] = os.Getenv(v)
		if vals[i] == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not configured: set %s", what, strings.Join(missing, ", "))
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal(msg + " (PLUGD_TEST_REQUIRE_SERVICES=1)")
		}
		t.Skip(msg)
	}
	return vals
}

// postgresEnv turns a DSN into the daemon's DB_* variables, with a fresh database that is
// dropped when the test ends.
func postgresEnv(t *testing.T, dsn string) map[string]string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("PLUGD_TEST_POSTGRES_DSN %q is not a postgres:// URL", dsn)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	password, _ := u.User.Password()
	defaultDB := strings.TrimPrefix(u.Path, "/")
	if defaultDB == "" {
		defaultDB = "postgres"
	}
	name := "plugd_e2e_" + randomHex(6)
	env := map[string]string{
		"DB_TYPE": "postgresql", "DB_HOST": u.Hostname(), "DB_PORT": port,
		"DB_USERNAME": u.User.Username(), "DB_PASSWORD": password,
		"DB_DATABASE": name, "DB_DEFAULT_DATABASE": defaultDB,
	}
	if mode := u.Query().Get("sslmode"); mode != "" {
		env["DB_SSL_MODE"] = mode
	}
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("dropping database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
	return env
}

// TestPostgresFlow runs upload, install, invoke and uninstall with DB_TYPE=postgresql.
func TestPostgresFlow(t *testing.T) {
	dsn := needService(t, "PostgreSQL", "PLUGD_TEST_POSTGRES_DSN")[0]
	pythonTools(t)
	d := startDaemon(t, daemonOptions{Env: postgresEnv(t, dsn)})
	basicFlow(t, d, true)
}

// TestS3Flow runs upload, install, invoke and uninstall with PLUGIN_STORAGE_TYPE=s3.
func TestS3Flow(t *testing.T) {
	v := needService(t, "S3 storage", "PLUGD_TEST_S3_ENDPOINT", "PLUGD_TEST_S3_ACCESS_KEY", "PLUGD_TEST_S3_SECRET_KEY", "PLUGD_TEST_S3_BUCKET")
	pythonTools(t)
	env := map[string]string{
		"PLUGIN_STORAGE_TYPE": "s3", "S3_ENDPOINT": v[0], "AWS_ACCESS_KEY": v[1], "AWS_SECRET_KEY": v[2],
		"PLUGIN_STORAGE_OSS_BUCKET": v[3], "S3_USE_AWS": "false", "S3_USE_PATH_STYLE": "true",
		"AWS_REGION": "us-east-1",
	}
	// Both services together when both are configured: the production setup.
	if dsn := os.Getenv("PLUGD_TEST_POSTGRES_DSN"); dsn != "" {
		for k, val := range postgresEnv(t, dsn) {
			env[k] = val
		}
	}
	d := startDaemon(t, daemonOptions{Env: env})
	basicFlow(t, d, false)
}

// basicFlow is the subset of TestDifyFlow that touches every table and every stored object:
// upload, install, the list, the icon, a call, a restart (state read back from the
// services), uninstall.
func basicFlow(t *testing.T, d *daemon, restart bool) {
	t.Helper()
	basicFlowHook(t, d, restart, nil)
}

// basicFlowHook is basicFlow with afterInstall called once the plugin is installed and
// listed, to look at what the services hold.
func basicFlowHook(t *testing.T, d *daemon, restart bool, afterInstall func()) {
	t.Helper()
	pk := packages(t)
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	uid := installAndWait(ctx, t, c, pk.V1)
	checkListed(t, c, uid, "0.0.1")
	if afterInstall != nil {
		afterInstall()
	}
	m, err := c.fetchManifest(ctx, uid)
	if err != nil {
		t.Fatalf("fetch/manifest: %v", err)
	}
	icon, err := os.ReadFile("testdata/plugins/e2etool/_assets/icon.svg")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.fetchAsset(ctx, str(m, "icon")); err != nil || string(b) != string(icon) {
		t.Errorf("asset: %v, %d bytes", err, len(b))
	}
	invokeModes(t, c)
	if restart {
		d.restart()
		checkListed(t, c, uid, "0.0.1")
		if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after restart", "mode": "text"}); err != nil || texts(msgs) != "after restart" {
			t.Errorf("invoke after restart: %v, %+v", err, msgs)
		}
	}
	l, err := c.listPlugins(ctx)
	if err != nil || len(l.List) != 1 {
		t.Fatalf("list: %+v, %v", l, err)
	}
	if ok, err := c.uninstall(ctx, str(l.List[0], "installation_id")); err != nil || !ok {
		t.Fatalf("uninstall: %v, %v", ok, err)
	}
	if l, err := c.listPlugins(ctx); err != nil || l.Total != 0 {
		t.Errorf("list after uninstall: %+v, %v", l, err)
	}
	_, err = c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x", "mode": "text"})
	if de := asDifyError(err); de == nil || de.ErrorType != "PluginNotFoundError" {
		t.Errorf("invoke after uninstall: %v, want PluginNotFoundError", err)
	}
}

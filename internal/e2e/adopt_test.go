package e2e

// plugd adopt against a fixture made by the real reference daemon (testdata/adopt/postgres,
// made by scripts/reference-fixture/make.sh): the reference's database dump is loaded into a
// fresh PostgreSQL database and its storage folder copied, `plugd adopt` imports them, and a
// plugd daemon on the result must answer Dify's calls as the reference answered them
// (golden.json, recorded from the reference before the dump).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

const fixturesDir = "../../testdata/adopt"

// refDB is the reference's database as loaded for a test: its settings as the reference's
// .env holds them, a way to run SQL on it (to mimic the reference's own writes) and a summary
// of every table's content (to show adoption wrote nothing).
type refDB struct {
	env   string
	exec  func(t *testing.T, q string)
	state func(t *testing.T) string
}

type adoptReport struct {
	DryRun   bool `json:"dry_run"`
	Counts   map[string]map[string]int
	Problems []struct {
		Kind, ID, Level, Reason, Action string
		Tenant                          string `json:"tenant_id"`
	}
	Changes []struct{ Kind, ID, What string }
}

// counts renders the report's counts for comparison: kind -> "imported/updated/unchanged/failed/skipped".
func (r adoptReport) counts() map[string]string {
	out := map[string]string{}
	for k, c := range r.Counts {
		out[k] = fmt.Sprintf("%d/%d/%d/%d/%d", c["imported"], c["updated"], c["unchanged"], c["failed"], c["skipped"])
	}
	return out
}

// loadPostgres loads the PostgreSQL fixture's dump into a fresh database.
func loadPostgres(t *testing.T, dsn string) refDB {
	t.Helper()
	ctx := context.Background()
	dump, err := os.ReadFile(filepath.Join(fixturesDir, "postgres", "dump.sql"))
	if err != nil {
		t.Fatal(err)
	}
	// pg_dump's psql meta-commands (\restrict, \unrestrict) are not SQL.
	var sqlText strings.Builder
	for _, line := range strings.SplitAfter(string(dump), "\n") {
		if !strings.HasPrefix(line, "\\") {
			sqlText.WriteString(line)
		}
	}
	name := "plugd_adopt_ref_" + randomHex(6)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(dsn)
	u.Path = "/" + name
	refDSN := u.String()
	conn, err := pgx.Connect(ctx, refDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sqlText.String()); err != nil {
		t.Fatalf("loading the fixture's dump: %v", err)
	}
	pw, _ := u.User.Password()
	return refDB{
		env: fmt.Sprintf("DB_TYPE=postgresql\nDB_HOST=%s\nDB_PORT=%s\nDB_USERNAME=%s\nDB_PASSWORD='%s'\nDB_DATABASE=%s\nDB_SSL_MODE=disable\n",
			u.Hostname(), u.Port(), u.User.Username(), pw, name),
		exec: func(t *testing.T, q string) {
			c, err := pgx.Connect(ctx, refDSN)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
		state: func(t *testing.T) string { return postgresState(t, refDSN) },
	}
}

// copyStorage copies the fixture's storage folder.
func copyStorage(t *testing.T, kind string) string {
	storage := filepath.Join(t.TempDir(), "reference-storage")
	if err := copyTree(filepath.Join(fixturesDir, kind, "storage"), storage); err != nil {
		t.Fatal(err)
	}
	return storage
}

// referenceEnv writes the reference's settings as its .env file would hold them.
func referenceEnv(t *testing.T, db refDB, storage string) string {
	env := "# the reference's .env\n" + db.env + "PLUGIN_STORAGE_TYPE=local\nPLUGIN_STORAGE_LOCAL_ROOT=" + storage + "\nREDIS_HOST=unused\n"
	p := filepath.Join(t.TempDir(), "reference.env")
	if err := os.WriteFile(p, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runAdopt runs plugd adopt --json against the target settings and returns the report and
// the exit code.
func runAdopt(t *testing.T, dataDir string, target map[string]string, args ...string) (adoptReport, int, string) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"adopt", "--json", "--data-dir", dataDir}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range target {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep adoptReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("plugd adopt (exit %d): stdout is not a JSON report: %v\n%s\nstderr:\n%s", code, err, stdout.Bytes(), stderr.Bytes())
	}
	return rep, code, stderr.String()
}

// referenceState sums every table of the reference and every file of its storage, to show
// adoption wrote nothing to either.
func referenceState(t *testing.T, db refDB, storage string) string {
	t.Helper()
	h := &strings.Builder{}
	h.WriteString(db.state(t))
	filepath.WalkDir(storage, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			fmt.Fprintf(h, "%s %x\n", p, sha256.Sum256(b))
		} else if err == nil {
			fmt.Fprintf(h, "%s/\n", p)
		}
		return nil
	})
	return h.String()
}

func postgresState(t *testing.T, refDSN string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, refDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	h := &strings.Builder{}
	for _, tb := range tables {
		var sum *string
		if err := conn.QueryRow(ctx, "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM "+pgx.Identifier{tb}.Sanitize()+" t").Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum == nil {
			fmt.Fprintf(h, "%s empty\n", tb)
		} else {
			fmt.Fprintf(h, "%s=%s\n", tb, *sum)
		}
	}
	return h.String()
}

type golden map[string]json.RawMessage

func (g golden) get(t *testing.T, key string, v any) {
	t.Helper()
	raw, ok := g[key]
	if !ok {
		t.Fatalf("golden.json has no %q", key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("golden %s: %v", key, err)
	}
}

// TestAdoptReferenceFixture: the reference ran on PostgreSQL.
func TestAdoptReferenceFixture(t *testing.T) {
	dsn := needService(t, "PostgreSQL", "PLUGD_TEST_POSTGRES_DSN")[0]
	pythonTools(t)
	adoptFixture(t, "postgres", loadPostgres(t, dsn), postgresEnv(t, dsn))
}

// adoptFixture adopts the fixture of kind (loaded as ref) into plugd on PostgreSQL (target).
func adoptFixture(t *testing.T, kind string, ref refDB, target map[string]string) {
	ctx := context.Background()
	var g golden
	b, err := os.ReadFile(filepath.Join(fixturesDir, kind, "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	var tenants []string
	g.get(t, "tenants", &tenants)

	storage := copyStorage(t, kind)
	envFile := referenceEnv(t, ref, storage)
	before := referenceState(t, ref, storage)

	dataDir := filepath.Join(t.TempDir(), "data")

	// A dry run imports nothing.
	rep, code, stderr := runAdopt(t, dataDir, target, "--from-env", envFile, "--dry-run")
	if code != 0 || !rep.DryRun {
		t.Fatalf("dry run: exit %d, report %+v\n%s", code, rep, stderr)
	}
	dry := rep.counts()

	rep, code, stderr = runAdopt(t, dataDir, target, "--from-env", envFile)
	if code != 0 {
		t.Fatalf("plugd adopt: exit %d, report %+v\n%s", code, rep, stderr)
	}
	first := rep.counts()
	t.Logf("first adoption: %v", first)
	if !reflect.DeepEqual(dry, first) {
		t.Errorf("the dry run predicted %v, the run did %v", dry, first)
	}
	// The fixture's two install tasks succeeded long ago: the reference deletes such tasks
	// after 2 minutes, so they are skipped, not carried over.
	wantFirst := map[string]string{"package": "3/0/0/0/0", "installation": "5/0/0/0/0", "endpoint": "3/0/0/0/0", "kv": "3/0/0/0/0", "task": "0/0/0/0/2"}
	for k, v := range wantFirst {
		if first[k] != v {
			t.Errorf("first adoption, %s: imported/updated/unchanged/failed/skipped = %s, want %s", k, first[k], v)
		}
	}
	for _, p := range rep.Problems {
		if p.Level == "failed" {
			t.Errorf("first adoption: %s %s failed: %s", p.Kind, p.ID, p.Reason)
		}
	}
	if !strings.Contains(stderr, "adopt: installation 5/5") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}

	// Twice: nothing new.
	rep, code, stderr = runAdopt(t, dataDir, target, "--from-env", envFile)
	if code != 0 {
		t.Fatalf("second adoption: exit %d\n%s", code, stderr)
	}
	for k, v := range rep.counts() {
		var imp, upd, unch, fail, skip int
		fmt.Sscanf(v, "%d/%d/%d/%d/%d", &imp, &upd, &unch, &fail, &skip)
		fi, _, _, _, _ := 0, 0, 0, 0, 0
		fmt.Sscanf(first[k], "%d", &fi)
		if imp != 0 || upd != 0 || fail != 0 || unch != fi || v[strings.LastIndex(v, "/"):] != first[k][strings.LastIndex(first[k], "/"):] {
			t.Errorf("second adoption, %s: %s, want 0/0/%d/0/(as the first)", k, v, fi)
		}
	}
	if after := referenceState(t, ref, storage); after != before {
		t.Fatalf("adoption changed the reference's database or storage:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// plugd on the adopted state answers as the reference did.
	dify := newFakeDify(t)
	target["DIFY_INNER_API_URL"] = dify.URL()
	target["DIFY_INNER_API_KEY"] = dify.Key()
	d := startDaemon(t, daemonOptions{DataDir: dataDir, Env: target})
	compareAnswers(t, ctx, d, g, tenants)
	if v := dify.violationList(); len(v) > 0 {
		t.Errorf("plugd broke Dify's inner API contract: %v", v)
	}
	if p := dify.plainDecrypts(); len(p) > 0 {
		t.Errorf("plugd asked Dify to decrypt values Dify never encrypted: %v", p)
	}
	d.stop()

	// Meanwhile on the reference: a tenant installs adoptkv and writes a KV value, and an
	// install whose package is missing from storage appears. Rows as the reference writes them.
	mimicReferenceInstalls(t, ref, storage)
	rep, code, stderr = runAdopt(t, dataDir, target, "--from-env", envFile)
	if code != 1 {
		t.Errorf("adoption with a missing package: exit %d, want 1\n%s", code, stderr)
	}
	third := rep.counts()
	t.Logf("third adoption: %v", third)
	for k, v := range map[string]string{"package": "0/0/3/1/0", "installation": "1/0/5/1/0", "endpoint": "0/0/3/0/0", "kv": "1/0/3/0/0", "task": "1/0/0/0/2"} {
		if third[k] != v {
			t.Errorf("third adoption, %s: %s, want %s", k, third[k], v)
		}
	}
	var missing bool
	for _, p := range rep.Problems {
		if p.Kind == "package" && strings.Contains(p.ID, "plugd/ghost") && strings.Contains(p.Reason, "missing from the reference's storage") && p.Action != "" {
			missing = true
		}
	}
	if !missing {
		t.Errorf("the missing package is not reported with a reason and an action: %+v", rep.Problems)
	}
	d.start()
	st, _, body := d.rawRequest(t, "GET", "/plugin/"+newTenantC+"/management/install/tasks/019b0000-0000-7000-8000-00000000c005", map[string]string{"X-Api-Key": d.key}, nil)
	if st != 200 || !strings.Contains(string(body), `"status":"failed"`) || !strings.Contains(string(body), "failed to init environment") {
		t.Errorf("the failed install task adopted: %d %s", st, body)
	}
	st, _, body = d.rawRequest(t, "GET", "/plugin/"+newTenantC+"/management/list?page=1&page_size=100", map[string]string{"X-Api-Key": d.key}, nil)
	if st != 200 || !strings.Contains(string(body), `"plugin_id":"plugd/adoptkv"`) || !strings.Contains(string(body), `"total":1`) {
		t.Errorf("the tenant who installed between adoptions: %d %s", st, body)
	}
	sse := dispatchTool(t, d, newTenantC, "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "between"})
	if !strings.Contains(sse, `\"value\": \"written between adoptions\"`) && !strings.Contains(sse, `"value":"written between adoptions"`) {
		t.Errorf("KV written between adoptions, read through the plugin: %s", sse)
	}
}

const (
	newTenantC = "9c3e1f00-1111-4a2b-8c3d-4e5f6a7b8c03"
	// adoptkvUID is testdata/adopt/plugins/adoptkv packaged, as in the fixtures.
	adoptkvUID = "plugd/adoptkv:0.0.1@5b82459ce102fcf9109d9c6867a506b0955ba1e58defa786fd518157da78d729"
)

// mimicReferenceInstalls inserts what the reference writes when tenant C installs adoptkv
// (an installation row, the plugin's refers, a projection row) and stores a KV object, then
// records an installation whose package is missing.
func mimicReferenceInstalls(t *testing.T, ref refDB, storage string) {
	t.Helper()
	uid := adoptkvUID
	ghost := "plugd/ghost:0.0.1@" + strings.Repeat("ab", 32)
	for _, q := range []string{
		`INSERT INTO plugin_installations (id, created_at, updated_at, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, endpoints_setups, endpoints_active, source, meta)
		 VALUES ('019b0000-0000-7000-8000-00000000c001', now(), now(), '` + newTenantC + `', 'plugd/adoptkv', '` + uid + `', 'local', 0, 0, 'marketplace', '{"installed_between":true}')`,
		`UPDATE plugins SET refers = refers + 1 WHERE plugin_unique_identifier = '` + uid + `'`,
		`INSERT INTO plugin_declarations (id, created_at, updated_at, plugin_unique_identifier, plugin_id, declaration)
		 VALUES ('019b0000-0000-7000-8000-00000000c002', now(), now(), '` + ghost + `', 'plugd/ghost', '{}')`,
		`INSERT INTO plugins (id, created_at, updated_at, plugin_unique_identifier, plugin_id, refers, install_type, manifest_type, source)
		 VALUES ('019b0000-0000-7000-8000-00000000c003', now(), now(), '` + ghost + `', 'plugd/ghost', 1, 'local', 'plugin', 'package')`,
		`INSERT INTO plugin_installations (id, created_at, updated_at, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, endpoints_setups, endpoints_active, source, meta)
		 VALUES ('019b0000-0000-7000-8000-00000000c004', now(), now(), '` + newTenantC + `', 'plugd/ghost', '` + ghost + `', 'local', 0, 0, 'package', '{}')`,
		// A failed install task of tenant C: Dify lists it until the user dismisses it.
		`INSERT INTO install_tasks (id, created_at, updated_at, status, tenant_id, total_plugins, completed_plugins, plugins)
		 VALUES ('019b0000-0000-7000-8000-00000000c005', now(), now(), 'failed', '` + newTenantC + `', 1, 1,
		 '[{"plugin_unique_identifier":"` + ghost + `","labels":{"en_US":"Ghost"},"icon":"","icon_dark":"","plugin_id":"plugd/ghost","status":"failed","message":"failed to init environment","source":"package"}]')`,
	} {
		ref.exec(t, q)
	}
	p := filepath.Join(storage, "persistence", newTenantC, "plugd", "adoptkv", "between")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("written between adoptions"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dispatchTool invokes a tool as Dify does and returns the raw event stream.
func dispatchTool(t *testing.T, d *daemon, tenant, pluginID, provider, tool string, params map[string]any) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"tenant_id": tenant, "user_id": "7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f",
		"data": map[string]any{"provider": provider, "tool": tool, "tool_parameters": params, "credentials": map[string]any{}, "credential_type": "api-key"},
	})
	st, _, out := d.rawRequest(t, "POST", "/plugin/"+tenant+"/dispatch/tool/invoke",
		map[string]string{"X-Api-Key": d.key, "X-Plugin-ID": pluginID, "Content-Type": "application/json"}, body)
	if st != 200 {
		t.Errorf("tool %s/%s in %s: HTTP %d %s", pluginID, tool, tenant, st, out)
	}
	return string(out)
}

// compareAnswers asks plugd what golden.json recorded the reference answering.
func compareAnswers(t *testing.T, ctx context.Context, d *daemon, g golden, tenants []string) {
	t.Helper()
	hdr := map[string]string{"X-Api-Key": d.key}
	for _, tn := range tenants {
		for _, what := range []struct{ key, path string }{
			{"list_" + tn, "/plugin/" + tn + "/management/list?page=1&page_size=100"},
			{"endpoints_" + tn, "/plugin/" + tn + "/endpoint/list?page=1&page_size=100"},
		} {
			var want struct {
				Status int
				Body   any
			}
			g.get(t, what.key, &want)
			st, _, body := d.rawRequest(t, "GET", what.path, hdr, nil)
			var got any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Errorf("%s: not JSON: %s", what.path, body)
				continue
			}
			if st != want.Status {
				t.Errorf("%s: HTTP %d, the reference answered %d", what.path, st, want.Status)
			}
			if strings.HasPrefix(what.key, "list_") {
				dropVerification(got)
			}
			for _, diff := range jsonDiff("", normalise(want.Body), normalise(got)) {
				t.Errorf("%s: %s", what.key, diff)
			}
		}
	}
	for _, c := range []struct {
		key, tenant, pluginID, provider, tool string
		params                                map[string]any
	}{
		{"tool_kv_notes_" + tenants[0], tenants[0], "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "notes/first"}},
		{"tool_kv_greeting_" + tenants[1], tenants[1], "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "greeting"}},
		{"tool_echo_" + tenants[1], tenants[1], "test/echo", "echo", "echo", map[string]any{"text": "adopted?"}},
	} {
		var want string
		g.get(t, c.key, &want)
		got := dispatchTool(t, d, c.tenant, c.pluginID, c.provider, c.tool, c.params)
		if w, gg := sseEvents(t, want), sseEvents(t, got); !reflect.DeepEqual(w, gg) {
			t.Errorf("%s: plugd streamed\n%s\nthe reference streamed\n%s", c.key, got, want)
		}
	}
	for _, name := range []string{"hook_kv_a", "hook_kv_b", "hook_kv_a_missing", "hook_echo_a_disabled"} {
		var want struct {
			HookID string `json:"hook_id"`
			Path   string
			Status int
			Body   string
		}
		g.get(t, name, &want)
		st, _, body := d.rawRequest(t, "GET", "/e/"+want.HookID+want.Path, nil, nil)
		if st != want.Status {
			t.Errorf("%s: /e/%s%s: HTTP %d, the reference answered %d", name, want.HookID, want.Path, st, want.Status)
		}
		var w, gg any
		if json.Unmarshal([]byte(want.Body), &w) == nil && json.Unmarshal(body, &gg) == nil {
			for _, diff := range jsonDiff("", normalise(w), normalise(gg)) {
				t.Errorf("%s: %s", name, diff)
			}
		} else if string(body) != want.Body {
			t.Errorf("%s: plugd answered %q, the reference %q", name, body, want.Body)
		}
	}
}

// sseEvents decodes a `data:` stream into its events.
func sseEvents(t *testing.T, s string) []any {
	var out []any
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, "data: "); ok {
			var v any
			if err := json.Unmarshal([]byte(rest), &v); err != nil {
				t.Errorf("event %q is not JSON", rest)
			}
			out = append(out, normalise(v))
		}
	}
	return out
}

// dropVerification removes plugd's documented addition to management/list entries, the
// signer's category (docs/compatibility.md, "Signer category"); Dify ignores the field.
func dropVerification(body any) {
	m, _ := body.(map[string]any)
	data, _ := m["data"].(map[string]any)
	list, _ := data["list"].([]any)
	for _, e := range list {
		if em, ok := e.(map[string]any); ok {
			delete(em, "verification")
		}
	}
}

// What must differ between the reference's answers and plugd's after adoption, and is
// normalised before comparing:
//   - updated_at of installations and endpoints: adoption writes the rows, and the reference
//     itself moves updated_at on every counter change; created_at is kept and compared.
//   - timestamps are compared as instants (the reference prints Go's RFC 3339 with the
//     server's zone, plugd UTC), so they are parsed, not compared as strings.
var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

func normalise(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if k == "updated_at" {
				out[k] = "<updated_at>"
				continue
			}
			out[k] = normalise(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = normalise(x[i])
		}
		return out
	case string:
		if timestampRE.MatchString(x) {
			if ts, err := parseTime(x); err == nil {
				return "<time " + ts + ">"
			}
		}
	}
	return v
}

// jsonDiff lists the paths where two JSON values differ.
func jsonDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: reference %s, plugd %s", orRoot(path), short(want), short(got))}
		}
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range g {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			wv, wok := w[k]
			gv, gok := g[k]
			switch {
			case !gok:
				out = append(out, fmt.Sprintf("%s.%s: reference %s, plugd has no such field", path, k, short(wv)))
			case !wok:
				out = append(out, fmt.Sprintf("%s.%s: plugd %s, the reference has no such field", path, k, short(gv)))
			default:
				out = append(out, jsonDiff(path+"."+k, wv, gv)...)
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: reference %s, plugd %s", orRoot(path), short(want), short(got))}
		}
		var out []string
		for i := range w {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: reference %s, plugd %s", orRoot(path), short(want), short(got))}
	}
	return nil
}

func orRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func parseTime(s string) (string, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", err
	}
	return ts.UTC().Format(time.RFC3339Nano), nil
}

// TestAdoptReferenceFixtureMySQL: the reference ran on MySQL (MariaDB); plugd adopts into
// PostgreSQL.
func TestAdoptReferenceFixtureMySQL(t *testing.T) {
	dsn := os.Getenv("PLUGD_TEST_MYSQL_DSN")
	if dsn == "" {
		// scripts/mariadb.sh (the MySQL store's server) sets it once that work is in main.
		t.Skip("PLUGD_TEST_MYSQL_DSN is not set (scripts/mariadb.sh prints it)")
	}
	pg := needService(t, "PostgreSQL", "PLUGD_TEST_POSTGRES_DSN")[0]
	pythonTools(t)
	adoptFixture(t, "mysql", loadMySQL(t, dsn), postgresEnv(t, pg))
}

// loadMySQL loads the MySQL fixture's dump into a fresh database. dsn is
// mysql://user:password@host:port/, as scripts/mariadb.sh prints it.
func loadMySQL(t *testing.T, dsn string) refDB {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "mysql" {
		t.Fatalf("PLUGD_TEST_MYSQL_DSN %q is not a mysql:// URL", dsn)
	}
	pw, _ := u.User.Password()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pw, "tcp", u.Host
	cfg.MultiStatements = true
	open := func(db string) *sql.DB {
		c := cfg.Clone()
		c.DBName = db
		conn, err := mysql.NewConnector(c)
		if err != nil {
			t.Fatal(err)
		}
		return sql.OpenDB(conn)
	}
	name := "plugd_adopt_ref_" + randomHex(6)
	admin := open("")
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a := open("")
		a.Exec("DROP DATABASE IF EXISTS " + name)
		a.Close()
	})
	dump, err := os.ReadFile(filepath.Join(fixturesDir, "mysql", "dump.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db := open(name)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatalf("loading the fixture's dump: %v", err)
	}
	return refDB{
		env: fmt.Sprintf("DB_TYPE=mysql\nDB_HOST=%s\nDB_PORT=%s\nDB_USERNAME=%s\nDB_PASSWORD='%s'\nDB_DATABASE=%s\n",
			u.Hostname(), u.Port(), u.User.Username(), pw, name),
		exec: func(t *testing.T, q string) {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		},
		state: func(t *testing.T) string {
			rows, err := db.Query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name")
			if err != nil {
				t.Fatal(err)
			}
			var tables []string
			for rows.Next() {
				var tb string
				rows.Scan(&tb)
				tables = append(tables, tb)
			}
			rows.Close()
			var b strings.Builder
			for _, tb := range tables {
				var name string
				var sum sql.NullInt64
				if err := db.QueryRow("CHECKSUM TABLE `"+tb+"` EXTENDED").Scan(&name, &sum); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%s=%v\n", tb, sum)
			}
			return b.String()
		},
	}
}

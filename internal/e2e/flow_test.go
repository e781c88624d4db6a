package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	pluginID     = "plugd/e2etool"
	providerName = "e2etool"
	toolName     = "echo"
)

var uidPattern = regexp.MustCompile(`^plugd/e2etool:0\.0\.[12]@[a-f0-9]{64}$`)

// TestDifyFlow walks a plugin through its whole life the way Dify's console and API drive
// the daemon: upload, install, every management read, every kind of dispatch, endpoints,
// the second install, upgrade and uninstall.
func TestDifyFlow(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	icon, err := os.ReadFile(filepath.Join("testdata", "plugins", "e2etool", "_assets", "icon.svg"))
	if err != nil {
		t.Fatal(err)
	}

	// ---- upload ----
	dec, err := c.uploadPackage(ctx, pk.V1.Data, false)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	uid := dec.UniqueIdentifier
	if uid != pk.V1.UID || !uidPattern.MatchString(uid) {
		t.Fatalf("upload: unique_identifier %q, want %q", uid, pk.V1.UID)
	}
	checkDeclaration(t, "upload manifest", dec.Manifest, "0.0.1")
	if v := strings.TrimSpace(string(dec.Verification)); v != "null" {
		t.Errorf("upload: verification of an unsigned package is %q, want null", v)
	}
	iconID := str(dec.Manifest, "icon")

	// ---- install ----
	st, err := c.installFromIdentifiers(ctx, []string{uid}, "package", []map[string]any{{}})
	if err != nil {
		t.Fatalf("install/identifiers: %v", err)
	}
	if st.AllInstalled || st.TaskID == "" {
		t.Fatalf("install/identifiers: %+v, want a task", st)
	}
	task := waitTask(ctx, t, c, st.TaskID, installDeadline)
	if task.Status != "success" || task.TenantID != tenant || task.TotalPlugins != 1 || task.CompletedPlugins != 1 || len(task.Plugins) != 1 {
		t.Fatalf("install task: %+v", task)
	}
	tp := task.Plugins[0]
	if tp.PluginUniqueIdentifier != uid || tp.PluginID != pluginID || tp.Status != "success" || tp.Labels["en_US"] != "E2E tool" {
		t.Errorf("install task plugin: %+v", tp)
	}
	if tp.Source != nil && *tp.Source != "package" {
		t.Errorf("install task plugin source %q, want package", *tp.Source)
	}
	if tasks, err := c.fetchTasks(ctx, 1, 256); err != nil {
		t.Errorf("install/tasks: %v", err)
	} else {
		found := false
		for _, raw := range tasks {
			checkTaskShape(t, raw)
			found = found || str(raw, "id") == st.TaskID
		}
		if !found {
			t.Errorf("install/tasks does not list task %s: %d tasks", st.TaskID, len(tasks))
		}
	}

	// ---- management reads ----
	installationID := checkListed(t, c, uid, "0.0.1")
	if m, err := c.fetchManifest(ctx, uid); err != nil {
		t.Errorf("fetch/manifest: %v", err)
	} else {
		checkDeclaration(t, "fetch/manifest", m, "0.0.1")
	}
	if ok, err := c.fetchIdentifier(ctx, uid); err != nil || !ok {
		t.Errorf("fetch/identifier of the installed plugin: %v, %v", ok, err)
	}
	if ok, err := c.fetchIdentifier(ctx, "plugd/nosuch:0.0.1@"+strings.Repeat("ab", 32)); err != nil || ok {
		t.Errorf("fetch/identifier of an unknown plugin: %v, %v", ok, err)
	}
	if again, err := c.decodeFromIdentifier(ctx, uid); err != nil || again.UniqueIdentifier != uid {
		t.Errorf("decode/from_identifier: %+v, %v", again.UniqueIdentifier, err)
	}
	if batch, err := c.fetchInstallations(ctx, []string{pluginID, "plugd/nosuch"}); err != nil {
		t.Errorf("installation/fetch/batch: %v", err)
	} else if len(batch) != 1 {
		t.Errorf("installation/fetch/batch: %d installations, want 1", len(batch))
	} else {
		checkShape(t, "installation/fetch/batch item", batch[0], installationShape)
		if str(batch[0], "plugin_id") != pluginID || str(batch[0], "plugin_unique_identifier") != uid {
			t.Errorf("installation/fetch/batch: %.300s", batch[0])
		}
	}
	unknownUID := "plugd/nosuch:0.0.1@" + strings.Repeat("cd", 32)
	if missing, err := c.fetchMissing(ctx, []string{uid, unknownUID, pk.V2.UID}); err != nil {
		t.Errorf("installation/missing: %v", err)
	} else {
		byUID := map[string]*string{}
		for _, m := range missing {
			byUID[m.PluginUniqueIdentifier] = m.CurrentIdentifier
		}
		if _, ok := byUID[uid]; ok || len(missing) != 2 {
			t.Errorf("installation/missing: %+v, want the unknown plugin and v2, not the installed v1", missing)
		}
		if cur, ok := byUID[pk.V2.UID]; !ok || cur == nil || *cur != uid {
			t.Errorf("installation/missing: v2 is missing with current_identifier %v, want %s", cur, uid)
		}
		if cur, ok := byUID[unknownUID]; !ok || cur != nil {
			t.Errorf("installation/missing: the unknown plugin: present %v, current %v", ok, cur)
		}
	}
	checkToolProviders(t, c, uid)
	if ex, err := c.checkToolsExistence(ctx, [][2]string{{pluginID, providerName}, {"plugd/nosuch", "nosuch"}, {pluginID, "other"}}); err != nil {
		t.Errorf("tools/check_existence: %v", err)
	} else if !slices.Equal(ex, []bool{true, false, false}) {
		t.Errorf("tools/check_existence: %v, want [true false false]", ex)
	}
	if b, err := c.fetchAsset(ctx, iconID); err != nil || !bytes.Equal(b, icon) {
		t.Errorf("asset/%s: %v, %d bytes, want the icon's %d", iconID, err, len(b), len(icon))
	}
	if b, err := c.extractAsset(ctx, uid, "icon.svg"); err != nil || !bytes.Equal(b, icon) {
		t.Errorf("extract-asset icon.svg: %v, %.100q", err, b)
	}
	if r, err := c.fetchReadme(ctx, uid, "en_US"); err != nil || !strings.Contains(r.Content, "e2etool-readme-marker") || r.Language != "en_US" {
		t.Errorf("fetch/readme: %+v, %v", r, err)
	}

	// ---- dispatch ----
	invokeModes(t, c)
	if ok, err := c.validateToolCredentials(ctx, pluginID, providerName, map[string]any{"api_key": "good"}); err != nil || !ok {
		t.Errorf("tool/validate_credentials of a good key: %v, %v", ok, err)
	}
	_, err = c.validateToolCredentials(ctx, pluginID, providerName, map[string]any{"api_key": "bad"})
	if de := asDifyError(err); de == nil || de.Class != "PluginInvokeError" || de.InnerType != "ToolProviderCredentialValidationError" || de.InnerMessage != "the key is bad" {
		t.Errorf("tool/validate_credentials of a bad key: %v (inner %+v)", err, de)
	}
	invokeByUID(t, d, tenant, uid)
	status, _, body := d.rawRequest(t, http.MethodPost, "/plugin/"+tenant+"/dispatch/tool/invoke",
		map[string]string{"X-Api-Key": d.key, "X-Plugin-ID": pluginID, "Content-Type": "application/json"}, []byte(`{"data": {"provider":`))
	if env, err := parseEnvelope(body); err != nil || status != http.StatusBadRequest || env.Code != -400 {
		t.Errorf("dispatch with broken JSON: HTTP %d %.300s, want 400 and code -400", status, body)
	}

	// ---- endpoints ----
	endpointFlow(t, d, c, uid)

	// ---- observability ----
	lines := metricLines(t, d, "plugin_invocations_total")
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, pluginID)
	}
	if !found {
		t.Errorf("/metrics has no plugin_invocations_total line for %s: %q", pluginID, lines)
	}
	status, _, body = d.rawRequest(t, http.MethodGet, "/health/ready", nil, nil)
	if status != http.StatusOK || !strings.Contains(string(body), uid) {
		t.Errorf("/health/ready: HTTP %d %.500s, want 200 listing %s", status, body, uid)
	}

	// ---- second install: nothing to do ----
	if st, err := c.installFromIdentifiers(ctx, []string{uid}, "package", []map[string]any{{}}); err != nil || !st.AllInstalled || st.TaskID != "" {
		t.Errorf("second install: %+v, %v; want all_installed with no task", st, err)
	}

	// ---- upgrade ----
	dec2, err := c.uploadPackage(ctx, pk.V2.Data, false)
	if err != nil || dec2.UniqueIdentifier != pk.V2.UID {
		t.Fatalf("upload v2: %+v, %v", dec2.UniqueIdentifier, err)
	}
	up, err := c.upgradePlugin(ctx, uid, pk.V2.UID, "package", map[string]any{})
	if err != nil {
		t.Fatalf("install/upgrade: %v", err)
	}
	if !up.AllInstalled {
		if task := waitTask(ctx, t, c, up.TaskID, installDeadline); task.Status != "success" {
			t.Fatalf("upgrade task ended %s: %+v", task.Status, task.Plugins)
		}
	}
	installationID2 := checkListed(t, c, pk.V2.UID, "0.0.2")
	if installationID2 != installationID {
		t.Logf("the upgrade changed the installation id from %s to %s", installationID, installationID2)
	}
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after upgrade", "mode": "text"}); err != nil || texts(msgs) != "after upgrade" {
		t.Errorf("invoke after the upgrade: %v, %+v", err, msgs)
	}
	oldDir := "e2etool-0.0.1@" + strings.SplitN(uid, "@", 2)[1]
	if dirs := waitNoDirs(d.opts.DataDir, oldDir, 30*time.Second); len(dirs) > 0 {
		t.Errorf("after the upgrade the old version's folder is still there: %q", dirs)
	}

	// ---- uninstall ----
	if ok, err := c.uninstall(ctx, installationID2); err != nil || !ok {
		t.Fatalf("uninstall: %v, %v", ok, err)
	}
	if l, err := c.listPlugins(ctx); err != nil || l.Total != 0 || len(l.List) != 0 {
		t.Errorf("list after uninstall: %+v, %v", l, err)
	}
	_, err = c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x", "mode": "text"})
	if de := asDifyError(err); de == nil || de.ErrorType != "PluginNotFoundError" || de.Status != http.StatusNotFound {
		t.Errorf("invoke after uninstall: %v, want HTTP 404 with PluginNotFoundError", err)
	}
}

// checkDeclaration checks a PluginDeclaration of the test plugin.
func checkDeclaration(t *testing.T, what string, m json.RawMessage, version string) {
	t.Helper()
	checkShape(t, what, m, declarationShape)
	for path, want := range map[string]any{
		"author": "plugd", "name": "e2etool", "version": version, "label/en_US": "E2E tool",
		"resource/memory": float64(268435456), "meta/runner/language": "python",
		"tool/identity/name": providerName, "tool/tools/0/identity/name": toolName,
		"tool/tools/0/parameters/0/name": "text", "tool/tools/0/parameters/1/name": "mode",
		"tool/credentials_schema/0/name": "api_key", "tool/credentials_schema/0/type": "secret-input",
		"resource/permission/storage/enabled": true, "resource/permission/endpoint/enabled": true,
	} {
		if got := field(m, strings.Split(path, "/")...); got != want {
			t.Errorf("%s: %s is %v, want %v", what, path, got, want)
		}
	}
	var methods []string
	eps, _ := field(m, "endpoint", "endpoints").([]any)
	for i := range eps {
		p := fmt.Sprint(i)
		if path := field(m, "endpoint", "endpoints", p, "path"); path != "/echo" {
			t.Errorf("%s: endpoint %d path %v", what, i, path)
		}
		methods = append(methods, fmt.Sprint(field(m, "endpoint", "endpoints", p, "method")))
	}
	slices.Sort(methods)
	if !slices.Equal(methods, []string{"GET", "POST"}) {
		t.Errorf("%s: endpoint methods %v, want GET and POST", what, methods)
	}
	if icon := str(m, "icon"); icon == "" || icon == "icon.svg" {
		t.Logf("%s: icon %q (not remapped to an asset id)", what, icon)
	}
}

// checkListed checks management/list shows exactly uid at version and returns its
// installation id.
func checkListed(t *testing.T, c *difyClient, uid, version string) string {
	t.Helper()
	l, err := c.listPlugins(context.Background())
	if err != nil {
		t.Fatalf("management/list: %v", err)
	}
	if l.Total != 1 || len(l.List) != 1 {
		t.Fatalf("management/list: total %d, %d items; want 1", l.Total, len(l.List))
	}
	item := l.List[0]
	checkShape(t, "management/list item", item, pluginEntityShape)
	checkShape(t, "management/list item declaration", json.RawMessage(mustJSON(field(item, "declaration"))), declarationShape)
	for k, want := range map[string]string{
		"plugin_id": pluginID, "plugin_unique_identifier": uid, "version": version, "source": "package",
		"tenant_id": c.tenant, "name": "e2etool", "checksum": strings.SplitN(uid, "@", 2)[1], "runtime_type": "local",
	} {
		if got := str(item, k); got != want {
			t.Errorf("management/list item %s = %q, want %q", k, got, want)
		}
	}
	return str(item, "installation_id")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkToolProviders checks management/tools and management/tool.
func checkToolProviders(t *testing.T, c *difyClient, uid string) {
	t.Helper()
	ctx := context.Background()
	check := func(what string, p toolProvider) {
		checkShape(t, what, json.RawMessage(mustJSON(p)), toolProviderShape)
		checkShape(t, what+" declaration", p.Declaration, toolDeclarationShape)
		if p.Provider != providerName || p.PluginID != pluginID || p.PluginUniqueIdentifier != uid {
			t.Errorf("%s: provider %q plugin %q uid %q", what, p.Provider, p.PluginID, p.PluginUniqueIdentifier)
		}
		if n := str(p.Declaration, "tools", "0", "identity", "name"); n != toolName {
			t.Errorf("%s: first tool %q, want %s", what, n, toolName)
		}
	}
	list, err := c.fetchToolProviders(ctx)
	if err != nil {
		t.Errorf("management/tools: %v", err)
	} else if len(list) != 1 {
		t.Errorf("management/tools: %d providers, want 1", len(list))
	} else {
		check("management/tools[0]", list[0])
	}
	one, err := c.fetchToolProvider(ctx, pluginID, providerName)
	if err != nil {
		t.Errorf("management/tool: %v", err)
	} else {
		check("management/tool", one)
	}
}

// invokeModes dispatches tool/invoke in every mode but sleep.
func invokeModes(t *testing.T, c *difyClient) {
	t.Helper()
	ctx := context.Background()
	invoke := func(text, mode string) ([]toolMessage, error) {
		return c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": text, "mode": mode})
	}
	msgs, err := invoke("hello e2e", "text")
	if err != nil || len(msgs) != 1 || msgs[0].Type != "text" || texts(msgs) != "hello e2e" {
		t.Errorf("invoke text: %v, %+v", err, msgs)
	}
	msgs, err = invoke("json please", "json")
	if err != nil || len(msgs) != 1 || msgs[0].Type != "json" {
		t.Errorf("invoke json: %v, %+v", err, msgs)
	} else if obj := field(msgs[0].Message, "json_object"); fmt.Sprint(obj) != "map[length:11 text:json please]" {
		t.Errorf("invoke json: json_object %v", obj)
	}
	msgs, err = invoke("x", "error")
	de := asDifyError(err)
	if de == nil || de.Class != "PluginInvokeError" || de.ErrorType != "PluginInvokeError" || de.InnerType != "ValueError" || de.InnerMessage != "boom" {
		t.Errorf("invoke error: %v, %+v; want PluginInvokeError wrapping ValueError boom", err, msgs)
	}
	msgs, err = invoke("stored value ünïcode", "storage")
	if err != nil || texts(msgs) != "stored value ünïcode" {
		t.Errorf("invoke storage: %v, %+v", err, msgs)
	}
}

// invokeByUID dispatches through /v2/invoke, keyed by the unique identifier.
func invokeByUID(t *testing.T, d *daemon, tenant, uid string) {
	t.Helper()
	c := d.client(tenant)
	body := toolInvokeBody("e2e-user", providerName, toolName, map[string]any{}, map[string]any{"text": "by uid", "mode": "text"})
	body["tenant_id"] = tenant
	msgs, err := collect[toolMessage](context.Background(), c, "v2/invoke/dispatch/tool/invoke",
		map[string]string{"X-Plugin-Unique-Identifier": uid}, body)
	if err != nil || texts(msgs) != "by uid" {
		t.Errorf("/v2/invoke/dispatch/tool/invoke: %v, %+v", err, msgs)
	}
}

// endpointFlow sets up an endpoint, calls it, disables, enables and removes it.
func endpointFlow(t *testing.T, d *daemon, c *difyClient, uid string) {
	t.Helper()
	ctx := context.Background()
	if ok, err := c.setupEndpoint(ctx, "e2e-user", uid, "e2e echo", map[string]any{}); err != nil || !ok {
		t.Fatalf("endpoint/setup: %v, %v", ok, err)
	}
	list, err := c.listEndpoints(ctx, 1, 100)
	if err != nil || len(list) != 1 {
		t.Fatalf("endpoint/list: %d endpoints, %v", len(list), err)
	}
	checkShape(t, "endpoint/list item", list[0], endpointShape)
	var ep endpoint
	if err := json.Unmarshal(list[0], &ep); err != nil {
		t.Fatal(err)
	}
	if ep.HookID == "" || !ep.Enabled || ep.Name != "e2e echo" || ep.PluginID != pluginID || ep.TenantID != c.tenant {
		t.Errorf("endpoint/list: %+v", ep)
	}
	if pl, err := c.listPluginEndpoints(ctx, pluginID, 1, 100); err != nil || len(pl) != 1 || str(pl[0], "id") != ep.ID {
		t.Errorf("endpoint/list/plugin: %d endpoints, %v", len(pl), err)
	}
	if l, err := c.listPlugins(ctx); err == nil && len(l.List) == 1 {
		if s, a := field(l.List[0], "endpoints_setups"), field(l.List[0], "endpoints_active"); s != 1.0 || a != 1.0 {
			t.Errorf("management/list after endpoint setup: endpoints_setups %v, endpoints_active %v; want 1, 1", s, a)
		}
	}

	call := func(method, path string, body []byte) (int, http.Header, []byte) {
		return d.rawRequest(t, method, path, map[string]string{"Content-Type": "text/plain"}, body)
	}
	hook := "/e/" + ep.HookID
	payload := []byte("ping body \x00\xff through the endpoint")
	status, hdr, body := call(http.MethodPost, hook+"/echo", payload)
	if status != http.StatusOK || !bytes.Equal(body, payload) || hdr.Get("X-E2E") != "yes" {
		t.Errorf("POST %s/echo: HTTP %d, X-E2E %q, body %q; want 200, yes, the request body", hook, status, hdr.Get("X-E2E"), body)
	}
	status, hdr, body = call(http.MethodGet, hook+"/echo?q=1", nil)
	if status != http.StatusOK || string(body) != "q=1" || hdr.Get("X-E2E") != "yes" {
		t.Errorf("GET %s/echo?q=1: HTTP %d, X-E2E %q, body %q", hook, status, hdr.Get("X-E2E"), body)
	}
	// Paths that leave the hook must not reach the plugin or another route.
	for _, p := range []string{hook + "/../echo", hook + "/%2e%2e/%2e%2e/plugin/" + c.tenant + "/management/list", hook + "/nosuch"} {
		status, hdr, body = call(http.MethodPost, p, payload)
		if status == http.StatusOK && (hdr.Get("X-E2E") != "" || bytes.Contains(body, []byte(`"list"`))) {
			t.Errorf("POST %s: HTTP %d, X-E2E %q, body %.200q; want it refused", p, status, hdr.Get("X-E2E"), body)
		}
	}

	if ok, err := c.endpointAction(ctx, "disable", ep.ID); err != nil || !ok {
		t.Errorf("endpoint/disable: %v, %v", ok, err)
	}
	if status, _, body = call(http.MethodPost, hook+"/echo", payload); status != http.StatusNotFound {
		t.Errorf("POST to a disabled endpoint: HTTP %d %.200q, want 404", status, body)
	}
	if ok, err := c.endpointAction(ctx, "enable", ep.ID); err != nil || !ok {
		t.Errorf("endpoint/enable: %v, %v", ok, err)
	}
	if status, _, body = call(http.MethodPost, hook+"/echo", payload); status != http.StatusOK || !bytes.Equal(body, payload) {
		t.Errorf("POST to a re-enabled endpoint: HTTP %d %.200q", status, body)
	}
	if ok, err := c.deleteEndpoint(ctx, ep.ID); err != nil || !ok {
		t.Errorf("endpoint/remove: %v, %v", ok, err)
	}
	// Dify's delete is idempotent only through the reference's answer for a missing endpoint.
	if ok, err := c.deleteEndpoint(ctx, ep.ID); err != nil || !ok {
		t.Errorf("endpoint/remove of a removed endpoint, as Dify deletes it: %v, %v", ok, err)
	}
	if _, err := c.endpointAction(ctx, "remove", ep.ID); asDifyError(err) == nil || asDifyError(err).Class != "PluginDaemonInternalServerError" ||
		asDifyError(err).Message != "failed to remove endpoint: record not found" || asDifyError(err).Status != http.StatusOK {
		t.Errorf("endpoint/remove of a removed endpoint: %v, want the reference's record-not-found internal error", err)
	}
	if l, err := c.listEndpoints(ctx, 1, 100); err != nil || len(l) != 0 {
		t.Errorf("endpoint/list after remove: %d, %v", len(l), err)
	}
	if status, _, _ = call(http.MethodPost, hook+"/echo", payload); status != http.StatusNotFound {
		t.Errorf("POST to a removed endpoint: HTTP %d, want 404", status)
	}
}

// waitNoDirs waits until no folder under root starts with prefix, or the deadline (a guard,
// since freeing an old version may finish just after the task), and returns what is left.
func waitNoDirs(root, prefix string, deadline time.Duration) []string {
	end := time.Now().Add(deadline)
	for {
		dirs := findDirs(root, prefix)
		if len(dirs) == 0 || time.Now().After(end) {
			return dirs
		}
		time.Sleep(200 * time.Millisecond)
	}
}

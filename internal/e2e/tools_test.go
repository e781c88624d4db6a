package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestToolCatalogThroughServe drives the tool catalog of a real `plugd serve` with the plugd
// CLI (`plugd tools ...`, as a user scripts it) around a real SDK plugin: the installed
// plugin's tool shows up and is callable, another tenant sees none of it, pins and hides
// apply, and once the plugin is uninstalled `plugd tools check` reports its tool as deleted
// because the provider was uninstalled.
func TestToolCatalogThroughServe(t *testing.T) {
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	tenant, other := newTenant(), newTenant()
	installAndWait(ctx, t, d.client(tenant), pk.V1)
	const providerID = pluginID + "/" + providerName

	plugd := func(tenant string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return cliRunner(ctx, t, d, tenant)(args...)
	}
	type provider struct {
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"input_schema"`
			Pinned      bool            `json:"pinned"`
			Hidden      bool            `json:"hidden"`
		} `json:"tools"`
		PluginUniqueIdentifier string `json:"plugin_unique_identifier"`
	}
	list := func(tenant string, extra ...string) []provider {
		t.Helper()
		out, errOut, code := plugd(tenant, append([]string{"tools", "list", "--json"}, extra...)...)
		if code != 0 {
			t.Fatalf("plugd tools list: exit %d\n%s", code, errOut)
		}
		var ps []provider
		if err := json.Unmarshal([]byte(out), &ps); err != nil {
			t.Fatalf("plugd tools list --json: %v\n%s", err, out)
		}
		return ps
	}

	ps := list(tenant)
	if len(ps) != 1 || ps[0].ID != providerID || ps[0].Kind != "plugin" || ps[0].PluginUniqueIdentifier != pk.V1.UID ||
		len(ps[0].Tools) != 1 || ps[0].Tools[0].Name != toolName {
		t.Fatalf("tools list after the install: %+v", ps)
	}
	var schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(ps[0].Tools[0].InputSchema, &schema); err != nil || !slices.Equal(schema.Required, []string{"text"}) || len(schema.Properties) != 2 {
		t.Fatalf("echo's input schema: %s (%v)", ps[0].Tools[0].InputSchema, err)
	}

	// Called through the catalog, the plugin answers as through dispatch.
	out, errOut, code := plugd(tenant, "tools", "call", providerID, toolName, "--param", "text=hello catalog", "--json")
	if code != 0 || !strings.Contains(out, `"type":"text"`) || !strings.Contains(out, "hello catalog") {
		t.Fatalf("plugd tools call: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, _, code = plugd(tenant, "tools", "call", providerID, toolName, "--param", "text=x", "--param", "mode=json", "--json")
	if code != 0 || !strings.Contains(out, `"type":"json"`) || !strings.Contains(out, `"length":1`) {
		t.Fatalf("plugd tools call (json mode): exit %d\n%s", code, out)
	}
	// A plugin error is an error of the command, with the plugin's message.
	_, errOut, code = plugd(tenant, "tools", "call", providerID, toolName, "--param", "text=x", "--param", "mode=error")
	if code != 1 || !strings.Contains(errOut, "boom") {
		t.Fatalf("plugd tools call (error mode): exit %d\n%s", code, errOut)
	}
	// A missing required argument is refused before the plugin is called.
	_, errOut, code = plugd(tenant, "tools", "call", providerID, toolName)
	if code != 1 || !strings.Contains(errOut, "text") {
		t.Fatalf("plugd tools call without text: exit %d\n%s", code, errOut)
	}

	// Stored credentials: used by calls that bring none, shown masked.
	if _, errOut, code := plugd(tenant, "tools", "credentials", providerID, "api_key=plugin-key-e2e-789"); code != 0 {
		t.Fatalf("tools credentials: exit %d\n%s", code, errOut)
	}
	out, _, code = plugd(tenant, "tools", "show", providerID, "--json")
	if code != 0 || !strings.Contains(out, `"api_key": "pl**************89"`) || strings.Contains(out, "plugin-key-e2e-789") {
		t.Fatalf("tools show with credentials: exit %d\n%s", code, out)
	}
	out, errOut, code = plugd(tenant, "tools", "call", providerID, toolName, "--param", "text=with stored credentials", "--json")
	if code != 0 || !strings.Contains(out, "with stored credentials") {
		t.Fatalf("call with stored credentials: exit %d\n%s\n%s", code, out, errOut)
	}

	// Another tenant sees nothing of it.
	if ps := list(other); len(ps) != 0 {
		t.Fatalf("another tenant lists %+v", ps)
	}
	_, errOut, code = plugd(other, "tools", "show", providerID)
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("another tenant's tools show: exit %d\n%s", code, errOut)
	}
	_, errOut, code = plugd(other, "tools", "call", providerID, toolName, "--param", "text=x")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("another tenant's tools call: exit %d\n%s", code, errOut)
	}

	// Pin, hide, and the hidden tool still listed with --hidden.
	if _, errOut, code := plugd(tenant, "tools", "pin", providerID, toolName); code != 0 {
		t.Fatalf("pin: %d %s", code, errOut)
	}
	if _, errOut, code := plugd(tenant, "tools", "hide", providerID, toolName); code != 0 {
		t.Fatalf("hide: %d %s", code, errOut)
	}
	if ps := list(tenant); len(ps) != 1 || len(ps[0].Tools) != 0 {
		t.Fatalf("hidden tool listed: %+v", ps)
	}
	if ps := list(tenant, "--hidden"); len(ps) != 1 || len(ps[0].Tools) != 1 || !ps[0].Tools[0].Pinned || !ps[0].Tools[0].Hidden {
		t.Fatalf("list --hidden: %+v", ps)
	}
	if _, errOut, code := plugd(tenant, "tools", "pin", providerID, "nosuchtool"); code != 1 || !strings.Contains(errOut, "nosuchtool") {
		t.Fatalf("pin of a missing tool: exit %d %s", code, errOut)
	}

	ref := "plugin:" + providerID + ":" + toolName
	out, errOut, code = plugd(tenant, "tools", "check", ref, "--json")
	if code != 0 || !strings.Contains(out, `"deleted": []`) {
		t.Fatalf("check while installed: exit %d\n%s\n%s", code, out, errOut)
	}

	// Uninstall with the CLI; then check reports the tool deleted, with or without naming it.
	if _, errOut, code := plugd(tenant, "uninstall", pluginID); code != 0 {
		t.Fatalf("plugd uninstall: exit %d\n%s", code, errOut)
	}
	for _, args := range [][]string{{"tools", "check", ref, "--json"}, {"tools", "check", "--json"}} {
		out, errOut, code = plugd(tenant, args...)
		var ans struct {
			Checked int `json:"checked"`
			Deleted []struct {
				Type       string `json:"type"`
				ProviderID string `json:"provider_id"`
				ToolName   string `json:"tool_name"`
				Reason     string `json:"reason"`
			} `json:"deleted"`
		}
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			t.Fatalf("plugd %v: %v\n%s\n%s", args, err, out, errOut)
		}
		if code != 1 || ans.Checked != 1 || len(ans.Deleted) != 1 || ans.Deleted[0].ProviderID != providerID ||
			ans.Deleted[0].ToolName != toolName || ans.Deleted[0].Reason != "provider_uninstalled" {
			t.Fatalf("plugd %v after the uninstall: exit %d %+v\n%s", args, code, ans, errOut)
		}
	}
	out, _, code = plugd(tenant, "tools", "check", ref)
	if code != 1 || !strings.Contains(out, "provider_uninstalled") {
		t.Fatalf("plugd tools check (text): exit %d\n%s", code, out)
	}
	if ps := list(tenant, "--hidden"); len(ps) != 0 {
		t.Fatalf("tools listed after the uninstall: %+v", ps)
	}
	out, _, code = plugd(tenant, "tools", "changes", "--json")
	if code != 0 || !strings.Contains(out, `"tool_removed"`) || !strings.Contains(out, `"provider_uninstalled"`) {
		t.Fatalf("plugd tools changes: exit %d\n%s", code, out)
	}

	// The REST API describes itself.
	status, _, body := d.rawRequest(t, http.MethodGet, "/tools/openapi.json", nil, nil)
	if status != http.StatusOK || !json.Valid(body) || !strings.Contains(string(body), `"/tools/{tenant_id}/check"`) {
		t.Fatalf("GET /tools/openapi.json: %d %.200s", status, body)
	}
	status, _, _ = d.rawRequest(t, http.MethodGet, "/tools/"+tenant+"/providers", nil, nil)
	if status != http.StatusUnauthorized {
		t.Fatalf("tools list without a key: %d", status)
	}
}

// cliRunner runs plugd client commands against d as tenant: stdout, stderr and exit code.
func cliRunner(ctx context.Context, t *testing.T, d *daemon, tenant string) func(args ...string) (string, string, int) {
	return func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, binary(t), append(args, "--url", d.base, "--key", d.key, "--tenant", tenant)...)
		cmd.Dir = d.home
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		code := 0
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("plugd %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}
}

// TestToolCatalogRemoteDebug: a plugin attached for remote debugging is in its tenant's catalog
// (marked remote) and callable through it while connected; when it disconnects it leaves the
// catalog and check reports its tool as uninstalled.
func TestToolCatalogRemoteDebug(t *testing.T) {
	var python string
	for _, p := range sdkInterpreters(t) {
		python = p
		break
	}
	debugPort := freePort(t)
	d := startDaemon(t, daemonOptions{Env: map[string]string{
		"PLUGIN_REMOTE_INSTALLING_ENABLED": "true",
		"PLUGIN_REMOTE_INSTALLING_HOST":    "127.0.0.1",
		"PLUGIN_REMOTE_INSTALLING_PORT":    strconv.Itoa(debugPort),
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tenant := newTenant()
	c := d.client(tenant)
	p := runRemote(t, python, filepath.Join("testdata", "plugins", "e2etool"), "127.0.0.1:"+strconv.Itoa(debugPort), debugKey(ctx, t, c))
	uid := waitRemote(ctx, t, c, pluginID, true, p)
	key := map[string]string{"X-Api-Key": d.key, "Content-Type": "application/json"}
	const providerID = pluginID + "/" + providerName

	status, _, body := d.rawRequest(t, http.MethodGet, "/tools/"+tenant+"/providers", key, nil)
	var list struct {
		Data []struct {
			ID     string `json:"id"`
			Remote bool   `json:"remote"`
			UID    string `json:"plugin_unique_identifier"`
			Tools  []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || status != 200 || len(list.Data) != 1 || list.Data[0].ID != providerID ||
		!list.Data[0].Remote || list.Data[0].UID != uid || len(list.Data[0].Tools) != 1 {
		t.Fatalf("catalog with a remote plugin: %d %s", status, body)
	}
	call, _ := json.Marshal(map[string]any{"provider_id": providerID, "tool": toolName, "arguments": map[string]any{"text": "remote hello"}})
	status, _, body = d.rawRequest(t, http.MethodPost, "/tools/"+tenant+"/call", key, call)
	if status != 200 || !strings.Contains(string(body), `"text":"remote hello"`) {
		t.Fatalf("call of the remote plugin's tool: %d %s", status, body)
	}

	p.kill()
	waitRemote(ctx, t, c, pluginID, false, nil)
	status, _, body = d.rawRequest(t, http.MethodGet, "/tools/"+tenant+"/providers", key, nil)
	if status != 200 || strings.Contains(string(body), providerID) {
		t.Fatalf("catalog after the disconnect: %d %s", status, body)
	}
	check, _ := json.Marshal(map[string]any{"tools": []map[string]string{{"type": "plugin", "provider_id": providerID, "tool_name": toolName}}})
	status, _, body = d.rawRequest(t, http.MethodPost, "/tools/"+tenant+"/check", key, check)
	if status != 200 || !strings.Contains(string(body), `"provider_uninstalled"`) {
		t.Fatalf("check after the disconnect: %d %s", status, body)
	}
}

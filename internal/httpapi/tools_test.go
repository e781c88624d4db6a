package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// upperCaller answers a workflow tool with the upper-cased "text" argument, twice, or fails
// after the first message when "fail" is set.
type upperCaller struct{}

type twoMessages struct {
	n    int
	text string
	fail bool
}

func (s *twoMessages) Next() (catalog.Message, error) {
	s.n++
	switch {
	case s.n == 2 && s.fail:
		return catalog.Message{}, fmt.Errorf("upstream broke: %w", catalog.ErrCallFailed)
	case s.n <= 2:
		return catalog.TextMessage(strings.ToUpper(s.text)), nil
	}
	return catalog.Message{}, io.EOF
}
func (s *twoMessages) Close() {}

func (upperCaller) Call(_ context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	if inv.Credentials["api_key"] != "app-key-123456" {
		return nil, errors.New("the caller did not get the credentials in clear")
	}
	text, _ := inv.Arguments["text"].(string)
	return &twoMessages{text: text, fail: inv.Arguments["fail"] == true}, nil
}

func toolsServer(t *testing.T) *httptest.Server {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindWorkflow: upperCaller{}}})
	mgr, err := oauth.New(oauth.Config{Store: db, Secrets: catalogtest.NewSecrets(), Providers: cat, CallbackURL: "http://127.0.0.1:1/oauth/callback"})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{ServerKey: testKey, Tools: cat, OAuth: mgr, MCP: mcpserver.New(t.Context(), mcpserver.Options{Catalog: cat, Store: db}), ToolImporters: ToolImporters{
		// The real importer (internal/workflow) reads the app's parameters; this one makes the
		// same provider from the request alone, which is all the routes need.
		Workflow: func(_ context.Context, req WorkflowImport) (catalog.NewProvider, error) {
			return catalog.NewProvider{Kind: catalog.KindWorkflow, Name: req.Name, Config: json.RawMessage(`{"base_url":"` + req.BaseURL + `"}`),
				Credentials: map[string]string{"api_key": req.APIKey},
				Tools:       []catalog.Tool{{Name: req.Name, InputSchema: json.RawMessage(`{"type":"object","required":["text"]}`)}}}, nil
		},
	}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

func toolsDo(t *testing.T, srv *httptest.Server, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("X-Api-Key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func envelopeData(t *testing.T, b []byte, v any) {
	t.Helper()
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Code != 0 {
		t.Fatalf("not a success envelope: %s", b)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		t.Fatalf("data: %v: %s", err, env.Data)
	}
}

func TestToolRoutes(t *testing.T) {
	srv := toolsServer(t)
	code, b := toolsDo(t, srv, "POST", "/tools/t1/import/workflow", map[string]any{"name": "shout", "base_url": "http://dify/v1", "api_key": "app-key-123456"})
	if code != 200 {
		t.Fatalf("import: %d %s", code, b)
	}
	var p catalog.Provider
	envelopeData(t, b, &p)
	if p.Kind != catalog.KindWorkflow || p.Credentials["api_key"] != "ap**********56" || strings.Contains(string(b), "app-key-123456") {
		t.Fatalf("imported: %s", b)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		has          string
	}{
		{"POST", "/tools/t1/import/workflow", map[string]any{"name": "shout", "base_url": "http://dify/v1", "api_key": "k"}, 409, "already has"},
		{"POST", "/tools/t1/import/workflow", map[string]any{"name": "x"}, 400, "base_url"},
		{"POST", "/tools/t1/import/workflow", "not an object", 400, ""},
		{"POST", "/tools/t1/import/openapi", map[string]any{"name": "x", "schema": "{}"}, 501, "OpenAPI"},
		{"GET", "/tools/t1/providers/nope", nil, 404, "nope"},
		{"GET", "/tools/t2/providers/" + p.ID, nil, 404, ""},
		{"DELETE", "/tools/t2/providers/" + p.ID, nil, 404, ""},
		{"DELETE", "/tools/t1/providers/a/b/c", nil, 400, "uninstall"},
		{"GET", "/tools/t1/providers?kind=robot", nil, 400, "robot"},
		{"GET", "/tools/t1/changes?since=abc", nil, 400, "since"},
		{"POST", "/tools/t1/call", map[string]any{"provider_id": p.ID, "tool": "shout"}, 400, "text"},
		{"POST", "/tools/t2/call", map[string]any{"provider_id": p.ID, "tool": "shout", "arguments": map[string]any{"text": "x"}}, 404, ""},
		{"POST", "/tools/t1/preferences", map[string]any{"target": "tool", "name": p.ID + "/nope", "pinned": true}, 404, "nope"},
		{"POST", "/tools/t1/credentials", map[string]any{"provider_id": p.ID, "credentials": map[string]string{"k": "v"}}, 400, "only plugin providers"},
		{"POST", "/tools/t1/credentials", map[string]any{"provider_id": "a/b/c", "credentials": map[string]string{"k": "v"}}, 404, ""},
	} {
		code, b := toolsDo(t, srv, tc.method, tc.path, tc.body)
		if code != tc.status || !strings.Contains(string(b), tc.has) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, code, b, tc.status, tc.has)
		}
	}

	// Lists, per tenant.
	var list []catalog.Provider
	_, b = toolsDo(t, srv, "GET", "/tools/t1/providers", nil)
	envelopeData(t, b, &list)
	if len(list) != 1 || list[0].ID != p.ID {
		t.Fatalf("list: %s", b)
	}
	_, b = toolsDo(t, srv, "GET", "/tools/t2/providers", nil)
	envelopeData(t, b, &list)
	if len(list) != 0 {
		t.Fatalf("another tenant's list: %s", b)
	}

	// A call streams one event per message; a failure mid-stream is a last error event.
	code, b = toolsDo(t, srv, "POST", "/tools/t1/call", map[string]any{"provider_id": p.ID, "tool": "shout", "arguments": map[string]any{"text": "hi"}})
	want := "data: {\"code\":0,\"message\":\"success\",\"data\":{\"type\":\"text\",\"message\":{\"text\":\"HI\"}}}\n\n"
	if code != 200 || string(b) != want+want {
		t.Fatalf("call: %d %q", code, b)
	}
	code, b = toolsDo(t, srv, "POST", "/tools/t1/call", map[string]any{"provider_id": p.ID, "tool": "shout", "arguments": map[string]any{"text": "hi", "fail": true}})
	if code != 200 || !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), `"code":-502`) || !strings.Contains(string(b), "upstream broke") {
		t.Fatalf("failing call: %d %q", code, b)
	}

	// Preferences, check, changes.
	code, b = toolsDo(t, srv, "POST", "/tools/t1/preferences", map[string]any{"target": "provider", "name": p.ID, "hidden": true})
	if code != 200 || !strings.Contains(string(b), `"hidden":true`) {
		t.Fatalf("hide: %d %s", code, b)
	}
	_, b = toolsDo(t, srv, "GET", "/tools/t1/providers", nil)
	envelopeData(t, b, &list)
	if len(list) != 0 {
		t.Fatalf("hidden provider listed: %s", b)
	}
	_, b = toolsDo(t, srv, "GET", "/tools/t1/providers?hidden=true", nil)
	envelopeData(t, b, &list)
	if len(list) != 1 || !list[0].Hidden {
		t.Fatalf("hidden=true: %s", b)
	}
	if code, b := toolsDo(t, srv, "DELETE", "/tools/t1/providers/"+p.ID, nil); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}
	var ans CheckAnswer
	_, b = toolsDo(t, srv, "POST", "/tools/t1/check", CheckBody{Tools: []catalog.ToolRef{{Type: "workflow", ProviderID: p.ID, ToolName: "shout"}}})
	envelopeData(t, b, &ans)
	if len(ans.Deleted) != 1 || ans.Deleted[0].Reason != catalog.ReasonProviderRemoved {
		t.Fatalf("check: %s", b)
	}
	var cs catalog.ChangeSet
	_, b = toolsDo(t, srv, "GET", "/tools/t1/changes?since=1", nil)
	envelopeData(t, b, &cs)
	if cs.Since != 1 || cs.Version != 4 || len(cs.Changes) != 3 || cs.Changes[2].Kind != catalog.ChangeProviderRemoved {
		t.Fatalf("changes: %s", b)
	}
}

// TestToolsOpenAPIDescribesRoutes: every path of the served description answers (not the
// unknown-route 404), needs the key where the description says so, and every route is
// described.
func TestToolsOpenAPIDescribesRoutes(t *testing.T) {
	srv := toolsServer(t)
	resp, err := http.Get(srv.URL + "/tools/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("description: %v", err)
	}
	resp.Body.Close()
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			m := strings.ToUpper(method)
			described[m+" "+path] = true
			concrete := strings.NewReplacer("{tenant_id}", "t9", "{id}", "x", "{name}", "s", "{provider}", "p").Replace(path)
			req, _ := http.NewRequest(m, srv.URL+concrete, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"not_found"`) {
				t.Errorf("%s %s is described but not served", m, path)
			}
			if path != "/tools/openapi.json" && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without a key: %d", m, path, resp.StatusCode)
			}
		}
	}
	for _, r := range []string{"GET /tools/{tenant_id}/providers", "GET /tools/{tenant_id}/providers/{id}", "DELETE /tools/{tenant_id}/providers/{id}",
		"POST /tools/{tenant_id}/import/openapi", "POST /tools/{tenant_id}/import/workflow", "POST /tools/{tenant_id}/call",
		"POST /tools/{tenant_id}/install", "POST /tools/{tenant_id}/import/mcp", "POST /tools/{tenant_id}/refresh/{id}",
		"POST /tools/{tenant_id}/preferences", "POST /tools/{tenant_id}/credentials", "POST /tools/{tenant_id}/check", "GET /tools/{tenant_id}/changes", "GET /tools/openapi.json",
		"GET /tools/{tenant_id}/mcp/tokens", "POST /tools/{tenant_id}/mcp/tokens", "DELETE /tools/{tenant_id}/mcp/tokens/{id}",
		"GET /tools/{tenant_id}/mcp/sets", "PUT /tools/{tenant_id}/mcp/sets/{name}", "DELETE /tools/{tenant_id}/mcp/sets/{name}",
		"GET /tools/oauth/system-clients", "PUT /tools/oauth/system-clients/{provider}", "DELETE /tools/oauth/system-clients/{provider}",
		"GET /tools/{tenant_id}/oauth/clients", "PUT /tools/{tenant_id}/oauth/clients/{provider}", "DELETE /tools/{tenant_id}/oauth/clients/{provider}",
		"POST /tools/{tenant_id}/oauth/connect", "GET /tools/{tenant_id}/oauth/flows/{id}", "GET /tools/{tenant_id}/oauth/connections",
		"GET /tools/{tenant_id}/oauth/connections/{provider}", "DELETE /tools/{tenant_id}/oauth/connections/{provider}"} {
		if !described[r] {
			t.Errorf("route %s is not described", r)
		}
	}
	if len(described) != 31 {
		t.Errorf("%d operations described, 31 routes served", len(described))
	}
}

// TestOAuthRoutes: client settings at both levels (secrets masked), connect errors as
// statuses, and the browser's callback refusing a state it never issued.
func TestOAuthRoutes(t *testing.T) {
	srv := toolsServer(t)
	code, b := toolsDo(t, srv, "PUT", "/tools/oauth/system-clients/langgenius/github/github", map[string]any{"client_id": "sys", "client_secret": "system-secret", "enabled": true})
	if code != 200 || !strings.Contains(string(b), `"client_secret":"sy*********et"`) || !strings.Contains(string(b), `"level":"system"`) {
		t.Fatalf("set system client: %d %s", code, b)
	}
	code, b = toolsDo(t, srv, "PUT", "/tools/t1/oauth/clients/langgenius/github/github", map[string]any{"client_id": "own", "enabled": true, "token_url": "not a url"})
	if code != 400 || !strings.Contains(string(b), "token_url") {
		t.Fatalf("a bad token URL: %d %s", code, b)
	}
	code, b = toolsDo(t, srv, "PUT", "/tools/t1/oauth/clients/langgenius/github/github", map[string]any{"client_id": "own", "enabled": true})
	if code != 200 {
		t.Fatalf("set tenant client: %d %s", code, b)
	}
	var list []oauth.ClientSettings
	_, b = toolsDo(t, srv, "GET", "/tools/t1/oauth/clients", nil)
	envelopeData(t, b, &list)
	if len(list) != 2 || list[0].Level != "tenant" || list[1].ClientID != "sys" || list[1].ClientSecret == "system-secret" {
		t.Fatalf("clients: %s", b)
	}
	if code, b = toolsDo(t, srv, "DELETE", "/tools/t1/oauth/clients/langgenius/github/github", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, b = toolsDo(t, srv, "DELETE", "/tools/t1/oauth/clients/langgenius/github/github", nil); code != 404 {
		t.Fatalf("delete again: %d %s", code, b)
	}
	if code, b = toolsDo(t, srv, "POST", "/tools/t1/oauth/connect", map[string]any{"provider_id": "a/b/c"}); code != 404 {
		t.Fatalf("connecting a provider that does not exist: %d %s", code, b)
	}
	if code, b = toolsDo(t, srv, "GET", "/tools/t1/oauth/connections", nil); code != 200 || !strings.Contains(string(b), `"data":[]`) {
		t.Fatalf("connections: %d %s", code, b)
	}
	resp, err := http.Get(srv.URL + "/oauth/callback?state=forged&code=c")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(page), "belongs to no authorization") {
		t.Fatalf("a forged callback: %d %s", resp.StatusCode, page)
	}
}

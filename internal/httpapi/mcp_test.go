package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// TestMCPManagementRoutes: tokens and tool sets through the REST routes with the server key;
// the MCP endpoints themselves are mounted and refuse requests without a bearer token.
func TestMCPManagementRoutes(t *testing.T) {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(catalog.Config{Store: db})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := httptest.NewServer(New(Config{ServerKey: testKey, Tools: cat, MCP: mcpserver.New(ctx, mcpserver.Options{Catalog: cat, Store: db})}))
	t.Cleanup(srv.Close)

	for _, r := range []struct{ method, path string }{
		{"GET", "/tools/t1/mcp/tokens"}, {"POST", "/tools/t1/mcp/tokens"}, {"DELETE", "/tools/t1/mcp/tokens/x"},
		{"GET", "/tools/t1/mcp/sets"}, {"PUT", "/tools/t1/mcp/sets/s"}, {"DELETE", "/tools/t1/mcp/sets/s"},
	} {
		req, _ := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without the key: %d", r.method, r.path, resp.StatusCode)
		}
	}

	status, body := toolsDo(t, srv, "POST", "/tools/t1/mcp/tokens", map[string]any{"name": "n", "ttl_seconds": 3600})
	var created struct {
		Data struct {
			ID, Token string
			ExpiresAt string `json:"expires_at"`
		}
	}
	if json.Unmarshal(body, &created); status != http.StatusCreated || !strings.HasPrefix(created.Data.Token, mcpserver.TokenPrefix) || created.Data.ExpiresAt == "" {
		t.Fatalf("create token: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "GET", "/tools/t1/mcp/tokens", nil); status != 200 || strings.Contains(string(body), created.Data.Token) || !strings.Contains(string(body), created.Data.ID) {
		t.Errorf("list tokens: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "POST", "/tools/t1/mcp/tokens", map[string]any{"ttl_seconds": -1}); status != 400 {
		t.Errorf("negative ttl: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "POST", "/tools/t1/mcp/tokens", map[string]any{"set": "nope"}); status != 404 {
		t.Errorf("token for a missing set: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "PUT", "/tools/t1/mcp/sets/s1", map[string]any{}); status != 400 || !strings.Contains(string(body), "selects nothing") {
		t.Errorf("empty set: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "PUT", "/tools/t1/mcp/sets/s1", map[string]any{"tags": []string{"search"}}); status != 200 || !strings.Contains(string(body), `"search"`) {
		t.Errorf("put set: %d %s", status, body)
	}
	if status, body := toolsDo(t, srv, "GET", "/tools/t1/mcp/sets", nil); status != 200 || !strings.Contains(string(body), `"s1"`) {
		t.Errorf("list sets: %d %s", status, body)
	}
	if status, _ := toolsDo(t, srv, "DELETE", "/tools/t1/mcp/sets/s1", nil); status != 200 {
		t.Errorf("delete set: %d", status)
	}
	if status, _ := toolsDo(t, srv, "DELETE", "/tools/t1/mcp/tokens/"+created.Data.ID, nil); status != 200 {
		t.Errorf("revoke: %d", status)
	}
	if status, _ := toolsDo(t, srv, "DELETE", "/tools/t1/mcp/tokens/"+created.Data.ID, nil); status != 404 {
		t.Errorf("revoke twice: %d", status)
	}

	resp, err := http.Post(srv.URL+"/mcp/t1", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "oauth-protected-resource/mcp/t1") {
		t.Errorf("MCP endpoint without a token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

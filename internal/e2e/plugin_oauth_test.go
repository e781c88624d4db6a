package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/oauth/oauthtest"
)

// TestPluginOAuthThroughServe connects a plugin tool provider with OAuth through `plugd serve`
// as an operator and a user would: the plugin (internal/pluginoauth's test plugin, on the
// real SDK) installed from its package, a tenant-level OAuth client set over REST, connect,
// the browser through the daemon's start route, the real authorization server's sign-in and
// the daemon's callback, then a catalog call of the plugin's tool that uses the token.
func TestPluginOAuthThroughServe(t *testing.T) {
	issuer := oauthtest.Issuer(t)
	pkg, err := packageDir(binary(t), "../pluginoauth/testdata/oauthplug", filepath.Join(t.TempDir(), "oauthplug.difypkg"))
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemonOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	tenant := newTenant()
	installAndWait(ctx, t, d.client(tenant), pkg)
	const providerID = "plugd-test/oauthplug/oauthplug"
	callback := d.base + "/oauth/callback"

	rs := oauthtest.Register(t, issuer)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := oauthtest.Introspect(r.Context(), issuer, rs, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil || !in.Active {
			http.Error(w, "inactive token", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"sub": in.Sub})
	}))
	defer api.Close()
	client := oauthtest.Register(t, issuer, callback)

	rest := func(method, path string, body any) []byte {
		t.Helper()
		b, _ := json.Marshal(body)
		status, _, out := d.rawRequest(t, method, path, map[string]string{"X-Api-Key": d.key, "Content-Type": "application/json"}, b)
		if status != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d: %s", method, path, status, out)
		}
		return out
	}
	rest(http.MethodPut, "/tools/"+tenant+"/oauth/clients/"+providerID, map[string]any{
		"client_id": client.ID, "client_secret": client.Secret, "scopes": []string{"api:read"}, "enabled": true,
		"params": map[string]string{"pkce": "true", "token_endpoint_auth_method": "client_secret_basic",
			"authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token", "userinfo_endpoint": api.URL + "/me"},
	})

	// Before connecting, the tool runs without credentials (and the plugin fails for want of them).
	plugd := cliRunner(ctx, t, d, tenant)
	if _, errOut, code := plugd("tools", "call", providerID, "whoami"); code != 1 || !strings.Contains(errOut, "KeyError") {
		t.Fatalf("call before connecting: exit %d\n%s", code, errOut)
	}

	var started struct {
		Data struct {
			AuthorizationURL string `json:"authorization_url"`
		} `json:"data"`
	}
	json.Unmarshal(rest(http.MethodPost, "/tools/"+tenant+"/oauth/connect", map[string]string{"provider_id": providerID}), &started)
	if !strings.HasPrefix(started.Data.AuthorizationURL, d.base+"/oauth/start?") {
		t.Fatalf("connect: %+v", started)
	}
	b := oauthtest.NewBrowser(callback, "alice")
	back, err := b.Authorize(ctx, started.Data.AuthorizationURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.HTTP().Get(back)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "is connected") {
		t.Fatalf("callback: HTTP %d: %s", resp.StatusCode, page)
	}

	out, errOut, code := plugd("tools", "call", providerID, "whoami", "--json")
	if code != 0 || !strings.Contains(out, `"sub":"alice"`) || !strings.Contains(out, `"credential_type":"oauth2"`) {
		t.Fatalf("call after connecting: exit %d\n%s\n%s", code, out, errOut)
	}
}

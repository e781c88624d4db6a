package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/oauth/oauthtest"
)

// TestOAuthThroughServe: OAuth for an OpenAPI tool through `plugd serve` and the CLI alone,
// against the real authorization server: `tools oauth-client set`, `tools connect` printing
// the URL and waiting until the browser (driven here) reaches the daemon's /oauth/callback,
// calls with the token, `tools connections`, `tools disconnect` (revoked at the server), a
// call failing with how to reconnect, and `tools connect` failing on timeout.
func TestOAuthThroughServe(t *testing.T) {
	issuer := oauthtest.Issuer(t)
	d := startDaemon(t, daemonOptions{Env: map[string]string{"PLUGD_EGRESS_ALLOW": "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tenant := newTenant()
	plugd := cliRunner(ctx, t, d, tenant)

	rs := oauthtest.Register(t, issuer)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		in, err := oauthtest.Introspect(r.Context(), issuer, rs, tok)
		if err != nil || !in.Active {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"sub": in.Sub})
	}))
	defer func() { api.CloseClientConnections(); api.Close() }()
	spec := filepath.Join(t.TempDir(), "me.json")
	os.WriteFile(spec, fmt.Appendf(nil, `{"openapi": "3.0.3", "info": {"title": "Me", "version": "1"}, "servers": [{"url": %q}],
	  "components": {"securitySchemes": {"as": {"type": "oauth2", "flows": {"authorizationCode": {
	    "authorizationUrl": %q, "tokenUrl": %q, "scopes": {"api:read": "read"}}}}}},
	  "paths": {"/me": {"get": {"operationId": "whoami", "security": [{"as": ["api:read"]}], "responses": {"200": {"description": "ok"}}}}}}`,
		api.URL, issuer+"/auth", issuer+"/token"), 0o600)
	out, errOut, code := plugd("tools", "import-openapi", "me", "--file", spec, "--auth-type", "oauth2", "--json")
	if code != 0 {
		t.Fatalf("import-openapi: exit %d\n%s", code, errOut)
	}
	var p struct{ ID string }
	json.Unmarshal([]byte(out), &p)

	callback := d.base + "/oauth/callback"
	client := oauthtest.Register(t, issuer, callback)
	if _, errOut, code := plugd("tools", "oauth-client", "set", p.ID, "--client-id", client.ID, "--client-secret", client.Secret,
		"--revocation-url", issuer+"/token/revocation"); code != 0 {
		t.Fatalf("oauth-client set: exit %d\n%s", code, errOut)
	}
	out, _, _ = plugd("tools", "oauth-client", "list", "--json")
	if !strings.Contains(out, client.ID) || strings.Contains(out, client.Secret) {
		t.Fatalf("oauth-client list shows no client or its secret: %s", out)
	}

	// connect prints the URL on stderr (--json) and waits; the browser goes through it.
	cmd := exec.CommandContext(ctx, binary(t), "tools", "connect", "me", "--json", "--url", d.base, "--key", d.key, "--tenant", tenant)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var authURL string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if u := strings.TrimSpace(sc.Text()); strings.HasPrefix(u, issuer+"/auth?") {
			authURL = u
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if authURL == "" {
		cmd.Wait()
		t.Fatalf("tools connect printed no authorization URL")
	}
	b := oauthtest.NewBrowser(callback, "dave")
	back, err := b.Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.HTTP().Get(back)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "is connected") {
		t.Fatalf("the daemon's callback: %d %s", resp.StatusCode, page)
	}
	if err := cmd.Wait(); err != nil || !strings.Contains(stdout.String(), `"status": "done"`) {
		t.Fatalf("tools connect: %v\n%s", err, stdout.String())
	}

	out, errOut, code = plugd("tools", "call", p.ID, "whoami")
	if code != 0 || !strings.Contains(out, "dave") {
		t.Fatalf("call: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, _ = plugd("tools", "connections", "--json")
	if !strings.Contains(out, `"status": "connected"`) || !strings.Contains(out, `"has_refresh_token": true`) {
		t.Fatalf("connections: %s", out)
	}
	if _, errOut, code := plugd("tools", "disconnect", "me"); code != 0 {
		t.Fatalf("disconnect: exit %d\n%s", code, errOut)
	}
	out, errOut, code = plugd("tools", "call", p.ID, "whoami")
	if code == 0 || !strings.Contains(errOut, "needs re-authorization") || !strings.Contains(errOut, "plugd tools connect") {
		t.Fatalf("a call after disconnecting: exit %d\n%s\n%s", code, out, errOut)
	}
	// Nobody opens the URL: connect gives up with a non-zero exit.
	_, errOut, code = plugd("tools", "connect", p.ID, "--timeout", "2s")
	if code == 0 || !strings.Contains(errOut, "no callback within 2s") {
		t.Fatalf("connect without a callback: exit %d\n%s", code, errOut)
	}
}

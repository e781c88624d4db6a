package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestMCPServer drives the MCP server of a real `plugd serve` with MCP clients no one here
// wrote — the official Go SDK's client (streamable HTTP, and stdio through `plugd mcp serve`)
// and the official Python SDK's client from PyPI (streamable HTTP and SSE) — around a real SDK
// plugin, an imported OpenAPI description (loopback upstream) and a third-party MCP server
// added as a provider (mcp-server-time over stdio): a request without a token is refused; a
// client connected to an empty tenant hears notifications/tools/list_changed when the plugin is
// installed and when the others are added; every kind of tool is listed and called, with
// progress and structured content; tool sets and revocation work through the CLI.
func TestMCPServer(t *testing.T) {
	pk := packages(t)
	pets := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/pet/7" {
			http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":7,"name":"doggie","status":"available"}`))
	}))
	defer pets.Close()
	d := startDaemon(t, daemonOptions{Env: map[string]string{"PLUGD_EGRESS_ALLOW": "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	tenant := newTenant()
	const mcpTool = providerName + "__" + toolName

	plugd := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, binary(t), append(args, "--url", d.base, "--key", d.key, "--tenant", tenant)...)
		cmd.Dir = d.home
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Run(); err != nil {
			t.Fatalf("plugd %v: %v\n%s", args, err, e.String())
		}
		return o.String()
	}
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
		URL   string `json:"url"`
	}
	if err := json.Unmarshal([]byte(plugd("mcp", "token", "create", "--name", "e2e", "--json")), &created); err != nil ||
		!strings.HasPrefix(created.Token, "plugd_mcp_") || created.URL != d.base+"/mcp/"+tenant {
		t.Fatalf("plugd mcp token create: %+v %v", created, err)
	}

	// Without a token: 401 pointing at the protected-resource metadata, which names the URL.
	status, hdr, _ := d.rawRequest(t, http.MethodPost, "/mcp/"+tenant, map[string]string{"Content-Type": "application/json"},
		[]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	wantMeta := d.base + "/.well-known/oauth-protected-resource/mcp/" + tenant
	if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `resource_metadata="`+wantMeta+`"`) {
		t.Fatalf("no token: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	status, _, body := d.rawRequest(t, http.MethodGet, "/.well-known/oauth-protected-resource/mcp/"+tenant, nil, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"resource":"`+d.base+"/mcp/"+tenant+`"`) {
		t.Fatalf("protected-resource metadata: %d %s", status, body)
	}

	// Connect to the empty tenant, then install: list_changed must arrive.
	var (
		mu       sync.Mutex
		changes  []time.Time
		progress []string
	)
	changed := make(chan struct{}, 16)
	hc := &http.Client{Transport: bearerRT{created.Token}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-go", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			mu.Lock()
			changes = append(changes, time.Now())
			mu.Unlock()
			changed <- struct{}{}
		},
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, r.Params.Message)
			mu.Unlock()
		},
	}).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: created.URL, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("Go SDK client: %v", err)
	}
	defer cs.Close()
	if got := mcpToolNames(ctx, t, cs); len(got) != 0 {
		t.Fatalf("tools of an empty tenant: %v", got)
	}
	installAndWait(ctx, t, d.client(tenant), pk.V1)
	installed := time.Now()
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no notifications/tools/list_changed after the install")
	}
	mu.Lock()
	lag := changes[0].Sub(installed)
	mu.Unlock()
	// Measured, not asserted (no timed pass/fail): installAndWait polls the task, so the
	// notification may even come first (a negative lag).
	t.Logf("list_changed arrived %v after the install task was seen finished", lag.Round(time.Millisecond))
	if got := mcpToolNames(ctx, t, cs); !slices.Equal(got, []string{mcpTool}) {
		t.Fatalf("tools after the install: %v", got)
	}

	// An OpenAPI import is announced the same way, and its operations are tools.
	petstore, err := filepath.Abs(filepath.Join("..", "apitools", "testdata", "petstore-3.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	plugd("tools", "import-openapi", "pets", "--file", petstore, "--server-url", pets.URL+"/v2")
	const apiTool = "pets__getPetById"
	for {
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("no notifications/tools/list_changed after the OpenAPI import")
		}
		if slices.Contains(mcpToolNames(ctx, t, cs), apiTool) {
			break
		}
	}
	r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: apiTool, Arguments: map[string]any{"petId": 7}})
	if sc, _ := json.Marshal(r.StructuredContent); err != nil || r.IsError || !strings.Contains(string(sc), `"name":"doggie"`) {
		t.Fatalf("OpenAPI tool over MCP (Go SDK): %v %+v %s", err, r, sc)
	}

	// A proxied MCP tool: a third-party MCP server (mcp-server-time from PyPI, over stdio)
	// added as a provider (internal/mcpclient) is served again by plugd's MCP server.
	const timeTool = "time__get_current_time"
	python := os.Getenv("PLUGD_TEST_MCP_PYTHON")
	if python == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_MCP_PYTHON is not set: run scripts/test-deps.sh")
		}
		t.Log("PLUGD_TEST_MCP_PYTHON not set: the Python client and the proxied MCP tool are not tried")
	} else {
		add := exec.CommandContext(ctx, binary(t), "mcp", "add", "time", "--daemon-url", d.base, "--key", d.key, "--tenant", tenant,
			"--command", python, "--json", "--", "-m", "mcp_server_time", "--local-timezone", "UTC")
		add.Dir = d.home
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("plugd mcp add time: %v\n%s", err, out)
		}
		for !slices.Contains(mcpToolNames(ctx, t, cs), timeTool) {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatal("the proxied MCP server's tools never appeared")
			}
		}
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: timeTool, Arguments: map[string]any{"timezone": "Asia/Tokyo"}})
		if err != nil || r.IsError || len(r.Content) == 0 || !strings.Contains(r.Content[0].(*mcp.TextContent).Text, "Asia/Tokyo") {
			t.Fatalf("proxied MCP tool over MCP (Go SDK): %v %+v", err, r)
		}
	}

	params := &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "hello over mcp", "mode": "text"}}
	params.SetProgressToken("e2e")
	r, err = cs.CallTool(ctx, params)
	if err != nil || r.IsError || len(r.Content) != 1 || r.Content[0].(*mcp.TextContent).Text != "hello over mcp" {
		t.Fatalf("call (Go SDK): %v %+v", err, r)
	}
	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "abc", "mode": "json"}})
	if sc, _ := json.Marshal(r.StructuredContent); err != nil || r.IsError || string(sc) != `{"length":3,"text":"abc"}` {
		t.Fatalf("json call (Go SDK): %v %+v %s", err, r, sc)
	}
	r, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "x", "mode": "error"}})
	if err != nil || !r.IsError || !strings.Contains(r.Content[0].(*mcp.TextContent).Text, "boom") {
		t.Fatalf("a failing plugin tool: %v %+v", err, r)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := slices.Contains(progress, "hello over mcp")
		mu.Unlock()
		if n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress notification for the call: %q", progress)
		}
	}

	// The official Python SDK's client, over streamable HTTP and the older SSE transport.
	if python != "" {
		cmd := exec.CommandContext(ctx, python, "testdata/mcp_client.py", "streamable", created.URL, created.Token, timeTool, `{"timezone":"Asia/Tokyo"}`)
		if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "Asia/Tokyo") || strings.Contains(string(out), `"isError": true`) {
			t.Fatalf("python mcp client, proxied MCP tool: %v\n%s", err, out)
		}
		for transport, url := range map[string]string{"streamable": created.URL, "sse": d.base + "/sse/" + tenant} {
			cmd := exec.CommandContext(ctx, python, "testdata/mcp_client.py", transport, url, created.Token, apiTool, `{"petId":7}`)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			if err := cmd.Run(); err != nil {
				t.Fatalf("python mcp client over %s, OpenAPI tool: %v\n%s", transport, err, e.String())
			}
			if !strings.Contains(o.String(), `"structuredContent": {"id": 7, "name": "doggie"`) {
				t.Fatalf("python mcp client over %s, OpenAPI tool:\n%s", transport, o.String())
			}
			cmd = exec.CommandContext(ctx, python, "testdata/mcp_client.py", transport, url, created.Token, mcpTool, `{"text":"from python","mode":"text"}`)
			o.Reset()
			e.Reset()
			cmd.Stdout, cmd.Stderr = &o, &e
			if err := cmd.Run(); err != nil {
				t.Fatalf("python mcp client over %s: %v\n%s", transport, err, e.String())
			}
			var got struct {
				Tools  []string `json:"tools"`
				Result struct {
					Content []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"content"`
					IsError bool `json:"isError"`
				} `json:"result"`
			}
			if err := json.Unmarshal(o.Bytes(), &got); err != nil || !slices.Contains(got.Tools, mcpTool) || !slices.Contains(got.Tools, apiTool) || got.Result.IsError ||
				len(got.Result.Content) != 1 || got.Result.Content[0].Text != "from python" {
				t.Fatalf("python mcp client over %s: %v\n%s", transport, err, o.String())
			}
		}
		cmd = exec.CommandContext(ctx, python, "testdata/mcp_client.py", "streamable", created.URL, "plugd_mcp_wrong", mcpTool, `{}`)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("python client with a wrong token succeeded:\n%s", out)
		}
	}

	// stdio for desktop clients: `plugd mcp serve` started as a command by the Go SDK.
	serve := exec.CommandContext(ctx, binary(t), "mcp", "serve", "--url", d.base, "--tenant", tenant)
	serve.Env = append(os.Environ(), "PLUGD_MCP_TOKEN="+created.Token)
	serve.Stderr = os.Stderr
	stdio, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-stdio", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: serve}, nil)
	if err != nil {
		t.Fatalf("plugd mcp serve: %v", err)
	}
	if got := mcpToolNames(ctx, t, stdio); !slices.Contains(got, mcpTool) || !slices.Contains(got, apiTool) {
		t.Fatalf("tools over stdio: %v", got)
	}
	r, err = stdio.CallTool(ctx, &mcp.CallToolParams{Name: mcpTool, Arguments: map[string]any{"text": "over stdio", "mode": "text"}})
	if err != nil || r.IsError || r.Content[0].(*mcp.TextContent).Text != "over stdio" {
		t.Fatalf("call over stdio: %v %+v", err, r)
	}
	stdio.Close()

	// A tool set: only the OpenAPI provider's tools, at its own URL, with its own token.
	plugd("mcp", "set", "put", "petsonly", "--provider", "pets")
	var setTok struct {
		Token string `json:"token"`
		URL   string `json:"url"`
	}
	if err := json.Unmarshal([]byte(plugd("mcp", "token", "create", "--set", "petsonly", "--json")), &setTok); err != nil || setTok.URL != created.URL+"/sets/petsonly" {
		t.Fatalf("token for a set: %+v %v", setTok, err)
	}
	setCS, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-set", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: setTok.URL, HTTPClient: &http.Client{Transport: bearerRT{setTok.Token}}}, nil)
	if err != nil {
		t.Fatalf("tool set: %v", err)
	}
	got := mcpToolNames(ctx, t, setCS)
	if !slices.Contains(got, apiTool) || slices.Contains(got, mcpTool) {
		t.Fatalf("tools of the set: %v", got)
	}
	setCS.Close()
	var toks []struct {
		ID  string `json:"id"`
		Set string `json:"set"`
	}
	if err := json.Unmarshal([]byte(plugd("mcp", "token", "list", "--json")), &toks); err != nil || len(toks) != 2 || strings.Contains(plugd("mcp", "token", "list", "--json"), "plugd_mcp_") {
		t.Fatalf("token list: %+v %v", toks, err)
	}
	plugd("mcp", "set", "delete", "petsonly")
	if out := plugd("mcp", "token", "list", "--json"); strings.Contains(out, "petsonly") {
		t.Fatalf("the deleted set's token is still listed: %s", out)
	}

	// Revoked: the next connection is refused.
	plugd("mcp", "token", "revoke", created.ID)
	if _, err := mcp.NewClient(&mcp.Implementation{Name: "late"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: created.URL, HTTPClient: hc, MaxRetries: -1}, nil); err == nil {
		t.Fatal("a revoked token still connects")
	}
}

func mcpToolNames(ctx context.Context, t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	var names []string
	for tl, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

type bearerRT struct{ token string }

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMCPServersThroughServe adds third-party MCP servers to a real `plugd serve` with the
// plugd CLI (`plugd mcp ...`): mcp-server-time from PyPI and server-everything from npm, both
// over stdio, lists them and their tools, calls a tool through the catalog, refreshes and
// removes one; the env value given with --env never comes back in clear.
func TestMCPServersThroughServe(t *testing.T) {
	py, js := os.Getenv("PLUGD_TEST_MCP_PYTHON"), os.Getenv("PLUGD_TEST_MCP_EVERYTHING")
	nodeBin, nodeErr := exec.LookPath("node")
	if py == "" || js == "" || nodeErr != nil {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_MCP_PYTHON / PLUGD_TEST_MCP_EVERYTHING / node missing: run scripts/test-deps.sh")
		}
		t.Skip("MCP test servers not installed (scripts/test-deps.sh)")
	}
	d := startDaemon(t, daemonOptions{Env: map[string]string{"PLUGD_EGRESS_ALLOW": "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tenant := newTenant()
	plugd := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		urlFlag := "--url"
		if len(args) > 1 && args[0] == "mcp" && args[1] == "add" {
			urlFlag = "--daemon-url" // --url is the MCP server's there
		}
		// Flags go before a "--" that ends them.
		flags := []string{urlFlag, d.base, "--key", d.key, "--tenant", tenant}
		full := append(append([]string{}, args[:min(2, len(args))]...), flags...)
		full = append(full, args[min(2, len(args)):]...)
		cmd := exec.CommandContext(ctx, binary(t), full...)
		cmd.Dir = d.home
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			code = exit.ExitCode()
		case err != nil:
			t.Fatalf("plugd %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}
	type provider struct {
		ID          string            `json:"id"`
		Kind        string            `json:"kind"`
		Name        string            `json:"name"`
		Credentials map[string]string `json:"credentials"`
		Tools       []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	add := func(args ...string) provider {
		t.Helper()
		out, errOut, code := plugd(append([]string{"mcp", "add"}, args...)...)
		if code != 0 {
			t.Fatalf("plugd mcp add %v: exit %d\n%s", args, code, errOut)
		}
		var p provider
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("plugd mcp add --json: %v\n%s", err, out)
		}
		return p
	}
	timeP := add("time", "--command", py, "--json", "--", "-m", "mcp_server_time", "--local-timezone", "UTC")
	ev := add("everything", "--command", nodeBin, js, "stdio", "--env", "EV_TOKEN=sup3r-secret-value", "--json")
	if timeP.Kind != "mcp" || len(timeP.Tools) == 0 || len(ev.Tools) < 5 {
		t.Fatalf("added: %+v %+v", timeP, ev)
	}

	out, errOut, code := plugd("mcp", "list", "--json")
	var list []provider
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("plugd mcp list --json: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "sup3r-secret-value") {
		t.Fatal("an env value came back in clear")
	}
	out, _, code = plugd("mcp", "list")
	if code != 0 || !strings.Contains(out, "everything") || !strings.Contains(out, "(stdio)") {
		t.Fatalf("plugd mcp list: exit %d\n%s", code, out)
	}
	out, _, code = plugd("mcp", "tools", timeP.ID)
	if code != 0 || !strings.Contains(out, "get_current_time") {
		t.Fatalf("plugd mcp tools: exit %d\n%s", code, out)
	}

	out, errOut, code = plugd("tools", "call", timeP.ID, "get_current_time", "--param", "timezone=Asia/Tokyo", "--json")
	if code != 0 || !strings.Contains(out, "Asia/Tokyo") {
		t.Fatalf("plugd tools call get_current_time: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = plugd("tools", "call", ev.ID, "get-env", "--json")
	if code != 0 || !strings.Contains(out, "sup3r-secret-value") || strings.Contains(out, "SERVER_KEY") {
		t.Fatalf("plugd tools call get-env: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = plugd("mcp", "tools", ev.ID, "--refresh", "--json")
	if code != 0 || !strings.Contains(out, `"echo"`) {
		t.Fatalf("plugd mcp tools --refresh: exit %d\n%s\n%s", code, out, errOut)
	}

	// Bad command lines exit 2; a server that cannot be reached exits 1 and says why.
	if _, _, code := plugd("mcp", "add", "x"); code != 2 {
		t.Fatalf("mcp add without --url or --command: exit %d", code)
	}
	if _, _, code := plugd("mcp", "add", "x", "--url", "http://127.0.0.1:1/mcp", "--env", "A=B"); code != 2 {
		t.Fatalf("mcp add --url with --env: exit %d", code)
	}
	_, errOut, code = plugd("mcp", "add", "x", "--url", "http://10.255.255.1:9/mcp", "--timeout", "2")
	if code != 1 || !strings.Contains(errOut, "10.255.255.1") {
		t.Fatalf("mcp add of a private address not allowed: exit %d\n%s", code, errOut)
	}

	// A remote server over streamable HTTP, reachable because PLUGD_EGRESS_ALLOW lists
	// loopback, with a header given on the command line.
	httpP := add("everything-http", "--url", everythingHTTP(t, nodeBin, js)+"/mcp", "--header", "X-Api-Key=hdr-secret-1", "--json")
	if httpP.Credentials["header:X-Api-Key"] == "hdr-secret-1" || len(httpP.Tools) < 5 {
		t.Fatalf("added over HTTP: %+v", httpP)
	}
	out, errOut, code = plugd("tools", "call", httpP.ID, "echo", "--param", "message=over http", "--json")
	if code != 0 || !strings.Contains(out, "Echo: over http") {
		t.Fatalf("plugd tools call echo over HTTP: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, errOut, code := plugd("mcp", "remove", httpP.ID); code != 0 {
		t.Fatalf("plugd mcp remove: exit %d\n%s", code, errOut)
	}

	if _, errOut, code := plugd("mcp", "remove", timeP.ID); code != 0 {
		t.Fatalf("plugd mcp remove: exit %d\n%s", code, errOut)
	}
	out, _, _ = plugd("mcp", "list", "--json")
	if json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ID != ev.ID {
		t.Fatalf("after remove: %s", out)
	}
}

// everythingHTTP runs server-everything over streamable HTTP on a free loopback port and
// returns its base URL once it listens.
func everythingHTTP(t *testing.T, nodeBin, js string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(nodeBin, js, "streamableHttp")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatal("server-everything did not listen")
		}
	}
}

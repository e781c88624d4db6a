package mcpclient_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/mcpclient"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/sandbox"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// Tests with real third-party MCP servers: @modelcontextprotocol/server-everything from npm
// (over stdio, streamable HTTP and SSE), mcp-server-time from PyPI, and testdata/pyserver.py
// on the official Python SDK (crash, hang, list_changed). scripts/test-deps.sh installs them
// and exports where they are; without them these tests skip, unless
// PLUGD_TEST_REQUIRE_SERVICES=1 (CI), where they fail.

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set: run scripts/test-deps.sh", name)
		}
		t.Skipf("%s is not set (scripts/test-deps.sh installs it)", name)
	}
	return v
}

func node(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("node is not installed")
		}
		t.Skip("node is not installed")
	}
	return p
}

type env struct {
	pool *mcpclient.Pool
	cat  *catalog.Catalog
}

func newEnv(t testing.TB, opts mcpclient.Options) env {
	t.Helper()
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	pool := mcpclient.NewPool(opts)
	t.Cleanup(pool.Close)
	cat := catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindMCP: pool}})
	pool.Follow(cat)
	return env{pool: pool, cat: cat}
}

func (e env) add(t testing.TB, tenant string, s mcpclient.Server) catalog.Provider {
	t.Helper()
	np, err := e.pool.NewProvider(t.Context(), tenant, s)
	if err != nil {
		t.Fatalf("adding %s: %v", s.Name, err)
	}
	p, err := e.cat.Add(t.Context(), tenant, np)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e env) call(ctx context.Context, tenant, id, tool string, args map[string]any) ([]catalog.Message, error) {
	st, err := e.cat.Call(ctx, tenant, catalog.CallRequest{ProviderID: id, Tool: tool, Arguments: args})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []catalog.Message
	for {
		m, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func (e env) mustCall(t *testing.T, tenant, id, tool string, args map[string]any) []catalog.Message {
	t.Helper()
	msgs, err := e.call(t.Context(), tenant, id, tool, args)
	if err != nil {
		t.Fatalf("calling %s: %v", tool, err)
	}
	return msgs
}

func text(t *testing.T, msgs []catalog.Message) string {
	t.Helper()
	var b strings.Builder
	for _, m := range msgs {
		if m.Type == "text" {
			var v struct{ Text string }
			json.Unmarshal(m.Message, &v)
			b.WriteString(v.Text)
		}
	}
	return b.String()
}

func toolNames(p catalog.Provider) map[string]bool {
	out := map[string]bool{}
	for _, t := range p.Tools {
		out[t.Name] = true
	}
	return out
}

// checkEverything calls tools of server-everything through the catalog and checks each
// result kind's mapping.
func checkEverything(t *testing.T, e env, tenant string, p catalog.Provider) {
	names := toolNames(p)
	for _, want := range []string{"echo", "get-sum", "get-tiny-image", "get-structured-content", "get-resource-reference"} {
		if !names[want] {
			t.Fatalf("tool %s missing from %v", want, names)
		}
	}
	if got := text(t, e.mustCall(t, tenant, p.ID, "echo", map[string]any{"message": "héllo"})); got != "Echo: héllo" {
		t.Fatalf("echo: %q", got)
	}
	if got := text(t, e.mustCall(t, tenant, p.ID, "get-sum", map[string]any{"a": 2, "b": 40})); !strings.Contains(got, "42") {
		t.Fatalf("get-sum: %q", got)
	}
	img := e.mustCall(t, tenant, p.ID, "get-tiny-image", nil)
	var blob *catalog.Message
	for i := range img {
		if img[i].Type == "blob" {
			blob = &img[i]
		}
	}
	if blob == nil {
		t.Fatalf("get-tiny-image gave no blob: %+v", img)
	}
	var b struct{ Blob []byte }
	var meta struct {
		MimeType string `json:"mime_type"`
	}
	json.Unmarshal(blob.Message, &b)
	json.Unmarshal(blob.Meta, &meta)
	if meta.MimeType != "image/png" || len(b.Blob) < 8 || string(b.Blob[1:4]) != "PNG" {
		t.Fatalf("image: mime %q, %d bytes %q", meta.MimeType, len(b.Blob), b.Blob[:min(8, len(b.Blob))])
	}
	sc := e.mustCall(t, tenant, p.ID, "get-structured-content", map[string]any{"location": "Chicago"})
	last := sc[len(sc)-1]
	var js struct {
		JSON map[string]any `json:"json_object"`
	}
	if last.Type != "json" || json.Unmarshal(last.Message, &js) != nil || js.JSON["temperature"] == nil {
		t.Fatalf("structured content: %+v", sc)
	}
	res := e.mustCall(t, tenant, p.ID, "get-resource-reference", map[string]any{"resourceType": "Text", "resourceId": 2})
	found := false
	for _, m := range res {
		if m.Type == "blob" && strings.Contains(string(m.Meta), "uri") {
			found = true
		}
	}
	if !found {
		t.Fatalf("resource reference gave no blob with its uri: %+v", res)
	}
}

// TestEverythingOverStdio runs the npm server as a stdio provider: tools listed into the
// catalog, every result kind mapped, a sealed env value given and nothing of the daemon's
// own environment passed on.
func TestEverythingOverStdio(t *testing.T) {
	js := need(t, "PLUGD_TEST_MCP_EVERYTHING")
	t.Setenv("PLUGD_DAEMON_SECRET", "must-not-leak")
	e := newEnv(t, mcpclient.Options{MemoryLimit: 512 << 20})
	p := e.add(t, "t1", mcpclient.Server{Name: "everything", Command: node(t), Args: []string{js, "stdio"},
		Env: map[string]string{"EVERYTHING_TOKEN": "tok-123456"}})
	if p.Credentials["env:EVERYTHING_TOKEN"] == "tok-123456" || p.Credentials["env:EVERYTHING_TOKEN"] == "" {
		t.Fatalf("env value not masked: %v", p.Credentials)
	}
	checkEverything(t, e, "t1", p)
	var got map[string]string
	if err := json.Unmarshal([]byte(text(t, e.mustCall(t, "t1", p.ID, "get-env", nil))), &got); err != nil {
		t.Fatal(err)
	}
	if got["EVERYTHING_TOKEN"] != "tok-123456" {
		t.Fatalf("env value not given: %v", got)
	}
	if _, ok := got["PLUGD_DAEMON_SECRET"]; ok {
		t.Fatal("the daemon's environment leaked into the server")
	}
	for k := range got {
		switch k {
		case "PATH", "HOME", "TMPDIR", "LANG", "EVERYTHING_TOKEN", "PWD": // PWD: os/exec sets it to Dir (HOME)
		default:
			t.Errorf("unexpected variable %s in the server's environment", k)
		}
	}
	// Another tenant adding the same server gets its own session.
	p2 := e.add(t, "t2", mcpclient.Server{Name: "everything", Command: node(t), Args: []string{js, "stdio"}})
	e.mustCall(t, "t2", p2.ID, "echo", map[string]any{"message": "x"})
	if n := e.pool.Live(); n != 2 {
		t.Fatalf("%d live sessions, want one per tenant", n)
	}
}

// startHTTP runs server-everything in an HTTP mode on a free loopback port and returns its
// base URL once it accepts connections.
func startHTTP(t *testing.T, mode string) string {
	js := need(t, "PLUGD_TEST_MCP_EVERYTHING")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(node(t), js, mode)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), fmt.Sprint(port)) {
				close(ready)
				once = true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("server-everything %s did not start", mode)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func loopbackAllowed(t testing.TB) egress.Settings {
	allow, err := egress.ParseAllow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return egress.Settings{Allow: allow}
}

// TestEverythingOverHTTP adds the npm server over streamable HTTP (detected from /mcp) and
// over SSE (detected from /sse), through the egress guard, with a sealed header.
func TestEverythingOverHTTP(t *testing.T) {
	for _, tc := range []struct{ mode, path, transport string }{
		{"streamableHttp", "/mcp", mcpclient.TransportStreamable},
		{"sse", "/sse", mcpclient.TransportSSE},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			base := startHTTP(t, tc.mode)
			e := newEnv(t, mcpclient.Options{Egress: loopbackAllowed(t)})
			p := e.add(t, "t1", mcpclient.Server{Name: "everything", URL: base + tc.path,
				Headers: map[string]string{"X-Api-Key": "secret-value-1"}})
			cfg, err := mcpclient.ParseConfig(p.Config)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Transport != tc.transport {
				t.Fatalf("transport %q, want %q", cfg.Transport, tc.transport)
			}
			if strings.Contains(string(p.Config), "secret-value-1") || p.Credentials["header:X-Api-Key"] == "secret-value-1" {
				t.Fatalf("header value stored or answered in clear: %s %v", p.Config, p.Credentials)
			}
			checkEverything(t, e, "t1", p)
		})
	}
	t.Run("guarded", func(t *testing.T) {
		base := startHTTP(t, "streamableHttp")
		e := newEnv(t, mcpclient.Options{}) // no private addresses allowed
		_, err := e.pool.NewProvider(t.Context(), "t1", mcpclient.Server{Name: "x", URL: base + "/mcp"})
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("a loopback server was reached without being allowed: %v", err)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		// No /mcp or /sse suffix: streamable HTTP is tried first, then SSE. The SSE server
		// answers a POST to /sse with an error, so the fallback must be taken.
		base := startHTTP(t, "sse")
		e := newEnv(t, mcpclient.Options{Egress: loopbackAllowed(t)})
		p := e.add(t, "t1", mcpclient.Server{Name: "everything", URL: base + "/sse/"})
		cfg, _ := mcpclient.ParseConfig(p.Config)
		if cfg.Transport != mcpclient.TransportSSE {
			t.Fatalf("transport %q, want sse after the fallback", cfg.Transport)
		}
		e.mustCall(t, "t1", p.ID, "echo", map[string]any{"message": "x"})
	})
}

// TestTimeServerFromPyPI runs mcp-server-time (PyPI) over stdio.
func TestTimeServerFromPyPI(t *testing.T) {
	py := need(t, "PLUGD_TEST_MCP_PYTHON")
	e := newEnv(t, mcpclient.Options{})
	p := e.add(t, "t1", mcpclient.Server{Name: "time", Command: py, Args: []string{"-m", "mcp_server_time", "--local-timezone", "UTC"}})
	if !toolNames(p)["get_current_time"] {
		t.Fatalf("tools: %v", toolNames(p))
	}
	got := text(t, e.mustCall(t, "t1", p.ID, "get_current_time", map[string]any{"timezone": "Europe/Berlin"}))
	if !strings.Contains(got, "Europe/Berlin") || !strings.Contains(got, "datetime") {
		t.Fatalf("get_current_time: %q", got)
	}
	if _, err := e.call(t.Context(), "t1", p.ID, "get_current_time", map[string]any{"timezone": "Not/AZone"}); err == nil ||
		!errors.Is(err, catalog.ErrCallFailed) {
		t.Fatalf("a bad timezone: %v", err)
	}
}

func pyServer(t *testing.T) mcpclient.Server {
	py := need(t, "PLUGD_TEST_MCP_PYTHON")
	script, err := filepath.Abs("testdata/pyserver.py")
	if err != nil {
		t.Fatal(err)
	}
	return mcpclient.Server{Name: "py", Command: py, Args: []string{script}}
}

// TestCrashingServer: a server that exits mid-call fails that call with its stderr, is
// started again for the next one, and after CrashLimit ends in a row is left alone.
func TestCrashingServer(t *testing.T) {
	e := newEnv(t, mcpclient.Options{CrashLimit: 3, CrashWindow: time.Hour})
	p := e.add(t, "t1", pyServer(t))
	_, err := e.call(t.Context(), "t1", p.ID, "crash", nil)
	if err == nil || !errors.Is(err, catalog.ErrCallFailed) {
		t.Fatalf("crash: %v", err)
	}
	t.Log(err)
	// The watcher starts it again after the back-off, before anyone calls.
	deadline := time.Now().Add(30 * time.Second)
	for e.pool.Live() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the crashed server was not started again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And it works.
	if got := text(t, e.mustCall(t, "t1", p.ID, "add", map[string]any{"a": 1, "b": 2})); got != "3" {
		t.Fatalf("add after a crash: %q", got)
	}
	for range 2 {
		if _, err := e.call(t.Context(), "t1", p.ID, "crash", nil); err == nil {
			t.Fatal("crash answered")
		} else {
			t.Log(err)
		}
	}
	_, err = e.call(t.Context(), "t1", p.ID, "add", map[string]any{"a": 1, "b": 2})
	if !errors.Is(err, mcpclient.ErrCrashLoop) || !strings.Contains(err.Error(), "crashing on purpose") {
		t.Fatalf("after 3 crashes: %v", err)
	}

	// A command that exits before it speaks MCP: adding it fails with its stderr.
	py := need(t, "PLUGD_TEST_MCP_PYTHON")
	_, err = e.pool.NewProvider(t.Context(), "t1", mcpclient.Server{Name: "broken", Command: py,
		Args: []string{"-c", "import sys; print('no config file here', file=sys.stderr); sys.exit(2)"}})
	if err == nil || !strings.Contains(err.Error(), "no config file here") {
		t.Fatalf("a server exiting at start: %v", err)
	}
}

// TestHangingServer: a call that never answers fails at sse_read_timeout, and meanwhile the
// catalog lists, other calls to the same server and calls to other servers go on.
func TestHangingServer(t *testing.T) {
	e := newEnv(t, mcpclient.Options{})
	s := pyServer(t)
	s.SSEReadTime = 1
	p := e.add(t, "t1", s)
	_, err := e.call(t.Context(), "t1", p.ID, "hang", nil)
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("hang: %v", err)
	}

	// A server that never answers initialize: adding it fails at the timeout, and its
	// process does not stay behind.
	py := need(t, "PLUGD_TEST_MCP_PYTHON")
	marker := fmt.Sprintf("plugd-mute-%d", time.Now().UnixNano())
	_, err = e.pool.NewProvider(t.Context(), "t1", mcpclient.Server{Name: "mute", Command: py, Timeout: 1,
		Args: []string{"-c", "import sys, time; time.sleep(3600)", marker}})
	if err == nil || !strings.Contains(err.Error(), "within 1s") {
		t.Fatalf("a server that never initializes: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); processWith(marker); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the process of a server that timed out at initialize is still running")
		}
	}

	s.Name, s.SSEReadTime = "py-patient", 600
	p2 := e.add(t, "t1", s)
	ctx, cancel := context.WithCancel(t.Context())
	hung := make(chan error, 1)
	go func() {
		_, err := e.call(ctx, "t1", p2.ID, "hang", nil)
		hung <- err
	}()
	for range 3 {
		list, err := e.cat.List(t.Context(), "t1", catalog.ListOptions{Kind: catalog.KindMCP})
		if err != nil || len(list) != 2 {
			t.Fatalf("list while a call hangs: %d providers, %v", len(list), err)
		}
		if got := text(t, e.mustCall(t, "t1", p2.ID, "add", map[string]any{"a": 2, "b": 2})); got != "4" {
			t.Fatalf("add beside a hanging call: %q", got)
		}
		if _, err := e.cat.Refresh(t.Context(), "t1", p2.ID); err != nil {
			t.Fatalf("refresh beside a hanging call: %v", err)
		}
	}
	select {
	case err := <-hung:
		t.Fatalf("the hanging call returned: %v", err)
	default:
	}
	cancel()
	if err := <-hung; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled hanging call: %v", err)
	}
}

// TestListChanged: a server that adds a tool and sends notifications/tools/list_changed has
// the catalog refreshed without anyone asking.
func TestListChanged(t *testing.T) {
	e := newEnv(t, mcpclient.Options{})
	p := e.add(t, "t1", pyServer(t))
	if toolNames(p)["shout"] {
		t.Fatal("shout exists before it is added")
	}
	if got := text(t, e.mustCall(t, "t1", p.ID, "grow", map[string]any{"name": "shout"})); got != "added shout" {
		t.Fatalf("grow: %q", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.cat.Get(t.Context(), "t1", p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if toolNames(got)["shout"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog never saw the added tool: %v", toolNames(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := text(t, e.mustCall(t, "t1", p.ID, "shout", map[string]any{"text": "hi"})); got != "added tool says hi" {
		t.Fatalf("the added tool: %q", got)
	}
	ch, err := e.cat.Changes(t.Context(), "t1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, c := range ch.Changes {
		if c.Kind == catalog.ChangeToolAdded && c.Tool == "shout" {
			seen = true
		}
	}
	if !seen {
		t.Fatalf("no tool_added change for shout: %+v", ch.Changes)
	}
}

// TestIdleStopAndLimits: sessions stop when idle and start again on use; stderr goes to a
// capped log; the memory limit holds.
func TestIdleStopAndLimits(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, mcpclient.Options{DataDir: dir, IdleStop: 100 * time.Millisecond, LogBytes: 64 << 10, MemoryLimit: 64 << 20})
	p := e.add(t, "t1", pyServer(t))
	e.mustCall(t, "t1", p.ID, "noise", map[string]any{"kib": 200})
	for e.pool.Live() != 0 {
		time.Sleep(20 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "mcp", "t1", p.ID, "stderr.log*"))
	var total int64
	for _, l := range logs {
		st, err := os.Stat(l)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 64<<10 {
			t.Fatalf("%s is %d bytes, over the 64 KiB cap", l, st.Size())
		}
		total += st.Size()
	}
	if len(logs) != 2 || total < 32<<10 {
		t.Fatalf("logs %v (%d bytes): want the log and its rotated copy", logs, total)
	}
	if got := text(t, e.mustCall(t, "t1", p.ID, "add", map[string]any{"a": 5, "b": 5})); got != "10" {
		t.Fatalf("add after an idle stop: %q", got)
	}
	// 64 MiB + headroom: a 1 GiB allocation fails inside the server.
	if got := text(t, e.mustCall(t, "t1", p.ID, "eat", map[string]any{"mib": 1024})); !strings.Contains(got, "MemoryError") {
		t.Fatalf("a 1 GiB allocation under a 64 MiB limit: %q", got)
	}
	if got := text(t, e.mustCall(t, "t1", p.ID, "eat", map[string]any{"mib": 8})); got != "ate 8 MiB" {
		t.Fatalf("a small allocation: %q", got)
	}
}

func TestMain(m *testing.M) {
	sandbox.MaybeRunInit() // the sandboxed tests start this binary as the sandbox init
	os.Exit(m.Run())
}

// TestSandboxedStdioServers runs stdio servers confined as plugins are (ModeUID as root,
// ModeUserNS otherwise): the Python server and server-everything answer, a file of the daemon
// is out of sight, and the server is PID 1 of a PID namespace of its own.
func TestSandboxedStdioServers(t *testing.T) {
	tmp := t.TempDir()
	iso, how := runtime.ChooseIsolation("required", runtime.Isolation{
		UIDs:   sandbox.NewAllocator(filepath.Join(tmp, "uids.json"), 310000, 1000),
		Limits: sandbox.Limits{Processes: 256, OpenFiles: 1024},
		Root:   filepath.Join(tmp, "root"),
	})
	if iso.Refused != nil {
		t.Skipf("no sandbox here: %s", how)
	}
	t.Log(how)
	secret := filepath.Join(tmp, "daemon-secret.txt")
	if err := os.WriteFile(secret, []byte("the daemon's"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, mcpclient.Options{Confine: mcpclient.SandboxConfiner(iso), MemoryLimit: 512 << 20})
	p := e.add(t, "t1", pyServer(t))
	if got := text(t, e.mustCall(t, "t1", p.ID, "add", map[string]any{"a": 20, "b": 22})); got != "42" {
		t.Fatalf("add in the sandbox: %q", got)
	}
	if got := text(t, e.mustCall(t, "t1", p.ID, "read", map[string]any{"path": secret})); strings.Contains(got, "the daemon's") {
		t.Fatalf("the sandboxed server read the daemon's file: %q", got)
	}
	var who struct{ PID, PPID, UID int }
	if err := json.Unmarshal([]byte(text(t, e.mustCall(t, "t1", p.ID, "whoami", nil))), &who); err != nil {
		t.Fatal(err)
	}
	if who.PPID != 0 && who.PID > 3 {
		t.Fatalf("not in a PID namespace of its own: %+v", who)
	}
	if iso.Mode == sandbox.ModeUID && who.UID < 310000 {
		t.Fatalf("uid %d: want one of the allocator's", who.UID)
	}

	js := need(t, "PLUGD_TEST_MCP_EVERYTHING")
	ev := e.add(t, "t1", mcpclient.Server{Name: "everything", Command: node(t), Args: []string{js, "stdio"}})
	if got := text(t, e.mustCall(t, "t1", ev.ID, "echo", map[string]any{"message": "boxed"})); got != "Echo: boxed" {
		t.Fatalf("echo in the sandbox: %q", got)
	}
}

// processWith reports whether a process has arg on its command line.
func processWith(arg string) bool {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err == nil && strings.Contains(string(b), arg) {
			return true
		}
	}
	return false
}

// TestStartedOnce: twenty callers arriving together at a server nobody started share one
// process and one session.
func TestStartedOnce(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, mcpclient.Options{DataDir: dir})
	p := e.add(t, "t1", pyServer(t))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			msgs, err := e.call(t.Context(), "t1", p.ID, "add", map[string]any{"a": i, "b": 1})
			if err == nil && text(t, msgs) != fmt.Sprint(i+1) {
				err = fmt.Errorf("add(%d, 1) = %q", i, text(t, msgs))
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "mcp", "t1", p.ID, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "pyserver starting"); n != 1 || e.pool.Live() != 1 {
		t.Fatalf("%d starts, %d live sessions: want one of each", n, e.pool.Live())
	}
}

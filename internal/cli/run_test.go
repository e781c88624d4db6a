package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testDataDir is a plugd data folder shared by the tests of this package, so the Python
// environment of the echo fixture is built once per test run.
func testDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "plugd-cli-test-data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatalf("%s is not set: run the tests through scripts/test.sh", name)
	}
	return v
}

// TestSDKRunnerDrivesPluginRun is the contract test with the SDK's own integration runner
// (dify_plugin.integration.run.PluginRunner): it must find our binary under DIFY_CLI_PATH,
// accept its version, package the folder, start `plugin run --response-format json`, and
// get every result and the error back.
func TestSDKRunnerDrivesPluginRun(t *testing.T) {
	// The runner's folder mode needs Python 3.12 (TemporaryDirectory(delete=...)), so the
	// newest SDK line drives; the plugin itself still runs on the 0.7 line it pins.
	py := requireEnv(t, "PLUGD_TEST_PYTHON_SDK_NEW")
	uv := requireEnv(t, "PLUGD_TEST_UV")
	bin := filepath.Join(t.TempDir(), "dify")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/plugd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)

	// Build the environment first: the runner allows the plugin only 30 s to become ready.
	var prep strings.Builder
	pre := exec.Command(bin, "plugin", "invoke", plugin, "--tool", "echo", "--param", "text=warm-up", "--data-dir", testDataDir(t))
	pre.Env = append(os.Environ(), "UV_PATH="+uv)
	pre.Stdout, pre.Stderr = &prep, &prep
	if err := pre.Run(); err != nil {
		t.Fatalf("warm-up invoke: %v\n%s", err, prep.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/sdk_runner.py", plugin)
	cmd.Env = append(os.Environ(), "DIFY_CLI_PATH="+bin, "PLUGD_DATA_DIR="+testDataDir(t), "UV_PATH="+uv)
	// The runner starts `plugd plugin run` as its child: kill the whole group when done, so a
	// failed run cannot leave a plugd behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sdk_runner.py: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var res struct {
		Text  []string
		Types []string
		Error *string
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("result: %v in %q", err, out)
	}
	if len(res.Text) != 1 || res.Text[0] != "hello from the SDK runner" {
		t.Errorf("text: %q", res.Text)
	}
	want := "text json link image variable variable log blob_chunk blob_chunk"
	if got := strings.Join(res.Types, " "); got != want {
		t.Errorf("message types %q, want %q", got, want)
	}
	if res.Error == nil || !strings.Contains(*res.Error, "boom") {
		t.Errorf("error: %v", res.Error)
	}
}

// TestInvokeTool runs `plugin invoke` in-process on the echo fixture: every message type,
// the blob saved to disk, storage, and a plugin error as a non-zero exit.
func TestInvokeTool(t *testing.T) {
	requireEnv(t, "PLUGD_TEST_PYTHON_SDK07")
	t.Setenv("UV_PATH", requireEnv(t, "PLUGD_TEST_UV"))
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	out := t.TempDir()
	data := testDataDir(t)

	code, stdout, stderr := run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "echo", "--param", "text=hi", "--param", "mode=all", "--out", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var m struct{ Type string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		types = append(types, m.Type)
	}
	if got, want := strings.Join(types, " "), "text json link image variable variable log blob"; got != want {
		t.Errorf("types %q, want %q", got, want)
	}
	blob, err := os.ReadFile(filepath.Join(out, "a.bin"))
	if err != nil || string(blob) != "\x00\x01hello" {
		t.Errorf("saved blob %q, %v", blob, err)
	}

	code, _, stderr = run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "echo", "--param", "text=x", "--param", "mode=error")
	if code != 1 || !strings.Contains(stderr, "ValueError: boom") {
		t.Errorf("error mode: exit %d, %q", code, stderr)
	}
	code, stdout, stderr = run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "nosuch", "--param", "text=x")
	if code != 2 || !strings.Contains(stderr, `test/echo:0.0.1 has no tool "nosuch"; its tools: echo`) {
		t.Errorf("unknown tool: exit %d, %q %q", code, stdout, stderr)
	}
	// A string parameter stays a string however JSON-like it looks.
	code, stdout, stderr = run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "echo", "--param", `text={"a":1}`)
	if code != 0 || stdout != "{\"a\":1}\n" {
		t.Errorf("JSON-looking string: exit %d, %q %q", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "plugd", "plugin", "invoke", plugin, "--tool", "echo", "--llm", "x"); code != 2 || !strings.Contains(stderr, "exactly one") {
		t.Errorf("two actions: exit %d, %q", code, stderr)
	}
}

// TestInvokeMissingRequiredParameter: a required parameter left out is a command-line
// mistake (exit 2) naming the parameter and the tool, found before anything is built.
func TestInvokeMissingRequiredParameter(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	data := t.TempDir()
	code, stdout, stderr := run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "echo", "--param", "mode=all")
	if code != 2 || !strings.Contains(stderr, "tool echo needs the required parameter(s) text (string)") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if ents, _ := os.ReadDir(data); len(ents) != 0 {
		t.Errorf("the data folder got %v before the command line was checked", ents)
	}
}

// TestOldSDKPlugins runs plugins pinned to an early SDK release (dify_plugin==0.0.1b75, as
// real official packages still are): our echo fixture re-pinned, and the official agent
// strategy package, whose call back into Dify for an LLM must come back as a clear error.
func TestOldSDKPlugins(t *testing.T) {
	requireEnv(t, "PLUGD_TEST_PYTHON_SDK07")
	t.Setenv("UV_PATH", requireEnv(t, "PLUGD_TEST_UV"))
	data := testDataDir(t)

	plugin := filepath.Join(t.TempDir(), "old")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	if err := os.WriteFile(filepath.Join(plugin, "requirements.txt"), []byte("dify_plugin==0.0.1b75\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", data, "--tool", "echo", "--param", "text=old", "--param", "mode=all", "--out", t.TempDir())
	if code != 0 || !strings.HasPrefix(stdout, "old\n") || !strings.Contains(stdout, "blob: ") {
		t.Fatalf("0.0.1b75 echo: exit %d\n%s\n%s", code, stdout, stderr)
	}

	req := filepath.Join(t.TempDir(), "agent.json")
	os.WriteFile(req, []byte(`{"type":"agent_strategy","action":"invoke_agent_strategy","data":{
		"agent_strategy_provider":"agent","agent_strategy":"function_calling",
		"agent_strategy_params":{"query":"hi","instruction":"be brief","tools":[],"maximum_iterations":1,
			"model":{"provider":"langgenius/openai/openai","model":"gpt-4o","model_type":"llm","mode":"chat",
				"completion_params":{},"type":"model-selector","history_prompt_messages":[]}}}}`), 0o644)
	official := filepath.Join(vectors, "official", "langgenius-agent_0.0.14.difypkg")
	code, stdout, stderr = run(t, "plugd", "plugin", "invoke", official, "--data-dir", data, "--request", req)
	if code != 1 || !strings.Contains(stdout, "ROUND 1") || !strings.Contains(stderr, `"llm" is not available without Dify`) {
		t.Fatalf("official agent: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestInvokeScaffolds generates plugins with `plugin init` and runs them through the local
// runtime with `plugin invoke`: a tool, an LLM streaming its answer, and an endpoint.
func TestInvokeScaffolds(t *testing.T) {
	requireEnv(t, "PLUGD_TEST_PYTHON_SDK07")
	t.Setenv("UV_PATH", requireEnv(t, "PLUGD_TEST_UV"))
	data := testDataDir(t)
	parent := t.TempDir()
	for _, c := range []string{"tool", "llm", "extension"} {
		if code, stdout, stderr := run(t, "plugd", "plugin", "init", "--quick", "--dir", parent, "--name", "s"+strings.ReplaceAll(c, "-", ""), "--author", "tester", "--description", "demo", "--category", c); code != 0 {
			t.Fatalf("init %s: exit %d\n%s%s", c, code, stdout, stderr)
		}
	}

	code, stdout, stderr := run(t, "plugd", "plugin", "invoke", filepath.Join(parent, "stool"), "--data-dir", data, "--tool", "stool", "--param", "query=hello there")
	if code != 0 || !strings.HasPrefix(stdout, "hello there\n") || !strings.Contains(stdout, `"words": 2`) {
		t.Fatalf("tool: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = run(t, "plugd", "plugin", "invoke", filepath.Join(parent, "sllm"), "--data-dir", data, "--llm", "echo-1", "--prompt", "say it back")
	if code != 0 || strings.TrimSpace(stdout) != "say it back" || !strings.Contains(stderr, "finish reason: stop") {
		t.Fatalf("llm: exit %d\n%q\n%s", code, stdout, stderr)
	}
	code, stdout, _ = run(t, "plugd", "plugin", "invoke", filepath.Join(parent, "sllm"), "--data-dir", data, "--llm", "echo-1", "--prompt", "one two three four", "--json")
	if chunks := strings.Count(stdout, "\n"); code != 0 || chunks < 2 {
		t.Fatalf("llm --json: exit %d, %d chunks\n%s", code, chunks, stdout)
	}

	raw := "GET /sextension?name=plugd HTTP/1.1\r\nHost: localhost\r\n\r\n"
	req := filepath.Join(t.TempDir(), "endpoint.json")
	body, _ := json.Marshal(map[string]any{"type": "endpoint", "action": "invoke_endpoint", "data": map[string]any{"settings": map[string]string{"greeting": "Hi"}, "raw_http_request": fmt.Sprintf("%x", raw)}})
	os.WriteFile(req, body, 0o644)
	code, stdout, stderr = run(t, "plugd", "plugin", "invoke", filepath.Join(parent, "sextension"), "--data-dir", data, "--request", req)
	if code != 0 || !strings.Contains(stdout, `"message": "Hi, plugd!"`) || !strings.Contains(stderr, "HTTP 200") {
		t.Fatalf("endpoint: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

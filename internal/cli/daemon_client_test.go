package cli

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/client/clienttest"
)

const fakeKey = "a-fake-daemon-key-0123456789"

// runRemote runs a command against the fake daemon as tenant t.
func runRemote(t *testing.T, fake *clienttest.Daemon, args ...string) (int, string, string) {
	t.Helper()
	return run(t, "plugd", append(args, "--url", fake.URL(), "--key", fakeKey, "--tenant", "t")...)
}

func fakePackage(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("not really a zip, the fake does not care: "+name), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDaemonClientInstall(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	pkg := fakePackage(t, "echo.difypkg")
	code, stdout, stderr := runRemote(t, fake, "install", pkg, "--poll-interval", "1ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if stdout != "installed test/echo:0.0.1\n" {
		t.Fatalf("stdout %q", stdout)
	}
	for _, want := range []string{
		"test/echo:0.0.1: pending\n",
		"test/echo:0.0.1: running, python environment: Resolved 2 packages\n",
		"test/echo:0.0.1: success\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	if got := fake.Installed("t"); len(got) != 1 || !strings.HasPrefix(got[0], "test/echo:0.0.1@") {
		t.Fatalf("installed %v", got)
	}
	if up := fake.Uploads()[0]; up.VerifySignature != "false" || up.Filename != "echo.difypkg" {
		t.Fatalf("upload %+v", up)
	}

	// The same plugin again: nothing to do, exit 0.
	code, stdout, stderr = runRemote(t, fake, "install", pkg, "--poll-interval", "1ms")
	if code != 0 || !strings.Contains(stdout, "test/echo:0.0.1 is already installed (installation 0000") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Another version of it: say which one is installed.
	other := filepath.Join(t.TempDir(), "echo.difypkg")
	if err := os.WriteFile(other, []byte("another build"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runRemote(t, fake, "install", other, "--json")
	var res struct {
		AllInstalled bool   `json:"all_installed"`
		UID          string `json:"unique_identifier"`
		Installed    struct {
			UID string `json:"plugin_unique_identifier"`
		} `json:"installed"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || !res.AllInstalled || res.UID == res.Installed.UID || !strings.HasPrefix(res.Installed.UID, "test/echo:") {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestDaemonClientInstallJSON(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	code, stdout, stderr := runRemote(t, fake, "install", fakePackage(t, "echo.difypkg"), "--json", "--poll-interval", "1ms")
	var task struct {
		ID      string
		Status  string
		Plugins []struct {
			UID    string `json:"plugin_unique_identifier"`
			Status string
		}
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &task) != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if task.Status != "success" || task.ID == "" || len(task.Plugins) != 1 || task.Plugins[0].Status != "success" {
		t.Fatalf("task %+v", task)
	}
}

func TestDaemonClientInstallFailed(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	code, stdout, stderr := runRemote(t, fake, "install", fakePackage(t, "broken.difypkg"), "--poll-interval", "1ms", "--json")
	if code != ExitFailure {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "error: installing test/broken:0.0.1 failed: failed to init environment: No matching distribution found for nonexistent-pkg") {
		t.Fatalf("stderr %q", stderr)
	}
	if !strings.Contains(stdout, `"status": "failed"`) {
		t.Fatalf("--json did not print the failed task: %q", stdout)
	}
	if len(fake.Installed("t")) != 0 {
		t.Fatal("a failed install left an installation")
	}
}

func TestDaemonClientInstallErrors(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	pkg := fakePackage(t, "echo.difypkg")
	down := httptest.NewServer(nil)
	downURL := down.URL
	down.Close()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"wrong key", []string{"install", pkg, "--url", fake.URL(), "--key", "wrong-key-but-long-enough"}, 1, "refused the API key"},
		{"signature required", []string{"install", pkg, "--url", fake.URL(), "--key", fakeKey, "--verify-signature"}, 1, "bad signature"},
		{"missing package", []string{"install", filepath.Join(t.TempDir(), "nope.difypkg"), "--url", fake.URL(), "--key", fakeKey}, 1, "nope.difypkg"},
		{"daemon down", []string{"install", pkg, "--url", downURL, "--key", fakeKey}, 1, "is the daemon running?"},
		{"no file", []string{"install", "--url", fake.URL(), "--key", fakeKey}, 2, "accepts 1 arg"},
		{"bad url", []string{"install", pkg, "--url", "localhost:5002", "--key", fakeKey}, 2, "want http://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, "plugd", tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d (want %d), stderr %q lacks %q; stdout %q", code, tt.wantCode, stderr, tt.want, stdout)
			}
		})
	}
}

func TestDaemonClientList(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	code, stdout, _ := runRemote(t, fake, "list")
	if code != 0 || stdout != "no plugins installed\n" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	code, stdout, _ = runRemote(t, fake, "list", "--json")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	id1 := fake.Install("t", "acme/search:1.2.0@"+strings.Repeat("a", 64), "marketplace")
	id2 := fake.Install("t", "acme/weather:0.3.1@"+strings.Repeat("b", 64), "package")
	fake.Install("other", "acme/hidden:1.0.0@"+strings.Repeat("c", 64), "package")

	code, stdout, stderr := runRemote(t, fake, "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "PLUGIN ID VERSION INSTALLATION ID SOURCE SIGNED BY" ||
		strings.Join(strings.Fields(lines[1]), " ") != "acme/search 1.2.0 "+id1+" marketplace unverified" ||
		strings.Join(strings.Fields(lines[2]), " ") != "acme/weather 0.3.1 "+id2+" package unverified" {
		t.Fatalf("table:\n%s", stdout)
	}
	code, stdout, _ = runRemote(t, fake, "list", "--json")
	var items []struct {
		PluginID       string `json:"plugin_id"`
		InstallationID string `json:"installation_id"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &items) != nil || len(items) != 2 || items[1].InstallationID != id2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
}

func TestDaemonClientUninstall(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	uid := "acme/search:1.2.0@" + strings.Repeat("a", 64)
	tests := []struct {
		name string
		arg  func(id string) string
	}{
		{"by plugin id", func(string) string { return "acme/search" }},
		{"by installation id", func(id string) string { return id }},
		{"by unique identifier", func(string) string { return uid }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fake.Install("t", uid, "package")
			code, stdout, stderr := runRemote(t, fake, "uninstall", tt.arg(id))
			if code != 0 || stdout != "uninstalled acme/search:1.2.0 (installation "+id+")\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if got := fake.Installed("t"); len(got) != 0 {
				t.Fatalf("still installed: %v", got)
			}
		})
	}
	id := fake.Install("t", uid, "package")
	code, stdout, _ := runRemote(t, fake, "uninstall", id, "--json")
	var res map[string]string
	if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || res["installation_id"] != id || res["plugin_id"] != "acme/search" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	code, _, stderr := runRemote(t, fake, "uninstall", "acme/nothing")
	if code != ExitFailure || !strings.Contains(stderr, `no installed plugin matches "acme/nothing"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestDaemonClientInvoke(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	fake.Install("t", "test/echo:0.0.1@"+strings.Repeat("a", 64), "package")

	code, stdout, stderr := runRemote(t, fake, "invoke", "test/echo", "--tool", "echo", "--param", "text=hello", "--param", "n=42", "--credential", "api_key=007")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	want := "hello\n{\n  \"credentials\": {\n    \"api_key\": \"007\"\n  },\n  \"params\": {\n    \"n\": 42,\n    \"text\": \"hello\"\n  }\n}\nlink: https://example.com/x\n"
	if stdout != want {
		t.Fatalf("stdout %q\nwant   %q", stdout, want)
	}
	d := fake.Dispatches()[0]
	var body struct {
		UserID string `json:"user_id"`
		Data   struct {
			Provider       string
			Tool           string
			ToolParameters map[string]any  `json:"tool_parameters"`
			Credentials    map[string]any  `json:"credentials"`
			CredentialType string          `json:"credential_type"`
			Extra          json.RawMessage `json:"extra"`
		}
	}
	if err := json.Unmarshal(d.Body, &body); err != nil {
		t.Fatal(err)
	}
	if d.Path != "tool/invoke" || d.PluginID != "test/echo" || body.UserID != "plugd-cli" || body.Data.Provider != "echo_tools" || body.Data.Tool != "echo" ||
		body.Data.ToolParameters["n"] != 42.0 || body.Data.Credentials["api_key"] != "007" || body.Data.CredentialType != "api-key" {
		t.Fatalf("request %s %s: %s", d.Path, d.PluginID, d.Body)
	}

	// PROVIDER/TOOL skips the lookup; --json prints the chunks unchanged.
	code, stdout, _ = runRemote(t, fake, "invoke", "test/echo", "--tool", "custom/echo", "--param", "text=x", "--json", "--user", "u9")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 || lines[0] != `{"message":{"text":"x"},"meta":null,"type":"text"}` {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("not JSON: %q", l)
		}
	}
	if err := json.Unmarshal(fake.Dispatches()[1].Body, &body); err != nil || body.Data.Provider != "custom" || body.UserID != "u9" {
		t.Fatalf("second request %s", fake.Dispatches()[1].Body)
	}
}

func TestDaemonClientInvokeErrors(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	fake.Install("t", "test/echo:0.0.1@"+strings.Repeat("a", 64), "package")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"plugin error", []string{"test/echo", "--tool", "fail"}, 1, "starting\n", "error: PluginInvokeError: ValueError: the tool failed on purpose\n"},
		{"not installed (lookup)", []string{"test/nope", "--tool", "echo"}, 1, "", "test/nope is not installed"},
		{"not installed (daemon)", []string{"test/nope", "--tool", "p/echo"}, 1, "", "PluginNotFoundError: plugin test/nope is not installed (HTTP 404)"},
		{"no tool", []string{"test/echo"}, 2, "", "--tool is required"},
		{"bad param", []string{"test/echo", "--tool", "echo", "--param", "novalue"}, 2, "", `--param: "novalue": want key=value`},
		{"bad plugin id", []string{"echo", "--tool", "echo"}, 2, "", "want author/name"},
		{"bad tool", []string{"test/echo", "--tool", "p/"}, 2, "", "want TOOL or PROVIDER/TOOL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runRemote(t, fake, append([]string{"invoke"}, tt.args...)...)
			if code != tt.wantCode || stdout != tt.wantStdout || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", code, tt.wantCode, stdout, tt.wantStdout, stderr, tt.wantStderr)
			}
		})
	}
}

// The connection defaults come from the environment; these tests change it, so they do not
// run in parallel.
func TestDaemonClientDefaults(t *testing.T) {
	fake := clienttest.New(t, fakeKey)
	fake.Install("default", "acme/a:1.0.0@"+strings.Repeat("a", 64), "package")
	fake.Install("team", "acme/b:1.0.0@"+strings.Repeat("b", 64), "package")
	u, _ := url.Parse(fake.URL())
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, "server.key"), []byte(fakeKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"PLUGD_URL", "PLUGD_KEY", "SERVER_KEY", "PLUGD_TENANT", "SERVER_PORT", "PLUGD_DATA_DIR"} {
		t.Setenv(k, "")
	}
	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     string
	}{
		{"key file of the data dir", []string{"PLUGD_URL", fake.URL(), "PLUGD_DATA_DIR", dataDir}, nil, 0, "acme/a"},
		{"--data-dir", []string{"PLUGD_URL", fake.URL()}, []string{"--data-dir", dataDir}, 0, "acme/a"},
		{"SERVER_PORT and SERVER_KEY", []string{"SERVER_PORT", u.Port(), "SERVER_KEY", fakeKey}, nil, 0, "acme/a"},
		{"PLUGD_KEY over SERVER_KEY", []string{"PLUGD_URL", fake.URL(), "PLUGD_KEY", fakeKey, "SERVER_KEY", "wrong"}, nil, 0, "acme/a"},
		{"PLUGD_TENANT", []string{"PLUGD_URL", fake.URL(), "PLUGD_KEY", fakeKey, "PLUGD_TENANT", "team"}, nil, 0, "acme/b"},
		{"flags over environment", []string{"PLUGD_URL", "http://127.0.0.1:1", "PLUGD_KEY", "wrong", "PLUGD_TENANT", "x"}, []string{"--url", fake.URL(), "--key", fakeKey, "--tenant", "team"}, 0, "acme/b"},
		{"no key anywhere", []string{"PLUGD_URL", fake.URL(), "PLUGD_DATA_DIR", t.TempDir()}, nil, 2, "no API key"},
		{"bad SERVER_PORT", []string{"SERVER_PORT", "http"}, nil, 2, `SERVER_PORT="http"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i+1 < len(tt.env); i += 2 {
				t.Setenv(tt.env[i], tt.env[i+1])
			}
			code, stdout, stderr := run(t, "plugd", append([]string{"list"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stdout+stderr, tt.want) {
				t.Fatalf("exit %d (want %d), output lacks %q:\n%s%s", code, tt.wantCode, tt.want, stdout, stderr)
			}
		})
	}
}

package scaffold

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sdkLine is one release line of the dify-plugin SDK with the interpreter it is installed in.
type sdkLine struct{ name, python string }

// sdkPythons returns the interpreters with the dify-plugin SDK that scripts/test-deps.sh
// prints: the 0.7 line on Python 3.11 (PLUGD_TEST_PYTHON_SDK07) and the newest release on
// Python 3.12+ (PLUGD_TEST_PYTHON_SDK_NEW). A missing one fails the test unless
// PLUGD_SKIP_PYTHON=1 says so explicitly, so CI cannot lose the SDK check unnoticed.
func sdkPythons(t *testing.T) []sdkLine {
	t.Helper()
	var lines []sdkLine
	for _, v := range []struct{ name, env string }{{"sdk07", "PLUGD_TEST_PYTHON_SDK07"}, {"sdknew", "PLUGD_TEST_PYTHON_SDK_NEW"}} {
		py := os.Getenv(v.env)
		if py == "" {
			if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
				t.Skip("PLUGD_SKIP_PYTHON=1: skipping the check against the real SDK")
			}
			t.Fatalf("%s is not set: run the tests with scripts/test.sh, or export what scripts/test-deps.sh prints (PLUGD_SKIP_PYTHON=1 skips on purpose)", v.env)
		}
		lines = append(lines, sdkLine{v.name, py})
	}
	return lines
}

type sdkResult struct {
	OK     bool     `json:"ok"`
	Checks []string `json:"checks"`
	Error  string   `json:"error"`
}

// runSDKCheck runs testdata/sdkcheck.py on a generated folder.
func runSDKCheck(t *testing.T, py, dir string, c Category, description string) sdkResult {
	t.Helper()
	script, err := filepath.Abs("testdata/sdkcheck.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, dir, string(c), description)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "INSTALL_METHOD=local")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res sdkResult
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("sdkcheck.py gave no result (%v): %v\nstdout:\n%s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	if res.OK != (runErr == nil) {
		t.Fatalf("sdkcheck.py exit status %v disagrees with ok=%v", runErr, res.OK)
	}
	return res
}

// TestSDKLoadsAndRunsEveryCategory starts each generated plugin the way the SDK does (minus
// I/O) and calls its code through the SDK's executor; see testdata/sdkcheck.py.
func TestSDKLoadsAndRunsEveryCategory(t *testing.T) {
	t.Parallel()
	for _, sdk := range sdkPythons(t) {
		for _, c := range Categories() {
			py := sdk.python
			t.Run(sdk.name+"/"+string(c), func(t *testing.T) {
				t.Parallel()
				dir, o := generate(t, c)
				res := runSDKCheck(t, py, dir, c, o.Description)
				if !res.OK {
					t.Fatalf("the SDK check failed after %d checks:\n%s", len(res.Checks), res.Error)
				}
				if len(res.Checks) < 12 {
					t.Errorf("only %d checks ran: %q", len(res.Checks), res.Checks)
				}
				t.Logf("%d SDK checks passed", len(res.Checks))
			})
		}
	}
}

// TestSDKCheckCatchesBrokenCode proves the SDK check is not vacuous: a tool that does not
// implement _invoke, and a manifest the SDK cannot parse, must both fail it on every SDK line.
func TestSDKCheckCatchesBrokenCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, old, new, want string
	}{
		{"abstract tool", "tools/demo-tool.py", "def _invoke(", "def _invoke_renamed(", "no abstract methods left"},
		{"bad runner language", "manifest.yaml", "language: python", "language: ruby", "Error loading plugin configuration"},
	}
	for _, sdk := range sdkPythons(t) {
		for _, tc := range tests {
			py := sdk.python
			t.Run(sdk.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				dir, o := generate(t, Tool)
				path := filepath.Join(dir, filepath.FromSlash(tc.file))
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(b, []byte(tc.old)) {
					t.Fatalf("%s does not contain %q", tc.file, tc.old)
				}
				if err := os.WriteFile(path, bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
					t.Fatal(err)
				}
				res := runSDKCheck(t, py, dir, Tool, o.Description)
				if res.OK || !strings.Contains(res.Error, tc.want) {
					t.Fatalf("ok=%v, error %q, want a failure mentioning %q", res.OK, res.Error, tc.want)
				}
			})
		}
	}
}

// TestPluginStartsUnderSDK runs `python -m main` as the daemon does (working folder = the
// plugin, INSTALL_METHOD=local) and waits for the first heartbeat, which is when the daemon
// considers a plugin ready. It proves main.py and the whole start-up path work.
func TestPluginStartsUnderSDK(t *testing.T) {
	t.Parallel()
	for _, sdk := range sdkPythons(t) {
		for _, c := range Categories() {
			py := sdk.python
			t.Run(sdk.name+"/"+string(c), func(t *testing.T) {
				t.Parallel()
				dir, o := generate(t, c)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, py, "-m", "main")
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "INSTALL_METHOD=local")
				stdin, err := cmd.StdinPipe() // kept open: the SDK reads requests from it
				if err != nil {
					t.Fatal(err)
				}
				defer stdin.Close()
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

				var sawManifest bool
				dec := json.NewDecoder(stdout)
				for {
					var msg map[string]any
					if err := dec.Decode(&msg); err != nil {
						t.Fatalf("no heartbeat (manifest seen: %v): %v\nstderr:\n%s", sawManifest, err, stderr.String())
					}
					if msg["name"] == o.Name && msg["type"] == "plugin" {
						sawManifest = true // local mode writes the manifest first
					}
					if msg["event"] == "heartbeat" {
						break
					}
				}
				if !sawManifest {
					t.Error("the plugin did not write its manifest before the first heartbeat")
				}
			})
		}
	}
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// runInit runs `plugd plugin init` with args through Main, the way main does.
func runInit(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(context.Background(), Env{
		Args:    append([]string{"plugd", "plugin", "init"}, args...),
		Stdin:   strings.NewReader(stdin),
		Stdout:  &out,
		Stderr:  &errOut,
		Version: "0.0.0-test",
	})
	return code, out.String(), errOut.String()
}

func TestInitQuick(t *testing.T) {
	parent := t.TempDir()
	code, stdout, stderr := runInit(t, "", "--quick", "--dir", parent, "--name", "my_tool", "--author", "me",
		"--description", `It's "great" & <fast>: yes #1`, "--category", "tool", "--allow-storage", "--allow-llm")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	dir := filepath.Join(parent, "my_tool")
	if !strings.Contains(stdout, dir) || !strings.Contains(stdout, "plugd plugin validate . && plugd plugin package .") {
		t.Errorf("stdout does not show the folder and the next steps:\n%s", stdout)
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Description map[string]string
		Resource    struct {
			Permission struct {
				Model   map[string]bool
				Storage struct {
					Enabled bool
					Size    int64
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Description["en_US"] != `It's "great" & <fast>: yes #1` {
		t.Errorf("description = %q", m.Description["en_US"])
	}
	if p := m.Resource.Permission; !p.Model["enabled"] || !p.Model["llm"] || !p.Storage.Enabled || p.Storage.Size != 1048576 {
		t.Errorf("permissions = %+v", p)
	}
}

func TestInitJSON(t *testing.T) {
	parent := t.TempDir()
	code, stdout, stderr := runInit(t, "", "--quick", "--json", "--dir", parent, "--name", "emb", "--author", "me",
		"--description", "d", "--category", "text-embedding")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var res initResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if res.Path != filepath.Join(parent, "emb") || res.Category != "text-embedding" {
		t.Errorf("result = %+v", res)
	}
	for _, f := range res.Files {
		if _, err := os.Stat(filepath.Join(res.Path, filepath.FromSlash(f))); err != nil {
			t.Errorf("listed file %s: %v", f, err)
		}
	}
	if len(res.Files) < 15 {
		t.Errorf("only %d files listed", len(res.Files))
	}
}

func TestInitErrors(t *testing.T) {
	base := []string{"--name", "p", "--author", "me", "--description", "d", "--category", "tool"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr []string
	}{
		{"missing values without a terminal", []string{"--name", "p"}, "", ExitUsage,
			[]string{"missing --author, --description, --category", "--interactive"}},
		{"quick never prompts", []string{"--quick", "--name", "p", "--interactive"}, "me\n", ExitUsage, []string{"missing --author"}},
		{"invalid name", []string{"--quick", "--name", "My Plugin", "--author", "me", "--description", "d", "--category", "tool"}, "", ExitUsage,
			[]string{`name "My Plugin"`, "^[a-z0-9_-]{1,128}$"}},
		{"invalid author", with("--author", "Me!"), "", ExitUsage, []string{`author "Me!"`}},
		{"invalid category", with("--category", "models"), "", ExitUsage, []string{`category "models"`, "datasource", "trigger"}},
		{"go", with("--language", "go"), "", ExitUsage, []string{"only python"}},
		{"storage too small", with("--storage-size", "10"), "", ExitUsage, []string{"storage-size", "between 1024"}},
		{"bad version", with("--min-dify-version", "1.0"), "", ExitUsage, []string{"min-dify-version"}},
		{"unknown flag", with("--bogus"), "", ExitUsage, []string{"unknown flag"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			code, _, stderr := runInit(t, tc.stdin, append(tc.args, "--dir", parent)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("something was created: %v", entries)
			}
		})
	}
}

func TestInitRefusesNonEmptyFolder(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "p")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runInit(t, "", "--quick", "--dir", parent, "--name", "p", "--author", "me", "--description", "d", "--category", "tool")
	if code != ExitFailure || !strings.Contains(stderr, "not empty") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Error("the existing file was touched")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files were added: %v", entries)
	}
}

func TestInitInteractive(t *testing.T) {
	parent := t.TempDir()
	answers := strings.Join([]string{
		"My Agent", "my_agent", // invalid, then valid name
		"me",
		"Thinks in loops",
		"",                 // no repo
		"agent-strategy",   // by name
		"",                 // python
		"", "", "", "", "", // model kinds after LLM: no
		"", "", "", "", // nodes, endpoints, apps, storage: no
		"", // no minimum version
		"", // no translations
	}, "\n") + "\n"
	code, stdout, stderr := runInit(t, answers, "--interactive", "--dir", parent)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, s := range []string{"Plugin name", `name "My Agent"`, "Category:", "agent strategies may always call tools and LLMs"} {
		if !strings.Contains(stderr, s) {
			t.Errorf("prompts (stderr) lack %q:\n%s", s, stderr)
		}
	}
	if strings.Contains(stdout, "Plugin name") {
		t.Error("prompts went to stdout")
	}
	if _, err := os.Stat(filepath.Join(parent, "my_agent", "strategies", "my_agent.py")); err != nil {
		t.Fatal(err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"my_tool":        "my_tool",
		"dir/my-tool":    "dir/my-tool",
		"-":              "./-",
		"my dir/x":       "'my dir/x'",
		"it's/x":         `'it'\''s/x'`,
		"/abs/path/x.y_": "/abs/path/x.y_",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

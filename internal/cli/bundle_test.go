package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundleCommands drives every bundle command the way an author would: init, append each
// kind of dependency, analyze, remove, bump, package, and edit the packaged file.
func TestBundleCommands(t *testing.T) {
	tmp := t.TempDir()
	ok := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := run(t, "plugd", args...)
		if code != 0 {
			t.Fatalf("plugd %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		return stdout
	}
	fails := func(want int, msg string, args ...string) {
		t.Helper()
		code, stdout, stderr := run(t, "plugd", args...)
		if code != want || !strings.Contains(stdout+stderr, msg) {
			t.Fatalf("plugd %s: exit %d (want %d), output lacks %q:\n%s%s", strings.Join(args, " "), code, want, msg, stdout, stderr)
		}
	}

	// A real plugin package to bundle.
	ok("plugin", "init", "--quick", "--name", "hello", "--author", "me", "--description", "Says hello", "--category", "tool", "--dir", tmp)
	pkg := filepath.Join(tmp, "hello.difypkg")
	ok("plugin", "package", filepath.Join(tmp, "hello"), "-o", pkg)
	var sum struct {
		Checksum string `json:"checksum"`
	}
	if err := json.Unmarshal([]byte(ok("plugin", "checksum", pkg, "--json")), &sum); err != nil || len(sum.Checksum) != 64 {
		t.Fatalf("checksum: %v %+v", err, sum)
	}

	fails(2, "missing --author, --description", "bundle", "init", "--name", "b1")
	fails(2, "name", "bundle", "init", "--name", "Bad Name", "--author", "me", "--description", "x", "--dir", tmp)
	var created struct {
		Path  string   `json:"path"`
		Files []string `json:"files"`
	}
	if err := json.Unmarshal([]byte(ok("bundle", "init", "--name", "b1", "--author", "me", "--description", "My tools", "--dir", tmp, "--json")), &created); err != nil || len(created.Files) != 3 {
		t.Fatalf("init --json: %v %+v", err, created)
	}
	dir := filepath.Join(tmp, "b1")
	fails(1, "not empty", "bundle", "init", "--name", "b1", "--author", "me", "--description", "again", "--dir", tmp)

	ok("bundle", "append", "package", dir, "-p", pkg)
	ok("bundle", "append", "marketplace", dir, "-m", "langgenius/maths:0.0.8")
	ok("bundle", "append", "github", dir, "--repo_pattern", "langgenius/foo:1.0.0/foo.difypkg")
	fails(1, "marketplace pattern", "bundle", "append", "marketplace", dir, "-m", "maths")
	fails(1, "github pattern", "bundle", "append", "github", dir, "-r", "langgenius/foo")
	fails(1, "not a valid .difypkg", "bundle", "append", "package", dir, "-p", filepath.Join(dir, "README.md"))
	fails(2, "required flag", "bundle", "append", "github", dir)
	fails(2, "unknown command", "bundle", "append", "npm", dir)
	if _, err := os.Stat(filepath.Join(dir, "_assets", sum.Checksum)); err != nil {
		t.Fatalf("package not copied under its checksum: %v", err)
	}

	var an struct {
		Name         string `json:"name"`
		Dependencies []struct {
			Index    int             `json:"index"`
			Type     string          `json:"type"`
			Pattern  string          `json:"pattern"`
			Path     string          `json:"path"`
			Size     int             `json:"size"`
			Reported json.RawMessage `json:"reported"`
		} `json:"dependencies"`
		Problems []json.RawMessage `json:"problems"`
	}
	if err := json.Unmarshal([]byte(ok("bundle", "analyze", dir, "--json")), &an); err != nil {
		t.Fatal(err)
	}
	pkgData, _ := os.ReadFile(pkg)
	if len(an.Dependencies) != 3 || an.Dependencies[0].Path != sum.Checksum || an.Dependencies[0].Size != len(pkgData) ||
		compactJSON(an.Dependencies[1].Reported) != `{"organization":"langgenius","plugin":"maths","version":"0.0.8"}` ||
		compactJSON(an.Dependencies[2].Reported) != `{"packages":"foo.difypkg","release":"1.0.0","repo":"langgenius/foo","repo_address":"https://github.com/langgenius/foo"}` ||
		len(an.Problems) != 0 {
		t.Fatalf("analyze: %+v", an)
	}
	text := ok("bundle", "analyze", dir)
	if !strings.Contains(text, "b1 0.0.1 by me: 3 dependencies") || !strings.Contains(text, "marketplace  langgenius/maths:0.0.8") {
		t.Fatalf("analyze:\n%s", text)
	}

	fails(1, "out of range", "bundle", "remove", dir, "-i", "3")
	fails(2, "not a number", "bundle", "remove", dir, "-i", "x")
	ok("bundle", "append", "marketplace", dir, "-m", "langgenius/extra:^1.0.0")
	ok("bundle", "remove", dir, "-i", "3")
	ok("bundle", "bump", dir, "-t", "0.0.2")
	fails(1, "version", "bundle", "bump", dir, "-t", "2")

	out := filepath.Join(tmp, "b1.difybndl")
	ok("bundle", "package", dir, "-o", out)
	first, _ := os.ReadFile(out)
	ok("plugin", "bundle", "package", dir, "-o", out) // the same tree under plugin
	again, _ := os.ReadFile(out)
	if !bytes.Equal(first, again) {
		t.Fatal("packaging twice gave different bytes")
	}
	if !strings.Contains(ok("bundle", "analyze", out), "b1 0.0.2 by me: 3 dependencies") {
		t.Fatal("analyze of the .difybndl")
	}
	// Editing the packaged file in place.
	ok("bundle", "remove", out, "-i", "0")
	ok("bundle", "regenerate", out, "--name", "b2", "--author", "you", "--description", "Renamed")
	if err := json.Unmarshal([]byte(ok("bundle", "analyze", out, "--json")), &an); err != nil || an.Name != "b2" || len(an.Dependencies) != 2 {
		t.Fatalf("after editing the file: %v %+v", err, an)
	}
	fails(2, "overwrite the bundle itself", "bundle", "package", out, "-o", out)

	// A package missing from the folder cannot be packaged or installed.
	if err := os.Remove(filepath.Join(dir, "_assets", sum.Checksum)); err != nil {
		t.Fatal(err)
	}
	fails(1, "dependencies[0]: value.path: _assets/"+sum.Checksum+" is not in the bundle", "bundle", "package", dir, "-o", filepath.Join(tmp, "broken.difybndl"))
	fails(1, "is not in the bundle", "bundle", "analyze", dir)
	if _, err := os.Stat(filepath.Join(tmp, "broken.difybndl")); !os.IsNotExist(err) {
		t.Fatal("a failed package left a file")
	}
	fails(1, "manifest.yaml", "bundle", "analyze", tmp)
}

func compactJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return string(b)
	}
	return out.String()
}

// The prompts of `bundle init` on a terminal ask again until a value is valid, and only for
// what the flags left out.
func TestAskBundleProfile(t *testing.T) {
	var out bytes.Buffer
	name, author, desc := "", "given", ""
	err := askBundleProfile(t.Context(), strings.NewReader("Bad Name\nb1\nA bundle\n"), &out, &name, &author, &desc)
	if err != nil || name != "b1" || author != "given" || desc != "A bundle" {
		t.Fatalf("%v: %q %q %q", err, name, author, desc)
	}
	if !strings.Contains(out.String(), "must be 1-128 lowercase letters") || strings.Contains(out.String(), "Author") {
		t.Fatalf("prompts:\n%s", out.String())
	}
	name = ""
	if err := askBundleProfile(t.Context(), strings.NewReader(""), &out, &name, &author, &desc); err == nil {
		t.Fatal("end of input gave no error")
	}
}

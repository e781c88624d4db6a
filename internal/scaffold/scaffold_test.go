package scaffold

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
)

// tricky is a description with every character class that breaks naive YAML or HTML
// templating: quotes, ampersand, angle brackets, ": ", " #", a newline, a tab, a backslash,
// non-ASCII text and a YAML 1.1 boolean word.
const tricky = "It's \"great\" & <fast>: yes #1\nsecond\tline \\ ünïcödé 日本 \u2028 yes"

func testOptions(c Category) Options {
	return Options{
		Name:           "demo-" + string(c), // hyphens make module names Python could not import by name
		Author:         "plugd-test",
		Description:    tricky,
		Repo:           "https://github.com/plugd/demo?x=1&y=2#frag",
		Category:       c,
		MinDifyVersion: "1.9.0",
		CreatedAt:      time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		Permissions:    Permissions{Storage: true, App: true},
		I18nReadme:     []string{"zh_Hans", "ja_JP"},
	}
}

// generate writes the plugin of category c into a fresh temporary folder.
func generate(t *testing.T, c Category) (string, Options) {
	t.Helper()
	o := testOptions(c)
	dir := filepath.Join(t.TempDir(), o.Name)
	if err := Generate(dir, o); err != nil {
		t.Fatalf("Generate(%s): %v", c, err)
	}
	return dir, o
}

func TestGenerateEveryCategoryValidatesAndPackages(t *testing.T) {
	for _, c := range Categories() {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			dir, o := generate(t, c)

			p, probs := manifest.Load(os.DirFS(dir))
			for _, pr := range probs {
				t.Errorf("manifest problem (strict=%v): %s", pr.Strict, pr)
			}
			if p == nil {
				t.Fatal("manifest.Load returned no plugin")
			}

			// The package holds what the ignore rules keep, and validates the same way.
			ctx := context.Background()
			tree, err := pkgfile.Collect(ctx, dir)
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			var zipped bytes.Buffer
			if err := tree.WriteZip(ctx, &zipped, nil); err != nil {
				t.Fatalf("WriteZip: %v", err)
			}
			pkg, err := pkgfile.Read(bytes.NewReader(zipped.Bytes()), int64(zipped.Len()), pkgfile.DefaultLimits())
			if err != nil {
				t.Fatalf("read back the package: %v", err)
			}
			defer pkg.Close()
			if _, probs := manifest.Load(pkg); len(probs) > 0 {
				t.Errorf("the package has problems the folder had not: %v", probs)
			}
			// Every generated file is packaged except .gitignore, which .difyignore leaves out.
			files, _ := Render(o)
			var want, got []string
			for _, f := range files {
				if f.Path != ".gitignore" {
					want = append(want, f.Path)
				}
			}
			for _, e := range pkg.Entries() {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("package entries:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestGenerateFiles pins the file list of each category, so a template that is added or
// renamed shows up in review.
func TestGenerateFiles(t *testing.T) {
	common := []string{".difyignore", ".env.example", ".gitignore", "GUIDE.md", "PRIVACY.md", "README.md",
		"_assets/icon-dark.svg", "_assets/icon.svg", "main.py", "manifest.yaml", "pyproject.toml", "requirements.txt"}
	model := func(key, name string) []string {
		return []string{"models/" + key + "/_position.yaml", "models/" + key + "/" + key + ".py", "models/" + key + "/" + name + ".yaml", "provider/p.py", "provider/p.yaml"}
	}
	tests := map[Category][]string{
		Tool:          {"provider/p.py", "provider/p.yaml", "tools/p.py", "tools/p.yaml"},
		Trigger:       {"events/payload_received.py", "events/payload_received.yaml", "provider/p.py", "provider/p.yaml"},
		Extension:     {"endpoints/p.py", "endpoints/p.yaml", "group/p.yaml"},
		AgentStrategy: {"provider/p.py", "provider/p.yaml", "strategies/p.py", "strategies/p.yaml"},
		Datasource:    {"datasources/p.py", "datasources/p.yaml", "provider/p.py", "provider/p.yaml"},
		LLM:           model("llm", "echo-1"),
		TextEmbedding: model("text_embedding", "hash-embed-1"),
		Rerank:        model("rerank", "overlap-rerank-1"),
		TTS:           model("tts", "tone-tts-1"),
		Speech2Text:   model("speech2text", "size-transcribe-1"),
		Moderation:    model("moderation", "wordlist-moderation-1"),
	}
	if len(tests) != len(Categories()) {
		t.Fatalf("tests cover %d categories, there are %d", len(tests), len(Categories()))
	}
	for c, extra := range tests {
		o := Options{Name: "p", Author: "a", Description: "d", Category: c}
		files, err := Render(o)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		want := append(append([]string{}, common...), extra...)
		slices.Sort(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s files:\n got %q\nwant %q", c, got, want)
		}
	}
}

// TestUserTextRoundTrips reads every generated YAML file back and compares the values that
// came from the user, byte for byte, and checks nothing was HTML-escaped anywhere.
func TestUserTextRoundTrips(t *testing.T) {
	for _, c := range Categories() {
		t.Run(string(c), func(t *testing.T) {
			o := testOptions(c)
			files, err := Render(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				for _, esc := range []string{"&#39;", "&#34;", "&amp;", "&lt;", "&gt;", "&quot;"} {
					if bytes.Contains(f.Data, []byte(esc)) {
						t.Errorf("%s contains HTML escape %s", f.Path, esc)
					}
				}
				if strings.HasSuffix(f.Path, ".yaml") {
					var v any
					if err := yaml.Unmarshal(f.Data, &v); err != nil {
						t.Errorf("%s is not valid YAML: %v", f.Path, err)
					}
				}
			}
			m := readYAML(t, files, "manifest.yaml")
			for _, tc := range []struct {
				path []string
				want string
			}{
				{[]string{"name"}, o.Name},
				{[]string{"author"}, o.Author},
				{[]string{"repo"}, o.Repo},
				{[]string{"description", "en_US"}, o.Description},
				{[]string{"description", "zh_Hans"}, o.Description},
				{[]string{"meta", "minimum_dify_version"}, o.MinDifyVersion},
				{[]string{"created_at"}, "2026-03-04T05:06:07Z"},
			} {
				if got := lookup(m, tc.path...); got != tc.want {
					t.Errorf("manifest %v = %q, want %q", tc.path, got, tc.want)
				}
			}
			if c == Tool || c == Trigger || c == AgentStrategy || c == Datasource {
				p := readYAML(t, files, "provider/"+o.Name+".yaml")
				if got := lookup(p, "identity", "description", "en_US"); got != o.Description {
					t.Errorf("provider description = %q, want %q", got, o.Description)
				}
			}
			for _, f := range files {
				if f.Path == "README.md" && !bytes.Contains(f.Data, []byte(o.Description)) {
					t.Errorf("README.md does not hold the description verbatim")
				}
			}
		})
	}
}

func readYAML(t *testing.T, files []File, path string) map[string]any {
	t.Helper()
	for _, f := range files {
		if f.Path == path {
			var m map[string]any
			if err := yaml.Unmarshal(f.Data, &m); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return m
		}
	}
	t.Fatalf("no file %s", path)
	return nil
}

func lookup(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	switch v := v.(type) {
	case string:
		return v
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return ""
}

func TestQuote(t *testing.T) {
	for _, s := range []string{
		"", "plain", "yes", "no", "null", "~", "1.0", "0x1F", "-", "- item", "a: b", "a #b", "#x", "'", `"`,
		`\`, "&anchor", "*alias", "!tag", "%x", "@x", "`x", "{a}", "[a]", "a\nb", "\r\n", "\t", "\x00\x01\x7f",
		"\u0085", "\u2028\u2029", "\ufeffbom", "é日本🙂", "  padded  ", "trailing\n", tricky,
	} {
		var got string
		if err := yaml.Unmarshal([]byte("v: "+quote(s)+"\n"), &struct{ V *string }{&got}); err != nil {
			t.Errorf("quote(%q) = %s: %v", s, quote(s), err)
			continue
		}
		if got != s {
			t.Errorf("quote(%q) = %s reads back as %q", s, quote(s), got)
		}
	}
}

func TestManifestPermissions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want map[string]any
	}{
		{"none", Options{Category: Tool}, map[string]any{}},
		{"agent strategy needs tools and llm", Options{Category: AgentStrategy},
			map[string]any{"tool": map[string]any{"enabled": true}, "model": map[string]any{"enabled": true, "llm": true, "text_embedding": false, "rerank": false, "tts": false, "speech2text": false, "moderation": false}}},
		{"extension needs endpoint", Options{Category: Extension}, map[string]any{"endpoint": map[string]any{"enabled": true}}},
		{"a model kind enables model", Options{Category: Tool, Permissions: Permissions{Rerank: true}},
			map[string]any{"model": map[string]any{"enabled": true, "llm": false, "text_embedding": false, "rerank": true, "tts": false, "speech2text": false, "moderation": false}}},
		{"storage without size gets the default", Options{Category: Tool, Permissions: Permissions{Storage: true}},
			map[string]any{"storage": map[string]any{"enabled": true, "size": DefaultStorageSize}}},
		{"everything", Options{Category: Tool, Permissions: Permissions{Tool: true, Node: true, App: true, Endpoint: true, Storage: true, StorageSize: 4096}},
			map[string]any{"tool": map[string]any{"enabled": true}, "node": map[string]any{"enabled": true}, "app": map[string]any{"enabled": true},
				"endpoint": map[string]any{"enabled": true}, "storage": map[string]any{"enabled": true, "size": 4096}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Name, tc.o.Author, tc.o.Description = "p", "a", "d"
			files, err := Render(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			m := readYAML(t, files, "manifest.yaml")
			got := m["resource"].(map[string]any)["permission"]
			if !equalYAML(got, tc.want) {
				t.Errorf("permission = %v, want %v", got, tc.want)
			}
		})
	}
}

func equalYAML(a, b any) bool {
	ya, _ := yaml.Marshal(a)
	yb, _ := yaml.Marshal(b)
	return bytes.Equal(ya, yb)
}

func TestValidate(t *testing.T) {
	ok := Options{Name: "my-plugin_1", Author: "me", Description: "d", Category: Tool}
	tests := []struct {
		name   string
		change func(*Options)
		field  string // "" when valid
	}{
		{"valid", func(o *Options) {}, ""},
		{"uppercase name", func(o *Options) { o.Name = "MyPlugin" }, "name"},
		{"empty name", func(o *Options) { o.Name = "" }, "name"},
		{"name with space", func(o *Options) { o.Name = "my plugin" }, "name"},
		{"long name", func(o *Options) { o.Name = strings.Repeat("a", 129) }, "name"},
		{"128 char name", func(o *Options) { o.Name = strings.Repeat("a", 128) }, ""},
		{"author with dot", func(o *Options) { o.Author = "a.b" }, "author"},
		{"long author", func(o *Options) { o.Author = strings.Repeat("a", 65) }, "author"},
		{"blank description", func(o *Options) { o.Description = " \n" }, "description"},
		{"long description", func(o *Options) { o.Description = strings.Repeat("é", 1024) }, "description"},
		{"1023 char description", func(o *Options) { o.Description = strings.Repeat("é", 1023) }, ""},
		{"bad utf-8", func(o *Options) { o.Description = "a\xffb" }, "description"},
		{"unknown category", func(o *Options) { o.Category = "models" }, "category"},
		{"empty category", func(o *Options) { o.Category = "" }, "category"},
		{"go", func(o *Options) { o.Language = "go" }, "language"},
		{"repo without scheme", func(o *Options) { o.Repo = "github.com/a/b" }, "repo"},
		{"ftp repo", func(o *Options) { o.Repo = "ftp://example.com/x" }, "repo"},
		{"https repo", func(o *Options) { o.Repo = "https://example.com/x" }, ""},
		{"two-part version", func(o *Options) { o.MinDifyVersion = "1.9" }, "min-dify-version"},
		{"beta version", func(o *Options) { o.MinDifyVersion = "1.9.0-beta_1" }, ""},
		{"rc version", func(o *Options) { o.MinDifyVersion = "1.10.0-rc2" }, ""},
		{"non-PEP 440 suffix", func(o *Options) { o.MinDifyVersion = "1.9.0-foo" }, "min-dify-version"},
		{"storage too small", func(o *Options) { o.Permissions = Permissions{Storage: true, StorageSize: 10} }, "storage-size"},
		{"storage too large", func(o *Options) { o.Permissions = Permissions{Storage: true, StorageSize: MaxStorageSize + 1} }, "storage-size"},
		{"storage size ignored when storage is off", func(o *Options) { o.Permissions = Permissions{StorageSize: 10} }, ""},
		{"unknown readme language", func(o *Options) { o.I18nReadme = []string{"fr_FR"} }, "i18n-readme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.change(&o)
			err := o.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate = %v, want a %s error", err, tc.field)
			}
			if fe.Reason == "" {
				t.Error("the error gives no reason")
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o := Options{Name: "Bad", Author: "Bad Author", Category: "nope"}
	err := o.Validate()
	for _, field := range []string{"name", "author", "description", "category"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not mention %s", err, field)
		}
	}
	if !strings.Contains(err.Error(), "tool, agent-strategy") {
		t.Errorf("the category error does not list the categories: %v", err)
	}
}

func TestGenerateRefusesNonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Generate(dir, testOptions(Tool))
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Generate into a non-empty folder = %v, want ErrNotEmpty naming the folder", err)
	}
	entries, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(keep); len(entries) != 1 || string(b) != "mine" {
		t.Errorf("the folder was changed: %v", entries)
	}

	file := filepath.Join(dir, "keep.txt")
	if err := Generate(file, testOptions(Tool)); err == nil {
		t.Error("Generate onto a file succeeded")
	}
}

func TestGenerateIntoEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, testOptions(Tool)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateInvalidOptionsWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	o := testOptions(Tool)
	o.Author = "Not Valid"
	if err := Generate(dir, o); err == nil {
		t.Fatal("Generate with an invalid author succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the folder was created: %v", err)
	}
}

func TestWriteCleansUpOnlyWhatItMade(t *testing.T) {
	files := []File{{Path: "a/b.txt", Data: []byte("1")}, {Path: "c.txt", Data: []byte("2")}, {Path: "../escape", Data: nil}}

	// Folders Write creates, the plugin folder and its missing parents, are removed.
	base := t.TempDir()
	fresh := filepath.Join(base, "new", "parent", "fresh")
	if err := Write(fresh, files); err == nil {
		t.Fatal("Write with a bad path succeeded")
	}
	if entries, _ := os.ReadDir(base); len(entries) != 0 {
		t.Errorf("folders Write made are still there: %v", entries)
	}

	// An empty folder that existed before stays, emptied of what Write put in it.
	existing := t.TempDir()
	if err := Write(existing, files); err == nil {
		t.Fatal("Write with a bad path succeeded")
	}
	if _, err := os.Stat(existing); err != nil {
		t.Fatalf("the existing folder was removed: %v", err)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 0 {
		t.Errorf("Write left files behind: %v", entries)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	o := testOptions(LLM)
	a, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Render(o)
	for i := range a {
		if a[i].Path != b[i].Path || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("%s differs between two renders", a[i].Path)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ name, label, class, project, initial string }{
		{"my_tool", "My Tool", "MyTool", "my_tool", "M"},
		{"my-cool_tool-2", "My Cool Tool 2", "MyCoolTool2", "my-cool_tool-2", "M"},
		{"1st", "1st", "Plugin1st", "1st", "1"},
		{"_x_", "X", "X", "x", "X"},
		{"__", "__", "Plugin", "dify-plugin", "P"},
	}
	for _, tc := range tests {
		d := newData(Options{Name: tc.name})
		if d.Label != tc.label || d.Class != tc.class || d.ProjectName != tc.project || d.Initial != tc.initial {
			t.Errorf("%q: label %q class %q project %q initial %q, want %q %q %q %q",
				tc.name, d.Label, d.Class, d.ProjectName, d.Initial, tc.label, tc.class, tc.project, tc.initial)
		}
	}
}

func TestReadmeTranslations(t *testing.T) {
	files, err := Render(testOptions(Tool))
	if err != nil {
		t.Fatal(err)
	}
	var guide []byte
	found := map[string]bool{}
	for _, f := range files {
		found[f.Path] = true
		if f.Path == "GUIDE.md" {
			guide = f.Data
		}
	}
	for _, p := range []string{"readme/README_zh_Hans.md", "readme/README_ja_JP.md"} {
		if !found[p] {
			t.Errorf("no %s", p)
		}
		if !bytes.Contains(guide, []byte("`"+p+"`")) {
			t.Errorf("GUIDE.md does not list %s", p)
		}
	}
}

func TestRequirementsMatchPyproject(t *testing.T) {
	files, err := Render(Options{Name: "p", Author: "a", Description: "d", Category: Tool})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch f.Path {
		case "requirements.txt":
			if strings.TrimSpace(string(f.Data)) != SDKRequirement {
				t.Errorf("requirements.txt = %q", f.Data)
			}
		case "pyproject.toml":
			if !bytes.Contains(f.Data, []byte(`"`+SDKRequirement+`"`)) || !bytes.Contains(f.Data, []byte(`requires-python = ">=3.11"`)) {
				t.Errorf("pyproject.toml:\n%s", f.Data)
			}
		case ".difyignore":
			for _, p := range []string{".git/", ".venv/", "__pycache__/", "*.difypkg", ".env", "*.private.pem"} {
				if !bytes.Contains(f.Data, []byte("\n"+p+"\n")) {
					t.Errorf(".difyignore lacks %s", p)
				}
			}
		case ".env.example":
			want := "INSTALL_METHOD=remote\nREMOTE_INSTALL_URL=localhost:5003\nREMOTE_INSTALL_KEY=\n"
			if !bytes.HasSuffix(f.Data, []byte(want)) {
				t.Errorf(".env.example:\n%s", f.Data)
			}
		}
	}
}

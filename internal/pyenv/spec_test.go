package pyenv

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	tcUV  = &toolchain{python: "/usr/bin/python3.11", version: "3.11.7 (main)", info: [3]int{3, 11, 7}, uv: "/usr/bin/uv"}
	tcPip = &toolchain{python: "/usr/bin/python3.11", version: "3.11.7 (main)", info: [3]int{3, 11, 7}}
)

const (
	pyproject311 = "[project]\nname = \"p\"\nversion = \"0.1.0\"\nrequires-python = \">=3.11\"\ndependencies = [\"dify_plugin>=0.7\"]\n"
	pyproject312 = "[project]\nname = \"p\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = [\"dify_plugin>=0.9\"]\n"
)

func TestChooseSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		tc      *toolchain
		s       Settings
		want    Spec
		wantErr error
	}{
		{"requirements only", map[string]string{"requirements.txt": "six\n"}, tcUV, Settings{}, SpecRequirements, nil},
		{"pyproject only", map[string]string{"pyproject.toml": pyproject311}, tcUV, Settings{}, SpecPyproject, nil},
		{"pyproject only with pip", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x"}, tcPip, Settings{}, SpecPyproject, nil},
		{"lock wins", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x", "requirements.txt": "six\n"}, tcUV, Settings{}, SpecLock, nil},
		{"lock wins with a mirror", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x", "requirements.txt": "six\n"}, tcUV,
			Settings{IndexURL: "https://mirror.example/simple"}, SpecLock, nil},
		{"lock ignored", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x", "requirements.txt": "six\n"}, tcUV,
			Settings{IgnoreUVLock: true}, SpecRequirements, nil},
		{"no uv for the lock", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x", "requirements.txt": "six\n"}, tcPip, Settings{}, SpecRequirements, nil},
		{"pyproject without lock loses", map[string]string{"pyproject.toml": pyproject311, "requirements.txt": "six\n"}, tcUV, Settings{}, SpecRequirements, nil},
		{"too new for the interpreter", map[string]string{"pyproject.toml": pyproject312, "uv.lock": "x", "requirements.txt": "six\n"}, tcUV, Settings{}, SpecRequirements, nil},
		{"too new and nothing else", map[string]string{"pyproject.toml": pyproject312, "uv.lock": "x"}, tcUV, Settings{}, "", ErrPythonVersion},
		{"repackaged for offline", map[string]string{"pyproject.toml": pyproject311, "uv.lock": "x",
			"requirements.txt": "--no-index --find-links=./wheels/\nsix\n"}, tcUV, Settings{}, SpecRequirements, nil},
		{"nothing", map[string]string{"main.py": ""}, tcUV, Settings{}, "", ErrNoSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), tc.files)
			got, err := chooseSpec(dir, tc.tc, tc.s)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("chooseSpec = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEnvKey(t *testing.T) {
	key := func(files map[string]string, spec Spec, tc *toolchain, s Settings) string {
		t.Helper()
		k, err := envKey(writeFiles(t, t.TempDir(), files), spec, tc, s)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	req := func(content string) map[string]string { return map[string]string{"requirements.txt": content} }
	base := key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV, Settings{})
	if len(base) != 64 {
		t.Fatalf("key %q", base)
	}
	same := map[string]string{
		"comments, CRLF, spaces": key(req("# deps\r\ndify_plugin>=0.7,<0.8   # the SDK\r\n\r\n  six\r\n"), SpecRequirements, tcUV, Settings{}),
		"continuation":           key(req("dify_plugin>=0.7,\\\n<0.8\nsix\n"), SpecRequirements, tcUV, Settings{}),
		"pip instead of uv":      key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcPip, Settings{}),
		"proxy, CA, timeout": key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV,
			Settings{HTTPSProxy: "http://proxy:3128", CABundle: "/ca.pem", Timeout: 5}),
	}
	for name, k := range same {
		if k != base {
			t.Errorf("%s: key changed", name)
		}
	}
	differ := map[string]string{
		"other dependency":  key(req("dify_plugin>=0.7,<0.8\nsix==1.16\n"), SpecRequirements, tcUV, Settings{}),
		"other order":       key(req("six\ndify_plugin>=0.7,<0.8\n"), SpecRequirements, tcUV, Settings{}),
		"other interpreter": key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, &toolchain{python: "/usr/bin/python3.11", version: "3.11.8"}, Settings{}),
		"index":             key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV, Settings{IndexURL: "https://m.example/simple"}),
		"extra index":       key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV, Settings{ExtraIndexURL: "https://m.example/simple"}),
		"wheelhouse":        key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV, Settings{Wheelhouse: "/wheels"}),
		"extra args":        key(req("dify_plugin>=0.7,<0.8\nsix\n"), SpecRequirements, tcUV, Settings{ExtraArgs: []string{"--pre"}}),
	}
	for name, k := range differ {
		if k == base {
			t.Errorf("%s: key did not change", name)
		}
	}

	// Index credentials never reach the key.
	if key(req("six\n"), SpecRequirements, tcUV, Settings{IndexURL: "https://u:one@m.example/simple"}) !=
		key(req("six\n"), SpecRequirements, tcUV, Settings{IndexURL: "https://u:two@m.example/simple"}) {
		t.Error("index password is part of the key")
	}

	// Included files count; a requirement on the plugin's own files ties the key to the folder.
	withInclude := func(base string) string {
		return key(map[string]string{"requirements.txt": "-r more/base.txt\n", "more/base.txt": base}, SpecRequirements, tcUV, Settings{})
	}
	if withInclude("six\n") == withInclude("six==1.16\n") {
		t.Error("included requirements file is not part of the key")
	}
	bundled := map[string]string{"requirements.txt": "--no-index --find-links=./wheels/\nsix\n"}
	if key(bundled, SpecRequirements, tcUV, Settings{}) == key(bundled, SpecRequirements, tcUV, Settings{}) {
		t.Error("plugin with bundled wheels in two folders shares a key")
	}

	// Two versions of a pyproject plugin with the same dependencies share a key.
	lockFor := func(version string) string {
		return "version = 1\nrequires-python = \">=3.11\"\n\n[[package]]\nname = \"p\"\nversion = \"" + version +
			"\"\nsource = { virtual = \".\" }\ndependencies = [\n    { name = \"six\" },\n]\n\n[[package]]\nname = \"six\"\nversion = \"1.17.0\"\n"
	}
	project := func(name, version, deps string) map[string]string {
		return map[string]string{
			"pyproject.toml": "[project]\nname = \"" + name + "\"\nversion = \"" + version + "\"\ndescription = \"about " + name +
				"\"\nrequires-python = \">=3.11\"\ndependencies = [" + deps + "]\n",
			"uv.lock": lockFor(version),
		}
	}
	v1 := key(project("p", "0.1.0", `"six"`), SpecLock, tcUV, Settings{})
	if v2 := key(project("q", "0.2.0", `"six"`), SpecLock, tcUV, Settings{}); v2 != v1 {
		t.Error("pyproject plugins differing in name, version, description get different keys")
	}
	if v3 := key(project("p", "0.1.0", `"six", "idna"`), SpecLock, tcUV, Settings{}); v3 == v1 {
		t.Error("pyproject dependencies are not part of the key")
	}
}

func TestRequirementLines(t *testing.T) {
	got := requirementLines([]byte("# c\r\n a  ==1 # note\n\nb @ https://x/y.whl#sha256=1\\\n  ;python_version>'3'\n--hash=sha256:abc\n"))
	want := []string{"a ==1", "b @ https://x/y.whl#sha256=1 ;python_version>'3'", "--hash=sha256:abc"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestRefersToLocal(t *testing.T) {
	for line, want := range map[string]bool{
		"six==1.17":                            false,
		"-e .":                                 true,
		"-e git+https://github.com/a/b#egg=b":  false,
		"./dist/p-1.0-py3-none-any.whl":        true,
		"p @ file:///opt/p.whl":                true,
		"p @ ./vendor/p":                       true,
		"--no-index --find-links=./wheels/":    true,
		"--find-links ./wheels":                true,
		"-f https://example.com/wheels":        false,
		"--index-url https://m.example/simple": false,
	} {
		if got := refersToLocal(line); got != want {
			t.Errorf("refersToLocal(%q) = %v", line, got)
		}
	}
}

func TestRequiresPython(t *testing.T) {
	for src, want := range map[string]string{
		pyproject312: ">=3.12",
		"[project]\nname='x'\nrequires-python='~=3.11'\n":                  "~=3.11",
		"[tool.x]\nrequires-python = \">=3.9\"\n[project]\nname = \"x\"\n": "",
		"": "",
	} {
		if got := requiresPython([]byte(src)); got != want {
			t.Errorf("requiresPython(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestNormalizeLockKeepsDependencies(t *testing.T) {
	lock := "version = 1\n\n[[package]]\nname = \"p\"\nversion = \"1.0\"\nsource = { virtual = \".\" }\n" +
		"dependencies = [\n    { name = \"six\" },\n]\n\n[[package]]\nname = \"six\"\nversion = \"1.17.0\"\nsource = { registry = \"https://pypi.org/simple\" }\n"
	got := string(normalizeLock([]byte(lock)))
	if strings.Contains(got, `name = "p"`) || strings.Contains(got, `version = "1.0"`) {
		t.Errorf("root package name or version kept:\n%s", got)
	}
	if !strings.Contains(got, `name = "six"`+"\n"+`version = "1.17.0"`) || !strings.Contains(got, `{ name = "six" }`) {
		t.Errorf("dependency dropped:\n%s", got)
	}
}

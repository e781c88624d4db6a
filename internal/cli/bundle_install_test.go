package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/client/clienttest"
	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

func packageDep(uid string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"type": "package", "value": map[string]any{"unique_identifier": uid, "manifest": map[string]any{}}})
	return b
}

func marketplaceDep(org, plugin, version string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"type": "marketplace", "value": map[string]string{"organization": org, "plugin": plugin, "version": version}})
	return b
}

type bundleResult struct {
	Dependencies []struct {
		Index            int    `json:"index"`
		Type             string `json:"type"`
		Dependency       string `json:"dependency"`
		UniqueIdentifier string `json:"unique_identifier"`
		Status           string `json:"status"`
		Message          string `json:"message"`
	} `json:"dependencies"`
	Installed        int `json:"installed"`
	AlreadyInstalled int `json:"already_installed"`
	Failed           int `json:"failed"`
	Skipped          int `json:"skipped"`
}

// TestInstallBundle runs `plugd install BUNDLE.difybndl` against the fake daemon (which
// answers a configured dependency list) and the fake Marketplace: every kind of outcome in
// one bundle, each reported, and exit 1 naming the ones not installed.
func TestInstallBundle(t *testing.T) {
	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.Close)
	t.Setenv("MARKETPLACE_API_URL", mp.URL)
	t.Setenv("PLUGD_DATA_DIR", filepath.Join(t.TempDir(), "data"))

	fake := clienttest.New(t, fakeKey)
	fake.Install("t", "test/old:0.0.1@"+strings.Repeat("c", 64), "package")
	fake.Install("t", "test/same:0.0.1@"+strings.Repeat("d", 64), "package")
	deps := []json.RawMessage{
		packageDep("test/echo:0.0.1@" + strings.Repeat("a", 64)),
		packageDep("test/broken:0.0.1@" + strings.Repeat("b", 64)),
		marketplaceDep("langgenius", "agent", "0.x.x"),
		marketplaceDep("langgenius", "nope", "1.0.0"),
		marketplaceDep("langgenius", "agent", "^1.0.0"),
		json.RawMessage(`{"type":"github","value":{"packages":"x.difypkg","release":"1.0.0","repo":"owner/repo","repo_address":"https://github.com/owner/repo"}}`),
		json.RawMessage(`{"type":"svn","value":{}}`),
		packageDep("test/old:0.0.2@" + strings.Repeat("e", 64)),
		packageDep("test/same:0.0.1@" + strings.Repeat("d", 64)),
		packageDep("test/echo:0.0.1@" + strings.Repeat("a", 64)),
		packageDep("test/echo:0.0.2@" + strings.Repeat("f", 64)),
	}
	fake.SetBundle(deps...)
	bndl := fakePackage(t, "my.difybndl")
	code, stdout, stderr := runRemote(t, fake, "install", bndl, "--poll-interval", "1ms", "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	var res bundleResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || len(res.Dependencies) != 11 {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	want := []struct{ status, message string }{
		{"installed", ""},
		{"failed", "No matching distribution found"},
		{"installed", ""},
		{"failed", "langgenius/nope"},
		{"failed", "no published version matches ^1.0.0 (versions: 0.0.14)"},
		{"skipped", "download x.difypkg from a release of owner/repo matching 1.0.0 (https://github.com/owner/repo/releases)"},
		{"failed", `type "svn"`},
		{"already_installed", "another version is installed: test/old:0.0.1"},
		{"already_installed", "as installation 0000"},
		{"installed", ""},
		{"failed", "dependencies[0] is another version of test/echo (test/echo:0.0.1)"},
	}
	for i, w := range want {
		got := res.Dependencies[i]
		if got.Index != i || got.Status != w.status || !strings.Contains(got.Message, w.message) {
			t.Errorf("dependencies[%d]: %+v, want %s with %q", i, got, w.status, w.message)
		}
	}
	if res.Installed != 3 || res.Failed != 5 || res.Skipped != 1 || res.AlreadyInstalled != 2 {
		t.Errorf("counts %+v", res)
	}
	if res.Dependencies[2].Dependency != "langgenius/agent:0.x.x" || !strings.Contains(stderr, "langgenius/agent:0.x.x is 0.0.14") {
		t.Errorf("the pattern's resolution is not shown: %+v\n%s", res.Dependencies[2], stderr)
	}
	for _, w := range []string{"6 of 11 dependencies of " + bndl + " not installed", "dependencies[1] (package test/broken:0.0.1) failed", "dependencies[5] (github owner/repo:1.0.0/x.difypkg) skipped"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	// Installed with the right sources: the bundle's package as package, the download as
	// marketplace (the fake names uploads after their file).
	sources := map[string]bool{}
	code, out, _ := runRemote(t, fake, "list", "--json")
	var items []struct {
		UID    string `json:"plugin_unique_identifier"`
		Source string `json:"source"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &items) != nil {
		t.Fatalf("list: %d %s", code, out)
	}
	for _, it := range items {
		sources[it.Source+" "+pluginIDOf(it.UID)] = true
	}
	if !sources["package test/echo"] || !sources["marketplace test/agent-0.0.14@"+strings.Split(marketplacetest.AgentUID, "@")[1]] {
		t.Errorf("installed: %v", sources)
	}

	// The same bundle again, as a table: what is installed now is reported so, the rest
	// still fails; with the Marketplace off its dependencies fail saying so.
	t.Setenv("MARKETPLACE_ENABLED", "false")
	code, stdout, stderr = runRemote(t, fake, "install", bndl, "--poll-interval", "1ms")
	if code != 1 || !regexpLine(stdout, `^0\s+package\s+test/echo:0\.0\.1\s+already installed`) ||
		!regexpLine(stdout, `^2\s+marketplace\s+langgenius/agent:0\.x\.x\s+failed: the Marketplace is turned off \(MARKETPLACE_ENABLED=false\)$`) ||
		!strings.Contains(stdout, "0 installed, 4 already installed, 6 failed, 1 skipped") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}

	// A bundle whose dependencies are all in place exits 0.
	fake.SetBundle(deps[0])
	if code, stdout, stderr := runRemote(t, fake, "install", bndl); code != 0 || !strings.Contains(stdout, "0 installed, 1 already installed, 0 failed, 0 skipped") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	fake.SetBundle()
	if code, stdout, _ := runRemote(t, fake, "install", bndl); code != 0 || !strings.Contains(stdout, "has no dependencies") {
		t.Fatalf("empty bundle: exit %d %s", code, stdout)
	}
	if up := fake.Uploads()[0]; up.Filename != "my.difybndl" || up.VerifySignature != "false" || up.ContentLength <= 0 {
		t.Errorf("bundle upload seen by the daemon: %+v", up)
	}
}

// regexpLine reports whether any line of s matches pattern.
func regexpLine(s, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, line := range strings.Split(s, "\n") {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

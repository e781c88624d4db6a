package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

// bundleReport is what `plugd install BUNDLE.difybndl --json` prints.
type bundleReport struct {
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

// TestInstallBundleWithoutDify is `plugd install BUNDLE.difybndl` against a real daemon and
// the fake Marketplace: the bundle's own package and a Marketplace plugin both install (the
// Marketplace one downloaded and signature-checked as `plugd install ORG/NAME` does); in a
// second bundle an unknown Marketplace plugin fails with a message naming it and exit 1, a
// GitHub asset is skipped with what to download, and the other dependencies still install.
func TestInstallBundleWithoutDify(t *testing.T) {
	pythonTools(t)
	ctx := context.Background()
	pk := packages(t)
	bin := binary(t)
	work := t.TempDir()
	makeBundle := func(name string, appends ...[]string) string {
		t.Helper()
		dir := filepath.Join(work, name)
		steps := [][]string{{"bundle", "init", "--name", name, "--author", "plugd", "--description", "e2e bundle", "--dir", work}}
		for _, a := range appends {
			steps = append(steps, append([]string{"bundle", "append", a[0], dir}, a[1:]...))
		}
		out := filepath.Join(work, name+".difybndl")
		steps = append(steps, []string{"bundle", "package", dir, "-o", out})
		for _, args := range steps {
			if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("plugd %s: %v\n%s", strings.Join(args, " "), err, b)
			}
		}
		return out
	}
	good := makeBundle("goodbundle", []string{"package", "-p", pk.V1.Path}, []string{"marketplace", "-m", "langgenius/agent:0.0.14"})
	mixed := makeBundle("mixedbundle",
		[]string{"package", "-p", pk.V1.Path},
		[]string{"marketplace", "-m", "langgenius/nope:1.0.0"},
		[]string{"marketplace", "-m", "langgenius/agent:~0.0.1"},
		[]string{"github", "-r", "langgenius/e2etool:^1.0.0/e2etool.difypkg"})

	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.Close)
	d := startDaemon(t, daemonOptions{})
	env := map[string]string{"MARKETPLACE_API_URL": mp.URL, "PLUGD_DATA_DIR": filepath.Join(t.TempDir(), "cli-data")}

	// Both dependencies of the good bundle install and are listed.
	out, errOut, err := plugdCLI(t, d, env, "install", good, "--tenant", "bundle-1")
	if err != nil {
		t.Fatalf("plugd install %s: %v\nstdout: %s\nstderr: %s", good, err, out, errOut)
	}
	if !regexpLine(out, `^0\s+package\s+plugd/e2etool:0\.0\.1\s+installed$`) || !regexpLine(out, `^1\s+marketplace\s+langgenius/agent:0\.0\.14\s+installed$`) ||
		!strings.Contains(out, "2 installed, 0 already installed, 0 failed, 0 skipped") {
		t.Fatalf("summary:\n%s\nstderr:\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "downloaded langgenius/agent:0.0.14 from "+mp.URL) {
		t.Errorf("progress does not say what was downloaded from where:\n%s", errOut)
	}
	c := d.client("bundle-1")
	checkInstalledFrom(t, c, map[string]string{pk.V1.UID: "package", marketplacetest.AgentUID: "marketplace"})
	checkListedWithCategory(t, ctx, c, "langgenius/agent", "langgenius")
	msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "from an installed bundle", "mode": "text"})
	if err != nil || texts(msgs) != "from an installed bundle" {
		t.Fatalf("invoke the bundle's plugin: %v %+v", errorText(err), msgs)
	}

	// Again: nothing to do, and that is no failure.
	out, errOut, err = plugdCLI(t, d, env, "install", good, "--tenant", "bundle-1", "--json")
	var rep bundleReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.AlreadyInstalled != 2 || rep.Installed+rep.Failed+rep.Skipped != 0 {
		t.Fatalf("second install: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}

	// The mixed bundle in a fresh tenant: exit 1 naming the unknown plugin and the GitHub
	// asset; the package and the Marketplace plugin (a ~ pattern) are installed anyway.
	out, errOut, err = plugdCLI(t, d, env, "install", mixed, "--tenant", "bundle-2", "--json")
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("mixed bundle: %v, want exit 1\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	rep = bundleReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Dependencies) != 4 {
		t.Fatalf("mixed bundle --json: %v\n%s", err, out)
	}
	want := []struct{ status, uid string }{{"installed", pk.V1.UID}, {"failed", ""}, {"installed", marketplacetest.AgentUID}, {"skipped", ""}}
	for i, w := range want {
		if got := rep.Dependencies[i]; got.Status != w.status || got.UniqueIdentifier != w.uid {
			t.Errorf("dependencies[%d]: %+v, want %s %s", i, got, w.status, w.uid)
		}
	}
	if m := rep.Dependencies[1].Message; !strings.Contains(m, "langgenius/nope") || !strings.Contains(m, mp.URL) || !strings.Contains(m, "MARKETPLACE_API_URL") {
		t.Errorf("unknown Marketplace plugin: message %q does not name the plugin, URL and setting", m)
	}
	if m := rep.Dependencies[3].Message; !strings.Contains(m, "e2etool.difypkg") || !strings.Contains(m, "https://github.com/langgenius/e2etool/releases") {
		t.Errorf("GitHub dependency: message %q does not say what to download", m)
	}
	for _, w := range []string{"dependencies[1] (marketplace langgenius/nope:1.0.0) failed", "dependencies[3] (github langgenius/e2etool:^1.0.0/e2etool.difypkg) skipped"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr does not say %q:\n%s", w, errOut)
		}
	}
	checkInstalledFrom(t, d.client("bundle-2"), map[string]string{pk.V1.UID: "package", marketplacetest.AgentUID: "marketplace"})
}

// checkInstalledFrom checks that the tenant has exactly the plugins of want installed
// (unique identifier -> installation source).
func checkInstalledFrom(t *testing.T, c *difyClient, want map[string]string) {
	t.Helper()
	l, err := c.listPlugins(context.Background())
	if err != nil {
		t.Fatalf("management/list: %v", err)
	}
	got := map[string]string{}
	for _, item := range l.List {
		got[str(item, "plugin_unique_identifier")] = str(item, "source")
	}
	if len(got) != len(want) || l.Total != len(want) {
		t.Fatalf("tenant %s has %v installed (total %d), want %v", c.tenant, got, l.Total, want)
	}
	for uid, source := range want {
		if got[uid] != source {
			t.Errorf("tenant %s: %s installed from %q, want %q", c.tenant, uid, got[uid], source)
		}
	}
}

package e2e

// The tool catalog's install (issue 21): `plugd tools install ORG/NAME` asks the daemon to
// download a Marketplace plugin itself (POST /tools/{tenant}/install), so a catalog client
// without Marketplace access gets a plugin's tools. The CLI here runs with its own
// Marketplace turned off; the daemon reaches the fake Marketplace on loopback, which serves
// the officially signed langgenius/agent (an agent-strategy plugin: no tool providers) and
// the e2e tool plugin signed with a test key the daemon trusts through its trust folder.

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

func TestToolsInstallFromMarketplace(t *testing.T) {
	bin := binary(t)

	// The e2e tool plugin, signed with a fresh key (category community).
	keyDir := t.TempDir()
	prefix := filepath.Join(keyDir, "publisher")
	if out, err := exec.Command(bin, "signature", "generate", "-f", prefix).CombinedOutput(); err != nil {
		t.Fatalf("signature generate: %v\n%s", err, out)
	}
	signedPath := filepath.Join(keyDir, "e2etool.signed.difypkg")
	if out, err := exec.Command(bin, "signature", "sign", packages(t).V1.Path, "-p", prefix+".private.pem", "-c", "community", "-o", signedPath).CombinedOutput(); err != nil {
		t.Fatalf("signature sign: %v\n%s", err, out)
	}
	signed, err := os.ReadFile(signedPath)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := marketplacetest.New(marketplacetest.AgentPackage(t), signed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.Close)

	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, map[string]string{"FORCE_VERIFYING_SIGNATURE": "true", "MARKETPLACE_API_URL": mp.URL})})
	// The CLI has no Marketplace of its own: everything goes through the daemon.
	cliEnv := map[string]string{"MARKETPLACE_ENABLED": "false", "PLUGD_DATA_DIR": filepath.Join(t.TempDir(), "cli-data")}
	tenant := newTenant()
	cli := func(args ...string) (string, string, error) {
		t.Helper()
		return plugdCLI(t, d, cliEnv, append(args, "--tenant", tenant)...)
	}

	// The tool plugin's key is not trusted yet: the daemon refuses the download it verified.
	_, errOut, err := cli("tools", "install", "plugd/e2etool")
	if err == nil || !strings.Contains(errOut, "does not match any trusted key") || !strings.Contains(errOut, "plugd/e2etool") {
		t.Fatalf("install of a package signed by an untrusted key: %v\n%s", err, errOut)
	}
	trustDir := filepath.Join(d.opts.DataDir, "trusted-keys")
	if err := os.MkdirAll(trustDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(prefix + ".public.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trustDir, "publisher.pem"), pub, 0o644); err != nil {
		t.Fatal(err)
	}

	// The tool plugin: installed, and its provider is in the catalog.
	out, errOut, err := cli("tools", "install", "plugd/e2etool:0.0.1", "--json")
	if err != nil {
		t.Fatalf("plugd tools install plugd/e2etool: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	var res struct {
		UniqueIdentifier string `json:"unique_identifier"`
		Task             struct {
			Status string `json:"status"`
		} `json:"task"`
		Providers []struct {
			ID    string `json:"id"`
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		} `json:"providers"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("plugd tools install --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(res.UniqueIdentifier, "plugd/e2etool:0.0.1@") || res.Task.Status != "success" ||
		len(res.Providers) != 1 || res.Providers[0].ID != "plugd/e2etool/e2etool" || len(res.Providers[0].Tools) == 0 {
		t.Fatalf("plugd tools install --json: %s", out)
	}
	if !strings.Contains(errOut, "downloaded plugd/e2etool:0.0.1") {
		t.Errorf("stderr does not report the daemon's download: %s", errOut)
	}
	out, _, err = cli("tools", "list")
	if err != nil || !regexpLine(out, `^plugd/e2etool/e2etool\s+plugin\s+echo`) {
		t.Fatalf("plugd tools list after the install: %v\n%s", err, out)
	}
	out, _, err = cli("tools", "call", "plugd/e2etool/e2etool", "echo", "--param", "text=from the marketplace")
	if err != nil || !strings.Contains(out, "from the marketplace") {
		t.Fatalf("calling the installed tool: %v\n%s", err, out)
	}
	out, _, err = cli("list")
	if err != nil || !regexpLine(out, `plugd/e2etool\s+0\.0\.1\s+\S+\s+marketplace\s+community`) {
		t.Fatalf("plugd list: %v\n%s", err, out)
	}

	// The official agent plugin: installed, listed, and it adds no tool provider.
	out, errOut, err = cli("tools", "install", "langgenius/agent")
	if err != nil {
		t.Fatalf("plugd tools install langgenius/agent: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if !strings.Contains(out, "installed langgenius/agent:0.0.14") || !strings.Contains(out, "adds no tool provider") {
		t.Fatalf("plugd tools install langgenius/agent: %s", out)
	}
	out, _, err = cli("list")
	if err != nil || !regexpLine(out, `langgenius/agent\s+0\.0\.14\s+\S+\s+marketplace\s+langgenius`) {
		t.Fatalf("plugd list: %v\n%s", err, out)
	}
	// Again: nothing new is started, and the daemon's cache serves the package.
	before := mp.Downloads.Load()
	out, errOut, err = cli("tools", "install", "langgenius/agent")
	if err != nil || !strings.Contains(out, "already installed") || !strings.Contains(errOut, "cache") || mp.Downloads.Load() != before {
		t.Fatalf("second install: %v\nstdout: %s\nstderr: %s\ndownloads %d -> %d", err, out, errOut, before, mp.Downloads.Load())
	}

	// An unknown plugin: the error names it, the Marketplace's URL and the setting.
	_, errOut, err = cli("tools", "install", "langgenius/nope")
	if exitCode(err) != 1 || !strings.Contains(errOut, "langgenius/nope") || !strings.Contains(errOut, mp.URL) || !strings.Contains(errOut, "MARKETPLACE_API_URL") {
		t.Fatalf("unknown plugin: %v\n%s", err, errOut)
	}
	// Not a plugin reference: a usage error, nothing asked.
	if _, _, err := cli("tools", "install", "not a plugin"); exitCode(err) != 2 {
		t.Fatalf("bad reference: %v, want exit 2", err)
	}

	// A daemon with its Marketplace turned off says so.
	off := startDaemon(t, daemonOptions{Env: map[string]string{"MARKETPLACE_ENABLED": "false", "MARKETPLACE_API_URL": mp.URL}})
	_, errOut, err = plugdCLI(t, off, cliEnv, "tools", "install", "langgenius/agent")
	if exitCode(err) != 1 || !strings.Contains(errOut, "MARKETPLACE_ENABLED=false") || !strings.Contains(errOut, "langgenius/agent") {
		t.Fatalf("Marketplace off: %v\n%s", err, errOut)
	}
}

// exitCode is a finished command's exit code (0 when err is nil, -1 when it did not run).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

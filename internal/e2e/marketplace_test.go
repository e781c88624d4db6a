package e2e

// Marketplace plugins out of the box (issue 21): a daemon on its default settings trusts
// Dify's official key, applies ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES, picks up keys added to
// its trust folder without a restart, and `plugd install ORG/NAME` installs from a Marketplace
// (here a fake on loopback serving the officially signed langgenius/agent 0.0.14).

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/marketplace/marketplacetest"
)

// defaultSignatureEnv is a daemon's signature settings left at their defaults (the e2e
// harness turns FORCE_VERIFYING_SIGNATURE off for the other tests).
var defaultSignatureEnv = map[string]string{"FORCE_VERIFYING_SIGNATURE": "true"}

// plugdCLI runs the plugd binary as a client of d, with extra environment, and returns its
// stdout, stderr and error.
func plugdCLI(t *testing.T, d *daemon, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.home, "LANG=C.UTF-8"}
	if d != nil {
		cmd.Env = append(cmd.Env, "PLUGD_URL="+d.base, "PLUGD_KEY="+d.key)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func TestOfficialPackageOnDefaultSettings(t *testing.T) {
	ctx := context.Background()
	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, defaultSignatureEnv)})
	c := d.client(newTenant())

	for _, verify := range []bool{true, false} {
		res, err := c.uploadPackage(ctx, marketplacetest.AgentPackage(t), verify)
		if err != nil {
			t.Fatalf("upload of the official package (verify_signature=%v): %s", verify, errorText(err))
		}
		if res.UniqueIdentifier != marketplacetest.AgentUID || string(res.Verification) != `{"authorized_category":"langgenius"}` {
			t.Fatalf("upload (verify_signature=%v): %s %s", verify, res.UniqueIdentifier, res.Verification)
		}
	}
	start, err := c.installFromIdentifiers(ctx, []string{marketplacetest.AgentUID}, "marketplace",
		[]map[string]any{{"plugin_unique_identifier": marketplacetest.AgentUID}})
	if err != nil {
		t.Fatalf("install: %s", errorText(err))
	}
	if !start.AllInstalled {
		if task := waitTask(ctx, t, c, start.TaskID, 10*time.Minute); task.Status != "success" {
			t.Fatalf("install task: %+v", task)
		}
	}
	checkListedWithCategory(t, ctx, c, "langgenius/agent", "langgenius")

	expectOfficialAgentAnswers(ctx, t, d, fake, c)
}

// expectOfficialAgentAnswers checks that the installed official agent answers: its
// function_calling strategy runs, asks Dify's LLM (the fake) and streams the answer back.
func expectOfficialAgentAnswers(ctx context.Context, t *testing.T, d *daemon, fake *fakeDify, c *difyClient) {
	t.Helper()
	body := map[string]any{
		"user_id": "e2e-user", "conversation_id": nil, "app_id": nil, "message_id": nil,
		"data": map[string]any{
			"agent_strategy_provider": "agent", "agent_strategy": "function_calling",
			"agent_strategy_params": map[string]any{
				"model": fakeModel, "tools": []any{}, "instruction": "Answer briefly.", "query": "say hello", "maximum_iterations": 1,
			},
		},
	}
	msgs, err := collect[toolMessage](ctx, c, c.p("dispatch/agent_strategy/invoke"), map[string]string{"X-Plugin-ID": "langgenius/agent"}, body)
	requireDifyWired(t, d, fake, err)
	if err != nil {
		t.Fatalf("agent_strategy/invoke of the official agent: %s", errorText(err))
	}
	if out := texts(msgs); !strings.Contains(out, "hello world") {
		t.Fatalf("the official agent's answer %q lacks the LLM's \"hello world\" (%d messages)", out, len(msgs))
	}
}

// checkListedWithCategory finds pluginID in the tenant's list and checks the signer category
// plugd adds to each entry.
func checkListedWithCategory(t *testing.T, ctx context.Context, c *difyClient, pluginID, category string) {
	t.Helper()
	list, err := c.listPlugins(ctx)
	if err != nil {
		t.Fatal(errorText(err))
	}
	for _, raw := range list.List {
		var it struct {
			PluginID     string `json:"plugin_id"`
			Verification *struct {
				AuthorizedCategory string `json:"authorized_category"`
			} `json:"verification"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		if it.PluginID == pluginID {
			if it.Verification == nil || it.Verification.AuthorizedCategory != category {
				t.Fatalf("list entry of %s: %s, want verification %s", pluginID, raw, category)
			}
			return
		}
	}
	t.Fatalf("%s is not in the list: %d entries", pluginID, len(list.List))
}

func TestSignaturePolicyRefusals(t *testing.T) {
	ctx := context.Background()
	bin := binary(t)
	d := startDaemon(t, daemonOptions{Env: defaultSignatureEnv})
	c := d.client(newTenant())

	expectRefused := func(what string, pkg []byte, verify bool, wants ...string) {
		t.Helper()
		_, err := c.uploadPackage(ctx, pkg, verify)
		if err == nil {
			t.Fatalf("%s: the upload was accepted", what)
		}
		msg := errorText(err)
		for _, w := range wants {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: the error %q does not say %q", what, msg, w)
			}
		}
	}

	tampered, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vectors", "vec1.tampered.difypkg"))
	if err != nil {
		t.Fatal(err)
	}
	expectRefused("tampered vector", tampered, false, "bad signature", "official (langgenius, built in)")
	unsigned := packages(t).V1
	expectRefused("unsigned package", unsigned.Data, false, "not signed", "FORCE_VERIFYING_SIGNATURE")

	// A community key, not trusted yet.
	keyDir := t.TempDir()
	prefix := filepath.Join(keyDir, "community")
	if out, err := exec.Command(bin, "signature", "generate", "-f", prefix).CombinedOutput(); err != nil {
		t.Fatalf("signature generate: %v\n%s", err, out)
	}
	sign := func(pkg testPackage, name string) []byte {
		t.Helper()
		out := filepath.Join(keyDir, name+".signed.difypkg")
		if b, err := exec.Command(bin, "signature", "sign", pkg.Path, "-p", prefix+".private.pem", "-c", "community", "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("signature sign: %v\n%s", err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ownSigned := sign(unsigned, "own")
	expectRefused("package signed by an untrusted key", ownSigned, false, "does not match any trusted key")

	// Trusting the key is dropping it in the trust folder; no restart.
	trustDir := filepath.Join(d.opts.DataDir, "trusted-keys")
	if err := os.MkdirAll(trustDir, 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(prefix + ".public.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trustDir, "community.pem"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := c.uploadPackage(ctx, ownSigned, true)
	if err != nil {
		t.Fatalf("upload after trusting the key (no restart): %s", errorText(err))
	}
	if string(res.Verification) != `{"authorized_category":"community"}` {
		t.Fatalf("verification %s, want community", res.Verification)
	}

	// The same key signing a package that claims author langgenius.
	impostor, err := packagePlugin(bin, "impostor", func(dir string) error {
		return editFile(filepath.Join(dir, "manifest.yaml"), func(s string) string {
			return strings.Replace(s, "author: plugd", "author: langgenius", 1)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	expectRefused("community-signed package with author langgenius", sign(impostor, "impostor"), false,
		`author is "langgenius"`, "community", "ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES")

	// Removing the key takes effect at once too.
	if err := os.Remove(filepath.Join(trustDir, "community.pem")); err != nil {
		t.Fatal(err)
	}
	expectRefused("package signed by a key removed from the trust folder", ownSigned, false, "does not match any trusted key")
}

func TestInstallFromMarketplace(t *testing.T) {
	ctx := context.Background()
	mp, err := marketplacetest.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mp.Close)
	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, defaultSignatureEnv)})
	cacheDir := filepath.Join(t.TempDir(), "cli-data")
	env := map[string]string{"MARKETPLACE_API_URL": mp.URL, "PLUGD_DATA_DIR": cacheDir}

	out, _, err := plugdCLI(t, d, env, "marketplace", "search", "agent", "--json")
	if err != nil {
		t.Fatalf("marketplace search: %v", err)
	}
	var found struct {
		Plugins []struct {
			PluginID                string `json:"plugin_id"`
			LatestPackageIdentifier string `json:"latest_package_identifier"`
		} `json:"plugins"`
		Total int `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &found); err != nil || found.Total != 1 || found.Plugins[0].LatestPackageIdentifier != marketplacetest.AgentUID {
		t.Fatalf("marketplace search --json: %s (%v)", out, err)
	}
	if out, _, err := plugdCLI(t, d, env, "marketplace", "search", "agent"); err != nil || !strings.Contains(out, "langgenius/agent") || !strings.Contains(out, "0.0.14") {
		t.Fatalf("marketplace search: %s, %v", out, err)
	}
	out, _, err = plugdCLI(t, d, env, "marketplace", "versions", "langgenius/agent", "--json")
	var versions []struct {
		Version          string `json:"version"`
		UniqueIdentifier string `json:"unique_identifier"`
	}
	if err != nil || json.Unmarshal([]byte(out), &versions) != nil || len(versions) != 1 || versions[0].UniqueIdentifier != marketplacetest.AgentUID {
		t.Fatalf("marketplace versions --json: %s, %v", out, err)
	}

	out, errOut, err := plugdCLI(t, d, env, "install", "langgenius/agent", "--tenant", "mp-tenant")
	if err != nil {
		t.Fatalf("plugd install langgenius/agent: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if !strings.Contains(out, "installed langgenius/agent:0.0.14") || !strings.Contains(errOut, "downloaded langgenius/agent:0.0.14 from "+mp.URL) {
		t.Fatalf("plugd install: stdout %q stderr %q", out, errOut)
	}
	checkListedWithCategory(t, ctx, d.client("mp-tenant"), "langgenius/agent", "langgenius")
	out, _, err = plugdCLI(t, d, env, "list", "--tenant", "mp-tenant")
	if err != nil || !strings.Contains(out, "SIGNED BY") || !regexpLine(out, `langgenius/agent\s+0\.0\.14\s+\S+\s+marketplace\s+langgenius`) {
		t.Fatalf("plugd list: %s, %v", out, err)
	}
	// The installed plugin is listed with its agent strategies, and answers a call.
	strategies, err := d.client("mp-tenant").rawGet(ctx, "plugin/mp-tenant/management/agent_strategies", pageQuery(1, 256))
	if err != nil || !strings.Contains(string(strategies), "function_calling") {
		t.Fatalf("agent strategies: %s, %v", strategies, errorText(err))
	}
	expectOfficialAgentAnswers(ctx, t, d, fake, d.client("mp-tenant"))

	// Installing again in another tenant uses the cache, verified again by the daemon.
	before := mp.Downloads.Load()
	out, errOut, err = plugdCLI(t, d, env, "install", "langgenius/agent:0.0.14", "--tenant", "mp-tenant-2")
	if err != nil || !strings.Contains(errOut, "cached langgenius/agent:0.0.14") || mp.Downloads.Load() != before {
		t.Fatalf("second install: %v, stdout %s stderr %s, downloads %d -> %d", err, out, errOut, before, mp.Downloads.Load())
	}

	// An unknown plugin and an unreachable Marketplace fail with the URL, setting and id.
	_, errOut, err = plugdCLI(t, d, env, "install", "langgenius/nope")
	if err == nil || !strings.Contains(errOut, mp.URL) || !strings.Contains(errOut, "MARKETPLACE_API_URL") || !strings.Contains(errOut, "langgenius/nope") {
		t.Fatalf("unknown plugin: %v, %s", err, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	began := time.Now()
	_, errOut, err = plugdCLI(t, d, map[string]string{"MARKETPLACE_API_URL": dead, "PLUGD_DATA_DIR": cacheDir}, "install", "langgenius/agent")
	took := time.Since(began)
	if err == nil || !strings.Contains(errOut, dead) || !strings.Contains(errOut, "MARKETPLACE_API_URL") || !strings.Contains(errOut, "langgenius/agent") {
		t.Fatalf("unreachable marketplace: %v, %s", err, errOut)
	}
	// The issue's own bound (connection refused fails in under 5 s), generous for a loaded
	// machine: the process start is most of it.
	if took > 5*time.Second {
		t.Errorf("an unreachable Marketplace took %v to fail", took)
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

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundleFlow is Dify's "install from a .difybndl": an author builds a bundle with the
// CLI (the real test plugin's package, a Marketplace plugin and a GitHub release asset),
// Dify uploads it, gets the dependency list the reference answers
// (testdata/bundle_upload_answer.json, written from the reference's documented shape with
// the package's identifier and declaration filled in from a normal upload), installs the
// package dependency by its unique identifier and calls it.
func TestBundleFlow(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	bin := binary(t)
	work := t.TempDir()
	plugd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("plugd %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dir := filepath.Join(work, "e2ebundle")
	plugd("bundle", "init", "--name", "e2ebundle", "--author", "plugd", "--description", "The e2e tool and friends", "--dir", work)
	plugd("bundle", "append", "package", dir, "-p", pk.V1.Path)
	plugd("bundle", "append", "marketplace", dir, "-m", "langgenius/maths:0.0.8")
	plugd("bundle", "append", "github", dir, "-r", "langgenius/e2etool:^1.0.0/e2etool.difypkg")
	out := filepath.Join(work, "e2ebundle.difybndl")
	plugd("bundle", "package", dir, "-o", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	d := startDaemon(t, daemonOptions{})
	c := d.client(newTenant())
	ctx := context.Background()

	// verify_signature=true refuses the unsigned package inside, and stores nothing.
	if _, _, err := c.uploadBundle(ctx, data, true); err == nil || !strings.Contains(err.Error(), "dependencies[0]") {
		t.Fatalf("upload/bundle with verify_signature=true: %v, want a refusal naming dependencies[0]", err)
	}
	if ok, err := c.fetchIdentifier(ctx, pk.V1.UID); err != nil || ok {
		t.Fatalf("fetch/identifier after a refused bundle: %v %v", ok, err)
	}

	deps, raw, err := c.uploadBundle(ctx, data, false)
	if err != nil {
		t.Fatalf("upload/bundle: %v", err)
	}
	if len(deps) != 3 || deps[0].Package == nil || deps[0].Package.UniqueIdentifier != pk.V1.UID ||
		deps[1].Marketplace == nil || deps[2].Github == nil {
		t.Fatalf("dependencies: %s", raw)
	}
	single, err := c.uploadPackage(ctx, pk.V1.Data, false)
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "bundle_upload_answer.json"))
	if err != nil {
		t.Fatal(err)
	}
	fixture = bytes.Replace(fixture, []byte(`"$MANIFEST"`), single.Manifest, 1)
	fixture = bytes.Replace(fixture, []byte(`$UNIQUE_IDENTIFIER`), []byte(single.UniqueIdentifier), 1)
	var want, got bytes.Buffer
	if err := json.Compact(&want, fixture); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&got, raw); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("upload/bundle answered\n%s\nwant (testdata/bundle_upload_answer.json)\n%s", got.String(), want.String())
	}
	checkDeclaration(t, "bundle package manifest", deps[0].Package.Manifest, "0.0.1")

	// Dify installs the package dependency as a local package.
	st, err := c.installFromIdentifiers(ctx, []string{deps[0].Package.UniqueIdentifier}, "package", []map[string]any{{}})
	if err != nil {
		t.Fatalf("install/identifiers: %v", err)
	}
	if !st.AllInstalled {
		if task := waitTask(ctx, t, c, st.TaskID, installDeadline); task.Status != "success" {
			t.Fatalf("install task: %+v", task)
		}
	}
	checkListed(t, c, pk.V1.UID, "0.0.1")
	msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "from a bundle", "mode": "text"})
	if err != nil || texts(msgs) != "from a bundle" {
		t.Fatalf("invoke the bundled plugin: %v %+v", err, msgs)
	}
}

package pluginoauth_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// TestOfficialGitHubAuthorizationURL packages the official langgenius/github plugin from a
// checkout of langgenius/dify-official-plugins (PLUGD_TEST_OFFICIAL_PLUGINS: its root; the
// code is not ours to commit and the Marketplace is out of reach here), installs it the way
// the daemon does (upload, install task: extraction, a Python environment built from PyPI,
// a first start), and asks it for an authorization URL through this package. That step
// needs no network; the plugin needs Python 3.12 or newer (PLUGD_TEST_PYTHON_NEW).
func TestOfficialGitHubAuthorizationURL(t *testing.T) {
	root := os.Getenv("PLUGD_TEST_OFFICIAL_PLUGINS")
	if root == "" {
		t.Skip("PLUGD_TEST_OFFICIAL_PLUGINS is not set: give it a checkout of github.com/langgenius/dify-official-plugins to run the official GitHub plugin's OAuth step")
	}
	py, uv := os.Getenv("PLUGD_TEST_PYTHON_NEW"), os.Getenv("PLUGD_TEST_UV")
	if py == "" || uv == "" {
		t.Fatal("PLUGD_TEST_PYTHON_NEW and PLUGD_TEST_UV are not set: export what scripts/test-deps.sh prints")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()

	// Package the folder as `plugd plugin package` does: uv.lock exported to requirements.txt.
	dir := filepath.Join(root, "tools", "github")
	tree, err := pkgfile.Collect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tree.NeedsRequirementsExport() {
		req, err := pkgfile.ExportRequirements(ctx, dir, uv)
		if err != nil {
			t.Fatal(err)
		}
		tree.Add("requirements.txt", req)
	}
	var pkg bytes.Buffer
	if err := tree.WriteZip(ctx, &pkg, nil); err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(tmp, "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewDir(filepath.Join(tmp, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ws := install.NewWorkspace(blobs, pyenv.NewBuilder(filepath.Join(tmp, "python"), pyenv.Settings{Python: py, UV: uv}), filepath.Join(tmp, "plugins"))
	disp, invoke := newDispatcher(t, ws, db)
	mgr := install.New(install.Config{Store: db, Blob: blobs, Workspace: ws, Runtimes: disp, TempDir: tmp, Timeout: 14 * time.Minute})
	defer mgr.Close()

	dec, err := mgr.Upload(ctx, "t1", bytes.NewReader(pkg.Bytes()), false)
	if err != nil {
		t.Fatal(err)
	}
	started, err := mgr.Install(ctx, "t1", []string{dec.UniqueIdentifier}, "package", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !started.AllInstalled {
		for {
			task, err := db.GetTask(ctx, "t1", started.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			if task.Status == store.TaskFailed {
				t.Fatalf("install failed: %+v", task.Plugins)
			}
			if task.Status == store.TaskSuccess {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("install still %s: %+v", task.Status, task.Plugins)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	t.Logf("installed %s", dec.UniqueIdentifier)

	c := pluginoauth.New(invoke)
	flow := pluginoauth.Flow{
		Tenant: "t1", UserID: "u1", PluginUniqueIdentifier: dec.UniqueIdentifier, Provider: "github",
		RedirectURI:       "https://plugd.example/console/api/oauth/plugin/langgenius/github/github/tool/callback",
		SystemCredentials: map[string]any{"client_id": "Iv1.plugdtest0000000", "client_secret": "not-used-by-this-step"},
	}
	states := map[string]bool{}
	for range 2 {
		raw, err := c.AuthorizationURL(ctx, flow)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("authorization URL: %s", raw)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if u.Scheme != "https" || u.Host != "github.com" || u.Path != "/login/oauth/authorize" ||
			q.Get("client_id") != "Iv1.plugdtest0000000" || q.Get("redirect_uri") != flow.RedirectURI ||
			q.Get("scope") != "read:user repo" || len(q.Get("state")) < 16 {
			t.Fatalf("authorization URL %s", raw)
		}
		states[q.Get("state")] = true
	}
	if len(states) != 2 {
		t.Errorf("the same state twice: %v", states)
	}
}

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Uninstall keeps the plugin's environment, a reinstall reuses it without a build, and
// `plugd gc` (run beside the live daemon) removes it only once no installed plugin uses it.
func TestEnvironmentOutlivesUninstall(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{PrivatePython: true})
	c := d.client(newTenant())
	ctx := context.Background()
	envsDir := filepath.Join(d.opts.DataDir, "python", "envs")

	install := func() string {
		t.Helper()
		if _, err := c.uploadPackage(ctx, pk.V1.Data, false); err != nil {
			t.Fatalf("upload: %v", err)
		}
		st, err := c.installFromIdentifiers(ctx, []string{pk.V1.UID}, "package", []map[string]any{{}})
		if err != nil {
			t.Fatalf("install: %v", err)
		}
		if !st.AllInstalled {
			if task := waitTask(ctx, t, c, st.TaskID, installDeadline); task.Status != "success" {
				t.Fatalf("install task: %+v", task)
			}
		}
		return checkListed(t, c, pk.V1.UID, "0.0.1")
	}
	envs := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		entries, _ := os.ReadDir(envsDir)
		for _, e := range entries {
			if fi, err := os.Stat(filepath.Join(envsDir, e.Name(), "plugd-env.json")); err == nil {
				out[e.Name()] = fi.ModTime().UnixNano()
			}
		}
		return out
	}
	gc := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(binary(t), append([]string{"gc", "--json", "--data-dir", d.opts.DataDir}, args...)...)
		cmd.Env = append(d.environ(), "PLUGD_ENV_CACHE_MAX_SIZE=1") // every unused environment is over size
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("plugd gc %v: %v\n%s", args, err, out)
		}
		var rep struct {
			Envs []map[string]any `json:"environments"`
		}
		if err := json.Unmarshal(out, &rep); err != nil || len(rep.Envs) != 1 {
			t.Fatalf("plugd gc %v: %v\n%s", args, err, out)
		}
		return rep.Envs[0]
	}

	iid := install()
	before := envs()
	if len(before) != 1 {
		t.Fatalf("environments after install: %v", before)
	}
	if e := gc(); e["in_use"] != true || e["removed"] != false {
		t.Fatalf("gc removed or did not see in use the environment of an installed plugin: %v", e)
	}
	if ok, err := c.uninstall(ctx, iid); err != nil || !ok {
		t.Fatalf("uninstall: %v %v", ok, err)
	}
	if after := envs(); len(after) != 1 {
		t.Fatalf("uninstall removed the environment: %v", after)
	}
	iid = install()
	if after := envs(); len(after) != 1 || after[firstKey(before)] != before[firstKey(before)] {
		t.Fatalf("reinstall rebuilt the environment: before %v after %v", before, after)
	}
	if ok, err := c.uninstall(ctx, iid); err != nil || !ok {
		t.Fatalf("uninstall: %v %v", ok, err)
	}
	if e := gc("--dry-run"); e["in_use"] != false || e["removed"] != true || e["reason"] != "size" {
		t.Fatalf("dry run: %v", e)
	}
	if len(envs()) != 1 {
		t.Fatal("a dry run removed the environment")
	}
	gc()
	if after := envs(); len(after) != 0 {
		t.Fatalf("gc left an unused environment over the size limit: %v", after)
	}
}

func firstKey(m map[string]int64) string {
	for k := range m {
		return k
	}
	return ""
}

package cli

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// folderState lists every path under dir (folders, hidden files and all) with its type and,
// for files, a hash of the content.
func folderState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %x", rel, sha256.Sum256(data)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInvokeLeavesFolderUntouched runs the real SDK on an author's folder: no __pycache__ or
// any other file may appear in it, and its plugin checksum stays the same, so the next package
// ships exactly the author's files.
func TestInvokeLeavesFolderUntouched(t *testing.T) {
	requireEnv(t, "PLUGD_TEST_PYTHON_SDK07")
	t.Setenv("UV_PATH", requireEnv(t, "PLUGD_TEST_UV"))
	plugin := filepath.Join(t.TempDir(), "echo")
	copyDir(t, filepath.Join(vectors, "echo-fixture"), plugin)
	before := folderState(t, plugin)
	code, sumBefore, stderr := run(t, "plugd", "plugin", "checksum", plugin)
	if code != 0 {
		t.Fatalf("checksum: exit %d, %s", code, stderr)
	}

	code, stdout, stderr := run(t, "plugd", "plugin", "invoke", plugin, "--data-dir", testDataDir(t), "--tool", "echo",
		"--param", "text=hi", "--param", "mode=all", "--out", t.TempDir())
	if code != 0 || !strings.HasPrefix(stdout, "hi\n") {
		t.Fatalf("invoke: exit %d\n%s\n%s", code, stdout, stderr)
	}

	after := folderState(t, plugin)
	if !slices.Equal(before, after) {
		var added []string
		for _, p := range after {
			if !slices.Contains(before, p) {
				added = append(added, p)
			}
		}
		t.Errorf("the plugin folder changed; new or changed: %v", added)
	}
	if _, sumAfter, _ := run(t, "plugd", "plugin", "checksum", plugin); sumAfter != sumBefore {
		t.Errorf("checksum %q before, %q after", sumBefore, sumAfter)
	}
}

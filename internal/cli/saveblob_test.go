package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A plugin chooses blob ids and file names: whatever it sends, the file lands inside --out.
func TestSaveBlobStaysInOutDir(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink planted in the output folder must not be followed out of it either.
	if err := os.Symlink(filepath.Join(base, "victim.bin"), filepath.Join(out, "link.bin")); err != nil {
		t.Fatal(err)
	}
	p := &resultPrinter{outDir: out}
	cases := []struct{ id, filename string }{
		{"../../x", ""},
		{"../../x", "../../y.txt"},
		{"/etc/passwd", "/etc/passwd"},
		{"a/b", "sub/dir.txt"},
		{"..", ".."},
		{"ok", "report.pdf"},
		{"link", ""},
		{strings.Repeat("n", 300), ""},
	}
	for _, c := range cases {
		meta, _ := json.Marshal(map[string]string{"filename": c.filename})
		path, err := p.saveBlob(c.id, []byte("data"), meta)
		if c.id == "link" {
			if err == nil {
				t.Errorf("%q: wrote through a symlink to %s", c.id, path)
			}
			continue
		}
		if err != nil {
			t.Errorf("id %q filename %q: %v", c.id, c.filename, err)
			continue
		}
		if filepath.Dir(path) != out {
			t.Errorf("id %q filename %q: saved as %s, outside %s", c.id, c.filename, path, out)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "victim.bin")); err == nil {
		t.Error("the symlink's target outside --out was written")
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.Name() != "out" {
			t.Errorf("%s written beside the output folder", e.Name())
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.pdf")); err != nil || string(b) != "data" {
		t.Errorf("plain file name: %q %v", b, err)
	}
}

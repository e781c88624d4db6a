package keyfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	if _, err := Read(path, "master key"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := Write(path, "abc"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %v", dir.Mode())
	}
	if got, err := Read(path, "master key"); err != nil || got != "abc" {
		t.Fatalf("%q %v", got, err)
	}
	// Rewriting replaces the file whole and leaves no temporary file behind.
	if err := Write(path, "def"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	os.Chmod(path, 0o640)
	if _, err := Read(path, "master key"); err == nil || !strings.Contains(err.Error(), "master key") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key accepted: %v", err)
	}
	if _, err := Read(filepath.Dir(path), "master key"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("folder accepted: %v", err)
	}
}

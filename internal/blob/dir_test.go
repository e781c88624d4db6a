package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestDir(t *testing.T) *Dir {
	t.Helper()
	d, err := NewDir(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDirConformance(t *testing.T) {
	testStore(t, func(t *testing.T) Store {
		d := newTestDir(t)
		// Whatever a subtest did, the folder must hold nothing but its objects: no
		// temporary files, no folders emptied by deletes or failed writes.
		t.Cleanup(func() {
			keys, err := d.List(context.Background(), "")
			if err != nil {
				t.Errorf("List: %v", err)
			}
			if got := filesUnder(t, d.Path()); !slices.Equal(got, keys) {
				t.Errorf("the folder holds %q, but the objects are %q", got, keys)
			}
		})
		return d
	})
}

// filesUnder lists the files and the empty folders (with a trailing /) under root.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	got := []string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		if de.IsDir() {
			if entries, _ := os.ReadDir(p); len(entries) == 0 {
				got = append(got, rel+"/")
			}
			return nil
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

func TestNewDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, root string
	}{
		{"empty", ""},
		{"a file", file},
		{"under a file", filepath.Join(file, "sub")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := NewDir(tt.root); err == nil {
				d.Close()
				t.Fatalf("NewDir(%q) succeeded", tt.root)
			}
		})
	}
}

// TestDirStaysInside puts a symbolic link to an outside folder into the root: no key may read,
// write or list through it.
func TestDirStaysInside(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(d.Path(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(d.Path(), "filelink")); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"link/secret", "filelink"} {
		if rc, err := d.Get(ctx, key); err == nil {
			rc.Close()
			t.Errorf("Get(%q) read outside the root", key)
		}
		if _, err := d.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) reached outside the root", key)
		}
	}
	if err := d.Put(ctx, "link/new", opaque([]byte("x")), 1); err == nil {
		t.Error("Put through the link succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Put wrote outside the root: %v", err)
	}
	if keys := mustList(t, d, ""); len(keys) != 0 {
		t.Errorf("List = %q; links are not objects", keys)
	}
	if err := d.Delete(ctx, "link/secret"); err == nil {
		if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
			t.Errorf("Delete removed a file outside the root: %v", err)
		}
	}
}

// TestDirFolderConflict: a key cannot be both an object and a folder of objects.
func TestDirFolderConflict(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	mustPut(t, d, "a/b", []byte("ab"), 2)
	mustPut(t, d, "x", []byte("x"), 1)
	tests := []struct {
		key, wantErr string
	}{
		{"a", "folder of other objects"},
		{"x/y", "is an object, not a folder"},
		{"x/y/z", "is an object, not a folder"},
	}
	for _, tt := range tests {
		err := d.Put(ctx, tt.key, opaque([]byte("new")), 3)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("Put(%q) = %v; want an error naming the key and saying %q", tt.key, err, tt.wantErr)
		}
		assertMissing(t, d, tt.key)
		if err := d.Delete(ctx, tt.key); err != nil {
			t.Errorf("Delete(%q) = %v", tt.key, err)
		}
	}
	if keys := mustList(t, d, ""); !slices.Equal(keys, []string{"a/b", "x"}) {
		t.Fatalf("List = %q", keys)
	}
	if got := filesUnder(t, d.Path()); !slices.Equal(got, []string{"a/b", "x"}) {
		t.Fatalf("folder holds %q", got)
	}
}

func TestDirSweepsStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	stale := filepath.Join(root, "p", tempMark+"stale")
	fresh := filepath.Join(root, "p", tempMark+"fresh")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{stale, fresh, filepath.Join(root, "p", "obj")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-staleTemp - time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := []string{"p/" + tempMark + "fresh", "p/obj"}
	if got := filesUnder(t, root); !slices.Equal(got, want) {
		t.Fatalf("after NewDir the folder holds %q; want %q", got, want)
	}
	if keys := mustList(t, d, ""); !slices.Equal(keys, []string{"p/obj"}) {
		t.Fatalf("List = %q; temporary files are not objects", keys)
	}
}

// TestDirConcurrentPuts: writers racing on one key leave one whole version; the rename makes
// the switch atomic. (For S3 this is the service's promise, not this package's.)
func TestDirConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	versions := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range versions {
		versions[i] = data(1<<20+i, uint64(10+i))
		wg.Go(func() {
			if err := d.Put(ctx, "same/key", opaque(versions[i]), int64(len(versions[i]))); err != nil {
				t.Errorf("Put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	got := mustGet(t, d, "same/key")
	if !slices.ContainsFunc(versions, func(v []byte) bool { return bytes.Equal(v, got) }) {
		t.Fatalf("after concurrent Puts the object (%d bytes) is none of the versions put", len(got))
	}
}

// TestDirPutDeleteRace: Deletes prune folders they empty while Puts into the same folders
// create them; no Put may fail for it.
func TestDirPutDeleteRace(t *testing.T) {
	ctx := context.Background()
	d := newTestDir(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			key := fmt.Sprintf("f/g/k%d", w)
			for i := range 100 {
				if err := d.Put(ctx, key, opaque([]byte{byte(i)}), 1); err != nil {
					t.Errorf("Put %s #%d: %v", key, i, err)
					return
				}
				if err := d.Delete(ctx, key); err != nil {
					t.Errorf("Delete %s #%d: %v", key, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := filesUnder(t, d.Path()); len(got) != 0 {
		t.Fatalf("after every object was deleted the folder holds %q", got)
	}
}

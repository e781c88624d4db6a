package sandbox

import (
	"path/filepath"
	"testing"
)

func TestAllocatorKeepsAndSpreadsUIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "uids.json")
	a := NewAllocator(path, 1000, 3)
	seen := map[int]string{}
	for _, name := range []string{"a/one", "b/two", "c/three"} {
		uid, err := a.UID(name)
		if err != nil {
			t.Fatal(err)
		}
		if uid < 1000 || uid >= 1003 {
			t.Errorf("%s got uid %d outside the range", name, uid)
		}
		if other, dup := seen[uid]; dup {
			t.Errorf("%s and %s share uid %d", name, other, uid)
		}
		seen[uid] = name
	}
	if _, err := a.UID("d/four"); err == nil {
		t.Error("a fourth name got a uid from a range of three")
	}
	// A new allocator (a restart) reads the same choices back.
	b := NewAllocator(path, 1000, 3)
	for uid, name := range seen {
		if got, err := b.UID(name); err != nil || got != uid {
			t.Errorf("after a restart %s got %d (%v), want %d", name, got, err, uid)
		}
	}
}

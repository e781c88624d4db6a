package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
)

// Allocator gives each name (a plugin id) a uid of its own from [Base, Base+Count), and
// keeps the choice in a file: the same plugin gets the same uid after a restart, so the files
// it wrote stay its own. A name starts at a slot derived from its hash and takes the next free
// one on a collision. Safe for concurrent use; one daemon owns the file.
type Allocator struct {
	path        string
	base, count int

	mu   sync.Mutex
	uids map[string]int // nil until the file is read
}

// NewAllocator keeps its table in path (created on the first allocation).
func NewAllocator(path string, base, count int) *Allocator {
	return &Allocator{path: path, base: base, count: count}
}

// UID returns name's uid, allocating one the first time. The gid is the same number.
func (a *Allocator) UID(name string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.uids == nil {
		a.uids = map[string]int{}
		b, err := os.ReadFile(a.path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("sandbox: reading the uid table: %w", err)
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &a.uids); err != nil {
				return 0, fmt.Errorf("sandbox: the uid table %s does not parse: %w", a.path, err)
			}
		}
	}
	if uid, ok := a.uids[name]; ok {
		return uid, nil
	}
	if len(a.uids) >= a.count {
		return 0, fmt.Errorf("sandbox: all %d uids from %d are taken (PLUGD_SANDBOX_UID_COUNT)", a.count, a.base)
	}
	used := make(map[int]bool, len(a.uids))
	for _, u := range a.uids {
		used[u] = true
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	slot := int(h.Sum32() % uint32(a.count))
	for used[a.base+slot] {
		slot = (slot + 1) % a.count
	}
	uid := a.base + slot
	a.uids[name] = uid
	if err := a.save(); err != nil {
		delete(a.uids, name)
		return 0, err
	}
	return uid, nil
}

// Range is the uids the allocator gives out: [base, base+count).
func (a *Allocator) Range() (base, count int) { return a.base, a.count }

func (a *Allocator) save() error {
	b, err := json.MarshalIndent(a.uids, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return err
	}
	tmp := a.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("sandbox: writing the uid table: %w", err)
	}
	return os.Rename(tmp, a.path)
}

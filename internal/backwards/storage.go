package backwards

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"
)

// StorageOp is the "opt" of a storage invocation.
type StorageOp string

const (
	StorageGet   StorageOp = "get"
	StorageSet   StorageOp = "set"
	StorageDel   StorageOp = "del"
	StorageExist StorageOp = "exist"
)

// MaxKeyLen is the longest storage key, in bytes, as in the reference daemon.
const MaxKeyLen = 256

// DefaultStorageLimit bounds one plugin's stored values when its manifest gives no size, as
// the reference's PERSISTENCE_STORAGE_MAX_SIZE does.
const DefaultStorageLimit = 100 << 20

var (
	// ErrKeyNotFound is a get of a key that was never set or was deleted.
	ErrKeyNotFound = errors.New("storage key not found")
	// ErrQuotaExceeded is a set that would take the plugin's values past its limit.
	ErrQuotaExceeded = errors.New("storage quota exceeded")
	// ErrInvalidKey is a key the store refuses (see ValidateKey).
	ErrInvalidKey = errors.New("invalid storage key")
)

// StorageRequest is the request of a storage invocation: {"opt","key","value"} where value,
// for set only, is hex.
type StorageRequest struct {
	Op    StorageOp
	Key   string
	Value []byte // set only
}

// DecodeStorageRequest reads and checks a storage invocation's request. Everything in it comes
// from the plugin, so nothing is trusted: the op must be known, the key valid and, for set,
// the value present and hex.
func DecodeStorageRequest(raw json.RawMessage) (StorageRequest, error) {
	var in struct {
		Op    StorageOp `json:"opt"`
		Key   *string   `json:"key"`
		Value *string   `json:"value"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return StorageRequest{}, fmt.Errorf("%w: storage: %v", ErrBadRequest, err)
	}
	switch in.Op {
	case StorageGet, StorageSet, StorageDel, StorageExist:
	default:
		return StorageRequest{}, fmt.Errorf("%w: storage: unknown opt %q (want get, set, del or exist)", ErrBadRequest, in.Op)
	}
	if in.Key == nil {
		return StorageRequest{}, fmt.Errorf("%w: storage %s: no key", ErrBadRequest, in.Op)
	}
	r := StorageRequest{Op: in.Op, Key: *in.Key}
	if err := ValidateKey(r.Key); err != nil {
		return StorageRequest{}, err
	}
	if r.Op == StorageSet {
		if in.Value == nil {
			return StorageRequest{}, fmt.Errorf("%w: storage set: no value", ErrBadRequest)
		}
		v, err := hex.DecodeString(*in.Value)
		if err != nil {
			return StorageRequest{}, fmt.Errorf("%w: storage set: value is not hex: %v", ErrBadRequest, err)
		}
		r.Value = v
	}
	return r, nil
}

// ValidateKey accepts what the reference daemon accepts, minus what no key should hold: 1 to
// MaxKeyLen bytes of UTF-8 without control characters, and none of "..", "//" or "\", which
// the reference refuses because it stores keys as object paths. Refusing the same keys keeps
// a plugin tested here working there.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.Contains(key, ".."), strings.Contains(key, "//"), strings.Contains(key, `\`):
		return bad(`contains "..", "//" or "\"`)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
	}
	return nil
}

// Namespace is whose storage a key lives in: the reference keys storage by tenant and plugin
// id (author/name, so values survive an upgrade).
type Namespace struct {
	TenantID string
	PluginID string
}

// Storage keeps plugin key-value data. Set is given the namespace's limit in bytes of values
// (0: the store's default) and must refuse to exceed it before writing anything.
type Storage interface {
	Get(ctx context.Context, ns Namespace, key string) ([]byte, error)
	Set(ctx context.Context, ns Namespace, key string, value []byte, limit int64) error
	Delete(ctx context.Context, ns Namespace, key string) (bool, error)
	Exists(ctx context.Context, ns Namespace, key string) (bool, error)
}

// ServeStorage answers one storage invocation with the reference's reply shapes:
// get {"data":"<hex>"}, set {"data":"ok"}, del {"data":"ok","deleted_num":n},
// exist {"data":bool,"exist_num":n}.
func ServeStorage(ctx context.Context, s Storage, c Caller, raw json.RawMessage, emit func(json.RawMessage) error) error {
	req, err := DecodeStorageRequest(raw)
	if err != nil {
		return err
	}
	ns := Namespace{TenantID: c.TenantID, PluginID: c.PluginID}
	var reply any
	switch req.Op {
	case StorageGet:
		v, err := s.Get(ctx, ns, req.Key)
		if err != nil {
			return err
		}
		reply = map[string]string{"data": hex.EncodeToString(v)}
	case StorageSet:
		var limit int64
		if p := c.Permissions; p != nil && p.Storage != nil && p.Storage.Size > 0 {
			limit = int64(min(p.Storage.Size, 1<<62))
		}
		if err := s.Set(ctx, ns, req.Key, req.Value, limit); err != nil {
			return err
		}
		reply = map[string]string{"data": "ok"}
	case StorageDel:
		ok, err := s.Delete(ctx, ns, req.Key)
		if err != nil {
			return err
		}
		reply = map[string]any{"data": "ok", "deleted_num": count(ok)}
	case StorageExist:
		ok, err := s.Exists(ctx, ns, req.Key)
		if err != nil {
			return err
		}
		reply = map[string]any{"data": ok, "exist_num": count(ok)}
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	return emit(b)
}

func count(ok bool) int {
	if ok {
		return 1
	}
	return 0
}

// FileStore keeps each plugin's storage in one JSON file, <dir>/<tenant>/<plugin>.json, mapping
// keys to base64 values. It is meant for one daemon on one machine: a namespace's file is read
// once and then served from memory, and every change rewrites the whole file through a
// temporary file and a rename, so a crash leaves either the old or the new content, never a
// torn file. Rewriting is linear in the namespace's size, which its limit bounds.
type FileStore struct {
	dir   string
	limit int64

	mu    sync.Mutex
	files map[string]*kvFile
}

// NewFileStore keeps storage under dir. limit is the per-namespace default when a manifest
// gives no size; 0 means DefaultStorageLimit.
func NewFileStore(dir string, limit int64) *FileStore {
	if limit <= 0 {
		limit = DefaultStorageLimit
	}
	return &FileStore{dir: dir, limit: limit, files: map[string]*kvFile{}}
}

// Path is the file that holds ns.
func (s *FileStore) Path(ns Namespace) string {
	tenant := "_" // escape never produces "_", so no tenant id can collide with "none"
	if ns.TenantID != "" {
		tenant = escapeName(ns.TenantID)
	}
	return filepath.Join(s.dir, tenant, escapeName(ns.PluginID)+".json")
}

type kvFile struct {
	mu     sync.Mutex
	path   string
	loaded bool
	data   map[string][]byte
	size   int64 // bytes of values, what limits count
}

func (s *FileStore) open(ns Namespace) (*kvFile, error) {
	if ns.PluginID == "" {
		return nil, fmt.Errorf("%w: no plugin id", ErrBadRequest)
	}
	p := s.Path(ns)
	s.mu.Lock()
	f := s.files[p]
	if f == nil {
		f = &kvFile{path: p}
		s.files[p] = f
	}
	s.mu.Unlock()
	f.mu.Lock()
	if err := f.load(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	return f, nil // locked
}

func (f *kvFile) load() error {
	if f.loaded {
		return nil
	}
	data := map[string][]byte{}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("storage: %w", err)
	default:
		// A file that does not parse is reported, never replaced: it holds someone's data.
		if err := json.Unmarshal(b, &data); err != nil {
			return fmt.Errorf("storage: %s is damaged: %w", f.path, err)
		}
	}
	f.data, f.size, f.loaded = data, 0, true
	for _, v := range data {
		f.size += int64(len(v))
	}
	return nil
}

// Get returns a copy of the value of key.
func (s *FileStore) Get(_ context.Context, ns Namespace, key string) ([]byte, error) {
	f, err := s.open(ns)
	if err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	v, ok := f.data[key]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, key)
	}
	return append([]byte{}, v...), nil
}

// Exists reports whether key is set.
func (s *FileStore) Exists(_ context.Context, ns Namespace, key string) (bool, error) {
	f, err := s.open(ns)
	if err != nil {
		return false, err
	}
	defer f.mu.Unlock()
	_, ok := f.data[key]
	return ok, nil
}

// Set stores value under key unless the namespace's values would exceed limit bytes.
func (s *FileStore) Set(_ context.Context, ns Namespace, key string, value []byte, limit int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if limit <= 0 {
		limit = s.limit
	}
	f, err := s.open(ns)
	if err != nil {
		return err
	}
	defer f.mu.Unlock()
	size := f.size - int64(len(f.data[key])) + int64(len(value))
	if size > limit {
		return fmt.Errorf("%w: %d bytes stored with this value, the limit is %d", ErrQuotaExceeded, size, limit)
	}
	old, had := f.data[key]
	f.data[key] = append([]byte{}, value...)
	if err := f.save(); err != nil {
		if had {
			f.data[key] = old
		} else {
			delete(f.data, key)
		}
		return err
	}
	f.size = size
	return nil
}

// Delete removes key and reports whether it was there.
func (s *FileStore) Delete(_ context.Context, ns Namespace, key string) (bool, error) {
	f, err := s.open(ns)
	if err != nil {
		return false, err
	}
	defer f.mu.Unlock()
	old, ok := f.data[key]
	if !ok {
		return false, nil
	}
	delete(f.data, key)
	if err := f.save(); err != nil {
		f.data[key] = old
		return false, err
	}
	f.size -= int64(len(old))
	return true, nil
}

// save writes the whole map atomically: a temporary file in the same folder, synced, then
// renamed over the old one, then the folder synced so the rename itself survives a crash.
func (f *kvFile) save() error {
	b, err := json.Marshal(f.data)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("storage: writing %s: %w", f.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// escapeName turns an id into one path element: letters, digits and '-' stay, every other byte
// becomes %XX, so "author/name" cannot climb out of the folder and two ids never share a file.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

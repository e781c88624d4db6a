package sqlstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/store"
)

// The plugin storage cases of the conformance suite (runConformance lists them).

// kvStore is what the storage cases need of a store.
type kvStore interface {
	backwards.Storage
	SetStorageLimit(n int64)
	StorageLimit() int64
	StorageUsage(ctx context.Context, ns backwards.Namespace) (int64, error)
}

func asKV(t *testing.T, s store.Store) kvStore {
	t.Helper()
	kv, ok := s.(kvStore)
	if !ok {
		t.Fatalf("%T does not keep plugin storage", s)
	}
	return kv
}

// checkUsage checks that the namespace's usage is want and, on a *DB, that the usage row agrees
// with the rows it counts: their size columns and the real lengths of their values.
func checkUsage(t *testing.T, kv kvStore, ns backwards.Namespace, want int64) {
	t.Helper()
	got, err := kv.StorageUsage(t.Context(), ns)
	ok(t, err)
	if got != want {
		t.Fatalf("usage of %+v is %d, want %d", ns, got, want)
	}
	db, isDB := kv.(*DB)
	if !isDB {
		return
	}
	length := "length"
	if db.dialect == dialectPostgres {
		length = "octet_length"
	}
	var sizes, lengths int64
	err = db.read().queryRow(t.Context(), "SELECT COALESCE(SUM(size), 0), COALESCE(SUM("+length+"(value)), 0) FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ?",
		ns.TenantID, ns.PluginID).Scan(&sizes, &lengths)
	ok(t, err)
	if sizes != want || lengths != want {
		t.Fatalf("rows of %+v hold %d bytes (size columns %d), usage row says %d", ns, lengths, sizes, want)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) + seed
	}
	return b
}

func testStorageRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	ns := backwards.Namespace{TenantID: "t1", PluginID: "acme/kv"}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	mib := make([]byte, 1<<20)
	for i := range mib {
		mib[i] = byte(rand.Uint32())
	}
	cases := []struct {
		key   string
		value []byte
	}{
		{"empty", []byte{}},
		{"nil", nil},
		{"every byte", all},
		{"nul and invalid utf-8", []byte{0, 0xff, 0xfe, 0, '\'', '"', '\\'}},
		{"1 MiB", mib},
		{"dir/sub/file.txt", []byte("path-like keys are fine")},
		{"ü-ключ-鍵 ✓", []byte("unicode key")},
		{strings.Repeat("k", backwards.MaxKeyLen), []byte("longest key")},
		{"a.b", []byte("one dot")},
	}
	var total int64
	for _, c := range cases {
		ok(t, kv.Set(ctx, ns, c.key, c.value, 0))
		total += int64(len(c.value))
	}
	checkUsage(t, kv, ns, total)
	for _, c := range cases {
		got := must(kv.Get(ctx, ns, c.key))
		if got == nil || !bytes.Equal(got, c.value) {
			t.Fatalf("get %.20q: %d bytes (nil: %v), want %d", c.key, len(got), got == nil, len(c.value))
		}
		equal(t, "exists "+c.key, must(kv.Exists(ctx, ns, c.key)), true)
	}

	// Overwriting keeps created_at and moves updated_at.
	db, isDB := s.(*DB)
	times := func() (created, updated time.Time) {
		err := db.read().queryRow(ctx, `SELECT created_at, updated_at FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
			ns.TenantID, ns.PluginID, "every byte").Scan(timeCol{&created}, timeCol{&updated})
		ok(t, err)
		return created, updated
	}
	var created0 time.Time
	if isDB {
		created0, _ = times()
	}
	time.Sleep(2 * time.Millisecond) // so the two writes get different microseconds
	ok(t, kv.Set(ctx, ns, "every byte", []byte("replaced"), 0))
	equal(t, "replaced", string(must(kv.Get(ctx, ns, "every byte"))), "replaced")
	total += int64(len("replaced")) - 256
	checkUsage(t, kv, ns, total)
	if isDB {
		created, updated := times()
		equal(t, "created_at after overwrite", created, created0)
		if !updated.After(created) {
			t.Fatalf("updated_at %v is not after created_at %v", updated, created)
		}
	}

	// Delete reports whether the key was there; a deleted key is gone from every operation.
	equal(t, "delete", must(kv.Delete(ctx, ns, "1 MiB")), true)
	total -= 1 << 20
	checkUsage(t, kv, ns, total)
	equal(t, "delete again", must(kv.Delete(ctx, ns, "1 MiB")), false)
	equal(t, "exists after delete", must(kv.Exists(ctx, ns, "1 MiB")), false)
	_, err := kv.Get(ctx, ns, "1 MiB")
	wantErr(t, err, backwards.ErrKeyNotFound, "1 MiB", "acme/kv", "t1")
	_, err = kv.Get(ctx, ns, "never-set")
	wantErr(t, err, backwards.ErrKeyNotFound, "never-set")
	equal(t, "exists never set", must(kv.Exists(ctx, ns, "never-set")), false)
	equal(t, "delete never set", must(kv.Delete(ctx, ns, "never-set")), false)
	equal(t, "delete in a namespace never used", must(kv.Delete(ctx, backwards.Namespace{TenantID: "t9", PluginID: "x/y"}, "k")), false)
	equal(t, "delete an empty value", must(kv.Delete(ctx, ns, "empty")), true)
	equal(t, "empty value gone", must(kv.Exists(ctx, ns, "empty")), false)
	checkUsage(t, kv, ns, total)

	// Emptying a namespace brings its usage to zero, and it fills again.
	for _, c := range cases {
		_, err := kv.Delete(ctx, ns, c.key)
		ok(t, err)
	}
	checkUsage(t, kv, ns, 0)
	ok(t, kv.Set(ctx, ns, "again", []byte("x"), 0))
	checkUsage(t, kv, ns, 1)
}

func testStorageIsolation(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	spaces := []backwards.Namespace{
		{TenantID: "t1", PluginID: "acme/a"},
		{TenantID: "t2", PluginID: "acme/a"}, // another tenant, same plugin
		{TenantID: "t1", PluginID: "acme/b"}, // same tenant, another plugin
		{TenantID: "", PluginID: "acme/a"},   // no tenant (the CLI)
		{TenantID: "t1/acme", PluginID: "a"}, // the same characters split differently
	}
	for i, ns := range spaces {
		ok(t, kv.Set(ctx, ns, "shared", bytes.Repeat([]byte{byte('A' + i)}, i+1), 0))
	}
	for i, ns := range spaces {
		equal(t, fmt.Sprintf("value of %+v", ns), must(kv.Get(ctx, ns, "shared")), bytes.Repeat([]byte{byte('A' + i)}, i+1))
		checkUsage(t, kv, ns, int64(i+1))
	}

	// A quota is the namespace's own: filling one leaves the others' room alone.
	ok(t, kv.Set(ctx, spaces[0], "fill", make([]byte, 99), 100))
	wantErr(t, kv.Set(ctx, spaces[0], "more", []byte{1}, 100), backwards.ErrQuotaExceeded)
	ok(t, kv.Set(ctx, spaces[1], "more", make([]byte, 98), 100))

	equal(t, "delete in t1", must(kv.Delete(ctx, spaces[0], "shared")), true)
	for _, ns := range spaces[1:] {
		equal(t, fmt.Sprintf("exists in %+v", ns), must(kv.Exists(ctx, ns, "shared")), true)
	}
	equal(t, "exists in t2 of a key only t1 had", must(kv.Exists(ctx, spaces[1], "fill")), false)
	checkUsage(t, kv, spaces[0], 99)
	checkUsage(t, kv, spaces[1], 100)
}

func testStorageBadInput(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	ns := backwards.Namespace{TenantID: "t1", PluginID: "acme/bad"}
	keys := []struct{ key, words string }{
		{"../x", ".."},
		{"a/../b", ".."},
		{"..", ".."},
		{"a//b", "//"},
		{`a\b`, `\`},
		{strings.Repeat("k", 300), "300 bytes"},
		{strings.Repeat("k", backwards.MaxKeyLen+1), "257 bytes"},
		{"", "empty"},
		{"a\x00b", "control"},
		{"line\nbreak", "control"},
		{"\xff\xfe", "UTF-8"},
	}
	for _, k := range keys {
		t.Run(fmt.Sprintf("%.12q", k.key), func(t *testing.T) {
			wantErr(t, kv.Set(ctx, ns, k.key, []byte("v"), 0), backwards.ErrInvalidKey, k.words, "acme/bad")
			_, err := kv.Get(ctx, ns, k.key)
			wantErr(t, err, backwards.ErrInvalidKey, k.words)
			_, err = kv.Exists(ctx, ns, k.key)
			wantErr(t, err, backwards.ErrInvalidKey, k.words)
			_, err = kv.Delete(ctx, ns, k.key)
			wantErr(t, err, backwards.ErrInvalidKey, k.words)
		})
	}
	noPlugin := backwards.Namespace{TenantID: "t1"}
	wantErr(t, kv.Set(ctx, noPlugin, "k", []byte("v"), 0), backwards.ErrBadRequest, "plugin id")
	_, err := kv.Get(ctx, noPlugin, "k")
	wantErr(t, err, backwards.ErrBadRequest, "plugin id")
	checkUsage(t, kv, ns, 0)
	checkUsage(t, kv, noPlugin, 0)
}

func testStorageQuota(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	ns := backwards.Namespace{TenantID: "t1", PluginID: "acme/quota"}
	const limit = 1000
	a100 := pattern(100, 1)
	steps := []struct {
		name  string
		key   string
		size  int
		del   bool
		err   error
		words []string
		usage int64
	}{
		{name: "first", key: "a", size: 600, usage: 600},
		{name: "exactly to the limit", key: "b", size: 400, usage: 1000},
		{name: "one byte over", key: "c", size: 1, err: backwards.ErrQuotaExceeded, words: []string{"1000 bytes stored", "1001", "limit is 1000"}, usage: 1000},
		{name: "an empty value when full", key: "c", size: 0, usage: 1000},
		{name: "overwrite shrinks", key: "a", size: 100, usage: 500},
		{name: "the room it freed", key: "d", size: 500, usage: 1000},
		{name: "overwrite grows past", key: "a", size: 101, err: backwards.ErrQuotaExceeded, words: []string{"1001", "limit is 1000"}, usage: 1000},
		{name: "overwrite with the same size", key: "a", size: 100, usage: 1000},
		{name: "delete frees", key: "b", del: true, usage: 600},
		{name: "refill", key: "e", size: 400, usage: 1000},
		{name: "a value larger than the limit alone", key: "big", size: 1001, err: backwards.ErrQuotaExceeded, words: []string{"1001 bytes", "limit is 1000"}, usage: 1000},
		{name: "overwrite to empty", key: "d", size: 0, usage: 500},
	}
	for _, st := range steps {
		var err error
		if st.del {
			_, err = kv.Delete(ctx, ns, st.key)
		} else {
			v := pattern(st.size, byte(len(st.name)))
			if st.key == "a" && st.size == 100 {
				v = a100
			}
			err = kv.Set(ctx, ns, st.key, v, limit)
		}
		if st.err != nil {
			wantErr(t, err, st.err, append(st.words, "acme/quota")...)
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		checkUsage(t, kv, ns, st.usage)
	}
	// Refused sets wrote nothing.
	equal(t, "a kept its value", must(kv.Get(ctx, ns, "a")), a100)
	equal(t, "big never written", must(kv.Exists(ctx, ns, "big")), false)
	equal(t, "c is the empty value", must(kv.Get(ctx, ns, "c")), []byte{})

	// A value as large as the limit fits an empty namespace.
	whole := backwards.Namespace{TenantID: "t1", PluginID: "acme/whole"}
	big := pattern(4<<20, 7)
	ok(t, kv.Set(ctx, whole, "all", big, 4<<20))
	equal(t, "4 MiB back", bytes.Equal(must(kv.Get(ctx, whole, "all")), big), true)
	checkUsage(t, kv, whole, 4<<20)

	// Without a limit from the caller, the store's default applies.
	equal(t, "built-in default", kv.StorageLimit(), int64(backwards.DefaultStorageLimit))
	kv.SetStorageLimit(2048)
	t.Cleanup(func() { kv.SetStorageLimit(0) })
	equal(t, "default set", kv.StorageLimit(), int64(2048))
	def := backwards.Namespace{TenantID: "t1", PluginID: "acme/default"}
	ok(t, kv.Set(ctx, def, "k", make([]byte, 2048), 0))
	wantErr(t, kv.Set(ctx, def, "k2", []byte{1}, 0), backwards.ErrQuotaExceeded, "2049", "limit is 2048")
	// A manifest asking for more than the daemon's limit is capped by it, as in the reference.
	wantErr(t, kv.Set(ctx, def, "k2", []byte{1}, 4096), backwards.ErrQuotaExceeded, "limit is 2048")
	kv.SetStorageLimit(-5)
	ok(t, kv.Set(ctx, def, "k2", []byte{1}, 4096)) // the manifest's smaller limit applies
	equal(t, "reset", kv.StorageLimit(), int64(backwards.DefaultStorageLimit))
	err := kv.Set(ctx, def, "huge", make([]byte, backwards.DefaultStorageLimit+1), 0)
	wantErr(t, err, backwards.ErrQuotaExceeded, fmt.Sprint(backwards.DefaultStorageLimit+1), fmt.Sprint(backwards.DefaultStorageLimit))
	checkUsage(t, kv, def, 2049)
}

// testStorageFullValue stores one value as large as the default limit (100 MiB): the largest a
// plugin without a manifest size can write must go through the driver and come back whole.
func testStorageFullValue(t *testing.T, s store.Store) {
	if testing.Short() {
		t.Skip("writes 100 MiB")
	}
	ctx := ctxT(t)
	kv := asKV(t, s)
	ns := backwards.Namespace{TenantID: "t1", PluginID: "acme/full"}
	v := pattern(backwards.DefaultStorageLimit, 3)
	ok(t, kv.Set(ctx, ns, "all", v, 0))
	if got := must(kv.Get(ctx, ns, "all")); !bytes.Equal(got, v) {
		t.Fatalf("got %d bytes back, not the %d written", len(got), len(v))
	}
	wantErr(t, kv.Set(ctx, ns, "one more", []byte{1}, 0), backwards.ErrQuotaExceeded)
	checkUsage(t, kv, ns, backwards.DefaultStorageLimit)
}

// testStorageConcurrent races sets into one namespace: together they must never pass the quota,
// and the usage row must count exactly what is stored.
func testStorageConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	const n = 20

	// Twenty new 100-byte keys into room for ten: whatever the order, exactly ten fit.
	ns := backwards.Namespace{TenantID: "t1", PluginID: "acme/race"}
	var stored, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			err := kv.Set(ctx, ns, fmt.Sprintf("k%02d", i), pattern(100, byte(i)), 1000)
			switch {
			case err == nil:
				stored.Add(1)
			case errors.Is(err, backwards.ErrQuotaExceeded):
				refused.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	equal(t, "stored and refused", []int64{stored.Load(), refused.Load()}, []int64{10, 10})
	checkUsage(t, kv, ns, 1000)

	// Mixed sets, overwrites and deletes of a few keys, with a reader watching the usage.
	mixed := backwards.Namespace{TenantID: "t1", PluginID: "acme/mixed"}
	const limit = 1000
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			u, err := kv.StorageUsage(ctx, mixed)
			if err != nil || u > limit {
				t.Errorf("usage read while racing: %d bytes (limit %d), error %v", u, limit, err)
				return
			}
		}
	})
	errs = make(chan error, n)
	for i := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			for range 10 {
				key := fmt.Sprintf("k%d", r.IntN(5))
				var err error
				if r.IntN(4) == 0 {
					_, err = kv.Delete(ctx, mixed, key)
				} else {
					err = kv.Set(ctx, mixed, key, pattern(r.IntN(400), byte(i)), limit)
				}
				if err != nil && !errors.Is(err, backwards.ErrQuotaExceeded) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	watcher.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	var sum int64
	for k := range 5 {
		v, err := kv.Get(ctx, mixed, fmt.Sprintf("k%d", k))
		if errors.Is(err, backwards.ErrKeyNotFound) {
			continue
		}
		ok(t, err)
		sum += int64(len(v))
	}
	if sum > limit {
		t.Fatalf("namespace holds %d bytes, past its limit %d", sum, limit)
	}
	checkUsage(t, kv, mixed, sum)
}

// testStorageServe answers storage invocations through backwards.ServeStorage with this store,
// checking the reply shapes a plugin reads, end to end.
func testStorageServe(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	kv := asKV(t, s)
	caller := backwards.Caller{PluginID: "acme/served", TenantID: "t1",
		Permissions: &manifest.Permission{Storage: &manifest.StoragePermission{Enabled: true, Size: 1024}}}
	serve := func(req string) (string, error) {
		var out []string
		err := backwards.ServeStorage(ctx, kv, caller, json.RawMessage(req), func(m json.RawMessage) error {
			out = append(out, string(m))
			return nil
		})
		if err == nil && len(out) != 1 {
			t.Fatalf("%s: %d replies, want 1", req, len(out))
		}
		return strings.Join(out, ""), err
	}
	steps := []struct {
		req, reply string
		err        error
	}{
		{`{"opt":"set","key":"k","value":"00ff10"}`, `{"data":"ok"}`, nil},
		{`{"opt":"get","key":"k"}`, `{"data":"00ff10"}`, nil},
		{`{"opt":"exist","key":"k"}`, `{"data":true,"exist_num":1}`, nil},
		{`{"opt":"set","key":"empty","value":""}`, `{"data":"ok"}`, nil},
		{`{"opt":"get","key":"empty"}`, `{"data":""}`, nil},
		{`{"opt":"del","key":"k"}`, `{"data":"ok","deleted_num":1}`, nil},
		{`{"opt":"del","key":"k"}`, `{"data":"ok","deleted_num":0}`, nil},
		{`{"opt":"exist","key":"k"}`, `{"data":false,"exist_num":0}`, nil},
		{`{"opt":"get","key":"k"}`, "", backwards.ErrKeyNotFound},
		{`{"opt":"set","key":"fits","value":"` + strings.Repeat("ab", 1024) + `"}`, `{"data":"ok"}`, nil},
		// The manifest's 1024 bytes are the limit.
		{`{"opt":"set","key":"over","value":"01"}`, "", backwards.ErrQuotaExceeded},
		{`{"opt":"set","key":"../x","value":"01"}`, "", backwards.ErrInvalidKey},
	}
	for _, st := range steps {
		got, err := serve(st.req)
		if st.err != nil {
			wantErr(t, err, st.err)
			continue
		}
		ok(t, err)
		equal(t, st.req, got, st.reply)
	}
	// The replies came from the caller's namespace.
	served := backwards.Namespace{TenantID: "t1", PluginID: "acme/served"}
	equal(t, "stored under the caller", hex.EncodeToString(must(kv.Get(ctx, served, "fits"))), strings.Repeat("ab", 1024))
	checkUsage(t, kv, served, 1024)
}

// FuzzStorageKeys feeds plugin-chosen keys and values to the SQLite store: a key is either
// refused as ValidateKey refuses it, before anything is written, or it round-trips exactly and
// leaves the usage count true.
func FuzzStorageKeys(f *testing.F) {
	for _, seed := range []struct {
		key   string
		value []byte
	}{
		{"k", []byte("v")},
		{"", nil},
		{"../x", []byte{1}},
		{"a//b", nil},
		{`a\b`, []byte{0}},
		{"dir/file.txt", []byte{0xff, 0}},
		{"ü-ключ", []byte{}},
		{"a\x00b", []byte("nul")},
		{"\xff", nil},
		{"a'; DROP TABLE plugin_storage; --", []byte("quote")},
		{strings.Repeat("k", backwards.MaxKeyLen), []byte("long")},
	} {
		f.Add(seed.key, seed.value)
	}
	db, err := OpenSQLite(f.Context(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(f.Context()); err != nil {
		f.Fatal(err)
	}
	ns := backwards.Namespace{TenantID: "t", PluginID: "fuzz/keys"}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		ctx := t.Context()
		err := db.Set(ctx, ns, key, value, 1<<20)
		if backwards.ValidateKey(key) != nil {
			if !errors.Is(err, backwards.ErrInvalidKey) {
				t.Fatalf("key %q: set gave %v, want ErrInvalidKey", key, err)
			}
			checkUsage(t, db, ns, 0)
			return
		}
		if len(value) > 1<<20 {
			if !errors.Is(err, backwards.ErrQuotaExceeded) {
				t.Fatalf("%d-byte value: set gave %v, want ErrQuotaExceeded", len(value), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		got, err := db.Get(ctx, ns, key)
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("key %q: got %q, %v; want %q", key, got, err, value)
		}
		checkUsage(t, db, ns, int64(len(value)))
		if gone, err := db.Delete(ctx, ns, key); err != nil || !gone {
			t.Fatalf("key %q: delete gave %v, %v", key, gone, err)
		}
		checkUsage(t, db, ns, 0)
	})
}

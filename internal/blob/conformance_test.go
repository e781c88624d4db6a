package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// testStore runs the behaviour every Store must show. newStore returns an empty store of its
// own for each subtest, so the subtests can check List results exactly.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		tests := []struct {
			name string
			key  string
			data []byte
		}{
			{"empty", "empty.bin", nil},
			{"small", "packages/abc.difypkg", []byte("hello")},
			{"binary", "assets/icon.svg", data(256, 1)},
			{"unicode key", "packages/ünï-código 名前.difypkg", []byte("ü")},
			{"odd characters", "a b/c+d=e&f,g;h@i$j!k'l(m)n[o]~.txt", []byte("odd")},
			{"deep", "a/b/c/d/e/f/g/h", data(4097, 2)},
			{"dot file", "x/.hidden", []byte(".")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustPut(t, s, tt.key, tt.data, int64(len(tt.data)))
				if size, err := s.Stat(ctx, tt.key); err != nil || size != int64(len(tt.data)) {
					t.Fatalf("Stat = %d, %v; want %d", size, err, len(tt.data))
				}
				if got := mustGet(t, s, tt.key); !bytes.Equal(got, tt.data) {
					t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), len(tt.data))
				}
				if keys := mustList(t, s, tt.key); !slices.Equal(keys, []string{tt.key}) {
					t.Fatalf("List(%q) = %q", tt.key, keys)
				}
				if err := s.Delete(ctx, tt.key); err != nil {
					t.Fatalf("Delete: %v", err)
				}
				assertMissing(t, s, tt.key)
				if err := s.Delete(ctx, tt.key); err != nil {
					t.Fatalf("second Delete: %v", err)
				}
			})
		}
		if keys := mustList(t, s, ""); len(keys) != 0 {
			t.Fatalf("after deleting everything List = %q", keys)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		versions := []struct {
			data []byte
			size int64
		}{
			{data(3<<20, 3), 3 << 20},
			{[]byte("short"), 5},
			{data(1000, 4), -1},
			{nil, 0},
			{[]byte("last"), -1},
		}
		for i, v := range versions {
			mustPut(t, s, "k/obj", v.data, v.size)
			if got := mustGet(t, s, "k/obj"); !bytes.Equal(got, v.data) {
				t.Fatalf("version %d: Get returned %d bytes, want the %d just put", i, len(got), len(v.data))
			}
			if size, err := s.Stat(ctx, "k/obj"); err != nil || size != int64(len(v.data)) {
				t.Fatalf("version %d: Stat = %d, %v; want %d", i, size, err, len(v.data))
			}
		}
		if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"k/obj"}) {
			t.Fatalf("List = %q", keys)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, "present", []byte("x"), 1)
		for _, key := range []string{"absent", "no/such/folder/key", "present/child"} {
			assertMissing(t, s, key)
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("Delete(%q) of a missing object: %v", key, err)
			}
		}
		if got := mustGet(t, s, "present"); string(got) != "x" {
			t.Fatalf("the present object changed: %q", got)
		}
	})

	t.Run("UnknownSize", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []int{0, 1, 1000, 20 << 20} {
			key := "unknown/" + strings.Repeat("n", 1+n%7)
			want := data(n, uint64(n))
			mustPut(t, s, key, want, -1)
			if size, err := s.Stat(ctx, key); err != nil || size != int64(n) {
				t.Fatalf("%d bytes: Stat = %d, %v", n, size, err)
			}
			if got := mustGet(t, s, key); sha256.Sum256(got) != sha256.Sum256(want) {
				t.Fatalf("%d bytes: Get returned %d different bytes", n, len(got))
			}
		}
	})

	t.Run("Large", func(t *testing.T) {
		s := newStore(t)
		want := data(20<<20, 5)
		mustPut(t, s, "big/twenty.bin", want, int64(len(want)))
		if size, err := s.Stat(ctx, "big/twenty.bin"); err != nil || size != 20<<20 {
			t.Fatalf("Stat = %d, %v", size, err)
		}
		if got := mustGet(t, s, "big/twenty.bin"); sha256.Sum256(got) != sha256.Sum256(want) {
			t.Fatalf("Get returned %d bytes that differ from the 20 MiB put", len(got))
		}
	})

	t.Run("SizeMismatch", func(t *testing.T) {
		s := newStore(t)
		old := []byte("previous version")
		mustPut(t, s, "kept", old, int64(len(old)))
		tests := []struct {
			name   string
			actual int
			size   int64
		}{
			{"short", 5, 10},
			{"long", 10, 5},
			{"empty but sized", 0, 3},
			{"sized zero but not empty", 3, 0},
			{"short multipart", 20 << 20, 20<<20 + 1},
			{"long multipart", 20<<20 + 1, 20 << 20},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, key := range []string{"fresh/obj", "kept"} {
					err := s.Put(ctx, key, opaque(data(tt.actual, 6)), tt.size)
					if !errors.Is(err, ErrSizeMismatch) {
						t.Fatalf("Put(%q) of %d bytes as %d = %v; want ErrSizeMismatch", key, tt.actual, tt.size, err)
					}
				}
				assertMissing(t, s, "fresh/obj")
				if got := mustGet(t, s, "kept"); !bytes.Equal(got, old) {
					t.Fatalf("a failed Put changed the existing object to %d bytes", len(got))
				}
				if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"kept"}) {
					t.Fatalf("List = %q", keys)
				}
			})
		}
	})

	t.Run("CancelDuringPut", func(t *testing.T) {
		s := newStore(t)
		old := []byte("previous version")
		mustPut(t, s, "kept", old, int64(len(old)))
		const total, cancelAt = 20 << 20, 18 << 20 // past the first part of a multipart upload
		for _, size := range []int64{total, -1} {
			for _, key := range []string{"fresh/obj", "kept"} {
				ctx, cancel := context.WithCancel(ctx)
				r := &cancellingReader{left: total, cancelWhenLeft: total - cancelAt, cancel: cancel}
				err := s.Put(ctx, key, r, size)
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Put(%q, size %d) cancelled mid-way = %v; want context.Canceled", key, size, err)
				}
				if r.left > total-cancelAt {
					t.Fatalf("the cancel never happened: %d bytes left", r.left)
				}
			}
			assertMissing(t, s, "fresh/obj")
			if got := mustGet(t, s, "kept"); !bytes.Equal(got, old) {
				t.Fatalf("a cancelled Put changed the existing object to %d bytes", len(got))
			}
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Put(cancelled, "fresh/obj", opaque([]byte("x")), 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context = %v", err)
		}
		if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"kept"}) {
			t.Fatalf("List = %q", keys)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		all := []string{"z", "a-b", "a/bc", "ab", "b/x", "a/c/d", "a/b"}
		for _, k := range all {
			mustPut(t, s, k, []byte(k), int64(len(k)))
		}
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", []string{"a-b", "a/b", "a/bc", "a/c/d", "ab", "b/x", "z"}},
			{"a", []string{"a-b", "a/b", "a/bc", "a/c/d", "ab"}},
			{"a/", []string{"a/b", "a/bc", "a/c/d"}},
			{"a/b", []string{"a/b", "a/bc"}},
			{"a/b/", []string{}},
			{"a/c", []string{"a/c/d"}},
			{"a/c/", []string{"a/c/d"}},
			{"a/c/d", []string{"a/c/d"}},
			{"b/", []string{"b/x"}},
			{"zz", []string{}},
			{"q/r/", []string{}},
			{"z/", []string{}},
		}
		for _, tt := range tests {
			if got := mustList(t, s, tt.prefix); !slices.Equal(got, tt.want) {
				t.Errorf("List(%q) = %q; want %q", tt.prefix, got, tt.want)
			}
		}
	})

	t.Run("Large64MiBStreamed", func(t *testing.T) {
		// A package at the top of what plugd accepts (MAX_PLUGIN_PACKAGE_SIZE is 50 MiB by
		// default), generated while it is sent and hashed while it is read back: neither the
		// test nor the store may hold it whole. The heap is sampled throughout, with the
		// collector made eager, so a store that buffered the object would show a peak near
		// 64 MiB; part and block buffers (16 MiB for S3 and Azure, 8 MiB for GCS) stay far below.
		const size = 64 << 20
		s := newStore(t)
		peak := watchHeap(t)
		src := &generator{left: size, seed: 7}
		if err := s.Put(ctx, "big/sixty-four.difypkg", src, size); err != nil {
			t.Fatalf("Put of 64 MiB: %v", err)
		}
		if got, err := s.Stat(ctx, "big/sixty-four.difypkg"); err != nil || got != size {
			t.Fatalf("Stat = %d, %v", got, err)
		}
		rc, err := s.Get(ctx, "big/sixty-four.difypkg")
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != size {
			t.Fatalf("Get read %d bytes, %v", n, err)
		}
		if want := (&generator{left: size, seed: 7}).sum(); !bytes.Equal(h.Sum(nil), want) {
			t.Fatal("Get returned bytes that differ from the 64 MiB put")
		}
		if grew := peak(); grew > 40<<20 {
			t.Fatalf("the heap grew by %d MiB while 64 MiB went through the store; it must stream", grew>>20)
		}
	})

	t.Run("ManyKeysPaged", func(t *testing.T) {
		// More keys than one page of List holds (the page is made small where the store
		// allows it), put concurrently, some under a second prefix.
		s := newStore(t)
		if p, ok := s.(interface{ setListPage(int) }); ok {
			p.setListPage(50)
		}
		const n = 230
		want := make([]string, 0, n)
		for i := range n {
			want = append(want, fmt.Sprintf("many/%03d/k", i))
		}
		var g errgroup.Group
		g.SetLimit(8)
		for _, k := range want {
			g.Go(func() error { return s.Put(ctx, k, opaque([]byte(k)), int64(len(k))) })
		}
		g.Go(func() error { return s.Put(ctx, "other/x", opaque([]byte("x")), 1) })
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := mustList(t, s, "many/"); !slices.Equal(got, want) {
			t.Fatalf("List(many/) returned %d keys, want %d (first %q)", len(got), len(want), first(got))
		}
		if got := mustList(t, s, "many/1"); len(got) != 100 || got[0] != "many/100/k" || got[99] != "many/199/k" {
			t.Fatalf("List(many/1) returned %d keys (first %q)", len(got), first(got))
		}
		if got := mustList(t, s, ""); len(got) != n+1 {
			t.Fatalf("List() returned %d keys, want %d", len(got), n+1)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		s := newStore(t)
		bad := []string{
			"", "/abs", "a//b", "a/", "./a", "a/./b", "../x", "a/..", "..", "a\\b", "a\x00b",
			"a\nb", "\xff", ".~tmp", "a/.~x", longKey(1025), strings.Repeat("s", 256),
		}
		for _, key := range bad {
			checks := map[string]error{
				"Put":    s.Put(ctx, key, opaque([]byte("x")), 1),
				"Delete": s.Delete(ctx, key),
			}
			_, checks["Get"] = s.Get(ctx, key)
			_, checks["Stat"] = s.Stat(ctx, key)
			for op, err := range checks {
				var ke *KeyError
				if !errors.Is(err, ErrInvalidKey) || !errors.As(err, &ke) || ke.Reason == "" {
					t.Errorf("%s(%q) = %v; want a KeyError", op, key, err)
				}
			}
		}
		for _, prefix := range []string{"/", "/x", "a//", "../", "a/./", "x\\"} {
			if _, err := s.List(ctx, prefix); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("List(%q) = %v; want ErrInvalidKey", prefix, err)
			}
		}
		if keys := mustList(t, s, ""); len(keys) != 0 {
			t.Fatalf("refused keys left objects: %q", keys)
		}
	})
}

// data returns n reproducible pseudo-random bytes.
func data(n int, seed uint64) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

// opaque hides the extra methods of a bytes.Reader (Seek, WriteTo, ReadAt), so stores read it
// the way they read a network body.
func opaque(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }

// cancellingReader yields left bytes, calling cancel once no more than cancelWhenLeft remain,
// and keeps yielding after that as a network body would.
type cancellingReader struct {
	left, cancelWhenLeft int
	cancel               func()
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left, 64<<10)
	clear(p[:n])
	r.left -= n
	if r.left <= r.cancelWhenLeft {
		r.cancel()
	}
	return n, nil
}

func mustPut(t *testing.T, s Store, key string, b []byte, size int64) {
	t.Helper()
	if err := s.Put(context.Background(), key, opaque(b), size); err != nil {
		t.Fatalf("Put(%q, %d bytes, size %d): %v", key, len(b), size, err)
	}
}

func mustGet(t *testing.T, s Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

func mustList(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	keys, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	if keys == nil {
		t.Fatalf("List(%q) = nil; want an empty slice", prefix)
	}
	return keys
}

func assertMissing(t *testing.T, s Store, key string) {
	t.Helper()
	if rc, err := s.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Get(%q) = %v; want ErrNotFound", key, err)
	}
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat(%q) = %v; want ErrNotFound", key, err)
	}
}

func first(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

// generator yields left reproducible pseudo-random bytes without holding them.
type generator struct {
	left int
	seed uint64
	rng  *rand.ChaCha8
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if g.rng == nil {
		g.rng = rand.NewChaCha8([32]byte{byte(g.seed), 0xb1, 0x0b})
	}
	n := min(len(p), g.left)
	g.rng.Read(p[:n])
	g.left -= n
	return n, nil
}

// sum is the SHA-256 of everything the generator yields.
func (g *generator) sum() []byte {
	h := sha256.New()
	io.Copy(h, g)
	return h.Sum(nil)
}

// watchHeap samples the heap in use every few milliseconds with the collector made eager
// (GOGC=10), and returns a function that stops sampling and reports the peak's growth over
// the heap at the start.
func watchHeap(t *testing.T) func() uint64 {
	t.Helper()
	old := debug.SetGCPercent(10)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	stopped := false
	stop := func() uint64 {
		if !stopped {
			stopped = true
			close(done)
			wg.Wait()
			debug.SetGCPercent(old)
		}
		return peak - base
	}
	t.Cleanup(func() { stop() })
	return stop
}

package pkgfile

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sequentialZip is the reference way of writing a package: archive/zip's CreateHeader, one
// file after the other. The parallel writer must produce exactly these bytes.
func sequentialZip(t testing.TB, dir string, names []string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	zw.Close()
	return buf.Bytes()
}

func TestWriteZipMatchesCreateHeader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return string(b)
	}
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"empty files", map[string]string{"a": "", "b/c": ""}},
		{"names needing the UTF-8 flag", map[string]string{"~tilde": "x", "é/ü.txt": "y", "plain.txt": "z"}},
		{"text", map[string]string{"main.py": strings.Repeat("print('hello')\n", 5000), "README.md": "# hi\n"}},
		{"many small random files", func() map[string]string {
			m := map[string]string{}
			for i := range 300 {
				m[fmt.Sprintf("d%d/f%03d.bin", i%7, i)] = random(rng.IntN(20000))
			}
			return m
		}()},
		{"files larger than the buffer window", map[string]string{
			"a.bin": random(maxBuffered + 100), "b.bin": random(3 << 20), "c.txt": strings.Repeat("abc", 1<<20), "d.bin": random(maxBuffered + 5),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, filepath.Join(dir, name), content)
			}
			tree, err := Collect(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range tree.Entries() {
				names = append(names, e.Name)
			}
			var got bytes.Buffer
			if err := tree.WriteZip(context.Background(), &got, nil); err != nil {
				t.Fatal(err)
			}
			if want := sequentialZip(t, dir, names); !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("parallel writer output (%d bytes) differs from CreateHeader's (%d bytes)", got.Len(), len(want))
			}
		})
	}
}

func TestWriteZipProgress(t *testing.T) {
	dir := t.TempDir()
	for i := range 500 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%03d", i)), strings.Repeat("x", 1000))
	}
	tree, err := Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][2]int64
	err = tree.WriteZip(context.Background(), io.Discard, func(done, total int64) {
		calls = append(calls, [2]int64{done, total})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) == 0 || len(calls) > 101 {
		t.Fatalf("%d progress calls, want 1..101", len(calls))
	}
	for i, c := range calls {
		if c[1] != 500_000 || (i > 0 && c[0] <= calls[i-1][0]) {
			t.Fatalf("bad progress sequence %v", calls)
		}
	}
	if last := calls[len(calls)-1]; last[0] != last[1] {
		t.Errorf("last progress %v, want done == total", last)
	}
}

func TestWriteZipCancelAndChanges(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.txt"), "hello")
	tree, err := Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tree.WriteZip(ctx, io.Discard, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "hello, world")
	if err := tree.WriteZip(context.Background(), io.Discard, nil); err == nil || !strings.Contains(err.Error(), "grew while being read") {
		t.Errorf("grown file: %v", err)
	}
	if _, err := tree.Checksum(context.Background()); err == nil {
		t.Error("checksum of a grown file should fail")
	}
	writeFile(t, filepath.Join(dir, "a.txt"), "hi")
	if err := tree.WriteZip(context.Background(), io.Discard, nil); err == nil || !strings.Contains(err.Error(), "changed while being read") {
		t.Errorf("shrunk file: %v", err)
	}
	// A file swapped for a symlink to the outside after Collect is still not read.
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, "hello")
	os.Remove(filepath.Join(dir, "a.txt"))
	symlink(t, outside, filepath.Join(dir, "a.txt"))
	if err := tree.WriteZip(context.Background(), io.Discard, nil); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("swapped symlink: %v", err)
	}
}

// makeBenchTree generates the performance target: 2,000 files of 8 KiB and four of 8 MiB,
// random bytes (48 MiB, incompressible, so deflate works hardest).
func makeBenchTree(b *testing.B) string {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(n int) []byte {
		data := make([]byte, n)
		for i := 0; i < n; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < n; j++ {
				data[i+j] = byte(v >> (8 * j))
			}
		}
		return data
	}
	for i := range 2000 {
		p := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%20), fmt.Sprintf("file%04d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, fill(8<<10), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 4 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("model%d.bin", i)), fill(8<<20), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func BenchmarkWriteZip48MiB(b *testing.B) {
	dir := makeBenchTree(b)
	ctx := context.Background()
	tree, err := Collect(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(tree.TotalSize())
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if err := tree.WriteZip(ctx, io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkChecksum48MiB(b *testing.B) {
	dir := makeBenchTree(b)
	ctx := context.Background()
	tree, err := Collect(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(tree.TotalSize())
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		if _, err := tree.Checksum(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

func BenchmarkCollectAndWriteZip48MiB(b *testing.B) {
	dir := makeBenchTree(b)
	out := filepath.Join(b.TempDir(), "out.difypkg")
	ctx := context.Background()
	b.SetBytes(48 << 20)
	for b.Loop() {
		tree, err := Collect(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if err := tree.WriteZip(ctx, f, nil); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkPackageChecksum48MiB(b *testing.B) {
	dir := makeBenchTree(b)
	ctx := context.Background()
	tree, err := Collect(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "out.difypkg")
	f, _ := os.Create(out)
	if err := tree.WriteZip(ctx, f, nil); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.SetBytes(tree.TotalSize())
	for b.Loop() {
		p, err := Open(out, DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Checksum(ctx); err != nil {
			b.Fatal(err)
		}
		p.Close()
	}
}

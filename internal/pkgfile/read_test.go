package pkgfile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// zent describes one entry of a hand-made zip. Zero fields mean "honest": the right CRC and
// sizes, Deflate, a regular file.
type zent struct {
	name   string
	data   string
	method uint16
	store  bool
	mode   fs.FileMode
	flags  uint16
	crc    uint32 // if set, declared instead of the real CRC
	usize  int64  // if set, declared instead of the real size
}

func makeZip(t testing.TB, entries ...zent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
		comp := deflateBytes(e.data)
		if e.store {
			fh.Method, comp = zip.Store, []byte(e.data)
		}
		if e.method != 0 {
			fh.Method = e.method
		}
		if e.mode != 0 {
			fh.SetMode(e.mode)
		}
		fh.CRC32 = crc32.ChecksumIEEE([]byte(e.data))
		if e.crc != 0 {
			fh.CRC32 = e.crc
		}
		fh.UncompressedSize64 = uint64(len(e.data))
		if e.usize != 0 {
			fh.UncompressedSize64 = uint64(e.usize)
		}
		fh.CompressedSize64 = uint64(len(comp))
		w, err := zw.CreateRaw(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflateBytes(s string) []byte {
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, zipFlateLevel)
	fw.Write([]byte(s))
	fw.Close()
	return b.Bytes()
}

func readBytes(data []byte, lim Limits) (*Package, error) {
	return Read(bytes.NewReader(data), int64(len(data)), lim)
}

func TestReadRefuses(t *testing.T) {
	zeros := strings.Repeat("\x00", 2<<20)
	manyZeros := func() []zent {
		var es []zent
		for i := range 20 {
			es = append(es, zent{name: "z" + string(rune('a'+i)), data: strings.Repeat("\x00", 100<<10)})
		}
		return es
	}
	tests := []struct {
		name    string
		zip     []byte
		lim     Limits
		kind    error
		msg     string
		onRead  bool // the error comes when reading the entry, not from Read
		readErr string
	}{
		{name: "zip slip", zip: makeZip(t, zent{name: "../evil", data: "x"}), kind: ErrUnsafePath, msg: `difypkg entry "../evil": path escapes the package`},
		{name: "nested zip slip", zip: makeZip(t, zent{name: "a/../../evil", data: "x"}), kind: ErrUnsafePath, msg: "path escapes the package"},
		{name: "absolute", zip: makeZip(t, zent{name: "/etc/passwd", data: "x"}), kind: ErrUnsafePath, msg: `"/etc/passwd": absolute path`},
		{name: "drive letter", zip: makeZip(t, zent{name: "C:/x", data: "x"}), kind: ErrUnsafePath, msg: "absolute path"},
		{name: "drive letter backslash", zip: makeZip(t, zent{name: `C:\x`, data: "x"}), kind: ErrUnsafePath, msg: "backslash"},
		{name: "UNC", zip: makeZip(t, zent{name: `\\server\share`, data: "x"}), kind: ErrUnsafePath, msg: "backslash"},
		{name: "backslash", zip: makeZip(t, zent{name: `a\b`, data: "x"}), kind: ErrUnsafePath, msg: "backslash"},
		{name: "invalid UTF-8", zip: makeZip(t, zent{name: "bad\xff", data: "x"}), kind: ErrUnsafePath, msg: "not valid UTF-8"},
		{name: "empty name", zip: makeZip(t, zent{name: "", data: "x"}), kind: ErrUnsafePath, msg: "empty name"},
		{name: "dot segment", zip: makeZip(t, zent{name: "a/./b", data: "x"}), kind: ErrUnsafePath, msg: "path is not clean"},
		{name: "empty segment", zip: makeZip(t, zent{name: "a//b", data: "x"}), kind: ErrUnsafePath, msg: "path is not clean"},
		{name: "control character", zip: makeZip(t, zent{name: "a\nb", data: "x"}), kind: ErrUnsafePath, msg: "control character"},
		{name: "long name", zip: makeZip(t, zent{name: strings.Repeat("a", 20), data: "x"}), lim: Limits{MaxNameLen: 10}, kind: ErrUnsafePath, msg: "longer than 10 bytes"},
		{name: "element past NAME_MAX", zip: makeZip(t, zent{name: "d/" + strings.Repeat("a", 256), data: "x"}), kind: ErrUnsafePath, msg: "a path element is 256 bytes; file systems hold at most 255"},
		{name: "symlink", zip: makeZip(t, zent{name: "link", data: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), kind: ErrUnsupported, msg: `"link": symlink entries are not allowed`},
		{name: "device", zip: makeZip(t, zent{name: "dev", mode: fs.ModeDevice | 0o644}), kind: ErrUnsupported, msg: "not a regular file"},
		{name: "duplicate", zip: makeZip(t, zent{name: "a", data: "1"}, zent{name: "a", data: "2"}), kind: ErrCorrupt, msg: `"a": duplicate entry`},
		{name: "duplicate dir", zip: makeZip(t, zent{name: "d/", store: true}, zent{name: "d/", store: true}), kind: ErrCorrupt, msg: "duplicate entry"},
		{name: "file and directory", zip: makeZip(t, zent{name: "a", data: "1"}, zent{name: "a/b", data: "2"}), kind: ErrCorrupt, msg: `"a": is both a file and a directory`},
		{name: "file and directory entry", zip: makeZip(t, zent{name: "a", data: "1"}, zent{name: "a/", store: true}), kind: ErrCorrupt, msg: "is both a file and a directory"},
		{name: "directory with data", zip: makeZip(t, zent{name: "d/", data: "xx", store: true}), kind: ErrCorrupt, msg: "directory entry holds data"},
		{name: "encrypted", zip: makeZip(t, zent{name: "a", data: "x", flags: 0x1}), kind: ErrUnsupported, msg: `"a": entry is encrypted`},
		{name: "bzip2", zip: makeZip(t, zent{name: "a", data: "x", method: 12}), kind: ErrUnsupported, msg: "compression method 12 is not supported"},
		{name: "stored sizes differ", zip: makeZip(t, zent{name: "a", data: "xyz", store: true, usize: 5}), kind: ErrCorrupt, msg: "compressed and uncompressed sizes differ"},
		{name: "ratio bomb", zip: makeZip(t, zent{name: "bomb", data: zeros}), kind: ErrTooLarge, msg: `"bomb": entry expands`},
		{name: "overall ratio", zip: makeZip(t, manyZeros()...), kind: ErrTooLarge, msg: "package expands"},
		{name: "total uncompressed", zip: makeZip(t, zent{name: "a", data: strings.Repeat("a", 600)}, zent{name: "b", data: strings.Repeat("b", 600)}), lim: Limits{MaxUncompressedBytes: 1000}, kind: ErrTooLarge, msg: `"b": uncompressed total exceeds the limit of 1000 bytes`},
		{name: "entry over the total", zip: makeZip(t, zent{name: "a", data: "x", usize: 1 << 40}), kind: ErrTooLarge, msg: "uncompressed, the limit is"},
		{name: "too many entries", zip: makeZip(t, zent{name: "a"}, zent{name: "b"}, zent{name: "c"}, zent{name: "d"}, zent{name: "e"}), lim: Limits{MaxEntries: 3}, kind: ErrTooLarge, msg: "more than 3 entries"},
		{name: "package too big", zip: makeZip(t, zent{name: "a", data: "x"}), lim: Limits{MaxPackageBytes: 50}, kind: ErrTooLarge, msg: "the limit is 50 bytes"},
		{name: "compressed size beyond the file", zip: func() []byte {
			z := makeZip(t, zent{name: "a", data: "hello"})
			// Patch the central directory's compressed size of the only entry.
			i := bytes.LastIndex(z, []byte("PK\x01\x02"))
			copy(z[i+20:], []byte{0xff, 0xff, 0xff, 0x7f})
			return z
		}(), kind: ErrCorrupt, msg: "compressed size is larger than the package"},
		{name: "not a zip", zip: []byte("this is not a zip file at all"), kind: ErrCorrupt, msg: "difypkg: not a valid zip file"},
		{name: "more data than declared", zip: makeZip(t, zent{name: "a", data: strings.Repeat("x", 100), usize: 50}), onRead: true, kind: ErrCorrupt, readErr: `"a": entry holds more data than its declared size`},
		{name: "less data than declared", zip: makeZip(t, zent{name: "a", data: strings.Repeat("x", 100), usize: 150}), onRead: true, kind: ErrCorrupt, readErr: "declared size"},
		{name: "bad CRC", zip: makeZip(t, zent{name: "a", data: "hello", crc: 12345}), onRead: true, kind: ErrCorrupt, readErr: `"a": CRC-32 mismatch`},
		{name: "stored bad CRC", zip: makeZip(t, zent{name: "a", data: "hello", store: true, crc: 12345}), onRead: true, kind: ErrCorrupt, readErr: "CRC-32 mismatch"},
		{name: "garbage deflate", zip: makeZip(t, zent{name: "a", data: "\xff\xff\xff\xff", method: zip.Deflate, store: true}), onRead: true, kind: ErrCorrupt, readErr: "compressed data is damaged"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := readBytes(tc.zip, tc.lim)
			if !tc.onRead {
				checkErr(t, err, tc.kind, tc.msg)
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			_, err = p.ReadFile("a")
			checkErr(t, err, tc.kind, tc.readErr)
			if _, err := p.Checksum(context.Background()); !errors.Is(err, tc.kind) {
				t.Errorf("Checksum: %v", err)
			}
			if err := p.ExtractTo(context.Background(), t.TempDir()); !errors.Is(err, tc.kind) {
				t.Errorf("ExtractTo: %v", err)
			}
		})
	}
}

// TestDeclaredSizeBoundsInflation checks that a header declaring a small size cannot make
// us inflate a large stream: the reader asks for at most size+1 bytes.
func TestDeclaredSizeBoundsInflation(t *testing.T) {
	data := makeZip(t, zent{name: "a", data: strings.Repeat("x", 1<<20), usize: 10})
	p, err := readBytes(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	n, err := f.Read(buf)
	for err == nil {
		var m int
		m, err = f.Read(buf)
		n += m
	}
	if n > 10 || !errors.Is(err, ErrCorrupt) {
		t.Errorf("read %d bytes, err %v; want at most 10 and ErrCorrupt", n, err)
	}
}

func TestDirectoryEntriesIgnored(t *testing.T) {
	vec, err := os.ReadFile(vectors + "vec1.difypkg")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := readBytes(vec, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild vec1 the way `zip -r` would: directory entries first, files stored.
	var entries []zent
	dirs := map[string]bool{}
	for _, e := range orig.Entries() {
		for d := filepath.Dir(e.Name); d != "."; d = filepath.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				entries = append(entries, zent{name: d + "/", store: true, mode: fs.ModeDir | 0o755})
			}
		}
		data, _ := orig.ReadFile(e.Name)
		entries = append(entries, zent{name: e.Name, data: string(data), store: true})
	}
	p, err := readBytes(makeZip(t, entries...), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries()) != 11 {
		t.Errorf("%d entries, want the 11 files", len(p.Entries()))
	}
	if sum, err := p.Checksum(context.Background()); err != nil || sum != vec1Checksum {
		t.Errorf("checksum %s, %v; want vec1's", sum, err)
	}
	if err := fstest.TestFS(p, "data/nested/config.json", "manifest.yaml"); err != nil {
		t.Error(err)
	}
}

func TestPackageFS(t *testing.T) {
	p, err := Open(vectors+"official/langgenius-agent_0.0.14.difypkg", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var names []string
	for _, e := range p.Entries() {
		names = append(names, e.Name)
	}
	if err := fstest.TestFS(p, names...); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open("../x"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../x): %v", err)
	}
}

func TestExtractTo(t *testing.T) {
	ctx := context.Background()
	p, err := Open(vectors+"vec1.difypkg", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dir := filepath.Join(t.TempDir(), "out")
	if err := p.ExtractTo(ctx, dir); err != nil {
		t.Fatal(err)
	}
	tree, err := Collect(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if sum, _ := tree.Checksum(ctx); sum != vec1Checksum {
		t.Errorf("extracted tree checksum %s", sum)
	}
	want, _ := os.ReadFile(vectors + "echo-fixture/tools/echo.py")
	if got, _ := os.ReadFile(filepath.Join(dir, "tools", "echo.py")); !bytes.Equal(got, want) {
		t.Error("tools/echo.py differs from the fixture")
	}
	if err := p.ExtractTo(ctx, dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("extracting into a non-empty folder: %v", err)
	}
}

func TestExtractCaseCollision(t *testing.T) {
	// On case-insensitive file systems "A" and "a" collide; O_EXCL turns that into an error
	// instead of one file silently replacing the other. On Linux both are written.
	p, err := readBytes(makeZip(t, zent{name: "A", data: "1"}, zent{name: "a", data: "2"}), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	err = p.ExtractTo(context.Background(), dir)
	if _, serr := os.Stat(filepath.Join(dir, "a")); serr == nil && err != nil {
		t.Errorf("case-sensitive file system, still failed: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	for _, name := range []string{"vec1.difypkg", "vec1.signed.difypkg", "vec1.tampered.difypkg", "official/langgenius-agent_0.0.14.difypkg"} {
		data, err := os.ReadFile(vectors + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, z := range [][]byte{
		makeZip(f, zent{name: "../evil", data: "x"}),
		makeZip(f, zent{name: "a", data: "1"}, zent{name: "a/b", data: "2"}),
		makeZip(f, zent{name: "d/", store: true}, zent{name: "d/x", data: "hello"}),
		makeZip(f, zent{name: "a", data: strings.Repeat("x", 100), usize: 50}),
		makeZip(f, zent{name: "a", data: "hello", crc: 1}),
		makeZip(f, zent{name: "link", data: "/etc", mode: fs.ModeSymlink | 0o777}),
	} {
		f.Add(z)
	}
	lim := Limits{MaxPackageBytes: 1 << 20, MaxUncompressedBytes: 4 << 20, MaxEntries: 100}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := readBytes(data, lim)
		if err != nil {
			return
		}
		ctx := context.Background()
		for _, e := range p.Entries() {
			if got, err := p.ReadFile(e.Name); err == nil && int64(len(got)) != e.Size {
				t.Fatalf("%q: read %d bytes, declared %d", e.Name, len(got), e.Size)
			}
		}
		p.Checksum(ctx)
		// Extraction never writes outside the target folder.
		base := t.TempDir()
		p.ExtractTo(ctx, filepath.Join(base, "out"))
		if list, _ := os.ReadDir(base); len(list) != 1 || list[0].Name() != "out" {
			t.Fatalf("extraction wrote outside its folder: %v", list)
		}
	})
}

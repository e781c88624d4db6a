package pkgfile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits bound what reading a package may cost. Packages come from uploads and downloads, so
// every figure an attacker controls is capped before it is trusted. A zero field means the
// default.
type Limits struct {
	MaxPackageBytes      int64 // size of the .difypkg file
	MaxUncompressedBytes int64 // sum of the entries' uncompressed sizes
	MaxEntries           int   // number of entries, directory entries included
	MaxRatio             int64 // uncompressed:compressed, per entry and overall, for data above 1 MiB
	MaxNameLen           int   // bytes in an entry name
}

// ratioFloor is the uncompressed size below which the ratio limit does not apply: small
// files (a 100 KiB JSON of zeros) legitimately compress very well, and the total limit
// already bounds what they can cost.
const ratioFloor = 1 << 20

// DefaultLimits returns the limits used for plugin packages:
//   - 50 MiB for both the file and the uncompressed total, the reference daemon's
//     MAX_PLUGIN_PACKAGE_SIZE (it checks both figures against it);
//   - 10,000 entries (the largest official plugins hold a few hundred files);
//   - a 200:1 compression ratio, above what source code and assets reach (text is
//     typically 3-10:1) and far below what zip bombs need (deflate reaches ~1000:1);
//   - 1,024-byte entry names.
func DefaultLimits() Limits {
	return Limits{
		MaxPackageBytes:      50 << 20,
		MaxUncompressedBytes: 50 << 20,
		MaxEntries:           10_000,
		MaxRatio:             200,
		MaxNameLen:           1024,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPackageBytes <= 0 {
		l.MaxPackageBytes = d.MaxPackageBytes
	}
	if l.MaxUncompressedBytes <= 0 {
		l.MaxUncompressedBytes = d.MaxUncompressedBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxNameLen <= 0 {
		l.MaxNameLen = d.MaxNameLen
	}
	return l
}

// Package is a .difypkg opened for reading. All of its metadata has been checked by Read;
// entry contents are checked (size, CRC) as they are read. It is an fs.FS of its files.
//
// Directory entries ("dir/"), which the reference packager never writes but `zip -r` does,
// are accepted and then ignored: they are not in Entries and do not count in the checksum
// or the signature, so such a package checksums like the same files packaged normally (the
// reference decoder fails on them instead).
type Package struct {
	zr      *zip.Reader
	closer  io.Closer
	files   []*zip.File // regular files, in ZIP order
	entries []Entry
	byName  map[string]int
	idx     dirIndex
}

// Open opens and checks the package file name.
func Open(name string, lim Limits) (*Package, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", name)
	}
	var p *Package
	if err == nil {
		p, err = Read(f, info.Size(), lim)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	p.closer = f
	return p, nil
}

// Read checks the package held by r and returns it. It refuses, with an error wrapping
// ErrUnsafePath, ErrTooLarge, ErrCorrupt or ErrUnsupported and naming the entry: names that
// could escape a folder or are not portable, duplicate entries, symlinks and other special
// files, encryption, compression methods other than Store and Deflate, and anything over lim.
func Read(r io.ReaderAt, size int64, lim Limits) (*Package, error) {
	lim = lim.withDefaults()
	if size > lim.MaxPackageBytes {
		return nil, pkgErr(ErrTooLarge, "", fmt.Sprintf("package is %d bytes, the limit is %d bytes", size, lim.MaxPackageBytes), nil)
	}
	if err := precheckEntries(r, size, lim.MaxEntries); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below, with better messages
		return nil, pkgErr(ErrCorrupt, "", "not a valid zip file", err)
	}
	if len(zr.File) > lim.MaxEntries {
		return nil, pkgErr(ErrTooLarge, "", fmt.Sprintf("package has %d entries, the limit is %d", len(zr.File), lim.MaxEntries), nil)
	}
	p := &Package{zr: zr, byName: make(map[string]int)}
	var dirs []string
	seen := make(map[string]bool) // name -> is a directory
	var total uint64
	for _, f := range zr.File {
		name, isDir := strings.CutSuffix(f.Name, "/")
		if isDir && name == "" {
			return nil, pkgErr(ErrUnsafePath, f.Name, "path is not clean", nil)
		}
		if err := checkName(name, lim.MaxNameLen); err != nil {
			return nil, err
		}
		if wasDir, ok := seen[name]; ok {
			if wasDir != isDir {
				return nil, pkgErr(ErrCorrupt, name, "is both a file and a directory", nil)
			}
			return nil, pkgErr(ErrCorrupt, f.Name, "duplicate entry", nil)
		}
		seen[name] = isDir
		if err := checkEntryHeader(f, isDir, size, lim); err != nil {
			return nil, err
		}
		if isDir {
			dirs = append(dirs, name)
			continue
		}
		total += f.UncompressedSize64
		if total > uint64(lim.MaxUncompressedBytes) {
			return nil, pkgErr(ErrTooLarge, f.Name, fmt.Sprintf("uncompressed total exceeds the limit of %d bytes", lim.MaxUncompressedBytes), nil)
		}
		p.byName[name] = len(p.files)
		p.files = append(p.files, f)
		p.entries = append(p.entries, Entry{Name: name, Size: int64(f.UncompressedSize64)})
	}
	if total > ratioFloor && total/uint64(max(size, 1)) > uint64(lim.MaxRatio) {
		return nil, pkgErr(ErrTooLarge, "", fmt.Sprintf("package expands to %d bytes from %d, more than %d:1", total, size, lim.MaxRatio), nil)
	}
	// A name may not be both a file and a directory ("a" and "a/b").
	for _, e := range p.entries {
		for dir := path.Dir(e.Name); dir != "."; dir = path.Dir(dir) {
			if _, ok := p.byName[dir]; ok {
				return nil, pkgErr(ErrCorrupt, dir, "is both a file and a directory", nil)
			}
		}
	}
	p.idx = newDirIndex(p.entries, dirs)
	return p, nil
}

// checkName refuses entry names that are not clean, portable, relative slash paths.
func checkName(name string, maxLen int) error {
	bad := func(kind error, detail string) error { return pkgErr(kind, name, detail, nil) }
	switch {
	case name == "":
		return bad(ErrUnsafePath, "empty name")
	case len(name) > maxLen:
		return bad(ErrUnsafePath, fmt.Sprintf("name is longer than %d bytes", maxLen))
	case !utf8.ValidString(name):
		return bad(ErrUnsafePath, "name is not valid UTF-8")
	case strings.ContainsRune(name, '\\'):
		return bad(ErrUnsafePath, "name contains a backslash")
	case strings.ContainsFunc(name, isControl):
		return bad(ErrUnsafePath, "name contains a control character")
	case name[0] == '/', len(name) >= 2 && name[1] == ':' && isASCIILetter(name[0]):
		return bad(ErrUnsafePath, "absolute path")
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "..":
			return bad(ErrUnsafePath, "path escapes the package")
		case "", ".":
			return bad(ErrUnsafePath, "path is not clean")
		}
		if len(seg) > maxNameElem {
			return bad(ErrUnsafePath, fmt.Sprintf("a path element is %d bytes; file systems hold at most %d (NAME_MAX), so it could not be extracted", len(seg), maxNameElem))
		}
	}
	return nil
}

// maxNameElem is NAME_MAX of Linux file systems: a longer element cannot be extracted, so
// the package is refused when read rather than when installed.
const maxNameElem = 255

// Verify reads every entry to its end, so that a CRC or size that does not match its
// header is found now; `checksum` and an upload read every entry too.
func (p *Package) Verify(ctx context.Context) error {
	_, err := p.EntrySums(ctx)
	return err
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// checkEntryHeader checks what an entry's header declares, before any of its data is read.
func checkEntryHeader(f *zip.File, isDir bool, pkgSize int64, lim Limits) error {
	bad := func(kind error, detail string) error { return pkgErr(kind, f.Name, detail, nil) }
	mode := f.Mode()
	switch {
	case f.Flags&0x1 != 0:
		return bad(ErrUnsupported, "entry is encrypted")
	case f.Method != zip.Store && f.Method != zip.Deflate:
		return bad(ErrUnsupported, fmt.Sprintf("compression method %d is not supported (only Store and Deflate)", f.Method))
	case mode&fs.ModeSymlink != 0:
		return bad(ErrUnsupported, "symlink entries are not allowed")
	case isDir && mode.Type() != fs.ModeDir, !isDir && mode.Type() != 0:
		return bad(ErrUnsupported, fmt.Sprintf("not a regular file or directory (mode %s)", mode))
	case isDir && f.UncompressedSize64 != 0:
		return bad(ErrCorrupt, "directory entry holds data")
	case f.UncompressedSize64 > uint64(lim.MaxUncompressedBytes):
		return bad(ErrTooLarge, fmt.Sprintf("entry is %d bytes uncompressed, the limit is %d", f.UncompressedSize64, lim.MaxUncompressedBytes))
	case f.CompressedSize64 > uint64(pkgSize):
		return bad(ErrCorrupt, "compressed size is larger than the package")
	case f.Method == zip.Store && f.CompressedSize64 != f.UncompressedSize64:
		return bad(ErrCorrupt, "stored entry's compressed and uncompressed sizes differ")
	case f.UncompressedSize64 > ratioFloor && f.UncompressedSize64/max(f.CompressedSize64, 1) > uint64(lim.MaxRatio):
		return bad(ErrTooLarge, fmt.Sprintf("entry expands %d bytes to %d, more than %d:1", f.CompressedSize64, f.UncompressedSize64, lim.MaxRatio))
	}
	return nil
}

// precheckEntries bounds the work of parsing the central directory. archive/zip reads
// directory headers until one fails to parse, whatever the end record says, so a small
// package could make it allocate a million headers before we can count them. Every header
// it parses starts with the 4-byte signature PK\x01\x02, so counting those bytes in the file
// is a cheap upper bound. Files too small to hold more than max headers are not scanned.
func precheckEntries(r io.ReaderAt, size int64, maxEntries int) error {
	const dirHeaderLen = 46
	if size/dirHeaderLen <= int64(maxEntries) {
		return nil
	}
	sig := []byte("PK\x01\x02")
	buf := make([]byte, 1<<20)
	count, carry := 0, 0
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf[carry:], off)
		if n == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return pkgErr(ErrCorrupt, "", "cannot read", err)
		}
		off += int64(n)
		data := buf[:carry+n]
		count += bytes.Count(data, sig)
		if count > maxEntries {
			return pkgErr(ErrTooLarge, "", fmt.Sprintf("package has more than %d entries", maxEntries), nil)
		}
		carry = copy(buf, data[max(len(data)-len(sig)+1, 0):])
	}
	return nil
}

// Entries lists the package's files in ZIP order, the order signatures are computed in.
func (p *Package) Entries() []Entry { return slices.Clone(p.entries) }

// Comment returns the zip comment, where signed packages keep their signature.
func (p *Package) Comment() string { return p.zr.Comment }

// Close releases the file opened by Open; it does nothing for packages made by Read.
func (p *Package) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// Checksum returns the reference's plugin checksum of the package's files.
func (p *Package) Checksum(ctx context.Context) (string, error) {
	return pluginChecksum(ctx, p.sources())
}

// EntrySums returns the SHA-256 of every file's content, in ZIP order: the per-file part of
// the data a signature covers.
func (p *Package) EntrySums(ctx context.Context) ([][sha256.Size]byte, error) {
	return hashSources(ctx, p.sources())
}

func (p *Package) sources() []source {
	srcs := make([]source, len(p.files))
	for i, e := range p.entries {
		srcs[i] = source{name: e.Name, size: e.Size, open: func() (io.ReadCloser, error) { return p.openEntry(i) }}
	}
	return srcs
}

// File is a file to add to a package.
type File struct {
	Name string
	Data []byte
}

// RewriteOptions says how Rewrite changes a package.
type RewriteOptions struct {
	Drop   func(name string) bool // leave out entries for which it returns true
	Append []File                 // written after the kept entries, in order
	// Comment returns the zip comment, given the SHA-256 of every written entry's content in
	// order. It runs after all entries are written, so a signature can cover them.
	Comment func(sums [][sha256.Size]byte) (string, error)
}

// Rewrite writes a new package holding p's files in ZIP order (less those dropped), then
// the appended ones. Entries are recompressed with Deflate and zero times, as the reference
// signer does, and files are hashed as they are copied, so the package is read once.
func (p *Package) Rewrite(ctx context.Context, w io.Writer, opt RewriteOptions) error {
	var srcs []source
	names := make(map[string]bool)
	for _, s := range p.sources() {
		if opt.Drop != nil && opt.Drop(s.name) {
			continue
		}
		srcs = append(srcs, s)
		names[s.name] = true
	}
	for _, f := range opt.Append {
		if err := checkName(f.Name, 4096); err != nil {
			return err
		}
		if names[f.Name] {
			return pkgErr(ErrCorrupt, f.Name, "duplicate entry", nil)
		}
		names[f.Name] = true
		data := f.Data
		srcs = append(srcs, source{name: f.Name, size: int64(len(data)), open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}})
	}
	return writeZip(ctx, w, srcs, writeOptions{hash: true, comment: opt.Comment})
}

// ExtractTo writes the package's files under dir, which must be empty or not exist yet: then
// nothing in it (no planted symlink) predates the extraction. Writes go through os.Root and
// files are created with O_EXCL, so nothing is ever written outside dir. On error, what was
// extracted so far is left for the caller to remove.
func (p *Package) ExtractTo(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, _ := d.Readdirnames(1)
	d.Close()
	if len(names) > 0 {
		return fmt.Errorf("extract package: %s is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	dirs := make([]string, 0, len(p.idx))
	for d := range p.idx {
		if d != "." {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	for _, d := range dirs {
		if err := root.MkdirAll(filepath.FromSlash(d), 0o755); err != nil {
			return err
		}
	}
	buf := make([]byte, 64<<10)
	for i, e := range p.entries {
		if err := p.extractOne(ctx, root, i, e, buf); err != nil {
			return err
		}
	}
	return nil
}

func (p *Package) extractOne(ctx context.Context, root *os.Root, i int, e Entry, buf []byte) error {
	rc, err := p.openEntry(i)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := root.OpenFile(filepath.FromSlash(e.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = copyChecked(ctx, out, rc, e.Name, e.Size, buf, nil)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// openEntry opens file i for reading, enforcing its declared size and CRC as it is read.
func (p *Package) openEntry(i int) (io.ReadCloser, error) {
	f := p.files[i]
	rc, err := f.Open()
	if err != nil {
		return nil, pkgErr(ErrCorrupt, f.Name, "cannot read entry", err)
	}
	return &entryReader{rc: rc, name: f.Name, size: int64(f.UncompressedSize64)}, nil
}

// entryReader never asks the decompressor for more than the declared size plus one byte, so
// a header that lies about the size cannot make us inflate more than it declared.
type entryReader struct {
	rc      io.ReadCloser
	name    string
	size, n int64
}

func (r *entryReader) Read(b []byte) (int, error) {
	if room := r.size - r.n + 1; int64(len(b)) > room {
		b = b[:room]
	}
	m, err := r.rc.Read(b)
	r.n += int64(m)
	if r.n > r.size {
		return m - int(r.n-r.size), pkgErr(ErrCorrupt, r.name, "entry holds more data than its declared size", nil)
	}
	switch {
	case err == nil:
	case err == io.EOF || err == io.ErrUnexpectedEOF && r.n < r.size:
		if r.n != r.size {
			return m, pkgErr(ErrCorrupt, r.name, "data ends before its declared size", err)
		}
	case errors.Is(err, zip.ErrFormat) && r.n == r.size:
		// archive/zip saw the byte past the declared size.
		return m, pkgErr(ErrCorrupt, r.name, "entry holds more data than its declared size", nil)
	case errors.Is(err, zip.ErrChecksum):
		return m, pkgErr(ErrCorrupt, r.name, "CRC-32 mismatch, the data is damaged", err)
	case errors.Is(err, zip.ErrFormat):
		return m, pkgErr(ErrCorrupt, r.name, "data does not match its declared size or descriptor", err)
	case errors.As(err, new(flate.CorruptInputError)), errors.Is(err, io.ErrUnexpectedEOF):
		return m, pkgErr(ErrCorrupt, r.name, "compressed data is damaged or truncated", err)
	default:
		return m, pkgErr(ErrCorrupt, r.name, "cannot read entry", err)
	}
	return m, err
}

func (r *entryReader) Close() error { return r.rc.Close() }

// Open implements fs.FS.
func (p *Package) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if d := p.idx.openDir(name); d != nil {
		return d, nil
	}
	i, ok := p.byName[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	rc, err := p.openEntry(i)
	if err != nil {
		return nil, err
	}
	return &file{info: fileInfo{name: path.Base(name), size: p.entries[i].Size}, ReadCloser: rc}, nil
}

// ReadDir implements fs.ReadDirFS.
func (p *Package) ReadDir(name string) ([]fs.DirEntry, error) { return p.idx.readDir("readdir", name) }

// Stat implements fs.StatFS.
func (p *Package) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if _, ok := p.idx[name]; ok {
		return dirInfo(path.Base(name)), nil
	}
	i, ok := p.byName[name]
	if !ok {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fileInfo{name: path.Base(name), size: p.entries[i].Size}, nil
}

// ReadFile implements fs.ReadFileFS; the whole entry is checked (size and CRC) before it
// is returned.
func (p *Package) ReadFile(name string) ([]byte, error) {
	f, err := p.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, _ := f.Stat()
	if info.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	// Read to EOF: the CRC is only checked there, and extra data is caught.
	if _, err := io.Copy(io.Discard, f); err != nil {
		return nil, err
	}
	return data, nil
}

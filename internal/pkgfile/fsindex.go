package pkgfile

import (
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Both sources of plugin files serve them as a read-only file system.
var (
	_ interface {
		fs.ReadDirFS
		fs.ReadFileFS
		fs.StatFS
	} = (*Tree)(nil)
	_ interface {
		fs.ReadDirFS
		fs.ReadFileFS
		fs.StatFS
	} = (*Package)(nil)
)

// dirIndex lists the children of every directory implied by a set of file names, so a Tree
// and a Package can serve ReadDir without a real directory on disk. Keys are "." for the
// root and slash paths otherwise.
type dirIndex map[string][]fs.DirEntry

func newDirIndex(files []Entry, extraDirs []string) dirIndex {
	idx := dirIndex{".": nil}
	var addDir func(dir string)
	addDir = func(dir string) {
		if _, ok := idx[dir]; ok {
			return
		}
		idx[dir] = nil
		parent := path.Dir(dir)
		addDir(parent)
		idx[parent] = append(idx[parent], fs.FileInfoToDirEntry(dirInfo(path.Base(dir))))
	}
	for _, d := range extraDirs {
		addDir(d)
	}
	for _, f := range files {
		parent := path.Dir(f.Name)
		addDir(parent)
		idx[parent] = append(idx[parent], fs.FileInfoToDirEntry(fileInfo{name: path.Base(f.Name), size: f.Size}))
	}
	for _, list := range idx {
		slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	}
	return idx
}

// openDir returns an fs.File for a directory of the index, or nil if name is not one.
func (idx dirIndex) openDir(name string) fs.File {
	list, ok := idx[name]
	if !ok {
		return nil
	}
	return &dirFile{info: dirInfo(path.Base(name)), entries: list}
}

func (idx dirIndex) readDir(op, name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	list, ok := idx[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(list), nil
}

// fileInfo describes files as a package holds them: no times, no permissions worth keeping.
type fileInfo struct {
	name string
	size int64
	dir  bool
}

func dirInfo(name string) fileInfo { return fileInfo{name: name, dir: true} }

func (fi fileInfo) Name() string       { return fi.name }
func (fi fileInfo) Size() int64        { return fi.size }
func (fi fileInfo) ModTime() time.Time { return time.Time{} }
func (fi fileInfo) IsDir() bool        { return fi.dir }
func (fi fileInfo) Sys() any           { return nil }
func (fi fileInfo) Mode() fs.FileMode {
	if fi.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

type dirFile struct {
	info    fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}

// file is an open regular file of a Tree or Package.
type file struct {
	info fileInfo
	io.ReadCloser
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }

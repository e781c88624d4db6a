// Package pkgfile reads and writes .difypkg plugin packages, byte-compatible with the
// reference dify CLI: it collects a plugin folder under its ignore rules, writes the
// deterministic zip the reference writes, computes the reference's plugin checksum, and reads
// packages from untrusted sources with strict limits.
package pkgfile

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Entry is one file of a plugin: its slash-separated path inside the plugin and its
// uncompressed size.
type Entry struct {
	Name string
	Size int64
}

// Tree is the set of files a plugin folder would put in its package: what Collect kept, plus
// files added with Add. It serves them as an fs.FS so validators read exactly what will be
// packaged.
type Tree struct {
	dir   string
	files []treeFile // sorted by name
	idx   dirIndex   // directories of files, rebuilt by Add
	err   error      // a bad name given to Add, reported by the methods that can fail
	// refDiffs are paths where the reference packager would choose differently (see
	// ReferenceDifferences).
	refDiffs []string
}

type treeFile struct {
	Entry
	data  []byte // content of an added file
	added bool
}

// Collect walks a plugin folder and returns the files a package of it would hold.
//
// Ignore rules come from .difyignore at the root or, if there is none, .gitignore, with git's
// semantics (negation included). Anything named .git is always left out. Symlinks to files
// are packaged as the file they point to, but only if the target is inside the folder;
// symlinks to directories are refused rather than silently dropped, as are sockets, devices
// and names that a package reader would refuse (invalid UTF-8, backslashes). An ignored
// path is never looked at, so such things are fine in ignored directories like .venv.
func Collect(ctx context.Context, dir string) (*Tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	rules, err := loadIgnore(root)
	if err != nil {
		return nil, err
	}
	t := &Tree{dir: dir}
	var refSkipped []string // folders the reference leaves out and plugd keeps, noted once
	underRefSkipped := func(name string) bool {
		return slices.ContainsFunc(refSkipped, func(dir string) bool { return strings.HasPrefix(name, dir) })
	}
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return dirErr(ErrUnsupported, name, "cannot read", err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if name == "." {
			return nil
		}
		if d.Name() == ".git" || rules.ignored(name, d.IsDir()) {
			if d.Name() == ".git" && !rules.ignored(name, d.IsDir()) && !rules.excludedByReference(name, d.IsDir()) {
				t.refDiffs = append(t.refDiffs, name+": the reference CLI packages it (plugd never packages .git)")
			}
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !underRefSkipped(name) && rules.excludedByReference(name, d.IsDir()) {
			t.refDiffs = append(t.refDiffs, name+": kept by a \"!\" rule, which the reference CLI ignores: it leaves this out")
			if d.IsDir() {
				refSkipped = append(refSkipped, name+"/") // one note for the folder
			}
		}
		if d.IsDir() {
			return nil
		}
		if err := checkFolderName(name); err != nil {
			return err
		}
		size, err := regularSize(root, name, d)
		if err != nil {
			return err
		}
		t.files = append(t.files, treeFile{Entry: Entry{Name: name, Size: size}})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(t.files, func(a, b treeFile) int { return strings.Compare(a.Name, b.Name) })
	t.idx = newDirIndex(t.Entries(), nil)
	return t, nil
}

func loadIgnore(root *os.Root) (*ignoreRules, error) {
	for _, name := range []string{".difyignore", ".gitignore"} {
		data, err := root.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, dirErr(ErrUnsupported, name, "cannot read ignore file", err)
		}
		return parseIgnore(data), nil
	}
	return nil, nil
}

// regularSize returns the size of the regular file name, following a symlink only while it
// stays inside the folder.
func regularSize(root *os.Root, name string, d fs.DirEntry) (int64, error) {
	switch {
	case d.Type().IsRegular():
		info, err := d.Info()
		if err != nil {
			return 0, dirErr(ErrUnsupported, name, "cannot read", err)
		}
		return info.Size(), nil
	case d.Type()&fs.ModeSymlink != 0:
		info, err := root.Stat(filepath.FromSlash(name))
		if err != nil {
			return 0, dirErr(ErrUnsafePath, name, "symlink does not lead to a file inside the plugin folder (symlinks must be relative and stay inside)", err)
		}
		if info.IsDir() {
			return 0, dirErr(ErrUnsupported, name, "symlinks to directories are not packaged; copy the directory or add it to .difyignore", nil)
		}
		if !info.Mode().IsRegular() {
			return 0, dirErr(ErrUnsupported, name, "symlink does not lead to a regular file", nil)
		}
		return info.Size(), nil
	default:
		return 0, dirErr(ErrUnsupported, name, fmt.Sprintf("not a regular file (%s); add it to .difyignore", d.Type()), nil)
	}
}

// checkFolderName refuses names that would make a package our own reader refuses.
func checkFolderName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return dirErr(ErrUnsafePath, name, "file name is not valid UTF-8; rename it or add it to .difyignore", nil)
	case strings.ContainsRune(name, '\\'):
		return dirErr(ErrUnsafePath, name, "file name contains a backslash; rename it or add it to .difyignore", nil)
	case strings.ContainsFunc(name, isControl):
		return dirErr(ErrUnsafePath, name, "file name contains a control character; rename it or add it to .difyignore", nil)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Entries lists the files in byte order of their names, the order of the package.
// ReferenceDifferences lists, one line each, the paths for which the reference packager
// (`dify plugin package`) would choose differently from Collect, so that its package of the
// folder would not have the same bytes: files a "!" rule keeps, which the reference leaves
// out, and a .git that no rule excludes, which the reference packages. Empty when the two
// agree.
func (t *Tree) ReferenceDifferences() []string { return slices.Clone(t.refDiffs) }

func (t *Tree) Entries() []Entry {
	out := make([]Entry, len(t.files))
	for i, f := range t.files {
		out[i] = f.Entry
	}
	return out
}

// TotalSize is the sum of the uncompressed sizes, the figure size limits apply to.
func (t *Tree) TotalSize() int64 {
	var n int64
	for _, f := range t.files {
		n += f.Size
	}
	return n
}

// Add puts a generated file in the tree, replacing a collected one of the same name. It is
// how requirements.txt exported from uv.lock reaches the package without touching the
// folder. A name that is not a clean relative path makes the tree's later operations fail.
func (t *Tree) Add(name string, data []byte) {
	if err := checkName(name, 4096); err != nil {
		t.err = err
		return
	}
	f := treeFile{Entry: Entry{Name: name, Size: int64(len(data))}, data: bytes.Clone(data), added: true}
	i, found := slices.BinarySearchFunc(t.files, name, func(f treeFile, n string) int { return strings.Compare(f.Name, n) })
	if found {
		t.files[i] = f
	} else {
		t.files = slices.Insert(t.files, i, f)
	}
	t.idx = newDirIndex(t.Entries(), nil)
}

// NeedsRequirementsExport reports whether the package needs a requirements.txt generated
// from uv.lock: the reference packager does this for Python plugins that ship pyproject.toml
// and uv.lock but no requirements.txt.
func (t *Tree) NeedsRequirementsExport() bool {
	has := func(name string) bool {
		_, ok := slices.BinarySearchFunc(t.files, name, func(f treeFile, n string) int { return strings.Compare(f.Name, n) })
		return ok
	}
	return has("pyproject.toml") && has("uv.lock") && !has("requirements.txt")
}

// CheckSize fails with a *SizeError if the uncompressed total exceeds limit.
func (t *Tree) CheckSize(limit int64) error {
	total := t.TotalSize()
	if total <= limit {
		return nil
	}
	largest := t.Entries()
	slices.SortStableFunc(largest, func(a, b Entry) int { return cmp.Compare(b.Size, a.Size) })
	return &SizeError{Limit: limit, Total: total, Largest: largest[:min(5, len(largest))]}
}

// Checksum returns the reference's plugin checksum of the files the package would hold.
func (t *Tree) Checksum(ctx context.Context) (string, error) {
	srcs, done, err := t.sources()
	if err != nil {
		return "", err
	}
	defer done()
	return pluginChecksum(ctx, srcs)
}

// WriteZip writes the package, byte-identical to the reference packager's output for the
// same files. progress, if not nil, is called with the uncompressed bytes written so far and
// the total, about once per percent and once at the end, never concurrently.
func (t *Tree) WriteZip(ctx context.Context, w io.Writer, progress func(done, total int64)) error {
	srcs, done, err := t.sources()
	if err != nil {
		return err
	}
	defer done()
	return writeZip(ctx, w, srcs, writeOptions{progress: progress})
}

// sources opens the folder once; every read goes through os.Root, so a file swapped for a
// symlink after Collect still cannot make us read outside the folder.
func (t *Tree) sources() ([]source, func(), error) {
	if t.err != nil {
		return nil, nil, t.err
	}
	if err := t.conflicts(); err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(t.dir)
	if err != nil {
		return nil, nil, err
	}
	srcs := make([]source, len(t.files))
	for i, f := range t.files {
		srcs[i] = source{name: f.Name, size: f.Size, open: t.opener(root, f)}
	}
	return srcs, func() { root.Close() }, nil
}

func (t *Tree) opener(root *os.Root, f treeFile) func() (io.ReadCloser, error) {
	if f.added {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }
	}
	return func() (io.ReadCloser, error) {
		fh, err := root.Open(filepath.FromSlash(f.Name))
		if err != nil {
			return nil, dirErr(ErrUnsafePath, f.Name, "cannot open", err)
		}
		return fh, nil
	}
}

// conflicts catches an added file that clashes with a directory ("data" added while
// "data/x" exists).
func (t *Tree) conflicts() error {
	idx := t.index()
	for _, f := range t.files {
		if _, ok := idx[f.Name]; ok {
			return dirErr(ErrCorrupt, f.Name, "is both a file and a directory", nil)
		}
	}
	return nil
}

func (t *Tree) index() dirIndex { return t.idx }

func (t *Tree) lookup(name string) (treeFile, bool) {
	i, ok := slices.BinarySearchFunc(t.files, name, func(f treeFile, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return treeFile{}, false
	}
	return t.files[i], true
}

// Open implements fs.FS over the kept and added files.
func (t *Tree) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if d := t.index().openDir(name); d != nil {
		return d, nil
	}
	f, ok := t.lookup(name)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	info := fileInfo{name: path.Base(name), size: f.Size}
	if f.added {
		return &file{info: info, ReadCloser: io.NopCloser(bytes.NewReader(f.data))}, nil
	}
	root, err := os.OpenRoot(t.dir)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer root.Close()
	fh, err := root.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{info: info, ReadCloser: fh}, nil
}

// ReadDir implements fs.ReadDirFS.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) { return t.index().readDir("readdir", name) }

// Stat implements fs.StatFS with the sizes Collect saw.
func (t *Tree) Stat(name string) (fs.FileInfo, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// ReadFile implements fs.ReadFileFS.
func (t *Tree) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// ExportRequirements runs `uv export` in the plugin folder and returns the requirements.txt
// it prints, with the exact flags the reference packager uses. uvPath "" means $UV_PATH, then
// "uv" on PATH.
func ExportRequirements(ctx context.Context, dir, uvPath string) ([]byte, error) {
	if uvPath == "" {
		uvPath = os.Getenv("UV_PATH")
	}
	if uvPath == "" {
		uvPath = "uv"
	}
	exe, err := exec.LookPath(uvPath)
	if err != nil {
		return nil, fmt.Errorf("%w: this plugin has pyproject.toml and uv.lock but no requirements.txt, "+
			"and generating one needs uv: install it (`pip install uv` or https://docs.astral.sh/uv/), "+
			"set UV_PATH, or add a requirements.txt (%v)", ErrUVNotFound, err)
	}
	args := []string{"export", "--frozen", "--format", "requirements.txt",
		"--no-group", "dev", "--no-emit-project", "--no-hashes", "--no-header", "--no-annotate"}
	out, stderr, err := runUV(ctx, dir, exe, args)
	// Recent uv refuses --no-group for a group the project does not define, which would fail
	// every plugin without a dev group; with no such group the flag changes nothing anyway.
	if err != nil && strings.Contains(stderr, "Group `dev` is not defined") {
		out, stderr, err = runUV(ctx, dir, exe, slices.Delete(args, 4, 6))
	}
	if err != nil {
		return nil, fmt.Errorf("uv export in %s failed: %w: %s", dir, err, strings.TrimSpace(stderr))
	}
	return out, nil
}

func runUV(ctx context.Context, dir, exe string, args []string) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

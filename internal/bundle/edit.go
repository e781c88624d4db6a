package bundle

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/plugd/plugd/internal/pkgfile"
)

// Bundle is a bundle held in memory for editing: a bundle folder (as `bundle init` makes
// it) or a .difybndl file, loaded whole as the reference CLI loads it. Save writes it back
// where it came from.
type Bundle struct {
	Manifest Manifest
	Assets   map[string][]byte // files under _assets/, by their path below it
	Extra    map[string][]byte // README files at the root

	path    string // the folder or file it was loaded from
	isDir   bool
	removed []string // assets dropped since loading, deleted from a folder by Save
}

// Load reads a bundle folder or a .difybndl file.
func Load(ctx context.Context, path string) (*Bundle, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return loadDir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f, st.Size(), DefaultMaxSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	assets, extra, err := a.files()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Bundle{Manifest: a.Manifest, Assets: assets, Extra: extra, path: path}, nil
}

// loadDir reads manifest.yaml, the README files at the root and every regular file under
// _assets/. Symbolic links are refused rather than followed out of the folder.
func loadDir(dir string) (*Bundle, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fsys := root.FS()
	data, err := fs.ReadFile(fsys, ManifestFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	b := &Bundle{Manifest: m, Assets: map[string][]byte{}, Extra: map[string][]byte{}, path: dir, isDir: true}
	top, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range top {
		if strings.HasPrefix(e.Name(), "README") && e.Type().IsRegular() {
			if b.Extra[e.Name()], err = fs.ReadFile(fsys, e.Name()); err != nil {
				return nil, err
			}
		}
	}
	err = fs.WalkDir(fsys, "_assets", func(name string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && name == "_assets":
			return fs.SkipDir
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: %s is not a regular file", dir, name)
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		b.Assets[strings.TrimPrefix(name, "_assets/")] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Path is the folder or file the bundle was loaded from.
func (b *Bundle) Path() string { return b.path }

// Check returns the manifest's problems, package paths checked against the assets.
func (b *Bundle) Check() []Problem {
	return b.Manifest.Check(func(name string) bool { _, ok := b.Assets[name]; return ok })
}

// AppendGithub adds a github dependency after checking its pattern.
func (b *Bundle) AppendGithub(pattern string) error {
	if _, err := ParseGithubPattern(pattern); err != nil {
		return err
	}
	b.Manifest.Dependencies = append(b.Manifest.Dependencies, Dependency{Type: Github, Value: Value{RepoPattern: pattern}})
	return nil
}

// AppendMarketplace adds a marketplace dependency after checking its pattern.
func (b *Bundle) AppendMarketplace(pattern string) error {
	if _, err := ParseMarketplacePattern(pattern); err != nil {
		return err
	}
	b.Manifest.Dependencies = append(b.Manifest.Dependencies, Dependency{Type: Marketplace, Value: Value{MarketplacePattern: pattern}})
	return nil
}

// AppendPackage adds the .difypkg at path: it is checked as the daemon checks uploads, kept
// under _assets/ with its checksum as its name, and listed by that name. It returns the
// checksum.
func (b *Bundle) AppendPackage(ctx context.Context, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pkg, err := pkgfile.Read(bytes.NewReader(data), int64(len(data)), pkgfile.DefaultLimits())
	if err != nil {
		return "", fmt.Errorf("%s is not a valid .difypkg: %w", path, err)
	}
	sum, err := pkg.Checksum(ctx)
	if err != nil {
		return "", fmt.Errorf("checksum of %s: %w", path, err)
	}
	b.Assets[sum] = data
	b.Manifest.Dependencies = append(b.Manifest.Dependencies, Dependency{Type: Package, Value: Value{Path: sum}})
	return sum, nil
}

// Remove drops dependency i (0-based, as `bundle analyze` numbers them) and, for a package
// no other dependency uses, its file.
func (b *Bundle) Remove(i int) (Dependency, error) {
	deps := b.Manifest.Dependencies
	if i < 0 || i >= len(deps) {
		return Dependency{}, fmt.Errorf("index %d is out of range: the bundle has %d dependencies (0 to %d)", i, len(deps), len(deps)-1)
	}
	d := deps[i]
	b.Manifest.Dependencies = slices.Delete(slices.Clone(deps), i, i+1)
	if d.Type == Package && !slices.ContainsFunc(b.Manifest.Dependencies, func(o Dependency) bool {
		return o.Type == Package && o.Value.Path == d.Value.Path
	}) {
		if _, ok := b.Assets[d.Value.Path]; ok {
			delete(b.Assets, d.Value.Path)
			b.removed = append(b.removed, d.Value.Path)
		}
	}
	return d, nil
}

// Bump sets the bundle's version.
func (b *Bundle) Bump(version string) error {
	if err := CheckVersion(version); err != nil {
		return err
	}
	b.Manifest.Version = version
	return nil
}

// WriteZip writes the bundle as a .difybndl: manifest.yaml, then the assets and the README
// files in name order, so the same bundle always gives the same bytes.
func (b *Bundle) WriteZip(ctx context.Context, w io.Writer) error {
	man, err := b.Manifest.Marshal()
	if err != nil {
		return err
	}
	files := []pkgfile.File{{Name: ManifestFile, Data: man}}
	for _, name := range slices.Sorted(maps.Keys(b.Assets)) {
		files = append(files, pkgfile.File{Name: "_assets/" + name, Data: b.Assets[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(b.Extra)) {
		files = append(files, pkgfile.File{Name: name, Data: b.Extra[name]})
	}
	return pkgfile.WriteFiles(ctx, w, files)
}

// Save writes the bundle back where it was loaded from: a folder gets its manifest and
// assets rewritten (and removed packages deleted), a file is replaced atomically.
func (b *Bundle) Save(ctx context.Context) error {
	if !b.isDir {
		return pkgfile.WriteFileAtomic(b.path, func(w io.Writer) error { return b.WriteZip(ctx, w) })
	}
	root, err := os.OpenRoot(b.path)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, name := range slices.Sorted(maps.Keys(b.Assets)) {
		p := filepath.Join("_assets", filepath.FromSlash(name))
		if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := root.WriteFile(p, b.Assets[name], 0o644); err != nil {
			return err
		}
	}
	for _, name := range b.removed {
		if err := root.Remove(filepath.Join("_assets", filepath.FromSlash(name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	b.removed = nil
	man, err := b.Manifest.Marshal()
	if err != nil {
		return err
	}
	return root.WriteFile(ManifestFile, man, 0o644)
}

//go:embed templates/icon.svg
var defaultIcon []byte

//go:embed templates/README.md
var readmeTemplate string

// Init creates a bundle folder at dir (which must not exist or be empty) as the reference's
// `bundle init` lays it out: manifest.yaml (version 0.0.1, no dependencies), README.md,
// _assets/icon.svg and an empty .github/workflows/. It returns the files written.
func Init(dir, name, author, description string, now time.Time) ([]string, error) {
	for _, err := range []error{CheckName(name), CheckAuthor(author)} {
		if err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(description) == "" {
		return nil, errors.New("description is required")
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s already exists and is not empty", dir)
	}
	m := Manifest{
		Name: name, Labels: Everywhere(name), Description: Everywhere(description),
		Icon: "icon.svg", Version: "0.0.1", Author: author, Type: "bundle",
	}
	// The reference writes the first manifest with a two-space indent and later saves with
	// four; both are the same YAML.
	man, err := m.marshal(2)
	if err != nil {
		return nil, err
	}
	var readme bytes.Buffer
	tmpl := template.Must(template.New("README").Parse(readmeTemplate))
	if err := tmpl.Execute(&readme, map[string]string{"Author": author, "Version": m.Version, "Date": now.Format(time.DateOnly)}); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{{ManifestFile, man}, {"README.md", readme.Bytes()}, {"_assets/icon.svg", defaultIcon}}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, ".github", "workflows"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "_assets"), 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(f.name)), f.data, 0o644); err != nil {
			return nil, err
		}
		written = append(written, f.name)
	}
	ok = true
	return written, nil
}

package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
)

// DefaultMaxSize is the reference daemon's MAX_BUNDLE_PACKAGE_SIZE: 600 MiB.
const DefaultMaxSize = 600 << 20

// ManifestFile is the bundle manifest's name at the root of a bundle.
const ManifestFile = "manifest.yaml"

// ErrInvalid marks a bundle that cannot be used: no manifest, a manifest that does not parse,
// a dependency that cannot be installed. Problems with the zip itself wrap pkgfile's errors.
var ErrInvalid = errors.New("invalid bundle")

// Archive is a bundle file opened for reading. Entry contents are read on demand, checked
// against their headers as they are read.
type Archive struct {
	Manifest Manifest
	pkg      *pkgfile.Package
}

// Read checks the bundle held by r (size bytes, at most maxSize, 0 meaning DefaultMaxSize)
// and decodes its manifest. The zip is held to the rules of a plugin package (no unsafe
// names, links, encryption, bombs), with the bundle's size as the limit of both the file and
// its uncompressed content. Errors name the entry or manifest line at fault.
func Read(r io.ReaderAt, size, maxSize int64) (*Archive, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	lim := pkgfile.DefaultLimits()
	lim.MaxPackageBytes, lim.MaxUncompressedBytes = maxSize, maxSize
	pkg, err := pkgfile.Read(r, size, lim)
	if err != nil {
		return nil, relabel(err)
	}
	data, err := pkg.ReadFile(ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s at the root of the bundle", ErrInvalid, ManifestFile)
	}
	if err != nil {
		return nil, relabel(err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, err
	}
	return &Archive{Manifest: m, pkg: pkg}, nil
}

// ParseManifest decodes a bundle's manifest.yaml under the YAML limits of plugin
// declarations.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if err := manifest.DecodeYAML(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: %v", ErrInvalid, ManifestFile, err)
	}
	return m, nil
}

// relabel makes pkgfile's errors speak of a bundle rather than a package.
func relabel(err error) error {
	var pe *pkgfile.Error
	if errors.As(err, &pe) && pe.Source == "difypkg" {
		pe.Source = "bundle"
	}
	return err
}

// HasAsset reports whether _assets/name is a file of the bundle.
func (a *Archive) HasAsset(name string) bool {
	if !fs.ValidPath(name) || name == "." {
		return false
	}
	st, err := fs.Stat(a.pkg, "_assets/"+name)
	return err == nil && !st.IsDir()
}

// Check returns the manifest's problems, package paths checked against the bundle.
func (a *Archive) Check() []Problem { return a.Manifest.Check(a.HasAsset) }

// OpenAsset opens _assets/name, with its uncompressed size. Reads fail if the content does
// not match the entry's header.
func (a *Archive) OpenAsset(name string) (io.ReadCloser, int64, error) {
	if !fs.ValidPath(name) || name == "." {
		return nil, 0, fmt.Errorf("%w: _assets/%s is not a path inside the bundle", ErrInvalid, name)
	}
	f, err := a.pkg.Open("_assets/" + name)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: _assets/%s: %v", ErrInvalid, name, err)
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: _assets/%s is not a file", ErrInvalid, name)
	}
	return f, st.Size(), nil
}

// files returns what a loaded bundle keeps of the archive: the assets (every file under
// _assets/, nested ones included, by their path below it) and the README files at the
// root, as the reference keeps them.
func (a *Archive) files() (assets, extra map[string][]byte, err error) {
	assets, extra = map[string][]byte{}, map[string][]byte{}
	for _, e := range a.pkg.Entries() {
		var into map[string][]byte
		name := e.Name
		switch {
		case strings.HasPrefix(name, "_assets/"):
			into, name = assets, strings.TrimPrefix(name, "_assets/")
		case strings.HasPrefix(name, "README") && !strings.Contains(name, "/"):
			into = extra
		default:
			continue
		}
		b, err := a.pkg.ReadFile(e.Name)
		if err != nil {
			return nil, nil, relabel(err)
		}
		into[name] = b
	}
	return assets, extra, nil
}

package marketplace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
)

// Fetcher resolves Marketplace references to packages on disk, keeping downloads in a cache
// by unique identifier. A cached file is never trusted for being cached: every Fetch opens
// it, checks that it hashes to its identifier's checksum and runs Check again, and a file
// that fails is deleted and downloaded once more.
type Fetcher struct {
	Client *Client
	// CacheDir holds <org>/<name>-<version>@<checksum>.difypkg files.
	CacheDir string
	// MaxSize bounds a download (MAX_PLUGIN_PACKAGE_SIZE). Default 50 MiB.
	MaxSize int64
	// Check, when set, is the caller's signature policy, run on every package handed out
	// (the daemon's install.Manager.CheckPackage).
	Check func(ctx context.Context, pkg *pkgfile.Package) error
}

// Fetched is a package ready to use.
type Fetched struct {
	Path             string // the cached file; read it, do not change it
	UniqueIdentifier string
	Cached           bool // it was already in the cache (and passed the checks again)
}

// Fetch resolves ref (org/name[:version[@checksum]]) and returns the package's path,
// downloading it when the cache does not hold a good copy. progress, when set, is called
// as bytes arrive (total -1 when unknown).
func (f *Fetcher) Fetch(ctx context.Context, ref string, progress func(done, total int64)) (Fetched, error) {
	r, err := ParseRef(ref)
	if err != nil {
		return Fetched{}, err
	}
	uid, err := f.Client.Resolve(ctx, r)
	if err != nil {
		return Fetched{}, err
	}
	path := f.cachePath(r, uid)
	if err := f.verify(ctx, path, uid); err == nil {
		return Fetched{Path: path, UniqueIdentifier: uid, Cached: true}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		// A damaged or no longer acceptable copy: fetch it again rather than fail.
		os.Remove(path)
	}
	if err := f.download(ctx, uid, path, progress); err != nil {
		return Fetched{}, err
	}
	if err := f.verify(ctx, path, uid); err != nil {
		os.Remove(path)
		return Fetched{}, fmt.Errorf("package %s from %s: %w", uid, f.Client.URL(), err)
	}
	return Fetched{Path: path, UniqueIdentifier: uid}, nil
}

// cachePath is where uid is kept; uid has passed the identifier grammar, so the parts are
// safe as path elements.
func (f *Fetcher) cachePath(r Ref, uid string) string {
	u, _ := ParseRef(uid)
	return filepath.Join(f.CacheDir, r.Org, r.Name+"-"+u.Version+"@"+u.Checksum+".difypkg")
}

func (f *Fetcher) download(ctx context.Context, uid, path string, progress func(done, total int64)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("marketplace cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return fmt.Errorf("marketplace cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	maxSize := f.MaxSize
	if maxSize <= 0 {
		maxSize = 50 << 20
	}
	if _, err := f.Client.Download(ctx, uid, tmp, maxSize, progress); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("marketplace cache: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// verify opens a package, checks that its manifest identity and checksum are uid's and runs
// the caller's policy.
func (f *Fetcher) verify(ctx context.Context, path, uid string) error {
	lim := pkgfile.DefaultLimits()
	if f.MaxSize > 0 {
		lim.MaxPackageBytes = f.MaxSize
	}
	pkg, err := pkgfile.Open(path, lim)
	if err != nil {
		return err
	}
	defer pkg.Close()
	got, err := Identify(ctx, pkg)
	if err != nil {
		return err
	}
	if got != uid {
		return fmt.Errorf("the package is %s, not %s", got, uid)
	}
	if f.Check != nil {
		return f.Check(ctx, pkg)
	}
	return nil
}

// Identify computes a package's unique identifier from its manifest and checksum.
func Identify(ctx context.Context, pkg *pkgfile.Package) (string, error) {
	plugin, problems := manifest.Load(pkg)
	if plugin == nil {
		return "", problems.Err()
	}
	sum, err := pkg.Checksum(ctx)
	if err != nil {
		return "", err
	}
	return plugin.Identity() + "@" + sum, nil
}

// IsRef reports whether a command-line argument names a Marketplace plugin rather than a
// file: it is no existing file and parses as org/name[:version[@checksum]].
func IsRef(arg string) bool {
	if _, err := os.Stat(arg); err == nil {
		return false
	}
	if strings.HasSuffix(arg, ".difypkg") {
		return false
	}
	_, err := ParseRef(arg)
	return err == nil
}

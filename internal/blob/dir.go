package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"
)

// staleTemp is how old a leftover temporary file must be before NewDir removes it. Writers of
// another process sharing the folder may still be busy with younger ones.
const staleTemp = 24 * time.Hour

// Dir is a Store that keeps each object as a file under a root folder, the key being its path
// relative to the root. All access goes through an os.Root, so neither a key nor a symbolic
// link inside the folder can reach a file outside it.
//
// Because objects are files, a key cannot be both an object and a folder of other objects:
// with "a/b" stored, a Put of "a" fails, and the other way round.
type Dir struct {
	root *os.Root
	path string
}

var _ Store = (*Dir)(nil)

// NewDir opens (creating it if needed) the folder root as a Store and removes temporary files
// that a crashed writer left there more than a day ago.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob: the folder for objects is not set")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("blob: create folder for objects: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("blob: open folder for objects: %w", err)
	}
	d := &Dir{root: r, path: root}
	d.sweep(time.Now().Add(-staleTemp))
	return d, nil
}

// Path is the folder the objects live in.
func (d *Dir) Path() string { return d.path }

// Close releases the folder. The Dir is unusable afterwards.
func (d *Dir) Close() error { return d.root.Close() }

// Put writes to a temporary file beside the target, flushes it to disk and renames it over the
// key, so readers see the old object or the whole new one. Cancelling ctx stops the copy at the
// next read from r (a read that blocks is r's to end).
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := checkPut(ctx, key, size); err != nil {
		return err
	}
	folder := path.Dir(key)
	f, tmp, err := d.createTemp(folder)
	if err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			d.root.Remove(tmp)
			d.prune(folder)
		}
	}()
	b := newBody(ctx, r, size)
	if _, err := io.Copy(f, b); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, b.failure(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("blob: put %q: flush: %w", key, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	if err := d.root.Rename(tmp, key); err != nil {
		if fi, serr := d.root.Lstat(key); serr == nil && fi.IsDir() {
			return fmt.Errorf("blob: put %q: the key is a folder of other objects", key)
		}
		return fmt.Errorf("blob: put %q: %w", key, err)
	}
	// Make the rename itself durable; a failure here leaves a complete object either way.
	if df, err := d.root.Open(folder); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}

// createTemp makes folder (relative to the root) and an exclusive new temporary file in it.
// It tries again when a concurrent Delete prunes a folder on the way before the file is in it.
func (d *Dir) createTemp(folder string) (*os.File, string, error) {
	var err error
	for range 20 {
		if folder != "." {
			err = d.root.MkdirAll(folder, 0o755)
			switch {
			case errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist):
				return nil, "", fmt.Errorf("a part of %q is an object, not a folder", folder)
			case errors.Is(err, fs.ErrNotExist):
				continue // a folder on the way was pruned after MkdirAll saw it
			case err != nil:
				return nil, "", err
			}
		}
		tmp := path.Join(folder, tempMark+rand.Text())
		var f *os.File
		f, err = d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrExist) {
			return nil, "", err
		}
	}
	return nil, "", err
}

// Get opens the object's file. Reads from it do not watch ctx; they are local and short.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: get %q: %w", key, err)
	}
	f, err := d.root.Open(key)
	if err != nil {
		return nil, dirError("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: get %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob: get %q: %w", key, ErrNotFound)
	}
	return f, nil
}

// Stat reports the size of the object's file.
func (d *Dir) Stat(ctx context.Context, key string) (int64, error) {
	if err := ValidKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("blob: stat %q: %w", key, err)
	}
	fi, err := d.root.Stat(key)
	if err != nil {
		return 0, dirError("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("blob: stat %q: %w", key, ErrNotFound)
	}
	return fi.Size(), nil
}

// Delete removes the object's file, then the folders above it that it leaves empty, so deleted
// keys leave no trace.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	fi, err := d.root.Lstat(key)
	if err != nil {
		if err := dirError("delete", key, err); !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}
	if fi.IsDir() {
		return nil // a folder of other objects, not an object
	}
	if err := d.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	d.prune(path.Dir(key))
	return nil
}

// prune removes folder and the folders above it while they are empty.
func (d *Dir) prune(folder string) {
	for ; folder != "."; folder = path.Dir(folder) {
		if d.root.Remove(folder) != nil {
			break // not empty (or gone): the folders above are not empty either
		}
	}
}

// List walks the folders the prefix can reach and returns the matching keys, sorted as byte
// strings (the order S3 lists in, which differs from the walk's per-folder order).
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	keys := []string{}
	err := fs.WalkDir(d.root.FS(), start, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() {
			if p != start && !strings.HasPrefix(p+"/", prefix) {
				return fs.SkipDir
			}
			return nil
		}
		if de.Type().IsRegular() && !strings.HasPrefix(de.Name(), tempMark) && strings.HasPrefix(p, prefix) {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// sweep removes temporary files last written before cutoff. It is best effort: a folder it
// cannot read only means garbage stays.
func (d *Dir) sweep(cutoff time.Time) {
	fs.WalkDir(d.root.FS(), ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasPrefix(de.Name(), tempMark) {
			return nil
		}
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(cutoff) {
			d.root.Remove(p)
		}
		return nil
	})
}

// dirError maps a file system error for key to ErrNotFound when the file or one of its
// folders is missing, or a folder in the path is an object.
func dirError(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("blob: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %q: %w", op, key, err)
}

// Package blob keeps the daemon's bytes: uploaded packages and icons. The default is a folder
// on this machine; S3-compatible object storage lets several daemons share one copy.
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound: no object has the key.
var ErrNotFound = errors.New("blob: not found")

// Store is a flat key space of immutable objects. Keys are slash-separated paths such as
// "packages/<checksum>.difypkg"; a Store refuses keys that are empty, absolute, or contain
// "." or ".." segments, backslashes or NUL. Put is atomic: a reader sees the whole object or
// nothing, and a failed Put leaves no partial object.
type Store interface {
	// Put stores size bytes from r under key (size -1: unknown), replacing any object there.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object; the caller closes it. ErrNotFound when missing.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat reports the object's size. ErrNotFound when missing.
	Stat(ctx context.Context, key string) (int64, error)
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

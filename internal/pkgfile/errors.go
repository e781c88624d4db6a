package pkgfile

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error this package returns about a package or a plugin folder wraps
// one of them, so callers (the HTTP API, the CLI) can map a failure to a status without
// parsing messages.
var (
	// ErrUnsafePath: a name that could escape the target folder, or that is not a clean,
	// portable relative path (absolute, "..", backslashes, invalid UTF-8, a symlink pointing
	// outside the plugin folder).
	ErrUnsafePath = errors.New("unsafe path")
	// ErrTooLarge: a size, count or compression-ratio limit was exceeded.
	ErrTooLarge = errors.New("too large")
	// ErrCorrupt: the package is not a well-formed zip, or an entry's data does not match its
	// header (CRC, size), or entries collide.
	ErrCorrupt = errors.New("corrupt package")
	// ErrUnsupported: something well-formed that we refuse to handle: encryption, compression
	// methods other than Store and Deflate, symlinks, device files.
	ErrUnsupported = errors.New("unsupported")
	// ErrUVNotFound: a plugin needs requirements.txt generated from uv.lock but uv is missing.
	ErrUVNotFound = errors.New("uv executable not found")
)

// Error describes what is wrong with one entry of a package or one file of a plugin folder.
// It unwraps to one of the sentinels above and, when there is one, to the underlying cause.
type Error struct {
	Kind   error  // one of the sentinels
	Source string // "difypkg" for packages, "plugin folder" for folders
	Entry  string // entry or file name; empty when the problem is about the whole source
	Detail string // what is wrong, for humans
	Cause  error  // optional lower-level error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Entry != "" {
		fmt.Fprintf(&b, " entry %q", e.Entry)
	}
	b.WriteString(": ")
	b.WriteString(e.Detail)
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

func pkgErr(kind error, entry, detail string, cause error) error {
	return &Error{Kind: kind, Source: "difypkg", Entry: entry, Detail: detail, Cause: cause}
}

func dirErr(kind error, file, detail string, cause error) error {
	return &Error{Kind: kind, Source: "plugin folder", Entry: file, Detail: detail, Cause: cause}
}

// SizeError reports that a plugin is larger than the allowed uncompressed size. Its message
// lists the largest files, because the usual cause is a stray virtualenv, dataset or build
// output that the author forgot to ignore.
type SizeError struct {
	Limit, Total int64
	Largest      []Entry // at most five, largest first
}

func (e *SizeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin is too large: %d bytes uncompressed, the limit is %d bytes; largest files:", e.Total, e.Limit)
	for i, f := range e.Largest {
		fmt.Fprintf(&b, "\n%d. %s (%d bytes)", i+1, f.Name, f.Size)
	}
	return b.String()
}

func (e *SizeError) Is(target error) bool { return target == ErrTooLarge }

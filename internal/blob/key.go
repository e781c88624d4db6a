package blob

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidKey: a key or list prefix breaks the rules of ValidKey. Errors from ValidKey are
// *KeyError values that match it with errors.Is.
var ErrInvalidKey = errors.New("blob: invalid key")

// Limits on keys. S3 allows 1024 bytes per object name; most file systems allow 255 bytes per
// name. Both stores enforce both, so a key accepted by one store is accepted by the other.
const (
	maxKeyLen     = 1024
	maxSegmentLen = 255
)

// tempMark starts the names of Dir's files under construction. ValidKey refuses segments that
// start with it, so no key can name, overwrite or list a half-written file.
const tempMark = ".~"

// KeyError says which key was refused and why.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string {
	key := e.Key
	if len(key) > 80 { // keep messages readable; the reason says what is wrong
		key = strings.ToValidUTF8(key[:60], "") + "..."
	}
	return fmt.Sprintf("blob: invalid key %q: %s", key, e.Reason)
}

func (e *KeyError) Unwrap() error { return ErrInvalidKey }

// ValidKey reports whether key may name an object: a relative, slash-separated path of
// non-empty segments, none of them "." or ".." or starting with ".~" (reserved for writes in
// progress), in valid UTF-8 without backslashes, NUL or other control characters, at most 1024
// bytes long with segments of at most 255 bytes. Such a key is a clean relative path on every
// platform, so joined to a folder it cannot leave that folder.
func ValidKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return &KeyError{Key: key, Reason: reason}
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > maxKeyLen:
		return fmt.Sprintf("%d bytes long, more than the limit of %d", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return "not valid UTF-8"
	case key[0] == '/':
		return "absolute (starts with /)"
	}
	for i, r := range key {
		switch {
		case r == '\\':
			return fmt.Sprintf("backslash at byte %d", i)
		case r == 0:
			return fmt.Sprintf("NUL at byte %d", i)
		case r < 0x20 || r == 0x7f:
			return fmt.Sprintf("control character %U at byte %d", r, i)
		}
	}
	for i, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return fmt.Sprintf("segment %d is empty (a doubled or trailing /)", i+1)
		case seg == "." || seg == "..":
			return fmt.Sprintf("segment %d is %q", i+1, seg)
		case strings.HasPrefix(seg, tempMark):
			return fmt.Sprintf("segment %d starts with %q, which is reserved for writes in progress", i+1, tempMark)
		case len(seg) > maxSegmentLen:
			return fmt.Sprintf("segment %d is %d bytes long, more than the limit of %d", i+1, len(seg), maxSegmentLen)
		}
	}
	return ""
}

// validPrefix accepts the prefixes List takes: empty (everything), a valid key, or a valid key
// followed by "/". A prefix matches keys as a string, so "pkg/ab" lists "pkg/abc".
func validPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if reason := keyProblem(strings.TrimSuffix(prefix, "/")); reason != "" {
		return &KeyError{Key: prefix, Reason: "as a list prefix: " + reason}
	}
	return nil
}

// cleanPrefix checks a store's key prefix (the part of every object name before the key) and
// returns it with one trailing slash, or "" for none.
func cleanPrefix(store, prefix string) (string, error) {
	p := strings.Trim(prefix, "/")
	if p == "" {
		return "", nil
	}
	if reason := keyProblem(p); reason != "" {
		return "", fmt.Errorf("blob: %s key prefix %q: %s", store, prefix, reason)
	}
	return p + "/", nil
}

// objectName is the name of key's object in a bucket or container whose store uses prefix.
func objectName(prefix, key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	name := prefix + key
	if len(name) > maxKeyLen {
		return "", &KeyError{Key: key, Reason: fmt.Sprintf("with the store's prefix %q it is %d bytes long, more than the limit of %d", prefix, len(name), maxKeyLen)}
	}
	return name, nil
}

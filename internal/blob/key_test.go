package blob

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		key    string
		reason string // "" when valid
	}{
		{"packages/abc.difypkg", ""},
		{"a", ""},
		{"a/b/c", ""},
		{".hidden", ""},
		{"a/...", ""},
		{"a/..b", ""},
		{"a.~b", ""},
		{"ünï/名前", ""},
		{longKey(1024), ""},
		{strings.Repeat("s", 255) + "/x", ""},
		{"", "empty"},
		{"/abs", "absolute"},
		{"a//b", "segment 2 is empty"},
		{"a/", "segment 2 is empty"},
		{".", `segment 1 is "."`},
		{"a/./b", `segment 2 is "."`},
		{"..", `segment 1 is ".."`},
		{"a/b/..", `segment 3 is ".."`},
		{`a\b`, "backslash at byte 1"},
		{"a\x00b", "NUL at byte 1"},
		{"ab\tc", "control character U+0009 at byte 2"},
		{"a\x7f", "control character U+007F at byte 1"},
		{"a\xffb", "not valid UTF-8"},
		{".~tmp", `segment 1 starts with ".~"`},
		{"x/.~", `segment 2 starts with ".~"`},
		{longKey(1025), "1025 bytes long"},
		{"x/" + strings.Repeat("s", 256), "segment 2 is 256 bytes long"},
	}
	for _, tt := range tests {
		err := ValidKey(tt.key)
		if tt.reason == "" {
			if err != nil {
				t.Errorf("ValidKey(%q) = %v; want nil", tt.key, err)
			}
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || !errors.Is(err, ErrInvalidKey) || ke.Key != tt.key {
			t.Errorf("ValidKey(%q) = %v; want a KeyError for it", tt.key, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidKey(%q) = %q; want it to say %q", tt.key, err, tt.reason)
		}
	}
}

// longKey returns a valid key of n bytes made of segments of at most 200 bytes.
func longKey(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.Repeat("k", min(200, n-b.Len())))
	}
	return b.String()
}

// FuzzValidKey checks that every accepted key is a clean local path that, joined to a root,
// stays under it, and that a Dir given such a key finds nothing: its root is empty, and the
// only file near it lies outside, reachable only by escaping.
func FuzzValidKey(f *testing.F) {
	for _, seed := range []string{
		"packages/abc.difypkg", "../secret", "a/../../secret", "/etc/passwd", "a//b", "./a",
		`..\secret`, "a\x00b", ".~x", "x/.~", "..secret", "...", "a/.../b", "ünï", "C:/x", "C:secret",
		"link/secret", "~/x", "%2e%2e/secret",
	} {
		f.Add(seed)
	}
	parent := f.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.WriteFile(filepath.Join(parent, "secret"), []byte("secret"), 0o644); err != nil {
		f.Fatal(err)
	}
	d, err := NewDir(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		if !filepath.IsLocal(key) || path.Clean(key) != key || strings.Contains(key, `\`) {
			t.Fatalf("accepted key %q is not a clean local path", key)
		}
		joined := filepath.Join(root, filepath.FromSlash(key))
		if !strings.HasPrefix(joined, root+string(filepath.Separator)) {
			t.Fatalf("accepted key %q joins to %q, outside %q", key, joined, root)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tempMark) {
				t.Fatalf("accepted key %q has segment %q", key, seg)
			}
		}
		if _, err := d.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat(%q) in an empty root = %v; want ErrNotFound", key, err)
		}
		if rc, err := d.Get(ctx, key); !errors.Is(err, ErrNotFound) {
			if err == nil {
				rc.Close()
			}
			t.Fatalf("Get(%q) in an empty root = %v; want ErrNotFound", key, err)
		}
	})
}

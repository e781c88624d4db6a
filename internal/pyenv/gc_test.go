package pyenv

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeEnv makes a finished environment folder for key with size bytes of content, last used
// at used.
func fakeEnv(t *testing.T, b *Builder, key string, size int, used time.Time) {
	t.Helper()
	dir := b.envDir(key)
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(marker{Key: key, Created: used})
	content := make([]byte, size)
	for i := range content {
		content[i] = byte(i*7 + i>>8) // not zeros: some file systems store zeros for free
	}
	for name, data := range map[string][]byte{markerFile: raw, "bin/python": nil, "lib.bin": content} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.touch(key)
	if err := os.Chtimes(filepath.Join(dir, usedFile), used, used); err != nil {
		t.Fatal(err)
	}
}

func key(c byte) string { return strings.Repeat(string(c), 64) }

func exists(b *Builder, k string) bool {
	_, err := os.Stat(b.envDir(k))
	return err == nil
}

func TestCollectByAge(t *testing.T) {
	b := NewBuilder(t.TempDir(), Settings{})
	ctx := context.Background()
	old := time.Now().Add(-30 * 24 * time.Hour)
	fakeEnv(t, b, key('a'), 1<<16, old)                        // unused and old: goes
	fakeEnv(t, b, key('b'), 1<<16, time.Now().Add(-time.Hour)) // unused, recent: stays
	fakeEnv(t, b, key('c'), 1<<16, old)                        // an installed plugin uses it
	fakeEnv(t, b, key('d'), 1<<16, old)                        // held by a running plugin
	fakeEnv(t, b, key('e'), 1<<16, old)                        // being built (its lock is held)
	release, err := b.Hold(key('d'))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := os.Chtimes(filepath.Join(b.envDir(key('d')), usedFile), old, old); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockPath(ctx, b.lockFile(key('e')))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p := Policy{MaxUnusedAge: 7 * 24 * time.Hour}
	inUse := map[string]bool{key('c'): true}

	rep, err := b.Collect(ctx, p, inUse, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []byte("abcde") {
		if !exists(b, key(k)) {
			t.Fatalf("dry run removed %c", k)
		}
	}
	if rep.Freed == 0 || !rep.DryRun {
		t.Errorf("dry run report: %+v", rep)
	}

	rep, err = b.Collect(ctx, p, inUse, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[byte]bool{'a': false, 'b': true, 'c': true, 'd': true, 'e': true}
	for k, kept := range want {
		if exists(b, key(k)) != kept {
			t.Errorf("environment %c: exists %v, want %v", k, !kept, kept)
		}
	}
	for _, e := range rep.Envs {
		if e.Removed != (e.Key == key('a')) || e.Removed && e.Reason != "age" {
			t.Errorf("report: %+v", e)
		}
		if (e.Key == key('c') || e.Key == key('d') || e.Key == key('e')) && !e.InUse {
			t.Errorf("%s not reported in use", e.Key[:1])
		}
	}
}

func TestCollectBySize(t *testing.T) {
	b := NewBuilder(t.TempDir(), Settings{})
	ctx := context.Background()
	now := time.Now()
	fakeEnv(t, b, key('a'), 1<<20, now.Add(-3*time.Hour)) // least recently used: first to go
	fakeEnv(t, b, key('b'), 1<<20, now.Add(-2*time.Hour))
	fakeEnv(t, b, key('c'), 1<<20, now.Add(-4*time.Hour)) // oldest, but in use
	fakeEnv(t, b, key('d'), 1<<20, now.Add(-time.Hour))
	// Room for about two: a goes, then b; c is in use and d the most recent.
	rep, err := b.Collect(ctx, Policy{MaxSize: 2<<20 + 1<<19}, map[string]bool{key('c'): true}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[byte]bool{'a': false, 'b': false, 'c': true, 'd': true}
	for k, kept := range want {
		if exists(b, key(k)) != kept {
			t.Errorf("environment %c: exists %v, want %v", k, !kept, kept)
		}
	}
	if rep.Freed < 2<<20 {
		t.Errorf("freed %d", rep.Freed)
	}
	// A second run has nothing to do: what is left is in use or fits.
	rep, err = b.Collect(ctx, Policy{MaxSize: 2<<20 + 1<<19}, map[string]bool{key('c'): true}, false)
	if err != nil || rep.Freed != 0 {
		t.Errorf("second run: %+v %v", rep, err)
	}
}

// Ensure records a use: an environment that is reused is not old.
func TestHoldAndUseRecordLastUse(t *testing.T) {
	b := NewBuilder(t.TempDir(), Settings{})
	old := time.Now().Add(-30 * 24 * time.Hour)
	fakeEnv(t, b, key('a'), 10, old)
	release, err := b.Hold(key('a'))
	if err != nil {
		t.Fatal(err)
	}
	release()
	envs, _ := b.List()
	if len(envs) != 1 || time.Since(b.lastUsed(envs[0])) > time.Minute {
		t.Fatalf("Hold did not record a use: %v", envs)
	}
	if _, err := b.Hold("../x"); err == nil {
		t.Error("Hold accepted a bad key")
	}
}

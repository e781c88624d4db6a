package pyenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Environments outlive the plugins that use them: uninstalling a plugin keeps its environment,
// so reinstalling it (or installing another version with the same dependencies) needs no build.
// Unused environments are removed by a policy instead (Collect): those unused for longer than
// a maximum age, and then the least recently used until the folder fits a maximum size.
//
// An environment is in use, and never removed, while
//   - a caller says so (the daemon passes the keys its installed plugins' folders name);
//   - a process holds it (Hold: a shared flock on locks/env-<key>.use, taken by the daemon for
//     as long as a plugin of it may run), whatever process asks;
//   - it is being built (its build lock is held).
// Last use is the modification time of usedFile in the environment, set by Ensure and Hold.

// usedFile, inside an environment, is touched at every use; its mtime is the last use.
const usedFile = "plugd-last-used"

func (b *Builder) useLockFile(key string) string {
	return filepath.Join(b.dataDir, "locks", "env-"+key+".use")
}

// touch records a use of the environment key now. Best effort: a read-only data folder
// only makes the age policy see an older last use.
func (b *Builder) touch(key string) {
	p := filepath.Join(b.envDir(key), usedFile)
	now := time.Now()
	if err := os.Chtimes(p, now, now); errors.Is(err, fs.ErrNotExist) {
		if f, err := os.Create(p); err == nil {
			f.Close()
		}
	}
}

// Hold marks the environment key in use until release is called: Collect, in this process or
// another, does not remove it meanwhile. It records a use as well.
func (b *Builder) Hold(key string) (release func(), err error) {
	if !keyRE.MatchString(key) {
		return nil, fmt.Errorf("pyenv: hold: invalid key %q", key)
	}
	path := b.useLockFile(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pyenv: hold: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pyenv: hold: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("pyenv: hold %s: %w", key, err)
	}
	b.touch(key)
	return func() { b.touch(key); f.Close() }, nil
}

// Policy says which unused environments Collect removes. Zero fields disable their rule.
type Policy struct {
	// MaxUnusedAge removes environments last used longer ago than this
	// (PLUGD_ENV_MAX_UNUSED_AGE).
	MaxUnusedAge time.Duration
	// MaxSize bounds the environments folder in bytes: past it, unused environments go, least
	// recently used first (PLUGD_ENV_CACHE_MAX_SIZE). Environments in use count but stay.
	MaxSize int64
}

// EnvUsage is one environment as Collect saw it.
type EnvUsage struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size_bytes"`
	LastUsed time.Time `json:"last_used"`
	InUse    bool      `json:"in_use"`
	// Removed, with Reason (age or size), when Collect removed it (or would, in a dry run).
	Removed bool   `json:"removed"`
	Reason  string `json:"reason,omitempty"`
}

// CollectReport is what Collect did.
type CollectReport struct {
	Envs      []EnvUsage `json:"environments"`
	Total     int64      `json:"total_bytes"`
	Freed     int64      `json:"freed_bytes"`
	DryRun    bool       `json:"dry_run"`
	Errors    []string   `json:"errors,omitempty"`
	Policy    Policy     `json:"-"`
	CheckedAt time.Time  `json:"checked_at"`
}

// Collect removes unused environments by p. inUse lists keys the caller knows to be in use
// (installed plugins); Hold and running builds are checked here. With dryRun nothing is
// removed and the report says what would be. Environments are removed one by one under their
// build lock, so a build or an Ensure of the same key waits, and one whose hold is taken
// between the check and the removal is kept.
func (b *Builder) Collect(ctx context.Context, p Policy, inUse map[string]bool, dryRun bool) (*CollectReport, error) {
	envs, err := b.List()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rep := &CollectReport{DryRun: dryRun, Policy: p, CheckedAt: now.UTC()}
	seen := map[[2]uint64]bool{} // files hard-linked between environments count once
	for _, e := range envs {
		u := EnvUsage{Key: e.Key, Size: dirSize(e.Dir, seen), LastUsed: b.lastUsed(e), InUse: inUse[e.Key] || b.held(e.Key)}
		rep.Envs = append(rep.Envs, u)
		rep.Total += u.Size
	}
	// Least recently used first: the order of removal by size.
	slices.SortFunc(rep.Envs, func(a, b EnvUsage) int { return a.LastUsed.Compare(b.LastUsed) })
	remaining := rep.Total
	for i := range rep.Envs {
		u := &rep.Envs[i]
		if u.InUse {
			continue
		}
		switch {
		case p.MaxUnusedAge > 0 && now.Sub(u.LastUsed) > p.MaxUnusedAge:
			u.Reason = "age"
		case p.MaxSize > 0 && remaining > p.MaxSize:
			u.Reason = "size"
		default:
			continue
		}
		if !dryRun {
			removed, err := b.removeUnused(ctx, u.Key)
			if err != nil {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", u.Key, err))
				u.Reason = ""
				continue
			}
			if !removed { // taken into use meanwhile
				u.InUse, u.Reason = true, ""
				continue
			}
		}
		u.Removed = true
		remaining -= u.Size
		rep.Freed += u.Size
	}
	return rep, ctx.Err()
}

// lastUsed is usedFile's mtime, else the environment's creation.
func (b *Builder) lastUsed(e Env) time.Time {
	if fi, err := os.Stat(filepath.Join(e.Dir, usedFile)); err == nil {
		return fi.ModTime()
	}
	if fi, err := os.Stat(filepath.Join(e.Dir, markerFile)); err == nil {
		return fi.ModTime()
	}
	return e.Created
}

// held reports whether a process holds key (Hold) or builds it. Either lock taken here is
// released at once.
func (b *Builder) held(key string) bool {
	for _, path := range []string{b.useLockFile(key), b.lockFile(key)} {
		f, err := os.Open(path)
		if err != nil {
			continue // no lock file: nobody ever held it
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if err != nil {
			return true
		}
	}
	return false
}

// removeUnused removes key unless it is held or being built, deciding under the build lock
// and with the use lock taken exclusively, so no Hold can start in between.
func (b *Builder) removeUnused(ctx context.Context, key string) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(b.lockFile(key)), 0o755); err != nil {
		return false, err
	}
	build, err := os.OpenFile(b.lockFile(key), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, err
	}
	defer build.Close()
	if syscall.Flock(int(build.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false, nil // being built
	}
	use, err := os.OpenFile(b.useLockFile(key), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return false, err
	}
	defer use.Close()
	if syscall.Flock(int(use.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false, nil // held
	}
	build.Close() // Remove takes the build lock itself; the use lock stays ours until done
	if err := b.Remove(ctx, key); err != nil {
		return false, err
	}
	return true, nil
}

// dirSize is the disk space of the files under dir, in bytes, counting each inode once
// across calls sharing seen.
func dirSize(dir string, seen map[[2]uint64]bool) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			total += fi.Size()
			return nil
		}
		id := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[id] {
			return nil
		}
		seen[id] = true
		total += st.Blocks * 512
		return nil
	})
	return total
}

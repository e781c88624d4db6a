//go:build unix

package pyenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockPath takes an exclusive flock on path, creating it, and returns the function that
// releases it. It keeps two processes sharing a data folder from building the same
// environment at once. flock is polled rather than blocked on so that ctx can end the wait.
//
// A lock file may be unlinked by its holder (Remove does), so after locking, the file is
// checked to still be the one at path; otherwise a waiter would hold a lock nobody else
// can see, and the lock is taken again.
func lockPath(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pyenv: lock: %w", err)
	}
	wait := 20 * time.Millisecond
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, fmt.Errorf("pyenv: lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			held, errHeld := f.Stat()
			now, errNow := os.Stat(path)
			if errHeld == nil && errNow == nil && os.SameFile(held, now) {
				return func() { f.Close() }, nil // closing the descriptor releases the lock
			}
			f.Close()
			continue
		}
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return nil, fmt.Errorf("pyenv: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pyenv: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

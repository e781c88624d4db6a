package daemon

import (
	"runtime/debug"
	"sync"
	"time"
)

// reclaimLine is the size from which a plugin message counts as outsized (wire.Bounds.LargeLine).
const reclaimLine = 4 << 20

// memoryReclaimer gives back to the system the memory an outsized plugin message took. Such a
// message is held several times over while it is read, decoded and sent on (a 50 MiB line
// took the daemon from 33 to 279 MB), and Go keeps freed memory for a while: its next
// collection waits until the heap doubles again, and the scavenger returns pages slowly. So a
// while after an outsized message, once the request that carried it has normally been
// answered, the reclaimer collects and returns free memory at once (debug.FreeOSMemory), and
// does it once more later for an answer that took longer. It runs at most once per delay
// whatever the number of large messages, since each run is a full collection. Safe for
// concurrent use.
type memoryReclaimer struct {
	delay, again time.Duration

	mu      sync.Mutex
	timer   *time.Timer
	pending int // runs still due
	stopped bool
	runs    int // for tests and logs
}

func newMemoryReclaimer(delay, again time.Duration) *memoryReclaimer {
	return &memoryReclaimer{delay: delay, again: again}
}

// large notes an outsized message of n bytes (wire.Bounds.OnLargeLine).
func (r *memoryReclaimer) large(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	r.pending = 2
	if r.timer == nil {
		r.timer = time.AfterFunc(r.delay, r.run)
	}
}

func (r *memoryReclaimer) run() {
	r.mu.Lock()
	stopped := r.stopped
	r.mu.Unlock()
	if stopped {
		return
	}
	debug.FreeOSMemory()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	r.pending--
	r.timer = nil
	if r.pending > 0 && !r.stopped {
		r.timer = time.AfterFunc(r.again, r.run)
	}
}

// stop cancels runs not started yet.
func (r *memoryReclaimer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

package daemon

import (
	"testing"
	"time"
)

func (r *memoryReclaimer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs
}

// A burst of large messages costs two collections (one soon, one later), not one each; stop
// cancels what is due.
func TestMemoryReclaimerRunsTwicePerBurst(t *testing.T) {
	r := newMemoryReclaimer(10*time.Millisecond, 30*time.Millisecond)
	for range 100 {
		r.large(50 << 20)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a third run, which must not come
	if n := r.count(); n != 2 {
		t.Fatalf("%d collections after one burst, want 2", n)
	}
	r.large(1)
	r.stop()
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 2 {
		t.Fatalf("%d collections: stop did not cancel the run due", n)
	}
	r.large(1) // after stop: nothing
	time.Sleep(50 * time.Millisecond)
	if n := r.count(); n != 2 {
		t.Fatalf("%d collections after stop", n)
	}
}

package install

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/store"
)

// fakeClaims is a lease table as Redis would keep it, shared by several managers ("nodes"):
// one holder per name, a token that grows with every take.
type fakeClaims struct {
	mu     sync.Mutex
	held   map[string]*fakeClaim
	tokens map[string]int64
}

type fakeClaim struct {
	owner *fakeClaims
	name  string
	token int64
	lost  chan struct{}
}

func (c *fakeClaim) Token() int64          { return c.token }
func (c *fakeClaim) Lost() <-chan struct{} { return c.lost }
func (c *fakeClaim) Release() {
	c.owner.mu.Lock()
	defer c.owner.mu.Unlock()
	if c.owner.held[c.name] == c {
		delete(c.owner.held, c.name)
	}
}

// expire makes name's claim lost, as when its node stopped extending it.
func (f *fakeClaims) expire(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.held[name]; c != nil {
		delete(f.held, name)
		close(c.lost)
	}
}

type nodeClaims struct{ f *fakeClaims }

func (n nodeClaims) Claim(ctx context.Context, name string) (Claim, error) {
	n.f.mu.Lock()
	defer n.f.mu.Unlock()
	if n.f.held[name] != nil {
		return nil, errors.New("held")
	}
	n.f.tokens[name]++
	c := &fakeClaim{owner: n.f, name: name, token: n.f.tokens[name], lost: make(chan struct{})}
	n.f.held[name] = c
	return c, nil
}

// TestClaimedTaskRunsOnOneNodeAndMovesWhenLost: a task claimed by node A is not taken by
// node B; when A's claim is lost, B takes the task over under a newer token, A's late writes
// are refused, and the task succeeds once.
func TestClaimedTaskRunsOnOneNodeAndMovesWhenLost(t *testing.T) {
	e := newEnv(t)
	claims := &fakeClaims{held: map[string]*fakeClaim{}, tokens: map[string]int64{}}
	e.prep.block = make(chan struct{})
	ctx := context.Background()
	a := New(Config{Store: e.store, Blob: e.blob, Workspace: e.prep, Runtimes: e.rt, TempDir: e.dir, Claims: nodeClaims{claims}})
	defer a.Close()
	b := New(Config{Store: e.store, Blob: e.blob, Workspace: e.prep, Runtimes: e.rt, TempDir: e.dir, Claims: nodeClaims{claims}})
	defer b.Close()
	d, err := a.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "kappa", "0.0.1")), false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := a.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	if err != nil {
		t.Fatal(err)
	}
	for e.prep.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if n, err := b.TakeOver(ctx); err != nil || n != 0 {
		t.Fatalf("node B took over a task node A holds: %d %v", n, err)
	}

	// A's claim is lost (it paused past the lease); B takes the task over.
	claims.expire("task:" + st.TaskID)
	for e.prep.running.Load() != 0 { // A's job stops: its claim is lost
		time.Sleep(time.Millisecond)
	}
	if task, _ := e.store.GetTask(ctx, "t1", st.TaskID); task.Status == store.TaskFailed {
		t.Fatalf("a job stopped by a lost claim recorded a failure: %+v", task.Plugins[0])
	}
	e.prep.block = nil
	if n, err := b.TakeOver(ctx); err != nil || n != 1 {
		t.Fatalf("node B did not take over the orphaned task: %d %v", n, err)
	}
	task := waitTask(t, e.store, "t1", st.TaskID)
	if task.Status != store.TaskSuccess || task.Plugins[0].Fence != 2 {
		t.Fatalf("task after the take-over: %s, fence %d (want success under token 2)", task.Status, task.Plugins[0].Fence)
	}
	// A write from A's old claim is refused by the fence.
	a.finishItem(st.TaskID, d.UniqueIdentifier, 1, errors.New("late failure from the old owner"))
	if task, _ := e.store.GetTask(ctx, "t1", st.TaskID); task.Status != store.TaskSuccess || task.Plugins[0].Message != "" {
		t.Fatalf("a stale owner overwrote the result: %+v", task.Plugins[0])
	}
}

package install

import (
	"context"
	"errors"
	"fmt"

	"github.com/plugd/plugd/internal/store"
)

// On several nodes (a cluster) every node sees every task in the database, so a task must
// be run by one node at a time: the one holding its claim, an owner-checked lease in Redis.
// The claim is taken when the task starts (or is found orphaned) and kept alive while its
// jobs run; a node that dies stops extending it, and another node's TakeOver claims the task
// once it has expired and runs it again (every step is idempotent). Each claim carries a
// fencing token that only grows: every write to the task checks the item's recorded token
// and refuses to go back, so a node that lost its claim without noticing (a long pause)
// cannot overwrite what the new owner recorded.

// Claimer takes claims on tasks; nil (one node) runs every task here unclaimed.
type Claimer interface {
	// Claim takes the named claim or fails (with any error) when another node holds it.
	Claim(ctx context.Context, name string) (Claim, error)
}

// Claim is a held claim; *cluster.Lease is one.
type Claim interface {
	// Token is the fencing token, larger for every later claim of the same name.
	Token() int64
	// Lost is closed when the claim expired or was taken: the work must stop.
	Lost() <-chan struct{}
	Release()
}

// Peers tells the other nodes of a cluster what this one did that concerns their
// processes and files; nil on one node.
type Peers interface {
	// TaskDeleted: the node running the task's jobs must cancel them.
	TaskDeleted(taskID string)
	// Released: no tenant has uid installed any more; every node stops it and removes its
	// folder (the package and declaration are gone from the shared stores already).
	Released(uid string)
}

// taskClaim is a claim held for a task and the number of its jobs still running here.
type taskClaim struct {
	claim Claim
	jobs  int
}

// errLeaseLost marks a job stopped because its task's claim was lost: another node owns
// the task now, so nothing is recorded.
var errLeaseLost = errors.New("the task's claim was lost to another node")

// errFenced: a write to a task from an older claim than one already recorded.
var errFenced = errors.New("the task is owned by a newer claim")

// claimTask takes t's claim and records it for its n jobs. It reports false when another
// node holds the task, or this node runs it already. Without a Claimer it always succeeds
// with token 0.
func (m *Manager) claimTask(t store.Task, n int) (fence int64, lost <-chan struct{}, ok bool) {
	if m.cfg.Claims == nil {
		return 0, nil, true
	}
	m.mu.Lock()
	_, mine := m.claims[t.ID]
	m.mu.Unlock()
	if mine || n == 0 {
		return 0, nil, false
	}
	c, err := m.cfg.Claims.Claim(m.ctx, "task:"+t.ID)
	if err != nil {
		return 0, nil, false
	}
	m.mu.Lock()
	if _, dup := m.claims[t.ID]; dup || m.closed {
		m.mu.Unlock()
		c.Release()
		return 0, nil, false
	}
	m.claims[t.ID] = &taskClaim{claim: c, jobs: n}
	m.mu.Unlock()
	return c.Token(), c.Lost(), true
}

// jobDone counts a job of the task as finished and releases the task's claim after the last.
func (m *Manager) jobDone(taskID string) {
	m.mu.Lock()
	tc := m.claims[taskID]
	if tc == nil {
		m.mu.Unlock()
		return
	}
	tc.jobs--
	last := tc.jobs <= 0
	if last {
		delete(m.claims, taskID)
	}
	m.mu.Unlock()
	if last {
		tc.claim.Release()
	}
}

// TakeOver claims and runs the unfinished tasks no live node holds: those of a node that
// died. The daemon calls it every few seconds on a cluster; it returns how many it took.
func (m *Manager) TakeOver(ctx context.Context) (int, error) {
	tasks, err := m.cfg.Store.TasksWithStatus(ctx, store.TaskPending, store.TaskRunning)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tasks {
		if m.resumeTask(t, "resumed: the node running it stopped") {
			n++
			m.log.Info("took over an install task", "task", t.ID)
		}
	}
	return n, nil
}

// CancelTaskJobs cancels the jobs of the task running on this node (its task was deleted
// on another node).
func (m *Manager) CancelTaskJobs(taskID string) {
	m.mu.Lock()
	var keys []string
	for key := range m.jobs {
		if len(key) > len(taskID) && key[:len(taskID)] == taskID && key[len(taskID)] == 0 {
			keys = append(keys, key)
		}
	}
	m.mu.Unlock()
	for _, k := range keys {
		m.cancelJob(taskID, k[len(taskID)+1:])
	}
}

// ReleaseLocal frees what this node holds of uid (processes, extracted folder) after another
// node uninstalled its last installation.
func (m *Manager) ReleaseLocal(ctx context.Context, uid string) {
	id, err := ParseIdentifier(uid)
	if err != nil {
		return
	}
	if m.cfg.Runtimes != nil {
		if err := m.cfg.Runtimes.Release(ctx, uid); err != nil {
			m.log.Warn("stopping a plugin uninstalled on another node", "plugin", uid, "err", err)
		}
	}
	if err := m.cfg.Workspace.Remove(id); err != nil {
		m.log.Warn("removing the folder of a plugin uninstalled on another node", "plugin", uid, "err", err)
	}
}

// fenceItem applies the fencing rule to a task item: a write with an older token than the
// item's is refused, a newer one is recorded.
func fenceItem(p *store.TaskPlugin, fence int64) error {
	if p.Fence > fence {
		return fmt.Errorf("%w (token %d, item at %d)", errFenced, fence, p.Fence)
	}
	p.Fence = fence
	return nil
}

package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plugd/plugd/internal/cluster"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/install"
)

// With PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN giving a plugin a cap of n, at most n nodes run
// one of its versions at once. A node takes one of the version's n slots (cluster leases) before it runs the
// plugin for a call, keeps it while the plugin runs, and releases it once the plugin has
// been idle-stopped or when the node leaves; a node that dies loses its slots after the
// lease ttl. A call that arrives where the plugin does not run and no slot is free is
// forwarded to a node that holds one.

const (
	// slotTTL is how long a dead node's slot blocks the others.
	slotTTL = 5 * time.Second
	// holdersFresh: a node without a slot remembers who holds them this long, so a stream
	// of calls it forwards costs no Redis round trip each.
	holdersFresh = time.Second
	// admitGrace: a slot is not released within this long of a call admitted under it,
	// which may not have started the plugin yet (the dispatcher would still show it idle).
	admitGrace = 10 * time.Second
)

// slots is this node's side of the cap.
type slots struct {
	cl   *cluster.Cluster
	caps PluginCaps
	log  *slog.Logger

	mu      sync.Mutex
	held    map[string]*slot     // unique identifier -> the slot this node holds
	holders map[string]holderSet // unique identifier -> who held the slots, when this node had none
	next    atomic.Uint64        // rotates forwarded calls over the holders
}

type slot struct {
	lease    *cluster.Lease
	admitted time.Time // last call admitted under it
}

type holderSet struct {
	ids []string
	at  time.Time
}

func newSlots(cl *cluster.Cluster, caps PluginCaps, log *slog.Logger) *slots {
	return &slots{cl: cl, caps: caps, log: log, held: map[string]*slot{}, holders: map[string]holderSet{}}
}

// errNoSlot: every slot is held by nodes that are gone (their leases not yet expired).
var errNoSlot = errors.New("every node allowed to run this plugin (PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN) is unreachable or gone; retry in a few seconds")

// admit decides where a call of uid runs: here (ok true), or on the node returned. mayForward
// false (a call another node forwarded) always runs here, taking a slot if one is free.
// A Redis failure runs the call here: the cap yields to the calls.
func (s *slots) admit(ctx context.Context, uid string, mayForward bool) (cluster.Node, bool, error) {
	max := s.caps.For(uid)
	if max == 0 || s.admitHeld(uid) {
		return cluster.Node{}, true, nil
	}
	if mayForward {
		if n, ok := s.cachedHolder(uid); ok {
			return n, false, nil
		}
	}
	l, holders, err := s.cl.TakeSlot(ctx, uid, max, slotTTL)
	switch {
	case err == nil:
		s.mu.Lock()
		if cur, ok := s.held[uid]; ok && !lost(cur.lease) {
			s.mu.Unlock()
			l.Release() // a concurrent call took one first
		} else {
			s.held[uid] = &slot{lease: l, admitted: time.Now()}
			s.mu.Unlock()
		}
		return cluster.Node{}, true, nil
	case !errors.Is(err, cluster.ErrHeld):
		s.log.Warn("taking a plugin slot failed; running the plugin here", "plugin", uid, "err", err)
		return cluster.Node{}, true, nil
	}
	for _, id := range holders {
		if id == s.cl.ID() { // taken by a concurrent call of this node
			s.admitHeld(uid)
			return cluster.Node{}, true, nil
		}
	}
	s.mu.Lock()
	s.holders[uid] = holderSet{ids: holders, at: time.Now()}
	s.mu.Unlock()
	if !mayForward {
		return cluster.Node{}, true, nil
	}
	if n, ok := s.cachedHolder(uid); ok {
		return n, false, nil
	}
	return cluster.Node{}, false, errNoSlot
}

// admitHeld reports whether this node holds a live slot of uid, noting the call.
func (s *slots) admitHeld(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl, ok := s.held[uid]
	if !ok {
		return false
	}
	if lost(sl.lease) {
		delete(s.held, uid)
		return false
	}
	sl.admitted = time.Now()
	return true
}

// cachedHolder picks a live holder of uid from the fresh remembered set, in turn.
func (s *slots) cachedHolder(uid string) (cluster.Node, bool) {
	s.mu.Lock()
	hs, ok := s.holders[uid]
	s.mu.Unlock()
	if !ok || time.Since(hs.at) > holdersFresh {
		return cluster.Node{}, false
	}
	start := s.next.Add(1)
	for i := range hs.ids {
		id := hs.ids[(int(start)+i)%len(hs.ids)]
		if n, ok := s.cl.Node(id); ok && id != s.cl.ID() && !n.Draining {
			return n, true
		}
	}
	return cluster.Node{}, false
}

func lost(l *cluster.Lease) bool {
	select {
	case <-l.Lost():
		return true
	default:
		return false
	}
}

// releaseIdle gives back the slots of plugins that no longer run here: stopped when idle
// (no process, nothing in flight), failed, or forgotten (uninstalled), with no call
// admitted within admitGrace.
func (s *slots) releaseIdle(states []dispatch.State) {
	running := map[string]bool{}
	for _, st := range states {
		if st.Processes > 0 || st.InFlight > 0 || st.State == "preparing" || st.State == "starting" || st.State == "restarting" {
			running[st.UniqueIdentifier] = true
		}
	}
	s.mu.Lock()
	var free []*cluster.Lease
	for uid, sl := range s.held {
		if lost(sl.lease) || (!running[uid] && time.Since(sl.admitted) > admitGrace) {
			delete(s.held, uid)
			free = append(free, sl.lease)
		}
	}
	s.mu.Unlock()
	for _, l := range free {
		l.Release()
	}
}

// releaseAll gives back every slot (the node leaves).
func (s *slots) releaseAll() {
	s.mu.Lock()
	held := s.held
	s.held = map[string]*slot{}
	s.mu.Unlock()
	for _, sl := range held {
		sl.lease.Release()
	}
}

// cappedRuntimes is the install manager's Runtimes under the cap: an install proves the
// plugin starts (Warm) on the node running the task; when that node gets no slot, the
// plugin is stopped again at once instead of running beyond the cap until idle.
type cappedRuntimes struct {
	*dispatch.Dispatcher
	s *slots
}

func (c cappedRuntimes) Warm(ctx context.Context, p *install.Prepared) error {
	uid := p.ID.String()
	_, _, _ = c.s.admit(ctx, uid, false) // takes a slot if one is free
	if err := c.Dispatcher.Warm(ctx, p); err != nil {
		return err
	}
	if !c.s.admitHeld(uid) {
		return c.Dispatcher.Release(ctx, uid)
	}
	return nil
}

// forwardCapped is the Forward hook's part for the cap: a call of a plugin this node may
// not run is forwarded to one that runs it.
func (n *node) forwardCapped(w http.ResponseWriter, r *http.Request, uid string, fail func(http.ResponseWriter, *http.Request, error)) bool {
	owner, here, err := n.slots.admit(r.Context(), uid, !cluster.Forwarded(r))
	if here {
		return false
	}
	if err != nil {
		fail(w, r, err)
		return true
	}
	n.fwd.Forward(w, r, owner, fail)
	return true
}

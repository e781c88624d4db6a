package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/plugd/plugd/internal/cluster"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/mcpserver"
	"github.com/plugd/plugd/internal/store"
)

// The daemon's side of a cluster (`plugd serve --cluster`): what the nodes share goes
// through internal/cluster, this file wires it to the parts that need it.

// taskLeaseTTL is how long an install task's claim outlives its node: with a take-over scan
// every takeOverEvery, a task whose node died is resumed within about 7 s.
const (
	taskLeaseTTL  = 5 * time.Second
	takeOverEvery = 2 * time.Second
	// remoteGrace: a remote installation with no route is left alone this long (its node may
	// be between recording it and announcing the route).
	remoteGrace = 15 * time.Second
)

// node is this daemon's membership and what it does for the cluster.
type node struct {
	cl    *cluster.Cluster
	fwd   *cluster.Forwarder
	slots *slots // nil: no cap on the nodes running a plugin
	log   *slog.Logger
}

// claimer takes install tasks' claims as cluster leases.
type claimer struct{ cl *cluster.Cluster }

func (c claimer) Claim(ctx context.Context, name string) (install.Claim, error) {
	l, err := c.cl.Acquire(ctx, name, taskLeaseTTL)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// leaseLocker is oauth.Locker on the cluster's leases: one OAuth refresh per credential
// across all nodes (a rotating refresh token used twice revokes the grant). The lease is
// kept alive while the refresh runs; it is waited for, polling, until ctx ends.
type leaseLocker struct{ cl *cluster.Cluster }

func (l leaseLocker) Lock(ctx context.Context, key string) (func(), error) {
	for {
		lease, err := l.cl.Acquire(ctx, "lock:"+key, 30*time.Second)
		if err == nil {
			return lease.Release, nil
		}
		if !errors.Is(err, cluster.ErrHeld) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// peers tells the other nodes, over the bus, what the install manager did.
type peers struct{ cl *cluster.Cluster }

func (p peers) TaskDeleted(taskID string) {
	_ = p.cl.Publish(context.Background(), cluster.TopicTaskCancel, taskID)
}

func (p peers) Released(uid string) {
	_ = p.cl.Publish(context.Background(), cluster.TopicRelease, uid)
}

// joinCluster connects to Redis and makes the node; Run starts it.
func joinCluster(ctx context.Context, c Config, status func() cluster.Status, log *slog.Logger) (*node, error) {
	rdb, err := cluster.Connect(ctx, c.Cluster.Redis)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.New(rdb, cluster.Options{
		Prefix: c.Cluster.Prefix, NodeID: c.Cluster.NodeID, Addr: c.Cluster.NodeAddr, Status: status, Logger: log,
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	n := &node{cl: cl, fwd: cl.NewForwarder(), log: log}
	if c.Cluster.MaxNodesPerPlugin.Enabled() {
		n.slots = newSlots(cl, c.Cluster.MaxNodesPerPlugin, log)
	}
	return n, nil
}

// handleBus subscribes the node's parts to what other nodes announce.
func (n *node) handleBus(mgr *install.Manager) {
	self := n.cl.ID()
	n.cl.Handle(cluster.TopicRelease, func(m cluster.Message) {
		if m.From != self {
			go mgr.ReleaseLocal(context.Background(), m.Payload)
		}
	})
	n.cl.Handle(cluster.TopicTaskCancel, func(m cluster.Message) {
		if m.From != self {
			go mgr.CancelTaskJobs(m.Payload)
		}
	})
}

// forward is httpapi's Forward hook: a plugin attached for remote debugging to another
// live node is served there; under a cap on the nodes per plugin, a plugin this node may
// not run is served by one that runs it (forwardCapped). A request that was forwarded
// already is served here whatever the tables say, so two nodes with different views
// cannot bounce it.
func (n *node) forward(w http.ResponseWriter, r *http.Request, uid string, fail func(http.ResponseWriter, *http.Request, error)) bool {
	key := cluster.RouteDebug(uid)
	if owner, ok := n.cl.Elsewhere(key); ok && !cluster.Forwarded(r) {
		n.fwd.Forward(w, r, owner, fail)
		return true
	}
	if n.slots == nil || n.cl.Holds(key) {
		return false // no cap, or attached here for remote debugging
	}
	return n.forwardCapped(w, r, uid, fail)
}

// housekeeping runs until ctx ends: every node takes over orphaned install tasks and gives
// back the slots of plugins it no longer runs (under a cap); the leader
// alone drops the routes of dead nodes and the remote-debugging installations they held.
func (n *node) housekeeping(ctx context.Context, mgr *install.Manager, disp *dispatch.Dispatcher, db store.Store) {
	tick := time.NewTicker(takeOverEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.cl.Draining() {
			continue
		}
		if _, err := mgr.TakeOver(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("taking over install tasks", "err", err)
		}
		if n.slots != nil {
			n.slots.releaseIdle(disp.Readiness())
		}
		if n.cl.IsLeader() {
			n.sweep(ctx, mgr, db)
		}
	}
}

// sweep is the leader's clean-up: routes of nodes that are gone, and remote installations
// no live node holds (their connection died with their node).
func (n *node) sweep(ctx context.Context, mgr *install.Manager, db store.Store) {
	if _, err := n.cl.SweepRoutes(ctx); err != nil {
		return
	}
	insts, err := db.InstallationsOfType(ctx, install.RuntimeRemote)
	if err != nil {
		return
	}
	for _, inst := range insts {
		if time.Since(inst.CreatedAt) < remoteGrace {
			continue
		}
		key := cluster.RouteDebug(inst.UniqueIdentifier)
		if _, ok := n.cl.Lookup(ctx, key); ok {
			continue // held by another live node
		}
		if n.cl.Holds(key) {
			continue // held here
		}
		if err := mgr.Detach(ctx, inst.TenantID, inst.UniqueIdentifier); err == nil {
			n.log.Info("removed a remote-debugging plugin whose node is gone", "plugin", inst.UniqueIdentifier, "tenant", inst.TenantID)
		}
	}
}

// status is what the node reports at each heartbeat: its plugins and load.
func nodeStatus(disp *dispatch.Dispatcher) func() cluster.Status {
	return func() cluster.Status {
		states := disp.Readiness()
		out := cluster.Status{Plugins: make([]cluster.PluginLoad, 0, len(states))}
		for _, s := range states {
			out.ActiveRequests += int64(s.InFlight)
			out.Plugins = append(out.Plugins, cluster.PluginLoad{
				UniqueIdentifier: s.UniqueIdentifier, State: s.State, InFlight: s.InFlight, Processes: s.Processes, Remote: s.Remote,
			})
		}
		return out
	}
}

// clusterMCP is the MCP server with its handler behind mcpSessions.
type clusterMCP struct {
	*mcpserver.Server
	h http.Handler
}

func (c clusterMCP) Handler() http.Handler { return c.h }

func (n *node) wrapMCP(s *mcpserver.Server) clusterMCP {
	return clusterMCP{Server: s, h: &mcpSessions{n: n, next: s.Handler(), local: map[string]bool{}}}
}

// mcpSessions routes MCP requests of a session to the node where the session lives:
// sessions are live objects of the node that opened them. A streamable HTTP session
// (header Mcp-Session-Id) lives where its initialize was answered; a session of the older
// SSE transport lives where its GET stream is open, and its messages are POSTs carrying
// ?sessionid= (announced in the stream's first event, "endpoint").
type mcpSessions struct {
	n     *node
	next  http.Handler
	mu    sync.Mutex
	local map[string]bool
}

const mcpSessionHeader = "Mcp-Session-Id"

func (m *mcpSessions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get(mcpSessionHeader)
	sse := strings.HasPrefix(r.URL.Path, "/sse/")
	if sid == "" && sse && r.Method == http.MethodPost {
		sid = r.URL.Query().Get("sessionid")
	}
	if sid != "" && !cluster.Forwarded(r) {
		m.mu.Lock()
		mine := m.local[sid]
		m.mu.Unlock()
		if !mine {
			if owner, ok := m.n.cl.Session(r.Context(), sid); ok {
				m.n.fwd.Forward(w, r, owner, func(w http.ResponseWriter, r *http.Request, err error) {
					http.Error(w, "MCP session "+sid+" lives on node "+owner.ID+", which cannot be reached: "+err.Error(), http.StatusBadGateway)
				})
				return
			}
		}
	}
	rec := &sessionRecorder{ResponseWriter: w, m: m, req: r, sse: sse && r.Method == http.MethodGet}
	m.next.ServeHTTP(rec, r)
	if sid != "" && r.Method == http.MethodDelete {
		m.forget(sid)
	}
	if rec.sseID != "" { // the SSE session ends with its stream
		m.forget(rec.sseID)
	}
}

func (m *mcpSessions) remember(sid string) {
	m.mu.Lock()
	known := m.local[sid]
	m.local[sid] = true
	m.mu.Unlock()
	if !known {
		if err := m.n.cl.SetSession(context.Background(), sid); err != nil {
			m.n.log.Warn("recording an MCP session's node", "err", err)
		}
	}
}

func (m *mcpSessions) forget(sid string) {
	m.mu.Lock()
	delete(m.local, sid)
	m.mu.Unlock()
	m.n.cl.DropSession(context.Background(), sid)
}

// sessionRecorder notes the session id an answer announces: the header of an initialize
// response, or the endpoint event that opens an SSE stream.
type sessionRecorder struct {
	http.ResponseWriter
	m    *mcpSessions
	req  *http.Request
	seen bool

	sse   bool   // an SSE stream: its endpoint event names the session
	head  []byte // the stream's first bytes, until the session id is found
	sseID string
}

func (s *sessionRecorder) WriteHeader(code int) {
	s.note()
	s.ResponseWriter.WriteHeader(code)
}

func (s *sessionRecorder) Write(b []byte) (int, error) {
	s.note()
	if s.sse && s.sseID == "" && len(s.head) < maxEndpointEvent {
		s.head = append(s.head, b...)
		if id, ok := sseSessionID(s.head); ok {
			s.sseID, s.head = id, nil
			s.m.remember(id)
		}
	}
	return s.ResponseWriter.Write(b)
}

// maxEndpointEvent bounds what is read of an SSE stream to find its endpoint event.
const maxEndpointEvent = 4096

// sseSessionID finds the session id in an SSE stream's first event, "endpoint", whose
// data is the URL to POST messages to (…?sessionid=<id>). ok is false until the whole
// line has arrived.
func sseSessionID(head []byte) (string, bool) {
	const marker = "sessionid="
	i := bytes.Index(head, []byte(marker))
	if i < 0 {
		return "", false
	}
	rest := head[i+len(marker):]
	end := bytes.IndexAny(rest, "&\r\n")
	if end <= 0 {
		return "", false
	}
	id, err := url.QueryUnescape(string(rest[:end]))
	if err != nil || id == "" || strings.ContainsAny(id, " \n") {
		return "", false
	}
	return id, true
}

func (s *sessionRecorder) note() {
	if s.seen {
		return
	}
	s.seen = true
	if sid := s.Header().Get(mcpSessionHeader); sid != "" && !strings.ContainsAny(sid, " \n") {
		s.m.remember(sid)
	}
}

func (s *sessionRecorder) Flush() {
	s.note()
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *sessionRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a Cluster.
type Options struct {
	// Prefix starts every key and channel (default "plugd:"), so several deployments (or
	// tests) can share one Redis.
	Prefix string
	// NodeID names this node; unique in the cluster, no spaces.
	NodeID string
	// Addr is this node's HTTP API as the other nodes reach it (http://host:port): requests
	// for the remote-debugging plugins and MCP sessions this node holds are forwarded there.
	Addr string
	// Heartbeat is how often the node writes its status (default 1 s); NodeTTL how long
	// that status lives without a new heartbeat (default 5 s): a node silent for NodeTTL is
	// gone, its leases expire and its routes are dropped.
	Heartbeat, NodeTTL time.Duration
	// Status reports this node's load and plugins at each heartbeat; nil reports none.
	Status func() Status
	Logger *slog.Logger
}

// Status is what a node reports about itself at each heartbeat.
type Status struct {
	ActiveRequests int64        `json:"active_requests"`
	Plugins        []PluginLoad `json:"plugins"`
}

// PluginLoad is one plugin as a node runs it.
type PluginLoad struct {
	UniqueIdentifier string `json:"plugin_unique_identifier"`
	State            string `json:"state"`
	InFlight         int    `json:"in_flight"`
	Processes        int    `json:"processes"`
	Remote           bool   `json:"remote,omitempty"`
}

// Node is one member as its last heartbeat described it.
type Node struct {
	ID       string    `json:"id"`
	Addr     string    `json:"addr"`
	Started  time.Time `json:"started_at"`
	Seen     time.Time `json:"seen_at"`
	Draining bool      `json:"draining"`
	Leader   bool      `json:"leader"`
	Status
}

// Cluster is this node's membership. Make it with New, run Run in a goroutine, and Leave
// at shutdown. Safe for concurrent use.
type Cluster struct {
	rdb    redis.UniversalClient
	prefix string
	opts   Options
	log    *slog.Logger
	self   Node

	draining atomic.Bool
	leader   atomic.Pointer[Lease]

	mu       sync.RWMutex
	nodes    map[string]Node   // live nodes by id, as of the last refresh
	routes   map[string]string // route key -> node id, as of the last refresh
	handlers map[string][]func(Message)

	subscribed chan struct{} // closed once the bus subscription is active
}

// New makes a Cluster on an open client; nothing is written until Run.
func New(rdb redis.UniversalClient, o Options) (*Cluster, error) {
	if o.NodeID == "" || strings.ContainsAny(o.NodeID, " \n") {
		return nil, fmt.Errorf("cluster: node id %q: want a non-empty name without spaces", o.NodeID)
	}
	if o.Prefix == "" {
		o.Prefix = "plugd:"
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.NodeTTL <= 0 {
		o.NodeTTL = 5 * time.Second
	}
	if o.NodeTTL < 2*o.Heartbeat {
		return nil, fmt.Errorf("cluster: node ttl %s must be at least twice the heartbeat %s", o.NodeTTL, o.Heartbeat)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Cluster{
		rdb: rdb, prefix: o.Prefix, opts: o, log: o.Logger,
		self:  Node{ID: o.NodeID, Addr: o.Addr, Started: time.Now().UTC()},
		nodes: map[string]Node{}, routes: map[string]string{}, handlers: map[string][]func(Message){},
		subscribed: make(chan struct{}),
	}, nil
}

func (c *Cluster) key(parts ...string) string { return c.prefix + strings.Join(parts, ":") }

// ID is this node's id.
func (c *Cluster) ID() string { return c.self.ID }

// Run keeps the node a member until ctx ends: heartbeats, the leadership lease, the bus
// subscription and the refresh of the node and route tables. It writes the first heartbeat
// before returning from Start, so call Start first.
func (c *Cluster) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.listen(ctx) })
	tick := time.NewTicker(c.opts.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stopped without Leave (which releases it): the leadership lease is no longer
			// extended and expires as a dead node's would.
			if l := c.leader.Load(); l != nil {
				l.abandon()
			}
			wg.Wait()
			return nil
		case <-tick.C:
		}
		c.beat(ctx)
	}
}

// Start writes the first heartbeat and waits for the bus subscription (Run must be running
// or about to run), so that when it returns the node is listed and hears invalidations.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.heartbeat(ctx); err != nil {
		return fmt.Errorf("joining the cluster: %w", err)
	}
	c.refresh(ctx)
	select {
	case <-c.subscribed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("joining the cluster: the bus subscription did not start within 10 s")
	}
}

// beat is one tick: heartbeat, leadership, tables.
func (c *Cluster) beat(ctx context.Context) {
	if err := c.heartbeat(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("cluster heartbeat failed", "err", err)
	}
	c.lead(ctx)
	c.refresh(ctx)
}

func (c *Cluster) heartbeat(ctx context.Context) error {
	n := c.self
	n.Seen = time.Now().UTC()
	n.Draining = c.draining.Load()
	n.Leader = c.IsLeader()
	if c.opts.Status != nil {
		n.Status = c.opts.Status()
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.key("node", n.ID), b, c.opts.NodeTTL)
		p.SAdd(ctx, c.key("nodes"), n.ID)
		return nil
	})
	return err
}

// lead takes the leadership lease when nobody holds it; a held lease keeps itself alive.
func (c *Cluster) lead(ctx context.Context) {
	if c.draining.Load() {
		return
	}
	if l := c.leader.Load(); l != nil {
		select {
		case <-l.Lost():
			c.leader.CompareAndSwap(l, nil)
			c.log.Warn("cluster leadership lost", "token", l.Token())
		default:
			return
		}
	}
	l, err := c.Acquire(ctx, "leader", c.opts.NodeTTL)
	if err != nil {
		return
	}
	c.leader.Store(l)
	c.log.Info("cluster leadership taken", "token", l.Token())
}

// IsLeader reports whether this node holds the leadership lease: the node that runs
// clean-ups and timeouts, which one node must do alone.
func (c *Cluster) IsLeader() bool {
	l := c.leader.Load()
	if l == nil {
		return false
	}
	select {
	case <-l.Lost():
		return false
	default:
		return true
	}
}

// refresh reloads the tables of live nodes and routes.
func (c *Cluster) refresh(ctx context.Context) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return
	}
	routes, err := c.rdb.HGetAll(ctx, c.key("routes")).Result()
	if err != nil {
		return
	}
	byID := make(map[string]Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	c.mu.Lock()
	c.nodes, c.routes = byID, routes
	c.mu.Unlock()
}

// Nodes lists the live members from Redis, this one included, by id. Ids whose heartbeat
// expired are dropped from the member set on the way.
func (c *Cluster) Nodes(ctx context.Context) ([]Node, error) {
	ids, err := c.rdb.SMembers(ctx, c.key("nodes")).Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = c.key("node", id)
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []Node
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			c.rdb.SRem(ctx, c.key("nodes"), ids[i]) // gone: its heartbeat expired
			continue
		}
		if n, ok := decodeNode([]byte(s)); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// Alive reports whether node id was live at the last refresh.
func (c *Cluster) Alive(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.nodes[id]
	return ok
}

// Drain marks the node as leaving: its heartbeat says so, it gives up leadership and takes
// no new leases of its own accord (the caller stops claiming work).
func (c *Cluster) Drain(ctx context.Context) {
	c.draining.Store(true)
	if l := c.leader.Swap(nil); l != nil {
		l.Release()
	}
	_ = c.heartbeat(ctx)
}

// Draining reports whether Drain was called.
func (c *Cluster) Draining() bool { return c.draining.Load() }

// Leave removes the node from the cluster at once (rather than after NodeTTL): its status,
// its routes and its leadership. Leases the caller holds are the caller's to release.
func (c *Cluster) Leave(ctx context.Context) {
	c.draining.Store(true)
	if l := c.leader.Swap(nil); l != nil {
		l.Release()
	}
	c.dropRoutesOf(ctx, c.self.ID)
	c.rdb.Del(ctx, c.key("node", c.self.ID))
	c.rdb.SRem(ctx, c.key("nodes"), c.self.ID)
	c.Publish(ctx, TopicNodeLeft, c.self.ID)
}

// decodeNode reads a node's heartbeat value; one that does not decode or has no id is
// skipped (a node of another version, or garbage under the prefix).
func decodeNode(b []byte) (Node, bool) {
	var n Node
	if json.Unmarshal(b, &n) != nil || n.ID == "" {
		return Node{}, false
	}
	return n, true
}

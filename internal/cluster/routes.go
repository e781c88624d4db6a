package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Routes say where a live thing is. Remote-debugging connections ("debug:<unique
// identifier>") are few: they are fields of one hash (value: the node id), every node keeps
// a copy of it (reloaded at each heartbeat and when a route changes, announced on the bus),
// so finding that a plugin is not attached elsewhere costs a map read, not a round trip.
// MCP sessions are many and short-lived: each is a key of its own with an expiry
// (SetSession, Session), looked up only for a session id this node does not know.

// RouteDebug and RouteMCP make route keys.
func RouteDebug(uid string) string   { return "debug:" + uid }
func RouteMCP(session string) string { return "mcp:" + session }

// dropRouteScript: KEYS[1] the hash; ARGV field, node. Deletes the field if the node owns it.
var dropRouteScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0`)

// SetRoute records that this node holds key, and tells the others.
func (c *Cluster) SetRoute(ctx context.Context, key string) error {
	if err := c.rdb.HSet(ctx, c.key("routes"), key, c.self.ID).Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.routes[key] = c.self.ID
	c.mu.Unlock()
	return c.Publish(ctx, TopicRoute, key)
}

// DropRoute forgets key if this node holds it (a newer holder elsewhere keeps it).
func (c *Cluster) DropRoute(ctx context.Context, key string) error {
	return c.dropRoute(ctx, key, c.self.ID)
}

func (c *Cluster) dropRoute(ctx context.Context, key, node string) error {
	n, err := dropRouteScript.Run(ctx, c.rdb, []string{c.key("routes")}, key, node).Int64()
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.routes[key] == node {
		delete(c.routes, key)
	}
	c.mu.Unlock()
	if n > 0 {
		return c.Publish(ctx, TopicRoute, key)
	}
	return nil
}

func (c *Cluster) dropRoutesOf(ctx context.Context, node string) {
	all, err := c.rdb.HGetAll(ctx, c.key("routes")).Result()
	if err != nil {
		return
	}
	for k, v := range all {
		if v == node {
			_ = c.dropRoute(ctx, k, node)
		}
	}
}

// Elsewhere returns the live node other than this one that holds key, from the local copy
// of the table: false when the key is held here, by nobody, or by a node that is gone.
func (c *Cluster) Elsewhere(key string) (Node, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.routes[key]
	if !ok || id == c.self.ID {
		return Node{}, false
	}
	n, ok := c.nodes[id]
	return n, ok
}

// Lookup is Elsewhere asking Redis itself: one round trip.
func (c *Cluster) Lookup(ctx context.Context, key string) (Node, bool) {
	id, err := c.rdb.HGet(ctx, c.key("routes"), key).Result()
	return c.liveOther(id, err)
}

// SessionTTL is how long an MCP session's route lives: longer than any session is idle.
const SessionTTL = 24 * time.Hour

// SetSession records that this node holds the MCP session id.
func (c *Cluster) SetSession(ctx context.Context, id string) error {
	return c.rdb.Set(ctx, c.key("session", id), c.self.ID, SessionTTL).Err()
}

// DropSession forgets the MCP session id if this node holds it.
func (c *Cluster) DropSession(ctx context.Context, id string) {
	_ = dropKeyScript.Run(ctx, c.rdb, []string{c.key("session", id)}, c.self.ID).Err()
}

// dropKeyScript: KEYS[1]; ARGV value. Deletes the key if it holds the value.
var dropKeyScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Session returns the live node other than this one that holds the MCP session id.
func (c *Cluster) Session(ctx context.Context, id string) (Node, bool) {
	owner, err := c.rdb.Get(ctx, c.key("session", id)).Result()
	return c.liveOther(owner, err)
}

func (c *Cluster) liveOther(id string, err error) (Node, bool) {
	if err != nil || id == c.self.ID {
		return Node{}, false
	}
	c.mu.RLock()
	n, ok := c.nodes[id]
	c.mu.RUnlock()
	return n, ok
}

// SweepRoutes drops the routes of nodes that are gone and returns their keys. The leader
// calls it, so that a node killed without leaving does not keep its routes.
func (c *Cluster) SweepRoutes(ctx context.Context) ([]string, error) {
	all, err := c.rdb.HGetAll(ctx, c.key("routes")).Result()
	if err != nil {
		return nil, err
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.ID] = true
	}
	var dropped []string
	for k, v := range all {
		if !live[v] {
			if err := c.dropRoute(ctx, k, v); err == nil {
				dropped = append(dropped, k)
			}
		}
	}
	return dropped, nil
}

// HeaderForwardedBy marks a request one node forwarded to another: the receiver serves it
// itself and never forwards it again, so two nodes with stale tables cannot bounce it.
const HeaderForwardedBy = "X-Plugd-Forwarded-By"

// maxForwardBody bounds the body of a forwarded request.
const maxForwardBody = 64 << 20

// Forwarder sends requests to other nodes over HTTP. The request goes as the client sent
// it (its key or bearer token included, which the receiving node checks as usual), the
// answer streams back unbuffered (dispatch answers are server-sent events).
type Forwarder struct {
	self      string
	transport http.RoundTripper
	errLog    *log.Logger
}

// NewForwarder makes the node's forwarder.
func (c *Cluster) NewForwarder() *Forwarder {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	t.ResponseHeaderTimeout = 0
	t.DialContext = (&netDialer{timeout: 5 * time.Second}).DialContext
	return &Forwarder{self: c.self.ID, transport: t, errLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
}

// Forwarded reports whether r came from another node.
func Forwarded(r *http.Request) bool { return r.Header.Get(HeaderForwardedBy) != "" }

// ErrUnreachable wraps a failure to reach the node a request was forwarded to.
var ErrUnreachable = errors.New("the node holding it cannot be reached")

// Forward proxies r to node and streams its answer to w. fail writes the answer when the
// node cannot be reached (nothing has been written to w then).
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, node Node, fail func(w http.ResponseWriter, r *http.Request, err error)) {
	target, err := url.Parse(node.Addr)
	if err != nil || target.Host == "" {
		fail(w, r, errors.Join(ErrUnreachable, errors.New("node "+node.ID+" announced no usable address")))
		return
	}
	// The outbound request is not cancelled with the inbound one: a client that goes away
	// shows as a failed write, which ends the copy (and then the outbound request); tying
	// the two contexts made the proxy close its connection to the owner in the middle of
	// answers it was still writing to a client that was there.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	r = r.WithContext(ctx)
	// The body is read first and sent from memory: streamed from the inbound request, one
	// forwarded answer in a few hundred was cut in the middle (the proxy found its
	// connection to the owner closed), TestCluster. Requests forwarded are plugin calls
	// and MCP messages, bounded by their routes' limits.
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxForwardBody+1))
		if err != nil {
			fail(w, r, fmt.Errorf("reading the request to forward: %w", err))
			return
		}
		if len(body) > maxForwardBody {
			fail(w, r, fmt.Errorf("a forwarded request is limited to %d bytes", maxForwardBody))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	p := &httputil.ReverseProxy{
		ErrorLog: f.errLog,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(HeaderForwardedBy, f.self)
		},
		Transport:     f.transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			fail(w, r, errors.Join(ErrUnreachable, err))
		},
	}
	p.ServeHTTP(w, r)
}

// Holds reports whether this node holds key according to its copy of the table.
func (c *Cluster) Holds(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.routes[key] == c.self.ID
}

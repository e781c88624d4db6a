package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/plugd/plugd/internal/catalog"
)

// Options configure a Server.
type Options struct {
	Catalog Catalog
	Store   Store
	Logger  *slog.Logger
	Version string
	// PollInterval is how often an active tenant's change log is read; default 250 ms, so a
	// connected client hears of an install well within a second.
	PollInterval time.Duration
	// RefreshTimeout bounds one re-read of the catalog; when it passes (or the read fails)
	// the server keeps the tools it had. Default 5 s.
	RefreshTimeout time.Duration
	// IdleTimeout drops a tenant's servers (and stops polling) when none has had a session
	// or request for this long; default 10 min.
	IdleTimeout time.Duration
	// AuthorizationServers are announced in the protected-resource metadata (issuers of
	// tokens this server accepts besides its own); empty when only plugd's tokens are used.
	AuthorizationServers []string
	// PublicURL is the daemon's address as clients see it (scheme://host[:port]), used in the
	// protected-resource metadata; empty derives it from each request.
	PublicURL string
}

// Server is plugd's MCP server side: the SDK servers of every active (tenant, tool set), the
// watchers that keep them in sync with the catalog, and the HTTP handler in front of them.
type Server struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context // ends the watchers

	mu      sync.Mutex
	tenants map[string]*tenantServers
}

// tenantServers are a tenant's SDK servers, by tool set ("" is the whole catalog), and the
// watcher of its change log.
type tenantServers struct {
	mu       sync.Mutex // serialises refreshes and guards the fields below
	sets     map[string]*entry
	version  int64
	lastUsed time.Time
	stop     context.CancelFunc
}

// entry is one SDK server and the tools it has registered.
type entry struct {
	set   *ToolSet // nil: the whole catalog
	srv   *mcp.Server
	tools map[string]entryTool
}

// New returns a Server; its watchers run until ctx ends.
func New(ctx context.Context, opts Options) *Server {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = 5 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: opts.Logger, ctx: ctx, tenants: map[string]*tenantServers{}}
}

// ErrNoSuchSet is returned for a tool set the tenant does not have.
var ErrNoSuchSet = fmt.Errorf("no such tool set: %w", catalog.ErrNotFound)

// ServerFor returns the SDK server of a tenant's tool set (set "" is the whole catalog),
// building it on first use.
func (s *Server) ServerFor(ctx context.Context, tenant, set string) (*mcp.Server, error) {
	s.mu.Lock()
	ts := s.tenants[tenant]
	if ts == nil {
		wctx, stop := context.WithCancel(s.ctx)
		ts = &tenantServers{sets: map[string]*entry{}, stop: stop, version: -1}
		s.tenants[tenant] = ts
		go s.watch(wctx, tenant, ts)
	}
	s.mu.Unlock()

	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.lastUsed = time.Now()
	if e := ts.sets[set]; e != nil {
		return e.srv, nil
	}
	e := &entry{tools: map[string]entryTool{}}
	if set != "" {
		def, err := s.opts.Store.GetToolSet(ctx, tenant, set)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("tool set %q of tenant %s: %w", set, tenant, ErrNoSuchSet)
		}
		if err != nil {
			return nil, fmt.Errorf("reading tool set %q of tenant %s: %w", set, tenant, err)
		}
		e.set = &def
	}
	name := "plugd"
	if set != "" {
		name = "plugd-" + set
	}
	e.srv = mcp.NewServer(&mcp.Implementation{Name: name, Title: "plugd tools", Version: s.opts.Version}, &mcp.ServerOptions{
		Logger:       s.log,
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
	providers, err := s.list(ctx, tenant)
	if err != nil {
		return nil, err
	}
	s.apply(tenant, e, providers)
	ts.sets[set] = e
	return e.srv, nil
}

// list reads the tenant's catalog under the refresh deadline.
func (s *Server) list(ctx context.Context, tenant string) ([]catalog.Provider, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RefreshTimeout)
	defer cancel()
	providers, err := s.opts.Catalog.List(ctx, tenant, catalog.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the tools of tenant %s: %w", tenant, err)
	}
	return providers, nil
}

// apply brings e's registered tools to what providers say: removed tools are removed, new
// or changed ones (re)added. The SDK batches the resulting list_changed notifications.
func (s *Server) apply(tenant string, e *entry, providers []catalog.Provider) {
	want := map[string]entryTool{}
	taken := map[string]bool{}
	for _, p := range providers {
		for _, t := range p.Tools {
			if t.Hidden {
				continue
			}
			name := mcpName(p, t, taken)
			if !selects(e.set, p, t, name) {
				continue
			}
			taken[name] = true
			def := definition(p, t, name)
			want[name] = entryTool{ref: toolRef{ProviderID: p.ID, Tool: t.Name}, def: def, sum: checksum(def)}
		}
	}
	var gone []string
	for name := range e.tools {
		if _, ok := want[name]; !ok {
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		e.srv.RemoveTools(gone...)
		for _, n := range gone {
			delete(e.tools, n)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w := want[name]
		if old, ok := e.tools[name]; ok && old.sum == w.sum && old.ref == w.ref {
			continue
		}
		if err := addTool(e.srv, w.def, callHandler(s.opts.Catalog, tenant, w.ref)); err != nil {
			s.log.Warn("mcp: tool left out", "tenant", tenant, "tool", name, "err", err)
			continue
		}
		e.tools[name] = w
	}
}

// addTool registers a tool, turning the SDK's panic on a definition it refuses (the
// definitions come from plugins) into an error.
func addTool(srv *mcp.Server, def *mcp.Tool, h mcp.ToolHandler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	srv.AddTool(def, h)
	return nil
}

// watch polls the tenant's change log and refreshes its servers when the version moves, until
// ctx ends or the tenant's servers have been idle for IdleTimeout.
func (s *Server) watch(ctx context.Context, tenant string, ts *tenantServers) {
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if s.idle(tenant, ts) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, s.opts.RefreshTimeout)
		cs, err := s.opts.Catalog.Changes(cctx, tenant, 0, 1)
		cancel()
		if err != nil {
			s.log.Warn("mcp: reading the catalog change log", "tenant", tenant, "err", err)
			continue
		}
		ts.mu.Lock()
		changed := cs.Version != ts.version
		ts.mu.Unlock()
		if changed {
			s.Refresh(ctx, tenant, cs.Version)
		}
	}
}

// idle drops the tenant's servers when none has a session and none was asked for lately.
func (s *Server) idle(tenant string, ts *tenantServers) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, e := range ts.sets {
		for range e.srv.Sessions() {
			ts.lastUsed = time.Now()
			return false
		}
	}
	if time.Since(ts.lastUsed) < s.opts.IdleTimeout {
		return false
	}
	s.mu.Lock()
	delete(s.tenants, tenant)
	s.mu.Unlock()
	ts.stop()
	return true
}

// Refresh re-reads the tenant's catalog and tool sets and updates every server of the
// tenant. version, when >= 0, is the change-log version the read reflects.
func (s *Server) Refresh(ctx context.Context, tenant string, version int64) {
	s.mu.Lock()
	ts := s.tenants[tenant]
	s.mu.Unlock()
	if ts == nil {
		return
	}
	providers, err := s.list(ctx, tenant)
	if err != nil {
		s.log.Warn("mcp: refreshing tools; keeping the previous ones", "tenant", tenant, "err", err)
		return
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for name, e := range ts.sets {
		if name != "" {
			def, err := s.opts.Store.GetToolSet(ctx, tenant, name)
			switch {
			case errors.Is(err, catalog.ErrNotFound):
				def = ToolSet{Tenant: tenant, Name: name} // deleted: serve nothing
			case err != nil:
				s.log.Warn("mcp: reading a tool set; keeping its tools", "tenant", tenant, "set", name, "err", err)
				continue
			}
			e.set = &def
		}
		s.apply(tenant, e, providers)
	}
	if version >= 0 {
		ts.version = version
	}
}

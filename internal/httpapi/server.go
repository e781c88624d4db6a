// Package httpapi serves the HTTP API of `plugd serve`: the routes, headers, envelopes and
// `data:` streams of dify-plugin-daemon, so that Dify's API server can use plugd by pointing
// PLUGIN_DAEMON_URL at it. It owns no state: installations and endpoints come from a Store,
// package work from an Installer and plugin calls from a Dispatcher, all interfaces defined
// here by what this package needs.
package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// Store is the part of store.Store the API reads and writes directly.
type Store interface {
	GetDeclaration(ctx context.Context, uid string) (store.Declaration, error)
	GetPlugin(ctx context.Context, uid string) (store.Plugin, error)
	GetInstallation(ctx context.Context, tenantID, id string) (store.Installation, error)
	GetInstallationByPlugin(ctx context.Context, tenantID, pluginID string) (store.Installation, error)
	ListInstallations(ctx context.Context, tenantID string, p store.Page) ([]store.Installation, int, error)
	InstallationsByPlugins(ctx context.Context, tenantID string, pluginIDs []string) ([]store.Installation, error)
	GetTask(ctx context.Context, tenantID, id string) (store.Task, error)
	ListTasks(ctx context.Context, tenantID string, p store.Page) ([]store.Task, error)
	CreateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error)
	GetEndpoint(ctx context.Context, tenantID, id string) (store.Endpoint, error)
	GetEndpointByHook(ctx context.Context, hookID string) (store.Endpoint, error)
	ListEndpoints(ctx context.Context, tenantID, pluginID string, p store.Page) ([]store.Endpoint, error)
	UpdateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error)
	DeleteEndpoint(ctx context.Context, tenantID, id string) error
}

// Installer does the package work: upload, install, upgrade, uninstall and the task records.
type Installer interface {
	Upload(ctx context.Context, tenantID string, r io.Reader, verify bool) (install.Decoded, error)
	UploadBundle(ctx context.Context, tenantID string, r io.Reader, verify bool) ([]install.BundleDependency, error)
	Decode(ctx context.Context, uid string) (install.Decoded, error)
	Install(ctx context.Context, tenantID string, uids []string, source string, metas []json.RawMessage) (install.Started, error)
	Upgrade(ctx context.Context, tenantID, oldUID, newUID, source string, meta json.RawMessage) (install.Started, error)
	Uninstall(ctx context.Context, tenantID, installationID string) error
	// DeleteTask also cancels the task's running work.
	DeleteTask(ctx context.Context, tenantID, taskID string) error
	DeleteTasks(ctx context.Context, tenantID string) error
	DeleteTaskItem(ctx context.Context, tenantID, taskID, uid string) error
	Readme(ctx context.Context, uid, language string) (install.Readme, error)
	// PackageFile returns a file under the package's _assets/.
	PackageFile(ctx context.Context, uid, path string) ([]byte, error)
	// Asset returns an icon remapped at upload; store.ErrNotFound or blob.ErrNotFound when
	// missing.
	Asset(ctx context.Context, id string) ([]byte, error)
}

// Stream is the result of one plugin request. Next returns io.EOF at the end and an error
// wrapping *wire.SessionError when the plugin failed the request; Close abandons it and
// makes a blocked Next return. *runtime.Stream satisfies it.
type Stream interface {
	Next() (wire.SessionMessage, error)
	Close()
}

// The runtime's stream is what the dispatcher hands out.
var _ Stream = (*runtime.Stream)(nil)

// Dispatcher runs plugin requests.
type Dispatcher interface {
	// Invoke sends one request to the installed plugin uid. data is the request's own fields
	// as a JSON object. ctx bounds the whole request.
	Invoke(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (Stream, error)
	// Readiness describes every plugin the daemon runs, for /health/ready.
	Readiness() []PluginState
}

// PluginState is one plugin's line in /health/ready.
type PluginState struct {
	UniqueIdentifier string `json:"unique_identifier"`
	PluginID         string `json:"plugin_id"`
	State            string `json:"state"` // idle, starting, ready or failed
	Error            string `json:"error,omitempty"`
	PID              int    `json:"pid,omitempty"`
	RSS              int64  `json:"rss,omitempty"` // bytes
	InFlight         int    `json:"in_flight"`
}

// InvokeFunc is the shape of a concrete Invoke method, such as that of *dispatch.Dispatcher,
// returning its own stream type.
type InvokeFunc[S Stream] func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (S, error)

// NewDispatcher adapts a concrete Invoke method (Go has no covariant results, so a method
// returning *runtime.Stream does not satisfy Dispatcher by itself) and a readiness report.
// readiness may be nil.
func NewDispatcher[S Stream](invoke InvokeFunc[S], readiness func() []PluginState) Dispatcher {
	return adapted[S]{invoke, readiness}
}

type adapted[S Stream] struct {
	invoke    InvokeFunc[S]
	readiness func() []PluginState
}

func (a adapted[S]) Invoke(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (Stream, error) {
	st, err := a.invoke(ctx, uid, access, action, data, ic)
	if err != nil {
		return nil, err // not a typed nil inside a non-nil interface
	}
	return st, nil
}

func (a adapted[S]) Readiness() []PluginState {
	if a.readiness == nil {
		return nil
	}
	return a.readiness()
}

// HealthInfo is what the daemon reports about itself beyond what this package counts.
type HealthInfo struct {
	// Ready is false while the daemon is still starting (reconciling installations); /health/ready
	// answers 503 until then.
	Ready     bool
	Pool      PoolStatus
	BuildTime string
	// Platform defaults to "local".
	Platform string
	// Node and Nodes, on a cluster, are this node's id and every live node with its plugins
	// and load, shown by /health/ready (and `plugd nodes`).
	Node  string
	Nodes any
}

// PoolStatus is the reference's pool_status: its goroutine pool, here the plugin instances.
type PoolStatus struct {
	Free  int `json:"free"`
	Busy  int `json:"busy"`
	Total int `json:"total"`
}

// Config configures a Server.
type Config struct {
	// ServerKey is the X-Api-Key Dify sends (PLUGIN_DAEMON_KEY there, SERVER_KEY in the
	// reference). An empty key refuses every authenticated request.
	ServerKey  string
	Store      Store
	Installer  Installer
	Dispatcher Dispatcher
	// Metrics is served at GET /metrics and /metrics/; nil answers 404.
	Metrics http.Handler
	// Health reports what /health/check and /health/ready show beyond this package's counters;
	// nil means ready with an empty pool.
	Health func() HealthInfo
	// MaxPackageSize bounds uploaded packages while they are read; default 50 MiB.
	MaxPackageSize int64
	// MaxBundleSize bounds uploaded bundles while they are read; default 600 MiB.
	MaxBundleSize int64
	// ExecutionTimeout bounds one plugin request (PLUGIN_MAX_EXECUTION_TIMEOUT); default 600 s.
	ExecutionTimeout time.Duration
	// EndpointsEnabled serves the public endpoint proxy /e/ (PLUGIN_ENDPOINT_ENABLED).
	EndpointsEnabled bool
	// DebugKeys issues remote-debugging keys at /plugin/{tenant_id}/debugging/key; nil (remote
	// debugging off) leaves the route unserved.
	DebugKeys DebugKeys
	// Secrets encrypts endpoint settings of type secret-input through Dify; nil stores them as
	// given.
	Secrets EndpointSecrets
	// Reset clears a plugin's failed state (a crash loop's back-off) at once, by unique
	// identifier, reporting whether the daemon knew it; nil leaves the reset route unserved.
	Reset func(uid string) bool
	// Tools serves the tool catalog's REST API under /tools/ (tools.go); nil leaves it off.
	Tools         ToolCatalog
	ToolImporters ToolImporters
	// Marketplace downloads plugins for POST /tools/{tenant_id}/install; nil (MARKETPLACE_ENABLED
	// false) answers that route 501.
	Marketplace MarketplaceFetcher
	// MCP serves the tool catalog over MCP (/mcp/, /sse/) and manages its tokens and tool
	// sets under /tools/{tenant_id}/mcp/ (mcp.go); nil leaves it off.
	MCP MCPServer
	// OAuth serves OAuth client settings, connections and the browser's /oauth/callback
	// (oauth.go); nil leaves them off.
	OAuth   OAuthService
	Logger  *slog.Logger
	Version string

	// Forward, on a cluster, sends a plugin request to the node that holds the plugin (a
	// remote-debugging connection lives on one node) and reports true, or reports false
	// when this node serves it. fail answers when that node cannot be reached. It runs
	// before the body is read, on every dispatch, so its common path must be a map lookup
	// (a node without a slot of a capped plugin asks Redis, daemon/slots.go).
	Forward func(w http.ResponseWriter, r *http.Request, uid string, fail func(http.ResponseWriter, *http.Request, error)) bool
	// Draining, when it reports true, refuses new plugin requests with 503 (the node is
	// leaving; the load balancer sends them elsewhere).
	Draining func() bool
}

const (
	defaultMaxPackageSize   = 50 << 20
	defaultMaxBundleSize    = 600 << 20
	defaultExecutionTimeout = 600 * time.Second
)

// Server is the API as an http.Handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	decls *declCache

	active         atomic.Int64 // requests in progress
	activeDispatch atomic.Int64 // plugin requests in progress (dispatch and endpoint proxy)
	panics         atomic.Int64 // handler panics recovered; tests assert none
}

// New builds the Server and its routes.
func New(cfg Config) *Server {
	if cfg.MaxPackageSize <= 0 {
		cfg.MaxPackageSize = defaultMaxPackageSize
	}
	if cfg.MaxBundleSize <= 0 {
		cfg.MaxBundleSize = defaultMaxBundleSize
	}
	if cfg.ExecutionTimeout <= 0 {
		cfg.ExecutionTimeout = defaultExecutionTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), decls: newDeclCache(cfg.Store, 512)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ServerKey == "" {
		s.log.Warn("no server key configured: every authenticated route answers 401")
	}
	s.routes()
	return s
}

// ServeHTTP counts the request, recovers a handler panic into a 500 envelope, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // a deliberate abort: let net/http drop the connection
			}
			s.panics.Add(1)
			s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, internalError("internal error").envelope())
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// NewHTTPServer returns an http.Server with timeouts fit for this API: headers must arrive
// within 10 s (slow-header clients are dropped), idle keep-alive connections close after
// 120 s, and there is no read or write timeout because uploads and streams are long; those
// are bounded by MaxPackageSize and ExecutionTimeout instead.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
	}
}

// routes registers every route. P is the tenant prefix Dify uses for everything.
func (s *Server) routes() {
	const P = "/plugin/{tenant_id}"
	m := s.mux
	m.HandleFunc("/", notFoundRoute)

	m.HandleFunc("GET /health/check", s.healthCheck)
	m.HandleFunc("GET /health/ready", s.healthReady)
	if s.cfg.Metrics != nil {
		m.Handle("GET /metrics", s.cfg.Metrics)
		m.Handle("GET /metrics/{$}", s.cfg.Metrics)
	}

	for _, d := range dispatchRoutes {
		m.HandleFunc("POST "+P+"/dispatch/"+d.path, s.auth(s.dispatchByPluginID(d)))
		m.HandleFunc("POST /v2/invoke/dispatch/"+d.path, s.auth(s.dispatchByUID(d)))
	}
	m.HandleFunc("POST "+P+"/dispatch/model/polling/start", s.auth(s.pollingUnsupported))
	m.HandleFunc("POST "+P+"/dispatch/model/polling/check", s.auth(s.pollingUnsupported))
	m.HandleFunc("GET /v2/invoke/extract", s.auth(s.extract))

	const M = P + "/management"
	for pattern, h := range map[string]http.HandlerFunc{
		"POST " + M + "/install/upload/package":                         s.uploadPackage,
		"POST " + M + "/install/upload/bundle":                          s.uploadBundle,
		"POST " + M + "/install/identifiers":                            s.installIdentifiers,
		"POST " + M + "/install/upgrade":                                s.installUpgrade,
		"GET " + M + "/install/tasks":                                   s.listTasks,
		"GET " + M + "/install/tasks/{task_id}":                         s.getTask,
		"POST " + M + "/install/tasks/delete_all":                       s.deleteAllTasks,
		"POST " + M + "/install/tasks/{task_id}/delete":                 s.deleteTask,
		"POST " + M + "/install/tasks/{task_id}/delete/{identifier...}": s.deleteTaskItem,
		"GET " + M + "/decode/from_identifier":                          s.decodeFromIdentifier,
		"GET " + M + "/fetch/manifest":                                  s.fetchManifest,
		"GET " + M + "/fetch/identifier":                                s.fetchIdentifier,
		"GET " + M + "/fetch/readme":                                    s.fetchReadme,
		"POST " + M + "/uninstall":                                      s.uninstall,
		"GET " + M + "/list":                                            s.listPlugins,
		"GET " + M + "/installation/ids":                                s.installationIDs,
		"GET " + M + "/{category}/list":                                 s.listByCategory,
		"POST " + M + "/installation/fetch/batch":                       s.fetchBatch,
		"POST " + M + "/installation/missing":                           s.missing,
		"GET " + M + "/models/bindings":                                 s.modelBindings,
		"GET " + M + "/models":                                          s.providerList(kindModel),
		"GET " + M + "/tools":                                           s.providerList(kindTool),
		"GET " + M + "/tool":                                            s.providerGet(kindTool),
		"POST " + M + "/tools/check_existence":                          s.toolsExist,
		"GET " + M + "/triggers":                                        s.providerList(kindTrigger),
		"GET " + M + "/trigger":                                         s.providerGet(kindTrigger),
		"GET " + M + "/agent_strategies":                                s.providerList(kindAgent),
		"GET " + M + "/agent_strategy":                                  s.providerGet(kindAgent),
		"GET " + M + "/datasources":                                     s.providerList(kindDatasource),
		"GET " + M + "/datasource":                                      s.providerGet(kindDatasource),

		"GET " + P + "/asset/{id}":        s.asset,
		"GET " + P + "/extract-asset/{$}": s.extractAsset,
		"GET " + P + "/extract-asset":     s.extractAsset,

		"POST " + P + "/endpoint/setup":      s.endpointSetup,
		"POST " + P + "/endpoint/remove":     s.endpointRemove,
		"POST " + P + "/endpoint/update":     s.endpointUpdate,
		"GET " + P + "/endpoint/list":        s.endpointList,
		"GET " + P + "/endpoint/list/plugin": s.endpointListPlugin,
		"POST " + P + "/endpoint/enable":     s.endpointEnable(true),
		"POST " + P + "/endpoint/disable":    s.endpointEnable(false),
	} {
		m.HandleFunc(pattern, s.auth(h))
	}

	if s.cfg.Reset != nil {
		m.HandleFunc("POST "+M+"/reset", s.auth(s.resetPlugin))
	}
	s.toolRoutes()
	s.mcpRoutes()
	s.oauthRoutes()
	if s.cfg.DebugKeys != nil {
		m.HandleFunc("POST "+P+"/debugging/key", s.auth(s.debuggingKey))
	}
	if s.cfg.EndpointsEnabled {
		m.HandleFunc("/e/{hook_id}", s.proxy)
		m.HandleFunc("/e/{hook_id}/{path...}", s.proxy)
	}
}

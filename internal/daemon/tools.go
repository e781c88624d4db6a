package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/plugd/plugd/internal/apitools"
	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/dispatch"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/httpapi"
	"github.com/plugd/plugd/internal/mcpclient"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/pluginoauth"
	"github.com/plugd/plugd/internal/plugintools"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/wire"
	"github.com/plugd/plugd/internal/workflow"
)

// toolCatalog wires the tool catalog of `plugd serve`: plugin providers derived from the
// store's installations and called through the dispatcher, OpenAPI operations and workflow apps
// called through outbound (the egress client: address guard, timeouts, size cap), credentials
// sealed by secrets (the vault), ordering from the POSITION_* settings. MCP servers are
// reached through the egress guard too (PLUGD_EGRESS_ALLOW, SSRF_PROXY_*); their sessions live
// in mcp, which the caller closes at shutdown.
func toolCatalog(c Config, db *sqlstore.DB, disp *dispatch.Dispatcher, secrets catalog.Secrets, outbound *egress.Client, mcp *mcpclient.Pool, tokens *oauth.Manager) (*catalog.Catalog, httpapi.ToolImporters, error) {
	order, err := toolOrdering(c.Tools)
	if err != nil {
		return nil, httpapi.ToolImporters{}, err
	}
	invoke := func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (plugintools.WireStream, error) {
		st, err := disp.Invoke(ctx, uid, access, action, data, ic)
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return st, nil
	}
	wf := &workflow.Client{HTTP: outbound}
	cat := catalog.New(catalog.Config{
		Store: db, Plugins: plugintools.NewSource(db), Secrets: secrets, Ordering: order,
		Callers: map[catalog.Kind]catalog.Caller{
			catalog.KindPlugin:   plugintools.NewCaller(invoke).WithOAuth(pluginCredentials{tokens}),
			catalog.KindWorkflow: workflow.Caller{Client: wf},
			catalog.KindAPI:      apitools.Caller{Client: outbound, Tokens: tokens},
			catalog.KindMCP:      mcp,
		},
	})
	mcp.Follow(cat)
	api := apitools.Importer{Client: outbound}
	imp := httpapi.ToolImporters{
		OpenAPI: func(ctx context.Context, req httpapi.OpenAPIImport) (catalog.NewProvider, error) {
			var auth apitools.Auth
			if len(req.Auth) > 0 && string(req.Auth) != "null" {
				if err := json.Unmarshal(req.Auth, &auth); err != nil {
					return catalog.NewProvider{}, fmt.Errorf("auth: want {\"type\": ..., \"name\": ...}: %v: %w", err, catalog.ErrInvalid)
				}
			}
			return api.NewProvider(ctx, apitools.Import{Name: req.Name, Label: req.Label, Description: req.Description,
				Schema: req.Schema, URL: req.URL, ServerURL: req.ServerURL, Auth: auth, Credentials: req.Credentials, Reimport: req.ProviderID != ""})
		},
		Workflow: func(ctx context.Context, req httpapi.WorkflowImport) (catalog.NewProvider, error) {
			return wf.NewProvider(ctx, req.Name, req.Label, req.Description,
				workflow.Config{BaseURL: req.BaseURL, ResponseMode: req.ResponseMode}, req.APIKey)
		},
		MCP: func(ctx context.Context, tenant string, req httpapi.MCPImport) (catalog.NewProvider, error) {
			s := mcpclient.Server{Name: req.Name, Label: req.Label, Description: req.Description,
				URL: req.URL, Transport: req.Transport, Headers: req.Headers, Timeout: req.Timeout, SSEReadTime: req.SSEReadTimeout, OAuth: req.OAuth,
				Command: req.Command, Args: req.Args, Env: req.Env}
			if req.ProviderID != "" {
				s.Unmask = func(creds map[string]string) (map[string]string, error) {
					return cat.Unmask(ctx, tenant, req.ProviderID, creds)
				}
			}
			return mcp.NewProvider(ctx, tenant, s)
		},
	}
	return cat, imp, nil
}

// mcpPool is the pool of MCP sessions of `plugd serve`; stdio servers are confined as
// plugins are (iso, from PLUGD_ISOLATION); servers behind OAuth get their tokens per request.
func mcpPool(c Config, iso *runtime.Isolation, log *slog.Logger, tokens mcpclient.TokenSource) (*mcpclient.Pool, error) {
	eg, err := egress.SettingsFromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return mcpclient.NewPool(mcpclient.Options{
		Egress: eg, DataDir: c.DataDir, IdleStop: c.MCP.IdleStop, MemoryLimit: c.MCP.MemoryLimit, Logger: log,
		Confine: mcpclient.SandboxConfiner(iso), NoStdio: !c.MCP.Stdio, Tokens: tokens,
	}), nil
}

// oauthManager wires OAuth for tools: tokens sealed by the vault, flows and connections in
// the database, every request to authorization servers through the egress client, providers
// read from the catalog (set once it is built: the catalog's callers need the manager
// first). A connected MCP server lists its tools at once.
func oauthManager(c Config, db *sqlstore.DB, secrets catalog.Secrets, outbound *egress.Client, disp *dispatch.Dispatcher, cat **catalog.Catalog, locker oauth.Locker, log *slog.Logger) (*oauth.Manager, error) {
	cb := c.Tools.OAuthCallbackURL
	if cb == "" {
		cb = "http://127.0.0.1:" + strconv.Itoa(c.Port) + "/oauth/callback"
	}
	std := oauth.Standard{HTTP: outbound.HTTPClient()}
	return oauth.New(oauth.Config{
		Store: db, Secrets: secrets, CallbackURL: cb, Logger: log, Locker: locker,
		Providers: catalogProviders{cat},
		Grants: map[catalog.Kind]oauth.Grant{catalog.KindAPI: std, catalog.KindMCP: std,
			// A plugin provider runs its own flow through its oauth/* actions.
			catalog.KindPlugin: pluginoauth.Grant{Client: pluginoauth.New(func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (pluginoauth.Stream, error) {
				st, err := disp.Invoke(ctx, uid, access, action, data, ic)
				if err != nil {
					return nil, err // not a typed nil inside the interface
				}
				return st, nil
			})},
		},
		OnConnected: func(ctx context.Context, tenant string, p catalog.Provider) error {
			if p.Kind != catalog.KindMCP {
				return nil
			}
			_, err := (*cat).Refresh(ctx, tenant, p.ID)
			return err
		},
	})
}

// catalogProviders reads providers from the catalog once it exists.
type catalogProviders struct{ cat **catalog.Catalog }

func (c catalogProviders) Get(ctx context.Context, tenant, id string) (catalog.Provider, error) {
	if *c.cat == nil {
		return catalog.Provider{}, fmt.Errorf("the tool catalog is not ready: %w", catalog.ErrNoCaller)
	}
	return (*c.cat).Get(ctx, tenant, id)
}

// pluginCredentials is the plugin caller's OAuth seam over the manager: a provider never
// connected has none (its calls go on without credentials, or with the ones stored), one that
// needs re-authorization fails with the manager's message.
type pluginCredentials struct{ m *oauth.Manager }

func (p pluginCredentials) Credentials(ctx context.Context, tenant, provider string) (map[string]string, bool, error) {
	tok, err := p.m.Token(ctx, tenant, provider)
	if err == nil {
		return tok.Values, len(tok.Values) > 0, nil
	}
	var re *oauth.ReauthError
	if errors.As(err, &re) {
		if _, cerr := p.m.Connection(ctx, tenant, provider); errors.Is(cerr, catalog.ErrNotFound) {
			return nil, false, nil
		}
	}
	return nil, false, err
}

// mcpTokens is the MCP pool's token seam over the OAuth manager.
type mcpTokens struct{ m *oauth.Manager }

func (t mcpTokens) Token(ctx context.Context, tenant, provider string) (string, error) {
	return t.m.Authorization(ctx, tenant, provider)
}

// toolOrdering reads the ordering settings and the position file.
func toolOrdering(t ToolsConfig) (catalog.Ordering, error) {
	o := catalog.Ordering{
		ProviderPins: t.ProviderPins, ProviderIncludes: t.ProviderIncludes, ProviderExcludes: t.ProviderExcludes,
		ToolPins: t.ToolPins, ToolIncludes: t.ToolIncludes, ToolExcludes: t.ToolExcludes,
	}
	if t.PositionFile == "" {
		return o, nil
	}
	data, err := os.ReadFile(t.PositionFile)
	if err != nil {
		return o, fmt.Errorf("PLUGD_TOOL_POSITION_FILE: %w", err)
	}
	o.ProviderPositions, o.ToolPositions, err = catalog.ParsePositionFile(data)
	if err != nil {
		return o, fmt.Errorf("PLUGD_TOOL_POSITION_FILE %s: %w", t.PositionFile, err)
	}
	return o, nil
}

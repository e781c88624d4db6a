package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/oauth"
	"github.com/plugd/plugd/internal/wire"
)

// The tool catalog's REST API, under /tools/{tenant_id}/ (docs/tools.md): same key, same
// {code, message, data} envelope and `data:` streams as the daemon's routes, but real HTTP
// statuses on every error since no Dify code reads these routes. Its OpenAPI description is
// served at GET /tools/openapi.json.

// ToolCatalog is the catalog as the API uses it (*catalog.Catalog).
type ToolCatalog interface {
	List(ctx context.Context, tenant string, opts catalog.ListOptions) ([]catalog.Provider, error)
	Get(ctx context.Context, tenant, providerID string) (catalog.Provider, error)
	Call(ctx context.Context, tenant string, req catalog.CallRequest) (catalog.Stream, error)
	Add(ctx context.Context, tenant string, np catalog.NewProvider) (catalog.Provider, error)
	Replace(ctx context.Context, tenant, id string, np catalog.NewProvider) (catalog.Provider, error)
	Remove(ctx context.Context, tenant, id string) error
	SetPreference(ctx context.Context, tenant string, ch catalog.PreferenceChange) (catalog.Preference, error)
	SetCredentials(ctx context.Context, tenant, providerID string, creds map[string]string) (catalog.Provider, error)
	Check(ctx context.Context, tenant string, refs []catalog.ToolRef) ([]catalog.Deleted, error)
	Changes(ctx context.Context, tenant string, since int64, limit int) (catalog.ChangeSet, error)
	Refresh(ctx context.Context, tenant, id string) (catalog.Provider, error)
}

var _ ToolCatalog = (*catalog.Catalog)(nil)

// ToolImporters turn import requests into providers to add; a nil one answers 501.
type ToolImporters struct {
	// OpenAPI reads an OpenAPI 3.0/3.1 or Swagger 2.0 description (text, or fetched from URL)
	// into an api provider.
	OpenAPI func(ctx context.Context, req OpenAPIImport) (catalog.NewProvider, error)
	// Workflow describes a Dify workflow app into a workflow provider.
	Workflow func(ctx context.Context, req WorkflowImport) (catalog.NewProvider, error)
	// MCP connects to an MCP server once (detecting a remote server's transport) and lists
	// its tools into an mcp provider.
	MCP func(ctx context.Context, tenant string, req MCPImport) (catalog.NewProvider, error)
}

// MCPImport is the body of POST /tools/{tenant}/import/mcp (docs/mcp.md): a remote server
// (url, with headers) or a stdio one (command, args, env). Header and env values are stored
// sealed and answered masked.
type MCPImport struct {
	ProviderID     string            `json:"provider_id,omitempty"`
	Name           string            `json:"name"`
	Label          string            `json:"label,omitempty"`
	Description    string            `json:"description,omitempty"`
	URL            string            `json:"url,omitempty"`
	Transport      string            `json:"transport,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Timeout        float64           `json:"timeout,omitempty"`
	SSEReadTimeout float64           `json:"sse_read_timeout,omitempty"`
	Command        string            `json:"command,omitempty"`
	Args           []string          `json:"args,omitempty"`
	Env            map[string]string `json:"env,omitempty"`
	// OAuth: the server is behind an authorization server (docs/oauth.md); it is added
	// without tools, which are listed once the tenant connects it.
	OAuth bool `json:"oauth,omitempty"`
}

// OpenAPIImport is the body of POST /tools/{tenant}/import/openapi.
type OpenAPIImport struct {
	// ProviderID, when set, re-imports into that provider (operations that disappear are
	// reported by check as removed by the re-import).
	ProviderID  string `json:"provider_id,omitempty"`
	Name        string `json:"name"`
	Label       string `json:"label,omitempty"`
	Description string `json:"description,omitempty"`
	// Schema is the description's text (JSON or YAML); URL fetches it instead.
	Schema string `json:"schema,omitempty"`
	URL    string `json:"url,omitempty"`
	// ServerURL overrides the description's servers[0].
	ServerURL string `json:"server_url,omitempty"`
	// Auth is how calls authenticate: {"type": "none" | "api_key_header" | "api_key_query" |
	// "bearer" | "basic" | "schemes", "name": header or query parameter name}; the secret values
	// go in Credentials (api_key, or username and password for basic; with schemes, one per
	// security scheme of the description: NAME, or NAME.username and NAME.password). A re-import
	// without credentials keeps the stored ones.
	Auth        json.RawMessage   `json:"auth,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
}

// WorkflowImport is the body of POST /tools/{tenant}/import/workflow.
type WorkflowImport struct {
	ProviderID   string `json:"provider_id,omitempty"`
	Name         string `json:"name"`
	Label        string `json:"label,omitempty"`
	Description  string `json:"description,omitempty"`
	BaseURL      string `json:"base_url"`
	APIKey       string `json:"api_key"`
	ResponseMode string `json:"response_mode,omitempty"`
}

// CallBody is the body of POST /tools/{tenant}/call.
type CallBody struct {
	ProviderID  string            `json:"provider_id"`
	Tool        string            `json:"tool"`
	Arguments   map[string]any    `json:"arguments"`
	Credentials map[string]string `json:"credentials,omitempty"`
	UserID      string            `json:"user_id,omitempty"`
}

// CredentialsBody is the body of POST /tools/{tenant}/credentials: a plugin provider's
// credentials, stored sealed and used by calls that bring none (empty: delete them).
type CredentialsBody struct {
	ProviderID  string            `json:"provider_id"`
	Credentials map[string]string `json:"credentials"`
}

// CheckBody is the body of POST /tools/{tenant}/check, and CheckAnswer its answer.
type CheckBody struct {
	Tools []catalog.ToolRef `json:"tools"`
}

type CheckAnswer struct {
	Deleted []catalog.Deleted `json:"deleted"`
}

//go:embed tools_openapi.json
var toolsOpenAPI []byte

const maxToolsBody = 16 << 20 // an imported description can be large

func (s *Server) toolRoutes() {
	if s.cfg.Tools == nil {
		return
	}
	const T = "/tools/{tenant_id}"
	m := s.mux
	m.HandleFunc("GET /tools/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(toolsOpenAPI)
	})
	for pattern, h := range map[string]http.HandlerFunc{
		"GET " + T + "/providers":            s.toolsList,
		"GET " + T + "/providers/{id...}":    s.toolsGet,
		"DELETE " + T + "/providers/{id...}": s.toolsRemove,
		"POST " + T + "/import/openapi":      s.toolsImportOpenAPI,
		"POST " + T + "/import/workflow":     s.toolsImportWorkflow,
		"POST " + T + "/import/mcp":          s.toolsImportMCP,
		"POST " + T + "/refresh/{id...}":     s.toolsRefresh,
		"POST " + T + "/call":                s.toolsCall,
		"POST " + T + "/install":             s.toolsInstall,
		"POST " + T + "/preferences":         s.toolsPreference,
		"POST " + T + "/credentials":         s.toolsCredentials,
		"POST " + T + "/check":               s.toolsCheck,
		"GET " + T + "/changes":              s.toolsChanges,
	} {
		m.HandleFunc(pattern, s.auth(h))
	}
}

// toolsFail answers a catalog error with its HTTP status.
func (s *Server) toolsFail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, oauth.ErrNeedsReauth):
		// Not 401: that is the daemon key's answer. The message says how to reconnect.
		ae = &apiError{http.StatusForbidden, -403, typePermissionDenied, err.Error(), nil}
	case errors.Is(err, oauth.ErrFlow):
		ae = badRequest("%s", err.Error())
	case errors.Is(err, catalog.ErrNotFound):
		ae = notFound("%s", err.Error())
	case errors.Is(err, catalog.ErrConflict):
		ae = &apiError{http.StatusConflict, -409, typeBadRequest, err.Error(), nil}
	case errors.Is(err, catalog.ErrInvalid), errors.Is(err, catalog.ErrReadOnly):
		ae = badRequest("%s", err.Error())
	case errors.Is(err, catalog.ErrNoCaller), errors.Is(err, catalog.ErrNoSecrets):
		ae = &apiError{http.StatusNotImplemented, -501, typeBadRequest, err.Error(), nil}
	case errors.Is(err, catalog.ErrCallFailed):
		ae = &apiError{http.StatusBadGateway, -502, typeInvoke, err.Error(), nil}
	default:
		ae = classify(err, false)
	}
	if ae.code == -500 {
		s.log.Warn("tools request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, ae.status, ae.envelope())
}

func (s *Server) toolsList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts := catalog.ListOptions{Kind: catalog.Kind(q.Get("kind")), ShowHidden: q.Get("hidden") == "true"}
	if opts.Kind != "" && !opts.Kind.Valid() {
		s.toolsFail(w, r, badRequest("kind %q: want plugin, api, workflow or mcp", opts.Kind))
		return
	}
	list, err := s.cfg.Tools.List(r.Context(), r.PathValue("tenant_id"), opts)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if list == nil {
		list = []catalog.Provider{}
	}
	writeJSON(w, http.StatusOK, success(list))
}

func (s *Server) toolsGet(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Tools.Get(r.Context(), r.PathValue("tenant_id"), r.PathValue("id"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(p))
}

func (s *Server) toolsRemove(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Tools.Remove(r.Context(), r.PathValue("tenant_id"), r.PathValue("id")); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(true))
}

// decodeTools reads a JSON body into v.
func decodeTools(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := readBody(w, r, maxToolsBody)
	if err != nil {
		return err
	}
	if err := unmarshalBody(raw, v); err != nil {
		return err
	}
	return nil
}

// addOrReplace stores what an importer produced: a new provider, or a re-import of id.
func (s *Server) addOrReplace(w http.ResponseWriter, r *http.Request, id string, np catalog.NewProvider, err error) {
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	tenant := r.PathValue("tenant_id")
	var p catalog.Provider
	if id != "" {
		p, err = s.cfg.Tools.Replace(r.Context(), tenant, id, np)
	} else {
		p, err = s.cfg.Tools.Add(r.Context(), tenant, np)
	}
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(p))
}

func (s *Server) toolsImportOpenAPI(w http.ResponseWriter, r *http.Request) {
	var req OpenAPIImport
	if err := decodeTools(w, r, &req); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if s.cfg.ToolImporters.OpenAPI == nil {
		s.toolsFail(w, r, fmt.Errorf("importing OpenAPI descriptions: %w", catalog.ErrNoCaller))
		return
	}
	if (req.Schema == "") == (req.URL == "") {
		s.toolsFail(w, r, badRequest("give exactly one of schema (the description's text) and url"))
		return
	}
	np, err := s.cfg.ToolImporters.OpenAPI(r.Context(), req)
	s.addOrReplace(w, r, req.ProviderID, np, err)
}

func (s *Server) toolsImportWorkflow(w http.ResponseWriter, r *http.Request) {
	var req WorkflowImport
	if err := decodeTools(w, r, &req); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if s.cfg.ToolImporters.Workflow == nil {
		s.toolsFail(w, r, fmt.Errorf("adding workflow apps: %w", catalog.ErrNoCaller))
		return
	}
	if req.BaseURL == "" || req.APIKey == "" {
		s.toolsFail(w, r, badRequest("base_url and api_key are required (the app API's root and the app's key)"))
		return
	}
	np, err := s.cfg.ToolImporters.Workflow(r.Context(), req)
	s.addOrReplace(w, r, req.ProviderID, np, err)
}

func (s *Server) toolsImportMCP(w http.ResponseWriter, r *http.Request) {
	var req MCPImport
	if err := decodeTools(w, r, &req); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if s.cfg.ToolImporters.MCP == nil {
		s.toolsFail(w, r, fmt.Errorf("adding MCP servers: %w", catalog.ErrNoCaller))
		return
	}
	np, err := s.cfg.ToolImporters.MCP(r.Context(), r.PathValue("tenant_id"), req)
	s.addOrReplace(w, r, req.ProviderID, np, err)
}

// toolsRefresh lists a provider's tools anew from its source (an MCP server's tools/list).
func (s *Server) toolsRefresh(w http.ResponseWriter, r *http.Request) {
	p, err := s.cfg.Tools.Refresh(r.Context(), r.PathValue("tenant_id"), r.PathValue("id"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(p))
}

func (s *Server) toolsPreference(w http.ResponseWriter, r *http.Request) {
	var ch catalog.PreferenceChange
	if err := decodeTools(w, r, &ch); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	p, err := s.cfg.Tools.SetPreference(r.Context(), r.PathValue("tenant_id"), ch)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(p))
}

func (s *Server) toolsCredentials(w http.ResponseWriter, r *http.Request) {
	var body CredentialsBody
	if err := decodeTools(w, r, &body); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	p, err := s.cfg.Tools.SetCredentials(r.Context(), r.PathValue("tenant_id"), body.ProviderID, body.Credentials)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(p))
}

func (s *Server) toolsCheck(w http.ResponseWriter, r *http.Request) {
	var body CheckBody
	if err := decodeTools(w, r, &body); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	deleted, err := s.cfg.Tools.Check(r.Context(), r.PathValue("tenant_id"), body.Tools)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if deleted == nil {
		deleted = []catalog.Deleted{}
	}
	writeJSON(w, http.StatusOK, success(CheckAnswer{Deleted: deleted}))
}

func (s *Server) toolsChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since int64
	limit := 0
	var err error
	if v := q.Get("since"); v != "" {
		if since, err = strconv.ParseInt(v, 10, 64); err != nil || since < 0 {
			s.toolsFail(w, r, badRequest("since %q: want a version number >= 0", v))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 0 {
			s.toolsFail(w, r, badRequest("limit %q: want a number >= 0", v))
			return
		}
	}
	cs, err := s.cfg.Tools.Changes(r.Context(), r.PathValue("tenant_id"), since, limit)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(cs))
}

// toolsCall runs a tool and streams its messages as `data:` events, each envelope's data one
// message ({type, message, meta}); a failure mid-stream is a last error envelope.
func (s *Server) toolsCall(w http.ResponseWriter, r *http.Request) {
	var body CallBody
	if err := decodeTools(w, r, &body); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.ExecutionTimeout, errKilledByTimeout)
	defer cancel()
	st, err := s.cfg.Tools.Call(ctx, r.PathValue("tenant_id"), catalog.CallRequest{
		ProviderID: body.ProviderID, Tool: body.Tool, Arguments: body.Arguments, Credentials: body.Credentials, UserID: body.UserID,
	})
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	s.sse(ctx, w, r, toolStream{st}, nil)
}

// toolStream shows a catalog stream as the dispatcher's, so that the same event writer serves
// both: each message becomes a stream item.
type toolStream struct{ st catalog.Stream }

func (t toolStream) Next() (wire.SessionMessage, error) {
	m, err := t.st.Next()
	if err != nil {
		if errors.Is(err, oauth.ErrNeedsReauth) {
			return wire.SessionMessage{}, &apiError{http.StatusForbidden, -403, typePermissionDenied, err.Error(), nil}
		}
		if errors.Is(err, catalog.ErrCallFailed) {
			return wire.SessionMessage{}, &apiError{http.StatusBadGateway, -502, typeInvoke, err.Error(), nil}
		}
		return wire.SessionMessage{}, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return wire.SessionMessage{}, err
	}
	return wire.SessionMessage{Type: wire.MessageStream, Data: b}, nil
}

func (t toolStream) Close() { t.st.Close() }

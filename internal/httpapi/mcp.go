package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/plugd/plugd/internal/mcpserver"
)

// The MCP server's routes: the protocol endpoints (/mcp/, /sse/ and their protected-resource
// metadata, bearer-token guarded by the MCP server itself, docs/mcp.md) and, under the tool
// catalog's prefix with the server key, the management of its tokens and tool sets:
//
//	GET    /tools/{tenant_id}/mcp/tokens          list (no secrets)
//	POST   /tools/{tenant_id}/mcp/tokens          {"set", "name", "ttl_seconds"} -> the token, once
//	DELETE /tools/{tenant_id}/mcp/tokens/{id}     revoke
//	GET    /tools/{tenant_id}/mcp/sets            list
//	PUT    /tools/{tenant_id}/mcp/sets/{name}     {"providers", "tags", "tools", "description"}
//	DELETE /tools/{tenant_id}/mcp/sets/{name}     delete (and its tokens)

// MCPServer is the MCP server as the API uses it (*mcpserver.Server).
type MCPServer interface {
	Handler() http.Handler
	CreateToken(ctx context.Context, tenant, set, name string, ttl time.Duration) (mcpserver.Token, string, error)
	Tokens(ctx context.Context, tenant string) ([]mcpserver.Token, error)
	RevokeToken(ctx context.Context, tenant, id string) error
	PutSet(ctx context.Context, set mcpserver.ToolSet) (mcpserver.ToolSet, error)
	Sets(ctx context.Context, tenant string) ([]mcpserver.ToolSet, error)
	DeleteSet(ctx context.Context, tenant, name string) error
}

var _ MCPServer = (*mcpserver.Server)(nil)

// MCPTokenRequest is the body of POST /tools/{tenant_id}/mcp/tokens.
type MCPTokenRequest struct {
	Set        string `json:"set,omitempty"`
	Name       string `json:"name,omitempty"`
	TTLSeconds int64  `json:"ttl_seconds,omitempty"`
}

// MCPTokenCreated is its answer: the record and the token, shown this once.
type MCPTokenCreated struct {
	mcpserver.Token
	Secret string `json:"token"`
}

func (s *Server) mcpRoutes() {
	if s.cfg.MCP == nil {
		return
	}
	h := s.cfg.MCP.Handler()
	m := s.mux
	m.Handle("/mcp/", h)
	m.Handle("/sse/", h)
	m.Handle("/.well-known/oauth-protected-resource/", h)
	const T = "/tools/{tenant_id}/mcp"
	for pattern, f := range map[string]http.HandlerFunc{
		"GET " + T + "/tokens":         s.mcpTokens,
		"POST " + T + "/tokens":        s.mcpTokenCreate,
		"DELETE " + T + "/tokens/{id}": s.mcpTokenRevoke,
		"GET " + T + "/sets":           s.mcpSets,
		"PUT " + T + "/sets/{name}":    s.mcpSetPut,
		"DELETE " + T + "/sets/{name}": s.mcpSetDelete,
	} {
		m.HandleFunc(pattern, s.auth(f))
	}
}

func (s *Server) mcpTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.MCP.Tokens(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(list))
}

func (s *Server) mcpTokenCreate(w http.ResponseWriter, r *http.Request) {
	var body MCPTokenRequest
	if err := decodeTools(w, r, &body); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	if body.TTLSeconds < 0 {
		s.toolsFail(w, r, badRequest("ttl_seconds %d: want >= 0 (0: no expiry)", body.TTLSeconds))
		return
	}
	t, secret, err := s.cfg.MCP.CreateToken(r.Context(), r.PathValue("tenant_id"), body.Set, body.Name, time.Duration(body.TTLSeconds)*time.Second)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, success(MCPTokenCreated{Token: t, Secret: secret}))
}

func (s *Server) mcpTokenRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.MCP.RevokeToken(r.Context(), r.PathValue("tenant_id"), r.PathValue("id")); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(true))
}

func (s *Server) mcpSets(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.MCP.Sets(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(list))
}

func (s *Server) mcpSetPut(w http.ResponseWriter, r *http.Request) {
	var set mcpserver.ToolSet
	if err := decodeTools(w, r, &set); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	set.Tenant, set.Name = r.PathValue("tenant_id"), r.PathValue("name")
	out, err := s.cfg.MCP.PutSet(r.Context(), set)
	if err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(out))
}

func (s *Server) mcpSetDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.MCP.DeleteSet(r.Context(), r.PathValue("tenant_id"), r.PathValue("name")); err != nil {
		s.toolsFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, success(true))
}

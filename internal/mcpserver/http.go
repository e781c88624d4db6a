package mcpserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/plugd/plugd/internal/catalog"
)

// The routes, all on the daemon's port (docs/mcp.md):
//
//	/mcp/{tenant}                 streamable HTTP, the tenant's whole catalog
//	/mcp/{tenant}/sets/{set}      streamable HTTP, one tool set
//	/sse/{tenant}[/sets/{set}]    the older HTTP+SSE transport (GET opens, POST ?sessionid=)
//	/.well-known/oauth-protected-resource/{mcp|sse}/{tenant}[/sets/{set}]   RFC 9728 metadata
//
// Every MCP route wants "Authorization: Bearer <token>" with a token of that tenant and set;
// without one it answers 401 with a WWW-Authenticate header naming the metadata URL.

// Handler serves the routes above.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	streamable := mcp.NewStreamableHTTPHandler(s.sdkServer, &mcp.StreamableHTTPOptions{Logger: s.log, SessionTimeout: 30 * time.Minute})
	sse := mcp.NewSSEHandler(s.sdkServer, nil)
	for _, p := range []string{"/mcp/{tenant}", "/mcp/{tenant}/sets/{set}"} {
		mux.Handle(p, s.guard(streamable))
	}
	for _, p := range []string{"/sse/{tenant}", "/sse/{tenant}/sets/{set}"} {
		mux.Handle(p, s.guard(sse))
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource/{transport}/{tenant}", "/.well-known/oauth-protected-resource/{transport}/{tenant}/sets/{set}"} {
		mux.HandleFunc(p, s.metadata)
	}
	return mux
}

// sdkServer is the SDK's getServer: the guard has authenticated the request and built the
// server already, so this only looks it up.
func (s *Server) sdkServer(r *http.Request) *mcp.Server {
	srv, err := s.ServerFor(r.Context(), r.PathValue("tenant"), r.PathValue("set"))
	if err != nil {
		s.log.Warn("mcp: no server for request", "path", r.URL.Path, "err", err)
		return nil
	}
	return srv
}

// guard admits requests with a valid token for the path's tenant and set, and makes sure the
// server exists (a missing tool set is 404, an unreadable catalog 503).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, set := r.PathValue("tenant"), r.PathValue("set")
		verify := func(ctx context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
			t, err := s.Verify(ctx, token)
			if err != nil {
				return nil, err
			}
			if t.Tenant != tenant || t.Set != set {
				return nil, fmt.Errorf("the token is not for tenant %s, tool set %q: %w", tenant, set, auth.ErrInvalidToken)
			}
			return &auth.TokenInfo{UserID: "mcp-token:" + t.ID, Expiration: t.ExpiresAt}, nil
		}
		mw := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{
			ResourceMetadataURL: s.base(r) + "/.well-known/oauth-protected-resource" + r.URL.Path, AllowMissingExpiration: true,
		})
		mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := s.ServerFor(r.Context(), tenant, set); err != nil {
				status := http.StatusServiceUnavailable
				if errors.Is(err, catalog.ErrNotFound) {
					status = http.StatusNotFound
				}
				http.Error(w, err.Error(), status)
				return
			}
			next.ServeHTTP(w, r)
		})).ServeHTTP(w, r)
	})
}

// metadata answers RFC 9728 protected-resource metadata for one MCP URL.
func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	tr := r.PathValue("transport")
	if tr != "mcp" && tr != "sse" {
		http.NotFound(w, r)
		return
	}
	resource := s.base(r) + strings.TrimPrefix(r.URL.Path, "/.well-known/oauth-protected-resource")
	auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   s.opts.AuthorizationServers,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "plugd tools of tenant " + r.PathValue("tenant"),
		ResourceDocumentation:  "https://github.com/plugd/plugd/blob/main/docs/mcp.md",
	}).ServeHTTP(w, r)
}

// base is the daemon's public address for r.
func (s *Server) base(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return strings.TrimRight(s.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ---- tokens and tool sets -----------------------------------------------------------------------

// TokenPrefix starts every token, so that a leaked one is recognisable (secret scanners).
const TokenPrefix = "plugd_mcp_"

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken makes a new random 256-bit token for the tenant (and tool set, "" for the whole
// catalog) and returns it with the secret, which is not stored and cannot be shown again.
func (s *Server) CreateToken(ctx context.Context, tenant, set, name string, ttl time.Duration) (Token, string, error) {
	if tenant == "" {
		return Token{}, "", fmt.Errorf("tenant is empty: %w", catalog.ErrInvalid)
	}
	if set != "" {
		if _, err := s.opts.Store.GetToolSet(ctx, tenant, set); err != nil {
			return Token{}, "", fmt.Errorf("token for tool set %q: %w", set, err)
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{ID: uuid.NewString(), Tenant: tenant, Set: set, Name: name, Hash: hashToken(secret), CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if ttl > 0 {
		t.ExpiresAt = t.CreatedAt.Add(ttl)
	}
	if err := s.opts.Store.CreateMCPToken(ctx, t); err != nil {
		return Token{}, "", fmt.Errorf("storing an MCP token for tenant %s: %w", tenant, err)
	}
	return t, secret, nil
}

// Verify finds the token's record; an unknown or expired token is auth.ErrInvalidToken.
func (s *Server) Verify(ctx context.Context, secret string) (Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return Token{}, fmt.Errorf("not a plugd MCP token: %w", auth.ErrInvalidToken)
	}
	t, err := s.opts.Store.MCPTokenByHash(ctx, hashToken(secret))
	if errors.Is(err, catalog.ErrNotFound) {
		return Token{}, fmt.Errorf("unknown or revoked token: %w", auth.ErrInvalidToken)
	}
	if err != nil {
		return Token{}, fmt.Errorf("checking an MCP token: %w", err)
	}
	if !t.ExpiresAt.IsZero() && time.Now().After(t.ExpiresAt) {
		return Token{}, fmt.Errorf("token %s expired at %s: %w", t.ID, t.ExpiresAt.Format(time.RFC3339), auth.ErrInvalidToken)
	}
	return t, nil
}

// Tokens lists the tenant's tokens (without secrets).
func (s *Server) Tokens(ctx context.Context, tenant string) ([]Token, error) {
	return s.opts.Store.ListMCPTokens(ctx, tenant)
}

// RevokeToken deletes a token; requests carrying it are refused from then on.
func (s *Server) RevokeToken(ctx context.Context, tenant, id string) error {
	return s.opts.Store.DeleteMCPToken(ctx, tenant, id)
}

// PutSet creates or replaces a tool set and refreshes the tenant's servers.
func (s *Server) PutSet(ctx context.Context, set ToolSet) (ToolSet, error) {
	if set.Tenant == "" {
		return ToolSet{}, fmt.Errorf("tenant is empty: %w", catalog.ErrInvalid)
	}
	if set.Name == "" || len(set.Name) > 64 || sanitize(set.Name) != set.Name {
		return ToolSet{}, fmt.Errorf("tool set name %q: want 1-64 of A-Z a-z 0-9 - . : %w", set.Name, catalog.ErrInvalid)
	}
	if len(set.Providers)+len(set.Tags)+len(set.Tools) == 0 {
		return ToolSet{}, fmt.Errorf("tool set %q selects nothing: give providers, tags or tools: %w", set.Name, catalog.ErrInvalid)
	}
	set.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if err := s.opts.Store.PutToolSet(ctx, set); err != nil {
		return ToolSet{}, fmt.Errorf("storing tool set %q: %w", set.Name, err)
	}
	s.Refresh(ctx, set.Tenant, -1)
	return set, nil
}

// Sets lists the tenant's tool sets.
func (s *Server) Sets(ctx context.Context, tenant string) ([]ToolSet, error) {
	return s.opts.Store.ListToolSets(ctx, tenant)
}

// DeleteSet removes a tool set and the tokens that opened it.
func (s *Server) DeleteSet(ctx context.Context, tenant, name string) error {
	if err := s.opts.Store.DeleteToolSet(ctx, tenant, name); err != nil {
		return err
	}
	s.mu.Lock()
	ts := s.tenants[tenant]
	s.mu.Unlock()
	if ts != nil {
		ts.mu.Lock()
		if e := ts.sets[name]; e != nil {
			for ss := range e.srv.Sessions() {
				ss.Close()
			}
			delete(ts.sets, name)
		}
		ts.mu.Unlock()
	}
	return nil
}

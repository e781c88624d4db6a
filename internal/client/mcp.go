package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/plugd/plugd/internal/mcpserver"
)

// The MCP server's management routes (/tools/{tenant}/mcp/..., docs/mcp.md).

// MCPTokenCreated is a new token: its record and the secret, shown once.
type MCPTokenCreated struct {
	mcpserver.Token
	Secret string `json:"token"`
}

// CreateMCPToken makes a bearer token for the tenant's MCP endpoint (set "" for the whole
// catalog); ttlSeconds 0 never expires.
func (c *Client) CreateMCPToken(ctx context.Context, set, name string, ttlSeconds int64) (MCPTokenCreated, error) {
	var out MCPTokenCreated
	body := map[string]any{"set": set, "name": name, "ttl_seconds": ttlSeconds}
	return out, c.toolsDo(ctx, http.MethodPost, "mcp/tokens", nil, body, &out)
}

// MCPTokens lists the tenant's tokens (without secrets).
func (c *Client) MCPTokens(ctx context.Context) ([]mcpserver.Token, error) {
	var out []mcpserver.Token
	return out, c.toolsDo(ctx, http.MethodGet, "mcp/tokens", nil, nil, &out)
}

// RevokeMCPToken deletes a token.
func (c *Client) RevokeMCPToken(ctx context.Context, id string) error {
	return c.toolsDo(ctx, http.MethodDelete, "mcp/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// PutMCPToolSet creates or replaces a tool set.
func (c *Client) PutMCPToolSet(ctx context.Context, set mcpserver.ToolSet) (mcpserver.ToolSet, error) {
	var out mcpserver.ToolSet
	return out, c.toolsDo(ctx, http.MethodPut, "mcp/sets/"+url.PathEscape(set.Name), nil, set, &out)
}

// MCPToolSets lists the tenant's tool sets.
func (c *Client) MCPToolSets(ctx context.Context) ([]mcpserver.ToolSet, error) {
	var out []mcpserver.ToolSet
	return out, c.toolsDo(ctx, http.MethodGet, "mcp/sets", nil, nil, &out)
}

// DeleteMCPToolSet deletes a tool set and its tokens.
func (c *Client) DeleteMCPToolSet(ctx context.Context, name string) error {
	return c.toolsDo(ctx, http.MethodDelete, "mcp/sets/"+url.PathEscape(name), nil, nil, nil)
}

// MCPEndpoint is the streamable-HTTP URL of the tenant's MCP server (or of one tool set).
func (c *Client) MCPEndpoint(set string) string {
	u := c.base + "/mcp/" + url.PathEscape(c.tenant)
	if set != "" {
		u += "/sets/" + url.PathEscape(set)
	}
	return u
}

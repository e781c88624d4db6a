// Package mcpserver serves the tool catalog over the Model Context Protocol: every tool of a
// tenant's catalog, or of one of its named tool sets, as MCP tools over streamable HTTP, the
// older HTTP+SSE transport and stdio. The protocol itself is the official Go SDK's
// (github.com/modelcontextprotocol/go-sdk); this package only decides which tools a server
// has, turns catalog results into MCP content and guards the endpoints with bearer tokens.
//
// One SDK server exists per (tenant, tool set), created on the first request that passes
// authentication and kept in sync with the catalog's change log: a watcher polls the log and
// applies what changed as add/remove diffs, and the SDK sends (and batches)
// notifications/tools/list_changed to the connected sessions. tools/list is answered from the
// server's own registry, so it never waits for a provider.
package mcpserver

import (
	"context"
	"time"

	"github.com/plugd/plugd/internal/catalog"
)

// Catalog is what the server needs of the tool catalog (*catalog.Catalog).
type Catalog interface {
	List(ctx context.Context, tenant string, opts catalog.ListOptions) ([]catalog.Provider, error)
	Call(ctx context.Context, tenant string, req catalog.CallRequest) (catalog.Stream, error)
	Changes(ctx context.Context, tenant string, since int64, limit int) (catalog.ChangeSet, error)
}

var _ Catalog = (*catalog.Catalog)(nil)

// Token is one bearer token as stored: only its SHA-256 hash is kept, the token itself is
// shown once at creation.
type Token struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant_id"`
	// Set is the tool set the token opens; empty opens the tenant's whole catalog.
	Set       string    `json:"set,omitempty"`
	Name      string    `json:"name,omitempty"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, when not zero, ends the token's validity.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// ToolSet is a named subset of a tenant's tools ("virtual server"), served at its own URL. A
// tool belongs to the set when its provider is named in Providers (by id or name), when its
// provider has one of Tags, or when it is named in Tools (provider_id/tool, or the MCP name).
type ToolSet struct {
	Tenant      string    `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Providers   []string  `json:"providers,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	Tools       []string  `json:"tools,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// Store keeps tokens and tool sets (sqlstore.DB). Missing rows are catalog.ErrNotFound,
// duplicates catalog.ErrConflict.
type Store interface {
	CreateMCPToken(ctx context.Context, t Token) error
	MCPTokenByHash(ctx context.Context, hash []byte) (Token, error)
	ListMCPTokens(ctx context.Context, tenant string) ([]Token, error)
	DeleteMCPToken(ctx context.Context, tenant, id string) error

	PutToolSet(ctx context.Context, s ToolSet) error
	GetToolSet(ctx context.Context, tenant, name string) (ToolSet, error)
	ListToolSets(ctx context.Context, tenant string) ([]ToolSet, error)
	DeleteToolSet(ctx context.Context, tenant, name string) error
}

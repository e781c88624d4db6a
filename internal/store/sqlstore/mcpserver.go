package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpserver"
)

// The MCP server's tables (migration 0006): hashed bearer tokens and named tool sets.

var _ mcpserver.Store = (*DB)(nil)

// CreateMCPToken stores a token record (its hash, never the token).
func (db *DB) CreateMCPToken(ctx context.Context, t mcpserver.Token) error {
	if err := need("create MCP token", "token id", t.ID, "tenant id", t.Tenant); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	if len(t.Hash) == 0 {
		return fmt.Errorf("create MCP token: empty hash: %w", catalog.ErrInvalid)
	}
	err := db.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, "INSERT INTO mcp_tokens (id, tenant_id, set_name, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Tenant, t.Set, t.Name, t.Hash, c.ts(orNow(t.CreatedAt, now())), c.tsOrNull(t.ExpiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("token %s exists: %w", t.ID, catalog.ErrConflict)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create MCP token: %w", err)
	}
	return nil
}

const mcpTokenCols = "id, tenant_id, set_name, name, hash, created_at, expires_at"

func scanMCPToken(s rowScanner) (mcpserver.Token, error) {
	var t mcpserver.Token
	err := s.Scan(&t.ID, &t.Tenant, &t.Set, &t.Name, &t.Hash, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt})
	return t, err
}

// MCPTokenByHash finds a token by the SHA-256 of its secret.
func (db *DB) MCPTokenByHash(ctx context.Context, hash []byte) (mcpserver.Token, error) {
	t, err := scanMCPToken(db.read().queryRow(ctx, "SELECT "+mcpTokenCols+" FROM mcp_tokens WHERE hash = ?", hash))
	if isNoRows(err) {
		return t, fmt.Errorf("MCP token: %w", catalog.ErrNotFound)
	}
	return t, err
}

// ListMCPTokens lists the tenant's tokens, oldest first.
func (db *DB) ListMCPTokens(ctx context.Context, tenant string) ([]mcpserver.Token, error) {
	rows, err := db.read().query(ctx, "SELECT "+mcpTokenCols+" FROM mcp_tokens WHERE tenant_id = ? ORDER BY created_at, id", tenant)
	if err != nil {
		return nil, fmt.Errorf("list MCP tokens: %w", err)
	}
	defer rows.Close()
	out := []mcpserver.Token{}
	for rows.Next() {
		t, err := scanMCPToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list MCP tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteMCPToken revokes one token of the tenant.
func (db *DB) DeleteMCPToken(ctx context.Context, tenant, id string) error {
	var n int64
	err := db.tx(ctx, func(c conn) error {
		var err error
		n, err = c.exec(ctx, "DELETE FROM mcp_tokens WHERE tenant_id = ? AND id = ?", tenant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke MCP token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("MCP token %s of tenant %s: %w", id, tenant, catalog.ErrNotFound)
	}
	return nil
}

// PutToolSet creates or replaces a tool set.
func (db *DB) PutToolSet(ctx context.Context, s mcpserver.ToolSet) error {
	if err := need("put tool set", "tenant id", s.Tenant, "tool set name", s.Name); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	body, err := json.Marshal(s)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(c conn) error {
		n, err := c.exec(ctx, "UPDATE mcp_tool_sets SET body = ?, updated_at = ? WHERE tenant_id = ? AND name = ?", string(body), c.ts(orNow(s.UpdatedAt, now())), s.Tenant, s.Name)
		if err != nil || n > 0 {
			return err
		}
		_, err = c.exec(ctx, "INSERT INTO mcp_tool_sets (tenant_id, name, body, updated_at) VALUES (?, ?, ?, ?)", s.Tenant, s.Name, string(body), c.ts(orNow(s.UpdatedAt, now())))
		if isUniqueViolation(err) {
			return errRetry
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("put tool set %s: %w", s.Name, err)
	}
	return nil
}

func scanToolSet(s rowScanner) (mcpserver.ToolSet, error) {
	var (
		ts     mcpserver.ToolSet
		tenant string
		name   string
		body   string
	)
	if err := s.Scan(&tenant, &name, &body, timeCol{&ts.UpdatedAt}); err != nil {
		return ts, err
	}
	at := ts.UpdatedAt
	if err := json.Unmarshal([]byte(body), &ts); err != nil {
		return ts, fmt.Errorf("stored tool set %s: %w", name, err)
	}
	ts.Tenant, ts.Name, ts.UpdatedAt = tenant, name, at
	return ts, nil
}

// GetToolSet reads one tool set.
func (db *DB) GetToolSet(ctx context.Context, tenant, name string) (mcpserver.ToolSet, error) {
	ts, err := scanToolSet(db.read().queryRow(ctx, "SELECT tenant_id, name, body, updated_at FROM mcp_tool_sets WHERE tenant_id = ? AND name = ?", tenant, name))
	if isNoRows(err) {
		return ts, fmt.Errorf("tool set %q of tenant %s: %w", name, tenant, catalog.ErrNotFound)
	}
	return ts, err
}

// ListToolSets lists the tenant's tool sets by name.
func (db *DB) ListToolSets(ctx context.Context, tenant string) ([]mcpserver.ToolSet, error) {
	rows, err := db.read().query(ctx, "SELECT tenant_id, name, body, updated_at FROM mcp_tool_sets WHERE tenant_id = ? ORDER BY name", tenant)
	if err != nil {
		return nil, fmt.Errorf("list tool sets: %w", err)
	}
	defer rows.Close()
	out := []mcpserver.ToolSet{}
	for rows.Next() {
		ts, err := scanToolSet(rows)
		if err != nil {
			return nil, fmt.Errorf("list tool sets: %w", err)
		}
		out = append(out, ts)
	}
	return out, rows.Err()
}

// DeleteToolSet removes a tool set and every token that opened it.
func (db *DB) DeleteToolSet(ctx context.Context, tenant, name string) error {
	if name == "" {
		return fmt.Errorf("delete tool set: empty name: %w", catalog.ErrInvalid)
	}
	var n int64
	err := db.tx(ctx, func(c conn) error {
		var err error
		if n, err = c.exec(ctx, "DELETE FROM mcp_tool_sets WHERE tenant_id = ? AND name = ?", tenant, name); err != nil || n == 0 {
			return err
		}
		_, err = c.exec(ctx, "DELETE FROM mcp_tokens WHERE tenant_id = ? AND set_name = ?", tenant, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete tool set %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("tool set %q of tenant %s: %w", name, tenant, catalog.ErrNotFound)
	}
	return nil
}

-- The MCP server (internal/mcpserver): bearer tokens and named tool sets per tenant. Only the
-- SHA-256 of a token is stored; set_name '' is a token for the tenant's whole catalog. A tool
-- set's body is its selection as JSON (providers, tags, tools, description).

CREATE TABLE mcp_tokens (
    id         TEXT NOT NULL PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    set_name   TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX mcp_tokens_tenant ON mcp_tokens (tenant_id, set_name);

CREATE TABLE mcp_tool_sets (
    tenant_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

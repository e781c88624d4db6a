-- The MCP server (internal/mcpserver): bearer tokens and named tool sets per tenant. Only the
-- SHA-256 of a token is stored; set_name '' is a token for the tenant's whole catalog. A tool
-- set's body is its selection as JSON (providers, tags, tools, description).

CREATE TABLE mcp_tokens (
    id         VARBINARY(255) NOT NULL PRIMARY KEY,
    tenant_id  VARBINARY(255) NOT NULL,
    set_name   VARBINARY(255) NOT NULL DEFAULT '',
    name       VARBINARY(1024) NOT NULL DEFAULT '',
    hash       VARBINARY(64) NOT NULL UNIQUE,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX mcp_tokens_tenant ON mcp_tokens (tenant_id, set_name);

CREATE TABLE mcp_tool_sets (
    tenant_id  VARBINARY(255) NOT NULL,
    name       VARBINARY(255) NOT NULL,
    body       LONGTEXT NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

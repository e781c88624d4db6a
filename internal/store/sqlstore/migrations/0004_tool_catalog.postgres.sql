-- The tool catalog (internal/catalog): providers of the stored kinds (api, workflow, mcp),
-- tenants' pins and hides, what the catalog last saw of installed plugins, and the change log.
-- Plugin providers are not copied here: they are derived from plugin_installations and
-- plugin_declarations on every read. The SQLite twin differs only in column types.

-- body is the provider as listed (JSON, with credential names but no values); credentials is
-- the sealed credential object (internal/vault), never clear text.
CREATE TABLE tool_providers (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    body        TEXT NOT NULL,
    credentials BYTEA,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, kind, name)
);

-- target is provider (name = provider id) or tool (name = provider_id/tool); position orders
-- the tenant's pins in the order they were made.
CREATE TABLE tool_preferences (
    tenant_id  TEXT NOT NULL,
    target     TEXT NOT NULL,
    name       TEXT NOT NULL,
    pinned     BOOLEAN NOT NULL DEFAULT FALSE,
    position   INTEGER NOT NULL DEFAULT 0,
    hidden     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, target, name)
);

CREATE TABLE tool_plugins_seen (
    tenant_id                TEXT NOT NULL,
    plugin_id                TEXT NOT NULL,
    plugin_unique_identifier TEXT NOT NULL,
    version                  TEXT NOT NULL DEFAULT '',
    tools                    TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (tenant_id, plugin_id)
);

-- The newest version of each tenant's change log; a write locks this row, so versions are
-- given out one after the other without gaps or repeats.
CREATE TABLE tool_catalog_versions (
    tenant_id TEXT PRIMARY KEY,
    version   BIGINT NOT NULL
);

CREATE TABLE tool_changes (
    tenant_id     TEXT NOT NULL,
    version       BIGINT NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    kind          TEXT NOT NULL,
    provider_kind TEXT NOT NULL DEFAULT '',
    provider_id   TEXT NOT NULL DEFAULT '',
    tool          TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, version)
);
CREATE INDEX tool_changes_provider ON tool_changes (tenant_id, provider_id, tool, version);

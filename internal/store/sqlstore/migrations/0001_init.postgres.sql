-- The first schema. The SQLite twin of this file must describe the same tables: only the column
-- types differ (timestamps, booleans).

CREATE TABLE plugin_declarations (
    plugin_unique_identifier TEXT PRIMARY KEY,
    plugin_id                TEXT NOT NULL,
    declaration              TEXT NOT NULL,
    verification             TEXT NOT NULL DEFAULT 'null',
    created_at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX plugin_declarations_plugin_id ON plugin_declarations (plugin_id);

-- One row per installed unique identifier; refers counts the tenants' installations of it.
CREATE TABLE plugins (
    plugin_unique_identifier TEXT PRIMARY KEY,
    plugin_id                TEXT NOT NULL,
    refers                   INTEGER NOT NULL DEFAULT 0,
    install_type             TEXT NOT NULL,
    source                   TEXT NOT NULL DEFAULT '',
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX plugins_plugin_id ON plugins (plugin_id);

CREATE TABLE plugin_installations (
    id                       TEXT PRIMARY KEY,
    tenant_id                TEXT NOT NULL,
    plugin_id                TEXT NOT NULL,
    plugin_unique_identifier TEXT NOT NULL REFERENCES plugins (plugin_unique_identifier),
    runtime_type             TEXT NOT NULL,
    source                   TEXT NOT NULL DEFAULT '',
    meta                     TEXT NOT NULL DEFAULT 'null',
    endpoints_setups         INTEGER NOT NULL DEFAULT 0,
    endpoints_active         INTEGER NOT NULL DEFAULT 0,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, plugin_id)
);
CREATE INDEX plugin_installations_uid ON plugin_installations (plugin_unique_identifier);
CREATE INDEX plugin_installations_tenant_created ON plugin_installations (tenant_id, created_at);

CREATE TABLE install_tasks (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    status            TEXT NOT NULL,
    total_plugins     INTEGER NOT NULL DEFAULT 0,
    completed_plugins INTEGER NOT NULL DEFAULT 0,
    plugins           TEXT NOT NULL DEFAULT '[]',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX install_tasks_status ON install_tasks (status);
CREATE INDEX install_tasks_tenant_created ON install_tasks (tenant_id, created_at);

-- Endpoints outlive an uninstall (as the reference's do); a reinstall counts them again.
CREATE TABLE endpoints (
    id         TEXT PRIMARY KEY,
    hook_id    TEXT NOT NULL UNIQUE,
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    plugin_id  TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT 'default',
    enabled    BOOLEAN NOT NULL,
    expired_at TIMESTAMPTZ,
    settings   TEXT NOT NULL DEFAULT 'null',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX endpoints_tenant_plugin ON endpoints (tenant_id, plugin_id, created_at);

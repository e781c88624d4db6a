-- The first schema, for MySQL and MariaDB. It describes the same tables as its SQLite and
-- PostgreSQL twins; the column types differ:
--   - identifiers and other compared or indexed text are VARBINARY(n): compared byte for byte,
--     as PostgreSQL's C collation and SQLite do (a _bin collation would still ignore trailing
--     spaces), and within InnoDB's 3072-byte key limit; longer values are refused, not cut;
--   - documents (JSON, declarations) are LONGTEXT in utf8mb4_bin, kept byte for byte;
--   - timestamps are DATETIME(6) holding UTC (the connection's time zone is +00:00).
-- Every table names its engine and collation, so the database's defaults do not matter.

CREATE TABLE plugin_declarations (
    plugin_unique_identifier VARBINARY(255) NOT NULL PRIMARY KEY,
    plugin_id                VARBINARY(255) NOT NULL,
    declaration              LONGTEXT NOT NULL,
    verification             LONGTEXT NOT NULL DEFAULT ('null'),
    created_at               DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX plugin_declarations_plugin_id ON plugin_declarations (plugin_id);

-- One row per installed unique identifier; refers counts the tenants' installations of it.
CREATE TABLE plugins (
    plugin_unique_identifier VARBINARY(255) NOT NULL PRIMARY KEY,
    plugin_id                VARBINARY(255) NOT NULL,
    refers                   INTEGER NOT NULL DEFAULT 0,
    install_type             VARBINARY(255) NOT NULL,
    source                   VARBINARY(1024) NOT NULL DEFAULT '',
    created_at               DATETIME(6) NOT NULL,
    updated_at               DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX plugins_plugin_id ON plugins (plugin_id);

CREATE TABLE plugin_installations (
    id                       VARBINARY(255) NOT NULL PRIMARY KEY,
    tenant_id                VARBINARY(255) NOT NULL,
    plugin_id                VARBINARY(255) NOT NULL,
    plugin_unique_identifier VARBINARY(255) NOT NULL,
    runtime_type             VARBINARY(255) NOT NULL,
    source                   VARBINARY(1024) NOT NULL DEFAULT '',
    meta                     LONGTEXT NOT NULL DEFAULT ('null'),
    endpoints_setups         INTEGER NOT NULL DEFAULT 0,
    endpoints_active         INTEGER NOT NULL DEFAULT 0,
    created_at               DATETIME(6) NOT NULL,
    updated_at               DATETIME(6) NOT NULL,
    UNIQUE (tenant_id, plugin_id),
    FOREIGN KEY (plugin_unique_identifier) REFERENCES plugins (plugin_unique_identifier)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX plugin_installations_uid ON plugin_installations (plugin_unique_identifier);
CREATE INDEX plugin_installations_tenant_created ON plugin_installations (tenant_id, created_at);

CREATE TABLE install_tasks (
    id                VARBINARY(255) NOT NULL PRIMARY KEY,
    tenant_id         VARBINARY(255) NOT NULL,
    status            VARBINARY(64) NOT NULL,
    total_plugins     INTEGER NOT NULL DEFAULT 0,
    completed_plugins INTEGER NOT NULL DEFAULT 0,
    plugins           LONGTEXT NOT NULL DEFAULT ('[]'),
    created_at        DATETIME(6) NOT NULL,
    updated_at        DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX install_tasks_status ON install_tasks (status);
CREATE INDEX install_tasks_tenant_created ON install_tasks (tenant_id, created_at);

-- Endpoints outlive an uninstall (as the reference's do); a reinstall counts them again.
CREATE TABLE endpoints (
    id         VARBINARY(255) NOT NULL PRIMARY KEY,
    hook_id    VARBINARY(255) NOT NULL UNIQUE,
    tenant_id  VARBINARY(255) NOT NULL,
    user_id    VARBINARY(255) NOT NULL DEFAULT '',
    plugin_id  VARBINARY(255) NOT NULL,
    name       VARBINARY(1024) NOT NULL DEFAULT 'default',
    enabled    BOOLEAN NOT NULL,
    expired_at DATETIME(6) NULL,
    settings   LONGTEXT NOT NULL DEFAULT ('null'),
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX endpoints_tenant_plugin ON endpoints (tenant_id, plugin_id, created_at);

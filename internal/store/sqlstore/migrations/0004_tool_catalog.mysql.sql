-- The tool catalog (internal/catalog); see the PostgreSQL twin for what each table holds. Only
-- the column types differ (0001_init.mysql.sql says why they are what they are).
CREATE TABLE tool_providers (
    tenant_id   VARBINARY(255) NOT NULL,
    id          VARBINARY(255) NOT NULL,
    kind        VARBINARY(64) NOT NULL,
    name        VARBINARY(1024) NOT NULL,
    body        LONGTEXT NOT NULL,
    credentials LONGBLOB NULL,
    created_at  DATETIME(6) NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, kind, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tool_preferences (
    tenant_id  VARBINARY(255) NOT NULL,
    target     VARBINARY(64) NOT NULL,
    name       VARBINARY(1024) NOT NULL,
    pinned     BOOLEAN NOT NULL DEFAULT FALSE,
    position   INTEGER NOT NULL DEFAULT 0,
    hidden     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, target, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tool_plugins_seen (
    tenant_id                VARBINARY(255) NOT NULL,
    plugin_id                VARBINARY(255) NOT NULL,
    plugin_unique_identifier VARBINARY(255) NOT NULL,
    version                  VARBINARY(255) NOT NULL DEFAULT '',
    tools                    LONGTEXT NOT NULL DEFAULT ('[]'),
    PRIMARY KEY (tenant_id, plugin_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tool_catalog_versions (
    tenant_id VARBINARY(255) NOT NULL PRIMARY KEY,
    version   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tool_changes (
    tenant_id     VARBINARY(255) NOT NULL,
    version       BIGINT NOT NULL,
    at            DATETIME(6) NOT NULL,
    kind          VARBINARY(64) NOT NULL,
    provider_kind VARBINARY(64) NOT NULL DEFAULT '',
    provider_id   VARBINARY(255) NOT NULL DEFAULT '',
    tool          VARBINARY(1024) NOT NULL DEFAULT '',
    reason        LONGTEXT NOT NULL DEFAULT (''),
    detail        LONGTEXT NOT NULL DEFAULT (''),
    PRIMARY KEY (tenant_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX tool_changes_provider ON tool_changes (tenant_id, provider_id, tool, version);

-- OAuth for tools (internal/oauth); see the PostgreSQL twin for what each table holds. Only the
-- column types differ (0001_init.mysql.sql says why they are what they are).

CREATE TABLE oauth_clients (
    tenant_id  VARBINARY(255) NOT NULL,
    provider   VARBINARY(255) NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    body       LONGTEXT NOT NULL,
    sealed     LONGBLOB NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, provider)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE oauth_flows (
    id         VARBINARY(255) NOT NULL PRIMARY KEY,
    state_hash VARBINARY(255) NOT NULL UNIQUE,
    tenant_id  VARBINARY(255) NOT NULL,
    provider   VARBINARY(255) NOT NULL,
    user_id    VARBINARY(255) NOT NULL DEFAULT '',
    status     VARBINARY(64) NOT NULL,
    error      LONGTEXT NOT NULL DEFAULT (''),
    sealed     LONGBLOB NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX oauth_flows_expires ON oauth_flows (expires_at);

CREATE TABLE oauth_credentials (
    tenant_id  VARBINARY(255) NOT NULL,
    provider   VARBINARY(255) NOT NULL,
    status     VARBINARY(64) NOT NULL,
    body       LONGTEXT NOT NULL,
    sealed     LONGBLOB NOT NULL,
    version    BIGINT NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, provider)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- OAuth for tools (internal/oauth). Clients at system level (tenant_id '') and per tenant, the
-- authorizations under way (only the SHA-256 of their state is kept) and the tenants'
-- connections. Secrets (client secrets, PKCE verifiers, tokens) are vault-sealed bytes; body
-- columns are the non-secret parts as JSON. enabled is 0/1 so the same SQL runs everywhere.

CREATE TABLE oauth_clients (
    tenant_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    enabled    INTEGER NOT NULL DEFAULT 1,
    body       TEXT NOT NULL,
    sealed     BYTEA,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, provider)
);

CREATE TABLE oauth_flows (
    id         TEXT NOT NULL PRIMARY KEY,
    state_hash TEXT NOT NULL UNIQUE,
    tenant_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,
    error      TEXT NOT NULL DEFAULT '',
    sealed     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_flows_expires ON oauth_flows (expires_at);

CREATE TABLE oauth_credentials (
    tenant_id  TEXT NOT NULL,
    provider   TEXT NOT NULL,
    status     TEXT NOT NULL,
    body       TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    version    BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, provider)
);

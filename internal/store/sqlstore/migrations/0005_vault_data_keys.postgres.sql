-- The vault's per-tenant data keys, each version wrapped (AES-256-GCM) under the master key
-- named by master_key_id. Secrets themselves live with their owners, sealed under these keys.
CREATE TABLE vault_data_keys (
    tenant_id     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    master_key_id TEXT NOT NULL,
    wrapped       BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
CREATE INDEX vault_data_keys_master ON vault_data_keys (master_key_id);

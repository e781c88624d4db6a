-- The vault's per-tenant data keys, each version wrapped (AES-256-GCM) under the master key
-- named by master_key_id. Secrets themselves live with their owners, sealed under these keys.
CREATE TABLE vault_data_keys (
    tenant_id     VARBINARY(255) NOT NULL,
    version       INTEGER NOT NULL,
    master_key_id VARBINARY(255) NOT NULL,
    wrapped       LONGBLOB NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX vault_data_keys_master ON vault_data_keys (master_key_id);

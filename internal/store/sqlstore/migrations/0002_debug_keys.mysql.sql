-- Remote-debugging keys: one per tenant, valid until expires_at, renewed when asked for again.
-- "key" is quoted: KEY is a reserved word in MySQL (plugd's connections set ANSI_QUOTES).
CREATE TABLE debug_keys (
    "key"      VARBINARY(255) NOT NULL PRIMARY KEY,
    tenant_id  VARBINARY(255) NOT NULL UNIQUE,
    expires_at DATETIME(6) NOT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Plugin key-value storage (the backwards "storage" invocation), one row per key of a
-- (tenant, plugin id) namespace. size repeats the value's length so a quota check never reads
-- the value; the CHECK keeps the two honest. The PostgreSQL twin differs only in column types;
-- keys are at most backwards.MaxKeyLen (256) bytes.
CREATE TABLE plugin_storage (
    tenant_id  VARBINARY(255) NOT NULL,
    plugin_id  VARBINARY(255) NOT NULL,
    "key"      VARBINARY(256) NOT NULL,
    value      LONGBLOB NOT NULL,
    size       BIGINT NOT NULL CHECK (size = OCTET_LENGTH(value)),
    created_at DATETIME(6) NOT NULL,
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, "key")
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The bytes of values a namespace holds. A set locks this row (FOR UPDATE) before it checks the
-- quota and writes, so concurrent sets into one namespace queue here and never overshoot
-- together.
CREATE TABLE plugin_storage_usage (
    tenant_id  VARBINARY(255) NOT NULL,
    plugin_id  VARBINARY(255) NOT NULL,
    size       BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    updated_at DATETIME(6) NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

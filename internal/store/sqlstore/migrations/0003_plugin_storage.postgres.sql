-- Plugin key-value storage (the backwards "storage" invocation), one row per key of a
-- (tenant, plugin id) namespace. size repeats the value's length so a quota check never reads
-- the value; the CHECK keeps the two honest.
CREATE TABLE plugin_storage (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BYTEA NOT NULL,
    size       BIGINT NOT NULL CHECK (size = octet_length(value)),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, key)
);

-- The bytes of values a namespace holds. A set locks this row (FOR UPDATE) before it checks the
-- quota and writes, so concurrent sets into one namespace queue here and never overshoot
-- together. The row is created on the first set and kept when the namespace empties, so it is
-- never inserted and deleted under a waiting locker.
CREATE TABLE plugin_storage_usage (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    size       BIGINT NOT NULL DEFAULT 0 CHECK (size >= 0),
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id)
);

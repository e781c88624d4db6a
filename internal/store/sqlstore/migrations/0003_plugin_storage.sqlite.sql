-- Plugin key-value storage (the backwards "storage" invocation), one row per key of a
-- (tenant, plugin id) namespace. size repeats the value's length so a quota check never reads
-- the value; the CHECK keeps the two honest. The PostgreSQL twin differs only in column types.
CREATE TABLE plugin_storage (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    size       INTEGER NOT NULL CHECK (size = length(value)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, key)
);

-- The bytes of values a namespace holds, kept by every set and delete. SQLite runs one writer
-- at a time (BEGIN IMMEDIATE), so the check-then-write of a set is atomic already; the row
-- saves summing the namespace on every set.
CREATE TABLE plugin_storage_usage (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    size       INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id)
);

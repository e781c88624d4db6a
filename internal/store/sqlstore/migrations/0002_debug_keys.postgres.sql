-- Remote-debugging keys: one per tenant, valid until expires_at, renewed when asked for again.
CREATE TABLE debug_keys (
    key        TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

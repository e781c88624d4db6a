package sqlstore

import (
	"context"
	"fmt"

	"github.com/plugd/plugd/internal/store"
)

// The vault's key store (vault.KeyStore): wrapped per-tenant data keys, one row per version.

const dataKeyColumns = "tenant_id, version, master_key_id, wrapped, created_at"

func scanDataKeys(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]store.DataKey, error) {
	var out []store.DataKey
	for rows.Next() {
		var k store.DataKey
		if err := rows.Scan(&k.TenantID, &k.Version, &k.MasterKeyID, &k.Wrapped, timeCol{&k.CreatedAt}); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DataKeys returns every version of the tenant's data key, newest first (none: an empty list).
func (db *DB) DataKeys(ctx context.Context, tenantID string) ([]store.DataKey, error) {
	rows, err := db.read().query(ctx, "SELECT "+dataKeyColumns+" FROM vault_data_keys WHERE tenant_id = ? ORDER BY version DESC", tenantID)
	if err != nil {
		return nil, fmt.Errorf("data keys of tenant %s: %w", tenantID, err)
	}
	defer rows.Close()
	keys, err := scanDataKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("data keys of tenant %s: %w", tenantID, err)
	}
	return keys, nil
}

// AllDataKeys returns every data key of every tenant, for a master key rotation.
func (db *DB) AllDataKeys(ctx context.Context) ([]store.DataKey, error) {
	rows, err := db.readUncached().query(ctx, "SELECT "+dataKeyColumns+" FROM vault_data_keys ORDER BY tenant_id, version")
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	defer rows.Close()
	keys, err := scanDataKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("list data keys: %w", err)
	}
	return keys, nil
}

// CreateDataKey adds a version of a tenant's data key; store.ErrConflict when that version
// exists already (another node made it first: read it back and use that one).
func (db *DB) CreateDataKey(ctx context.Context, k store.DataKey) error {
	if err := need("create data key", "tenant id", k.TenantID, "master key id", k.MasterKeyID); err != nil {
		return err
	}
	if len(k.Wrapped) == 0 || k.Version < 1 {
		return fmt.Errorf("create data key of tenant %s: version %d with %d wrapped bytes: want a version >= 1 and a wrapped key", k.TenantID, k.Version, len(k.Wrapped))
	}
	err := db.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, "INSERT INTO vault_data_keys ("+dataKeyColumns+") VALUES (?, ?, ?, ?, ?)",
			k.TenantID, k.Version, k.MasterKeyID, k.Wrapped, c.ts(orNow(k.CreatedAt, now())))
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("create data key %d of tenant %s: %w", k.Version, k.TenantID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create data key %d of tenant %s: %w", k.Version, k.TenantID, err)
	}
	return nil
}

// RewrapDataKey replaces the wrapped form of one data key version, only if it is still wrapped
// under fromMasterKeyID (store.ErrConflict otherwise: someone else re-wrapped it meanwhile).
func (db *DB) RewrapDataKey(ctx context.Context, tenantID string, version int, fromMasterKeyID, toMasterKeyID string, wrapped []byte) error {
	var n int64
	err := db.tx(ctx, func(c conn) error {
		var err error
		n, err = c.exec(ctx, "UPDATE vault_data_keys SET master_key_id = ?, wrapped = ? WHERE tenant_id = ? AND version = ? AND master_key_id = ?",
			toMasterKeyID, wrapped, tenantID, version, fromMasterKeyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("re-wrap data key %d of tenant %s: %w", version, tenantID, err)
	}
	if n == 0 {
		return fmt.Errorf("re-wrap data key %d of tenant %s: no longer under master key %s: %w", version, tenantID, fromMasterKeyID, store.ErrConflict)
	}
	return nil
}

package sqlstore

import (
	"context"
	"fmt"

	"github.com/plugd/plugd/internal/backwards"
)

// Plugin key-value storage (backwards.Storage) lives in the daemon's database rather than in
// object storage as the reference keeps it: one row per key, plus one usage row per namespace
// that a set locks before it checks the quota. The reference writes the object first and
// counts afterwards, without a lock, so a plugin can overshoot its quota and concurrent sets
// can lose count; here the check, the write and the count are one transaction.

var _ backwards.Storage = (*DB)(nil)

// SetStorageLimit sets the quota, in bytes of values per namespace, that Set applies when its
// caller gives none (the reference's PERSISTENCE_STORAGE_MAX_SIZE); n <= 0 restores
// backwards.DefaultStorageLimit. It is meant to be called once, while wiring the daemon.
func (db *DB) SetStorageLimit(n int64) { db.storageLimit.Store(max(n, 0)) }

// StorageLimit is the quota Set applies when its caller gives none.
func (db *DB) StorageLimit() int64 {
	if n := db.storageLimit.Load(); n > 0 {
		return n
	}
	return backwards.DefaultStorageLimit
}

// nsName names a namespace in errors.
func nsName(ns backwards.Namespace) string {
	return fmt.Sprintf("plugin %q of tenant %q", ns.PluginID, ns.TenantID)
}

// checkStorage refuses a namespace without a plugin and a key backwards.ValidateKey refuses;
// a key that could never be set is reported as such by every operation, not as missing.
func checkStorage(op string, ns backwards.Namespace, key string) error {
	if ns.PluginID == "" {
		return fmt.Errorf("%w: storage %s: no plugin id", backwards.ErrBadRequest, op)
	}
	if err := backwards.ValidateKey(key); err != nil {
		return fmt.Errorf("storage %s in %s: %w", op, nsName(ns), err)
	}
	return nil
}

// Get returns the value of key; backwards.ErrKeyNotFound when it is not set.
func (db *DB) Get(ctx context.Context, ns backwards.Namespace, key string) ([]byte, error) {
	if err := checkStorage("get", ns, key); err != nil {
		return nil, err
	}
	var v []byte
	err := db.read().queryRow(ctx, `SELECT value FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
		ns.TenantID, ns.PluginID, key).Scan(&v)
	if isNoRows(err) {
		return nil, fmt.Errorf("storage get in %s: %w: %q", nsName(ns), backwards.ErrKeyNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("storage get %q in %s: %w", key, nsName(ns), err)
	}
	if v == nil {
		v = []byte{} // an empty value is a value, not a missing one
	}
	return v, nil
}

// Exists reports whether key is set.
func (db *DB) Exists(ctx context.Context, ns backwards.Namespace, key string) (bool, error) {
	if err := checkStorage("exist", ns, key); err != nil {
		return false, err
	}
	var one int
	err := db.read().queryRow(ctx, `SELECT 1 FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
		ns.TenantID, ns.PluginID, key).Scan(&one)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storage exist %q in %s: %w", key, nsName(ns), err)
	}
	return true, nil
}

// Set stores value under key unless the namespace's values, with this one in place of the
// key's old value, would exceed limit bytes (the manifest's storage size), capped by
// StorageLimit (PERSISTENCE_STORAGE_MAX_SIZE) as the reference caps it; limit <= 0 means
// StorageLimit. A refused set writes nothing and wraps backwards.ErrQuotaExceeded.
//
// Concurrent sets into one namespace queue on its usage row (FOR UPDATE on PostgreSQL and MySQL; SQLite
// has one writer at a time), so each sees the usage the one before it left and together they
// never pass the limit.
func (db *DB) Set(ctx context.Context, ns backwards.Namespace, key string, value []byte, limit int64) error {
	if err := checkStorage("set", ns, key); err != nil {
		return err
	}
	if limit <= 0 || limit > db.StorageLimit() {
		limit = db.StorageLimit()
	}
	size := int64(len(value))
	if size > limit {
		return fmt.Errorf("storage set %q in %s: %w: the value alone is %d bytes, the limit is %d",
			key, nsName(ns), backwards.ErrQuotaExceeded, size, limit)
	}
	if value == nil {
		value = []byte{} // NULL is not a value: the column refuses it
	}
	at := now()
	err := db.tx(ctx, func(c conn) error {
		// Lock the usage row, creating it first when missing: from here on this namespace is
		// ours. (Lock first, insert only when needed: on MySQL a skipped insert share-locks the
		// row, and two sets holding that lock would deadlock asking for FOR UPDATE.)
		var used, old int64
		lockUsage := func() error {
			return c.queryRow(ctx, "SELECT size FROM plugin_storage_usage WHERE tenant_id = ? AND plugin_id = ?"+c.forUpdate(),
				ns.TenantID, ns.PluginID).Scan(&used)
		}
		err := lockUsage()
		if isNoRows(err) {
			if _, err := c.insertOrSkip(ctx, "INSERT INTO plugin_storage_usage (tenant_id, plugin_id, size, updated_at) VALUES (?, ?, 0, ?)",
				"tenant_id, plugin_id", ns.TenantID, ns.PluginID, c.ts(at)); err != nil {
				return err
			}
			err = lockUsage()
		}
		if err != nil {
			return err
		}
		err = c.queryRow(ctx, `SELECT size FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
			ns.TenantID, ns.PluginID, key).Scan(&old)
		exists := err == nil
		if err != nil && !isNoRows(err) {
			return err
		}
		total := used - old + size
		if total > limit {
			return fmt.Errorf("%w: %d bytes stored, %d with this %d-byte value, the limit is %d",
				backwards.ErrQuotaExceeded, used, total, size, limit)
		}
		// No upsert: under the usage row's lock we know whether the key exists.
		if exists {
			_, err = c.exec(ctx, `UPDATE plugin_storage SET value = ?, size = ?, updated_at = ? WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
				value, size, c.ts(at), ns.TenantID, ns.PluginID, key)
		} else {
			_, err = c.exec(ctx, `INSERT INTO plugin_storage (tenant_id, plugin_id, "key", value, size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				ns.TenantID, ns.PluginID, key, value, size, c.ts(at), c.ts(at))
		}
		if err != nil {
			return err
		}
		_, err = c.exec(ctx, "UPDATE plugin_storage_usage SET size = ?, updated_at = ? WHERE tenant_id = ? AND plugin_id = ?",
			total, c.ts(at), ns.TenantID, ns.PluginID)
		return err
	})
	if isMySQLCode(err, 1153) { // ER_NET_PACKET_TOO_LARGE
		err = fmt.Errorf("%w (the MySQL server's max_allowed_packet is smaller than this %d-byte value: raise it above PERSISTENCE_STORAGE_MAX_SIZE)", err, size)
	}
	if err != nil {
		return fmt.Errorf("storage set %q in %s: %w", key, nsName(ns), err)
	}
	return nil
}

// Delete removes key and reports whether it was set.
func (db *DB) Delete(ctx context.Context, ns backwards.Namespace, key string) (bool, error) {
	if err := checkStorage("del", ns, key); err != nil {
		return false, err
	}
	deleted := false
	err := db.tx(ctx, func(c conn) error {
		deleted = false
		// Lock the usage row first, in the order Set takes its locks. No row: nothing was ever
		// set in this namespace.
		var used, old int64
		err := c.queryRow(ctx, "SELECT size FROM plugin_storage_usage WHERE tenant_id = ? AND plugin_id = ?"+c.forUpdate(),
			ns.TenantID, ns.PluginID).Scan(&used)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		err = c.queryRow(ctx, `SELECT size FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
			ns.TenantID, ns.PluginID, key).Scan(&old)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM plugin_storage WHERE tenant_id = ? AND plugin_id = ? AND "key" = ?`,
			ns.TenantID, ns.PluginID, key); err != nil {
			return err
		}
		if _, err := c.exec(ctx, "UPDATE plugin_storage_usage SET size = ?, updated_at = ? WHERE tenant_id = ? AND plugin_id = ?",
			used-old, c.ts(now()), ns.TenantID, ns.PluginID); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("storage del %q in %s: %w", key, nsName(ns), err)
	}
	return deleted, nil
}

// StorageUsage is the bytes of values the namespace holds: what Set holds against its limit.
func (db *DB) StorageUsage(ctx context.Context, ns backwards.Namespace) (int64, error) {
	var used int64
	err := db.read().queryRow(ctx, "SELECT size FROM plugin_storage_usage WHERE tenant_id = ? AND plugin_id = ?",
		ns.TenantID, ns.PluginID).Scan(&used)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("storage usage of %s: %w", nsName(ns), err)
	}
	return used, nil
}

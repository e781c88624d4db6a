package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/plugd/plugd/internal/store"
)

// DebugKey returns the tenant's remote-debugging key, valid for ttl from now: the existing one
// (its validity extended) while it has not expired, else a new random one.
func (db *DB) DebugKey(ctx context.Context, tenantID string, ttl time.Duration) (string, time.Time, error) {
	if err := need("debug key", "tenant id", tenantID); err != nil {
		return "", time.Time{}, err
	}
	at := now()
	expires := normTime(at.Add(ttl))
	var key string
	err := db.tx(ctx, func(c conn) error {
		var (
			old     string
			oldExp  time.Time
			created time.Time
		)
		err := c.queryRow(ctx, `SELECT "key", expires_at, created_at FROM debug_keys WHERE tenant_id = ?`+c.forUpdate(), tenantID).
			Scan(&old, timeCol{&oldExp}, timeCol{&created})
		switch {
		case err == nil && oldExp.After(at):
			key = old
			_, err = c.exec(ctx, "UPDATE debug_keys SET expires_at = ? WHERE tenant_id = ?", c.ts(expires), tenantID)
			return err
		case err == nil:
			if _, err := c.exec(ctx, "DELETE FROM debug_keys WHERE tenant_id = ?", tenantID); err != nil {
				return err
			}
		case !isNoRows(err):
			return err
		}
		key = uuid.NewString()
		_, err = c.exec(ctx, `INSERT INTO debug_keys ("key", tenant_id, expires_at, created_at) VALUES (?, ?, ?, ?)`,
			key, tenantID, c.ts(expires), c.ts(at))
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("debug key of tenant %s: %w", tenantID, err)
	}
	return key, expires, nil
}

// ResolveDebugKey finds the tenant of an unexpired key; store.ErrNotFound otherwise. Looking
// a key up does not extend it.
func (db *DB) ResolveDebugKey(ctx context.Context, key string) (string, error) {
	var (
		tenant  string
		expires time.Time
	)
	err := db.read().queryRow(ctx, `SELECT tenant_id, expires_at FROM debug_keys WHERE "key" = ?`, key).Scan(&tenant, timeCol{&expires})
	if isNoRows(err) {
		return "", fmt.Errorf("debug key: %w", store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("debug key lookup: %w", err)
	}
	if !expires.After(now()) {
		return "", fmt.Errorf("debug key expired at %s: %w", expires.Format(time.RFC3339), store.ErrNotFound)
	}
	return tenant, nil
}

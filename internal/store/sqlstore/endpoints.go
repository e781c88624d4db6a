package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/plugd/plugd/internal/store"
)

const endpointCols = "id, hook_id, tenant_id, user_id, plugin_id, name, enabled, expired_at, settings, created_at, updated_at"

func scanEndpoint(s interface{ Scan(...any) error }) (store.Endpoint, error) {
	var e store.Endpoint
	err := s.Scan(&e.ID, &e.HookID, &e.TenantID, &e.UserID, &e.PluginID, &e.Name, &e.Enabled,
		timeCol{&e.ExpiredAt}, jsonCol{&e.Settings}, timeCol{&e.CreatedAt}, timeCol{&e.UpdatedAt})
	return e, err
}

// countEndpoint moves the counters of the tenant's installation of pluginID by the deltas,
// never below zero. It reports whether there is such an installation.
func countEndpoint(ctx context.Context, c conn, tenantID, pluginID string, setups, active int) (bool, error) {
	n, err := c.exec(ctx, `UPDATE plugin_installations SET
		endpoints_setups = CASE WHEN endpoints_setups + ? < 0 THEN 0 ELSE endpoints_setups + ? END,
		endpoints_active = CASE WHEN endpoints_active + ? < 0 THEN 0 ELSE endpoints_active + ? END
		WHERE tenant_id = ? AND plugin_id = ?`, setups, setups, active, active, tenantID, pluginID)
	return n > 0, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errHookTaken tells CreateEndpoint that a generated hook id was drawn twice.
var errHookTaken = errors.New("hook id taken")

// CreateEndpoint stores e and counts it on the tenant's installation of e.PluginID, which must
// exist (ErrNotFound otherwise). An empty ID is a new UUIDv7, an empty HookID a random one, an
// empty Name "default"; ErrConflict when the ID or the given hook id is taken.
func (db *DB) CreateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error) {
	if err := need("create endpoint", "tenant id", e.TenantID, "plugin id", e.PluginID); err != nil {
		return e, err
	}
	settings, err := jsonText("endpoint settings", e.Settings)
	if err != nil {
		return e, fmt.Errorf("create endpoint: %w", err)
	}
	e.Settings = json.RawMessage(settings)
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Name == "" {
		e.Name = "default"
	}
	at := now()
	e.CreatedAt = orNow(e.CreatedAt, at)
	e.UpdatedAt = orNow(e.UpdatedAt, e.CreatedAt)
	e.ExpiredAt = normTime(e.ExpiredAt)
	generate := e.HookID == ""
	for range 3 {
		if generate {
			e.HookID = newHookID()
		}
		err = db.tx(ctx, func(c conn) error {
			ok, err := countEndpoint(ctx, c, e.TenantID, e.PluginID, 1, b2i(e.Enabled))
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("installation of plugin %s for tenant %s: %w", e.PluginID, e.TenantID, store.ErrNotFound)
			}
			n, err := c.exec(ctx, "INSERT INTO endpoints ("+endpointCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
				e.ID, e.HookID, e.TenantID, e.UserID, e.PluginID, e.Name, e.Enabled, c.tsOrNull(e.ExpiredAt), settings,
				c.ts(e.CreatedAt), c.ts(e.UpdatedAt))
			if err != nil {
				return err
			}
			if n == 0 {
				var one int
				err := c.queryRow(ctx, "SELECT 1 FROM endpoints WHERE id = ?", e.ID).Scan(&one)
				if err == nil {
					return fmt.Errorf("endpoint %s exists already: %w", e.ID, store.ErrConflict)
				}
				if !isNoRows(err) {
					return err
				}
				if generate {
					return errHookTaken
				}
				return fmt.Errorf("hook id %s is taken: %w", e.HookID, store.ErrConflict)
			}
			return nil
		})
		if !errors.Is(err, errHookTaken) {
			break
		}
	}
	if err != nil {
		return e, fmt.Errorf("create endpoint: %w", err)
	}
	return e, nil
}

func (db *DB) GetEndpoint(ctx context.Context, tenantID, id string) (store.Endpoint, error) {
	e, err := scanEndpoint(db.read().queryRow(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE id = ? AND tenant_id = ?", id, tenantID))
	if isNoRows(err) {
		return e, fmt.Errorf("endpoint %s of tenant %s: %w", id, tenantID, store.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("get endpoint %s of tenant %s: %w", id, tenantID, err)
	}
	return e, nil
}

func (db *DB) GetEndpointByHook(ctx context.Context, hookID string) (store.Endpoint, error) {
	e, err := scanEndpoint(db.read().queryRow(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE hook_id = ?", hookID))
	if isNoRows(err) {
		return e, fmt.Errorf("endpoint with hook id %s: %w", hookID, store.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("get endpoint with hook id %s: %w", hookID, err)
	}
	return e, nil
}

// ListEndpoints pages the tenant's endpoints, of one plugin when pluginID is not empty, newest
// first, as the reference lists them to Dify.
func (db *DB) ListEndpoints(ctx context.Context, tenantID, pluginID string, p store.Page) ([]store.Endpoint, error) {
	lim, largs, err := limit(p)
	if err != nil {
		return nil, fmt.Errorf("list endpoints of tenant %s: %w", tenantID, err)
	}
	where, args := "tenant_id = ?", []any{tenantID}
	if pluginID != "" {
		where, args = where+" AND plugin_id = ?", append(args, pluginID)
	}
	rows, err := db.read().query(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE "+where+" ORDER BY created_at DESC, id DESC"+lim, append(args, largs...)...)
	if err != nil {
		return nil, fmt.Errorf("list endpoints of tenant %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []store.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints of tenant %s: %w", tenantID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

// UpdateEndpoint sets the name, settings and enabled flag of the tenant's endpoint e.ID; an empty
// Name or Settings keeps the stored one. Enabling or disabling moves the installation's active
// counter. It returns the endpoint as stored.
func (db *DB) UpdateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error) {
	var settings string
	if len(e.Settings) > 0 {
		var err error
		if settings, err = jsonText("endpoint settings", e.Settings); err != nil {
			return e, fmt.Errorf("update endpoint %s: %w", e.ID, err)
		}
	}
	var out store.Endpoint
	err := db.tx(ctx, func(c conn) error {
		old, err := scanEndpoint(c.queryRow(ctx, "SELECT "+endpointCols+" FROM endpoints WHERE id = ? AND tenant_id = ?"+c.forUpdate(), e.ID, e.TenantID))
		if isNoRows(err) {
			return fmt.Errorf("endpoint %s of tenant %s: %w", e.ID, e.TenantID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		out = old
		if e.Name != "" {
			out.Name = e.Name
		}
		if settings != "" {
			out.Settings = json.RawMessage(settings)
		}
		out.Enabled = e.Enabled
		out.UpdatedAt = now()
		if _, err := c.exec(ctx, "UPDATE endpoints SET name = ?, settings = ?, enabled = ?, updated_at = ? WHERE id = ?",
			out.Name, string(out.Settings), out.Enabled, c.ts(out.UpdatedAt), out.ID); err != nil {
			return err
		}
		if old.Enabled != out.Enabled {
			// No installation (uninstalled since) is fine: a reinstall counts the endpoints anew.
			_, err = countEndpoint(ctx, c, out.TenantID, out.PluginID, 0, b2i(out.Enabled)-b2i(old.Enabled))
		}
		return err
	})
	if err != nil {
		return e, fmt.Errorf("update endpoint: %w", err)
	}
	return out, nil
}

// DeleteEndpoint removes the tenant's endpoint and uncounts it from the installation.
func (db *DB) DeleteEndpoint(ctx context.Context, tenantID, id string) error {
	err := db.tx(ctx, func(c conn) error {
		var pluginID string
		var enabled bool
		err := c.queryRow(ctx, "DELETE FROM endpoints WHERE id = ? AND tenant_id = ? RETURNING plugin_id, enabled", id, tenantID).Scan(&pluginID, &enabled)
		if isNoRows(err) {
			return fmt.Errorf("endpoint %s of tenant %s: %w", id, tenantID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = countEndpoint(ctx, c, tenantID, pluginID, -1, -b2i(enabled))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	return nil
}

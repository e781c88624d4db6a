package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plugd/plugd/internal/catalog"
)

// The tool catalog's tables (migration 0004). DB implements catalog.Store: every write
// appends its change-log entries in the same transaction, numbering them from the tenant's
// row in tool_catalog_versions, which the transaction locks.

var _ catalog.Store = (*DB)(nil)

// appendChanges gives changes the tenant's next versions and stores them; it returns the
// tenant's version afterwards. The version row is locked first, so concurrent writers of one
// tenant number their entries one after the other.
func appendChanges(ctx context.Context, c conn, tenant string, changes []catalog.Change) (int64, error) {
	var v int64
	err := c.queryRow(ctx, "SELECT version FROM tool_catalog_versions WHERE tenant_id = ?"+c.forUpdate(), tenant).Scan(&v)
	switch {
	case isNoRows(err):
		if _, err := c.exec(ctx, "INSERT INTO tool_catalog_versions (tenant_id, version) VALUES (?, 0)", tenant); err != nil {
			if isUniqueViolation(err) {
				return 0, errRetry // another transaction created it first
			}
			return 0, err
		}
	case err != nil:
		return 0, err
	}
	if len(changes) == 0 {
		return v, nil
	}
	for _, ch := range changes {
		v++
		if _, err := c.exec(ctx, `INSERT INTO tool_changes (tenant_id, version, at, kind, provider_kind, provider_id, tool, reason, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			tenant, v, c.ts(orNow(ch.At, now())), string(ch.Kind), string(ch.ProviderKind), ch.ProviderID, ch.Tool, ch.Reason, ch.Detail); err != nil {
			return 0, err
		}
	}
	_, err = c.exec(ctx, "UPDATE tool_catalog_versions SET version = ? WHERE tenant_id = ?", v, tenant)
	return v, err
}

// providerBody is the stored JSON of a provider: the listed form without credential values.
func providerBody(p catalog.StoredProvider) (string, error) {
	q := p.Provider
	if len(q.Credentials) > 0 {
		names := make(map[string]string, len(q.Credentials))
		for k := range q.Credentials {
			names[k] = ""
		}
		q.Credentials = names
	}
	b, err := json.Marshal(q)
	return string(b), err
}

func needProvider(op, tenant string, p catalog.StoredProvider) error {
	if err := need(op, "tenant id", tenant, "provider id", p.ID, "provider name", p.Name, "provider kind", string(p.Kind)); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	return nil
}

// CreateProvider stores a new provider; catalog.ErrConflict when the tenant has one of that
// kind and name (or that id).
func (db *DB) CreateProvider(ctx context.Context, tenant string, p catalog.StoredProvider, changes []catalog.Change) error {
	if err := needProvider("create tool provider", tenant, p); err != nil {
		return err
	}
	body, err := providerBody(p)
	if err != nil {
		return err
	}
	at := now()
	err = db.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `INSERT INTO tool_providers (tenant_id, id, kind, name, body, credentials, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tenant, p.ID, string(p.Kind), p.Name, body, nullBytes(p.SealedCredentials),
			c.ts(orNow(p.CreatedAt, at)), c.ts(orNow(p.UpdatedAt, at))); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("tenant %s already has a %s provider named %q: %w", tenant, p.Kind, p.Name, catalog.ErrConflict)
			}
			return err
		}
		_, err := appendChanges(ctx, c, tenant, changes)
		return err
	})
	if err != nil {
		return fmt.Errorf("create tool provider %s: %w", p.Name, err)
	}
	return nil
}

// ReplaceProvider overwrites a stored provider.
func (db *DB) ReplaceProvider(ctx context.Context, tenant string, p catalog.StoredProvider, changes []catalog.Change) error {
	if err := needProvider("replace tool provider", tenant, p); err != nil {
		return err
	}
	body, err := providerBody(p)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE tool_providers SET name = ?, body = ?, credentials = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			p.Name, body, nullBytes(p.SealedCredentials), c.ts(orNow(p.UpdatedAt, now())), tenant, p.ID)
		if err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("tenant %s already has a %s provider named %q: %w", tenant, p.Kind, p.Name, catalog.ErrConflict)
			}
			return err
		}
		if n == 0 {
			return catalog.ErrNotFound
		}
		_, err = appendChanges(ctx, c, tenant, changes)
		return err
	})
	if err != nil {
		return fmt.Errorf("replace tool provider %s: %w", p.ID, err)
	}
	return nil
}

// DeleteProvider removes a stored provider and the tenant's preferences about it.
func (db *DB) DeleteProvider(ctx context.Context, tenant, id string, changes []catalog.Change) error {
	err := db.tx(ctx, func(c conn) error {
		n, err := c.exec(ctx, "DELETE FROM tool_providers WHERE tenant_id = ? AND id = ?", tenant, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return catalog.ErrNotFound
		}
		if _, err := c.exec(ctx, "DELETE FROM tool_preferences WHERE tenant_id = ? AND ((target = 'provider' AND name = ?) OR (target = 'tool' AND substr(name, 1, ?) = ?))",
			tenant, id, len(id)+1, id+"/"); err != nil {
			return err
		}
		_, err = appendChanges(ctx, c, tenant, changes)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete tool provider %s: %w", id, err)
	}
	return nil
}

const providerCols = "id, kind, body, credentials, created_at, updated_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanProvider(s rowScanner) (catalog.StoredProvider, error) {
	var (
		sp       catalog.StoredProvider
		id, kind string
		body     string
		creds    []byte
	)
	if err := s.Scan(&id, &kind, &body, &creds, timeCol{&sp.CreatedAt}, timeCol{&sp.UpdatedAt}); err != nil {
		return sp, err
	}
	created, updated := sp.CreatedAt, sp.UpdatedAt
	if err := json.Unmarshal([]byte(body), &sp.Provider); err != nil {
		return sp, fmt.Errorf("stored tool provider %s: %w", id, err)
	}
	sp.ID, sp.Kind, sp.CreatedAt, sp.UpdatedAt = id, catalog.Kind(kind), created, updated
	if len(creds) > 0 {
		sp.SealedCredentials = creds
	}
	return sp, nil
}

// GetProvider reads one stored provider.
func (db *DB) GetProvider(ctx context.Context, tenant, id string) (catalog.StoredProvider, error) {
	sp, err := scanProvider(db.read().queryRow(ctx, "SELECT "+providerCols+" FROM tool_providers WHERE tenant_id = ? AND id = ?", tenant, id))
	if isNoRows(err) {
		return sp, fmt.Errorf("tool provider %s: %w", id, catalog.ErrNotFound)
	}
	return sp, err
}

// ListProviders reads every stored provider of the tenant, by id.
func (db *DB) ListProviders(ctx context.Context, tenant string) ([]catalog.StoredProvider, error) {
	rows, err := db.read().query(ctx, "SELECT "+providerCols+" FROM tool_providers WHERE tenant_id = ? ORDER BY id", tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalog.StoredProvider
	for rows.Next() {
		sp, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, rows.Err()
}

// SetPreference creates, changes or drops a preference. A pin made now goes after the
// tenant's other pins; an existing pin keeps its place.
func (db *DB) SetPreference(ctx context.Context, tenant string, p catalog.Preference, changes []catalog.Change) error {
	if err := need("set tool preference", "tenant id", tenant, "name", p.Name, "target", string(p.Target)); err != nil {
		return fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
	}
	err := db.tx(ctx, func(c conn) error {
		if _, err := appendChanges(ctx, c, tenant, changes); err != nil { // locks the tenant's version row first
			return err
		}
		var (
			wasPinned bool
			pos       int
		)
		err := c.queryRow(ctx, "SELECT pinned, position FROM tool_preferences WHERE tenant_id = ? AND target = ? AND name = ?",
			tenant, string(p.Target), p.Name).Scan(&wasPinned, &pos)
		exists := err == nil
		if err != nil && !isNoRows(err) {
			return err
		}
		if !p.Pinned && !p.Hidden {
			_, err := c.exec(ctx, "DELETE FROM tool_preferences WHERE tenant_id = ? AND target = ? AND name = ?", tenant, string(p.Target), p.Name)
			return err
		}
		if p.Pinned && !wasPinned {
			if err := c.queryRow(ctx, "SELECT COALESCE(MAX(position), 0) + 1 FROM tool_preferences WHERE tenant_id = ? AND pinned = ?",
				tenant, true).Scan(&pos); err != nil {
				return err
			}
		}
		if !p.Pinned {
			pos = 0
		}
		if exists {
			_, err = c.exec(ctx, "UPDATE tool_preferences SET pinned = ?, position = ?, hidden = ?, updated_at = ? WHERE tenant_id = ? AND target = ? AND name = ?",
				p.Pinned, pos, p.Hidden, c.ts(now()), tenant, string(p.Target), p.Name)
		} else {
			_, err = c.exec(ctx, "INSERT INTO tool_preferences (tenant_id, target, name, pinned, position, hidden, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				tenant, string(p.Target), p.Name, p.Pinned, pos, p.Hidden, c.ts(now()))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set tool preference %s %s: %w", p.Target, p.Name, err)
	}
	return nil
}

// Preferences lists the tenant's preferences, pins in their order first.
func (db *DB) Preferences(ctx context.Context, tenant string) ([]catalog.Preference, error) {
	rows, err := db.read().query(ctx, "SELECT target, name, pinned, position, hidden FROM tool_preferences WHERE tenant_id = ? ORDER BY pinned DESC, position, target, name", tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []catalog.Preference
	for rows.Next() {
		var (
			p      catalog.Preference
			target string
		)
		if err := rows.Scan(&target, &p.Name, &p.Pinned, &p.Position, &p.Hidden); err != nil {
			return nil, err
		}
		p.Target = catalog.Target(target)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PluginsSeen reads what the catalog last recorded of the tenant's plugins, and the tenant's
// version at that moment.
func (db *DB) PluginsSeen(ctx context.Context, tenant string) ([]catalog.PluginSeen, int64, error) {
	var v int64
	err := db.read().queryRow(ctx, "SELECT version FROM tool_catalog_versions WHERE tenant_id = ?", tenant).Scan(&v)
	if err != nil && !isNoRows(err) {
		return nil, 0, err
	}
	rows, err := db.read().query(ctx, "SELECT plugin_id, plugin_unique_identifier, version, tools FROM tool_plugins_seen WHERE tenant_id = ? ORDER BY plugin_id", tenant)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []catalog.PluginSeen
	for rows.Next() {
		var (
			s     catalog.PluginSeen
			tools string
		)
		if err := rows.Scan(&s.PluginID, &s.UniqueIdentifier, &s.Version, &tools); err != nil {
			return nil, 0, err
		}
		if err := json.Unmarshal([]byte(tools), &s.Tools); err != nil {
			return nil, 0, fmt.Errorf("tools seen of plugin %s: %w", s.PluginID, err)
		}
		out = append(out, s)
	}
	return out, v, rows.Err()
}

// SetPluginsSeen replaces the tenant's record of seen plugins and appends changes, unless the
// tenant's version is no longer expectVersion (catalog.ErrConflict).
func (db *DB) SetPluginsSeen(ctx context.Context, tenant string, seen []catalog.PluginSeen, expectVersion int64, changes []catalog.Change) error {
	err := db.tx(ctx, func(c conn) error {
		var v int64
		err := c.queryRow(ctx, "SELECT version FROM tool_catalog_versions WHERE tenant_id = ?"+c.forUpdate(), tenant).Scan(&v)
		if err != nil && !isNoRows(err) {
			return err
		}
		if v != expectVersion {
			return fmt.Errorf("tenant %s's catalog moved from version %d to %d: %w", tenant, expectVersion, v, catalog.ErrConflict)
		}
		if _, err := c.exec(ctx, "DELETE FROM tool_plugins_seen WHERE tenant_id = ?", tenant); err != nil {
			return err
		}
		for _, s := range seen {
			tools := s.Tools
			if tools == nil {
				tools = []string{}
			}
			b, err := json.Marshal(tools)
			if err != nil {
				return err
			}
			if _, err := c.exec(ctx, "INSERT INTO tool_plugins_seen (tenant_id, plugin_id, plugin_unique_identifier, version, tools) VALUES (?, ?, ?, ?, ?)",
				tenant, s.PluginID, s.UniqueIdentifier, s.Version, string(b)); err != nil {
				return err
			}
		}
		_, err = appendChanges(ctx, c, tenant, changes)
		return err
	})
	if err != nil {
		return fmt.Errorf("record seen plugins of tenant %s: %w", tenant, err)
	}
	return nil
}

// Version reads the tenant's current change-log version.
func (db *DB) Version(ctx context.Context, tenant string) (int64, error) {
	var v int64
	err := db.read().queryRow(ctx, "SELECT version FROM tool_catalog_versions WHERE tenant_id = ?", tenant).Scan(&v)
	if isNoRows(err) {
		return 0, nil
	}
	return v, err
}

const changeCols = "version, at, kind, provider_kind, provider_id, tool, reason, detail"

func scanChange(s rowScanner) (catalog.Change, error) {
	var (
		ch         catalog.Change
		kind, pkey string
	)
	err := s.Scan(&ch.Version, timeCol{&ch.At}, &kind, &pkey, &ch.ProviderID, &ch.Tool, &ch.Reason, &ch.Detail)
	ch.Kind, ch.ProviderKind = catalog.ChangeKind(kind), catalog.Kind(pkey)
	return ch, err
}

// Changes lists the tenant's entries after since, oldest first.
func (db *DB) Changes(ctx context.Context, tenant string, since int64, limit int) ([]catalog.Change, int64, error) {
	if limit < 0 {
		return nil, 0, fmt.Errorf("change log limit %d: %w", limit, catalog.ErrInvalid)
	}
	var v int64
	err := db.read().queryRow(ctx, "SELECT version FROM tool_catalog_versions WHERE tenant_id = ?", tenant).Scan(&v)
	if err != nil && !isNoRows(err) {
		return nil, 0, err
	}
	q := "SELECT " + changeCols + " FROM tool_changes WHERE tenant_id = ? AND version > ? ORDER BY version"
	args := []any{tenant, since}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := db.read().query(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []catalog.Change
	for rows.Next() {
		ch, err := scanChange(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, ch)
	}
	return out, v, rows.Err()
}

// LastRemoval finds the newest removal entry about the provider (and tool).
func (db *DB) LastRemoval(ctx context.Context, tenant, providerID, tool string) (catalog.Change, error) {
	ch, err := scanChange(db.read().queryRow(ctx, "SELECT "+changeCols+` FROM tool_changes
		WHERE tenant_id = ? AND provider_id = ? AND tool = ? AND kind IN ('tool_removed', 'provider_removed')
		ORDER BY version DESC LIMIT 1`, tenant, providerID, tool))
	if isNoRows(err) {
		return ch, fmt.Errorf("removal of %s %s: %w", providerID, tool, catalog.ErrNotFound)
	}
	return ch, err
}

// nullBytes stores an empty byte slice as NULL.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

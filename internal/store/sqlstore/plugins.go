package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/plugd/plugd/internal/store"
)

// ---- declarations -------------------------------------------------------------------------------

// PutDeclaration records d; a row already there for the unique identifier is kept as it is
// (the identifier includes the package checksum, so the content cannot differ).
func (db *DB) PutDeclaration(ctx context.Context, d store.Declaration) error {
	if err := need("put declaration", "unique identifier", d.UniqueIdentifier, "plugin id", d.PluginID); err != nil {
		return err
	}
	if len(d.Declaration) == 0 {
		return fmt.Errorf("put declaration %s: declaration is empty", d.UniqueIdentifier)
	}
	decl, err := jsonText("declaration", d.Declaration)
	if err != nil {
		return fmt.Errorf("put declaration %s: %w", d.UniqueIdentifier, err)
	}
	verif, err := jsonText("verification", d.Verification)
	if err != nil {
		return fmt.Errorf("put declaration %s: %w", d.UniqueIdentifier, err)
	}
	err = db.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO plugin_declarations
			(plugin_unique_identifier, plugin_id, declaration, verification, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (plugin_unique_identifier) DO NOTHING`,
			d.UniqueIdentifier, d.PluginID, decl, verif, c.ts(orNow(d.CreatedAt, now())))
		return err
	})
	if err != nil {
		return fmt.Errorf("put declaration %s: %w", d.UniqueIdentifier, err)
	}
	return nil
}

func (db *DB) GetDeclaration(ctx context.Context, uid string) (store.Declaration, error) {
	var d store.Declaration
	err := db.read().queryRow(ctx, `SELECT plugin_unique_identifier, plugin_id, declaration, verification, created_at
		FROM plugin_declarations WHERE plugin_unique_identifier = ?`, uid).
		Scan(&d.UniqueIdentifier, &d.PluginID, jsonCol{&d.Declaration}, jsonCol{&d.Verification}, timeCol{&d.CreatedAt})
	if isNoRows(err) {
		return d, fmt.Errorf("declaration %s: %w", uid, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("get declaration %s: %w", uid, err)
	}
	return d, nil
}

// DeleteDeclaration removes the declaration unless a Plugin row still uses it, which is
// ErrConflict: the caller then keeps the package too, as someone installed it meanwhile.
func (db *DB) DeleteDeclaration(ctx context.Context, uid string) error {
	err := db.tx(ctx, func(c conn) error {
		// Lock the declaration first: an Install that read-locked it has finished before we
		// look for its plugins row (see lockDeclaration).
		var one int
		err := c.queryRow(ctx, "SELECT 1 FROM plugin_declarations WHERE plugin_unique_identifier = ?"+c.forUpdate(), uid).Scan(&one)
		if isNoRows(err) {
			return fmt.Errorf("declaration %s: %w", uid, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		var refers int
		err = c.queryRow(ctx, "SELECT refers FROM plugins WHERE plugin_unique_identifier = ?", uid).Scan(&refers)
		if err == nil {
			return fmt.Errorf("declaration %s is used by an installed plugin (%d installations): %w", uid, refers, store.ErrConflict)
		}
		if !isNoRows(err) {
			return err
		}
		_, err = c.exec(ctx, "DELETE FROM plugin_declarations WHERE plugin_unique_identifier = ?", uid)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete declaration: %w", err)
	}
	return nil
}

// lockDeclaration holds uid's declaration row (if any) against a concurrent DeleteDeclaration
// until the transaction ends. SQLite needs nothing: it runs one writer at a time.
func lockDeclaration(ctx context.Context, c conn, uid string) error {
	if c.d != dialectPostgres {
		return nil
	}
	rows, err := c.query(ctx, "SELECT 1 FROM plugin_declarations WHERE plugin_unique_identifier = ? FOR SHARE", uid)
	if err != nil {
		return err
	}
	return rows.Close()
}

// ---- plugins ------------------------------------------------------------------------------------

const pluginCols = "plugin_unique_identifier, plugin_id, refers, install_type, source, created_at, updated_at"

func scanPlugin(s interface{ Scan(...any) error }) (store.Plugin, error) {
	var p store.Plugin
	err := s.Scan(&p.UniqueIdentifier, &p.PluginID, &p.Refers, &p.InstallType, &p.Source, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt})
	return p, err
}

func (db *DB) GetPlugin(ctx context.Context, uid string) (store.Plugin, error) {
	p, err := scanPlugin(db.read().queryRow(ctx, "SELECT "+pluginCols+" FROM plugins WHERE plugin_unique_identifier = ?", uid))
	if isNoRows(err) {
		return p, fmt.Errorf("plugin %s: %w", uid, store.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("get plugin %s: %w", uid, err)
	}
	return p, nil
}

func (db *DB) ListPlugins(ctx context.Context) ([]store.Plugin, error) {
	rows, err := db.read().query(ctx, "SELECT "+pluginCols+" FROM plugins ORDER BY plugin_unique_identifier")
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	defer rows.Close()
	var out []store.Plugin
	for rows.Next() {
		p, err := scanPlugin(rows)
		if err != nil {
			return nil, fmt.Errorf("list plugins: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	return out, nil
}

// addRef counts one more installation of p, creating its row when missing. The UPDATE comes
// first so that the row lock is taken before anything else: a concurrent last-reference drop
// then either finishes first (and the row is created anew) or waits for us.
func addRef(ctx context.Context, c conn, p store.Plugin, at time.Time) error {
	for range 3 {
		n, err := c.exec(ctx, "UPDATE plugins SET refers = refers + 1, updated_at = ? WHERE plugin_unique_identifier = ?", c.ts(at), p.UniqueIdentifier)
		if err != nil || n == 1 {
			return err
		}
		created := orNow(p.CreatedAt, at)
		n, err = c.exec(ctx, `INSERT INTO plugins (`+pluginCols+`) VALUES (?, ?, 1, ?, ?, ?, ?)
			ON CONFLICT (plugin_unique_identifier) DO NOTHING`,
			p.UniqueIdentifier, p.PluginID, p.InstallType, p.Source, c.ts(created), c.ts(at))
		if err != nil || n == 1 {
			return err
		}
		// Someone created it between our two statements: count on it now.
	}
	return fmt.Errorf("plugin %s: %w", p.UniqueIdentifier, errRetry)
}

// dropRef counts one installation of uid fewer and deletes its row at zero (lastRef).
func dropRef(ctx context.Context, c conn, uid string, at time.Time) (lastRef bool, err error) {
	var refers int
	err = c.queryRow(ctx, "UPDATE plugins SET refers = refers - 1, updated_at = ? WHERE plugin_unique_identifier = ? RETURNING refers", c.ts(at), uid).Scan(&refers)
	if isNoRows(err) {
		return false, fmt.Errorf("plugin %s of an installation is missing: %w", uid, store.ErrNotFound)
	}
	if err != nil {
		return false, err
	}
	if refers > 0 {
		return false, nil
	}
	_, err = c.exec(ctx, "DELETE FROM plugins WHERE plugin_unique_identifier = ?", uid)
	return err == nil, err
}

// lockPlugins takes the row locks of the plugins named, always in the same order, so that two
// upgrades crossing each other's versions wait instead of deadlocking.
func lockPlugins(ctx context.Context, c conn, uids ...string) error {
	if c.d != dialectPostgres {
		return nil
	}
	args := make([]any, len(uids))
	for i, u := range uids {
		args[i] = u
	}
	rows, err := c.query(ctx, "SELECT plugin_unique_identifier FROM plugins WHERE plugin_unique_identifier IN ("+
		placeholders(len(uids))+") ORDER BY plugin_unique_identifier FOR UPDATE", args...)
	if err != nil {
		return err
	}
	return rows.Close()
}

// ---- installations ------------------------------------------------------------------------------

const installationCols = "id, tenant_id, plugin_id, plugin_unique_identifier, runtime_type, source, meta, endpoints_setups, endpoints_active, created_at, updated_at"

func scanInstallation(s interface{ Scan(...any) error }, extra ...any) (store.Installation, error) {
	var in store.Installation
	dest := []any{&in.ID, &in.TenantID, &in.PluginID, &in.UniqueIdentifier, &in.RuntimeType, &in.Source,
		jsonCol{&in.Meta}, &in.EndpointsSetups, &in.EndpointsActive, timeCol{&in.CreatedAt}, timeCol{&in.UpdatedAt}}
	err := s.Scan(append(dest, extra...)...)
	return in, err
}

// Install creates inst and counts it on its Plugin row, creating that from p when missing. The
// endpoint counters start from the tenant's endpoints of the plugin that outlived an earlier
// uninstall; inst.ID, CreatedAt and UpdatedAt are filled in when empty.
func (db *DB) Install(ctx context.Context, inst store.Installation, p store.Plugin) (store.Installation, error) {
	if p.UniqueIdentifier == "" {
		p.UniqueIdentifier = inst.UniqueIdentifier
	}
	if inst.UniqueIdentifier == "" {
		inst.UniqueIdentifier = p.UniqueIdentifier
	}
	if p.PluginID == "" {
		p.PluginID = inst.PluginID
	}
	if inst.RuntimeType == "" {
		inst.RuntimeType = p.InstallType
	}
	if p.InstallType == "" {
		p.InstallType = inst.RuntimeType
	}
	if err := need("install", "tenant id", inst.TenantID, "plugin id", inst.PluginID,
		"unique identifier", inst.UniqueIdentifier, "runtime type", inst.RuntimeType); err != nil {
		return inst, err
	}
	if p.UniqueIdentifier != inst.UniqueIdentifier || p.PluginID != inst.PluginID {
		return inst, fmt.Errorf("install: installation is of %s (%s) but the plugin given is %s (%s)",
			inst.UniqueIdentifier, inst.PluginID, p.UniqueIdentifier, p.PluginID)
	}
	meta, err := jsonText("installation meta", inst.Meta)
	if err != nil {
		return inst, fmt.Errorf("install %s for tenant %s: %w", inst.UniqueIdentifier, inst.TenantID, err)
	}
	if inst.ID == "" {
		inst.ID = newID()
	}
	at := now()
	inst.CreatedAt = orNow(inst.CreatedAt, at)
	inst.UpdatedAt = orNow(inst.UpdatedAt, inst.CreatedAt)
	inst.Meta = json.RawMessage(meta)
	err = db.tx(ctx, func(c conn) error {
		if err := lockDeclaration(ctx, c, p.UniqueIdentifier); err != nil {
			return err
		}
		if err := addRef(ctx, c, p, at); err != nil {
			return err
		}
		err := c.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN enabled THEN 1 ELSE 0 END), 0)
			FROM endpoints WHERE tenant_id = ? AND plugin_id = ?`, inst.TenantID, inst.PluginID).
			Scan(&inst.EndpointsSetups, &inst.EndpointsActive)
		if err != nil {
			return err
		}
		n, err := c.exec(ctx, `INSERT INTO plugin_installations (`+installationCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, plugin_id) DO NOTHING`,
			inst.ID, inst.TenantID, inst.PluginID, inst.UniqueIdentifier, inst.RuntimeType, inst.Source, meta,
			inst.EndpointsSetups, inst.EndpointsActive, c.ts(inst.CreatedAt), c.ts(inst.UpdatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("installation id %s exists already: %w", inst.ID, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("tenant %s has plugin %s installed already: %w", inst.TenantID, inst.PluginID, store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return inst, fmt.Errorf("install %s for tenant %s: %w", inst.UniqueIdentifier, inst.TenantID, err)
	}
	return inst, nil
}

// Uninstall removes the tenant's installation and drops its reference.
func (db *DB) Uninstall(ctx context.Context, tenantID, installationID string) (inst store.Installation, lastRef bool, err error) {
	err = db.tx(ctx, func(c conn) error {
		// Read without a lock, then lock the plugins row, then delete only if the installation
		// still points there: the same lock order as Install and Upgrade (plugins first).
		inst, err = scanInstallation(c.queryRow(ctx, "SELECT "+installationCols+
			" FROM plugin_installations WHERE id = ? AND tenant_id = ?", installationID, tenantID))
		if isNoRows(err) {
			return fmt.Errorf("installation %s of tenant %s: %w", installationID, tenantID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := lockPlugins(ctx, c, inst.UniqueIdentifier); err != nil {
			return err
		}
		n, err := c.exec(ctx, "DELETE FROM plugin_installations WHERE id = ? AND plugin_unique_identifier = ?", inst.ID, inst.UniqueIdentifier)
		if err != nil {
			return err
		}
		if n == 0 {
			return errRetry // upgraded or removed meanwhile: read it again
		}
		lastRef, err = dropRef(ctx, c, inst.UniqueIdentifier, now())
		return err
	})
	if err != nil {
		return inst, false, fmt.Errorf("uninstall: %w", err)
	}
	return inst, lastRef, nil
}

// Upgrade points the tenant's installation from oldUID to newPlugin. An empty source or meta
// keeps the installation's; the runtime type follows newPlugin.InstallType when set.
func (db *DB) Upgrade(ctx context.Context, tenantID, oldUID string, newPlugin store.Plugin, source string, meta json.RawMessage) (inst store.Installation, lastRef bool, err error) {
	if err := need("upgrade", "tenant id", tenantID, "old unique identifier", oldUID, "new unique identifier", newPlugin.UniqueIdentifier); err != nil {
		return inst, false, err
	}
	var metaText string
	if len(meta) > 0 {
		if metaText, err = jsonText("installation meta", meta); err != nil {
			return inst, false, fmt.Errorf("upgrade %s for tenant %s: %w", oldUID, tenantID, err)
		}
	}
	err = db.tx(ctx, func(c conn) error {
		inst, err = scanInstallation(c.queryRow(ctx, "SELECT "+installationCols+
			" FROM plugin_installations WHERE tenant_id = ? AND plugin_unique_identifier = ?", tenantID, oldUID))
		if isNoRows(err) {
			return fmt.Errorf("installation of %s for tenant %s: %w", oldUID, tenantID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		np := newPlugin
		if np.PluginID == "" {
			np.PluginID = inst.PluginID
		}
		if np.PluginID != inst.PluginID {
			return fmt.Errorf("cannot upgrade plugin %s to %s, a different plugin (%s)", inst.PluginID, np.UniqueIdentifier, np.PluginID)
		}
		if np.InstallType == "" {
			np.InstallType = inst.RuntimeType
		}
		at := now()
		if source != "" {
			inst.Source = source
		}
		if metaText != "" {
			inst.Meta = json.RawMessage(metaText)
		}
		inst.RuntimeType = np.InstallType
		inst.UpdatedAt = at
		moving := np.UniqueIdentifier != oldUID
		if moving {
			if err := lockDeclaration(ctx, c, np.UniqueIdentifier); err != nil {
				return err
			}
			if err := lockPlugins(ctx, c, oldUID, np.UniqueIdentifier); err != nil {
				return err
			}
			if err := addRef(ctx, c, np, at); err != nil {
				return err
			}
		}
		n, err := c.exec(ctx, `UPDATE plugin_installations SET plugin_unique_identifier = ?, runtime_type = ?,
			source = ?, meta = ?, updated_at = ? WHERE id = ? AND plugin_unique_identifier = ?`,
			np.UniqueIdentifier, inst.RuntimeType, inst.Source, string(inst.Meta), c.ts(at), inst.ID, oldUID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errRetry
		}
		inst.UniqueIdentifier = np.UniqueIdentifier
		if moving {
			lastRef, err = dropRef(ctx, c, oldUID, at)
		}
		return err
	})
	if err != nil {
		return inst, false, fmt.Errorf("upgrade %s to %s for tenant %s: %w", oldUID, newPlugin.UniqueIdentifier, tenantID, err)
	}
	return inst, lastRef, nil
}

func (db *DB) GetInstallation(ctx context.Context, tenantID, installationID string) (store.Installation, error) {
	in, err := scanInstallation(db.read().queryRow(ctx, "SELECT "+installationCols+
		" FROM plugin_installations WHERE id = ? AND tenant_id = ?", installationID, tenantID))
	if isNoRows(err) {
		return in, fmt.Errorf("installation %s of tenant %s: %w", installationID, tenantID, store.ErrNotFound)
	}
	if err != nil {
		return in, fmt.Errorf("get installation %s of tenant %s: %w", installationID, tenantID, err)
	}
	return in, nil
}

func (db *DB) GetInstallationByPlugin(ctx context.Context, tenantID, pluginID string) (store.Installation, error) {
	in, err := scanInstallation(db.read().queryRow(ctx, "SELECT "+installationCols+
		" FROM plugin_installations WHERE tenant_id = ? AND plugin_id = ?", tenantID, pluginID))
	if isNoRows(err) {
		return in, fmt.Errorf("installation of plugin %s for tenant %s: %w", pluginID, tenantID, store.ErrNotFound)
	}
	if err != nil {
		return in, fmt.Errorf("get installation of plugin %s for tenant %s: %w", pluginID, tenantID, err)
	}
	return in, nil
}

// ListInstallations pages the tenant's installations, newest first (as the reference lists them
// to Dify), with the total count taken
// in the same statement.
func (db *DB) ListInstallations(ctx context.Context, tenantID string, p store.Page) ([]store.Installation, int, error) {
	lim, largs, err := limit(p)
	if err != nil {
		return nil, 0, fmt.Errorf("list installations of tenant %s: %w", tenantID, err)
	}
	c := db.read()
	rows, err := c.query(ctx, "SELECT "+installationCols+", COUNT(*) OVER () FROM plugin_installations WHERE tenant_id = ?"+
		" ORDER BY created_at DESC, id DESC"+lim, append([]any{tenantID}, largs...)...)
	if err != nil {
		return nil, 0, fmt.Errorf("list installations of tenant %s: %w", tenantID, err)
	}
	defer rows.Close()
	var out []store.Installation
	total := 0
	for rows.Next() {
		in, err := scanInstallation(rows, &total)
		if err != nil {
			return nil, 0, fmt.Errorf("list installations of tenant %s: %w", tenantID, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list installations of tenant %s: %w", tenantID, err)
	}
	if len(out) == 0 && p.Offset() > 0 {
		// A page past the end has no row to carry the count.
		if err := c.queryRow(ctx, "SELECT COUNT(*) FROM plugin_installations WHERE tenant_id = ?", tenantID).Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count installations of tenant %s: %w", tenantID, err)
		}
	}
	return out, total, nil
}

// inChunk bounds the values of one IN list, well under both databases' parameter limits.
const inChunk = 500

// InstallationsByPlugins returns the tenant's installations of the plugin ids, oldest first.
func (db *DB) InstallationsByPlugins(ctx context.Context, tenantID string, pluginIDs []string) ([]store.Installation, error) {
	var out []store.Installation
	c := db.readUncached()
	for start := 0; start < len(pluginIDs); start += inChunk {
		ids := pluginIDs[start:min(start+inChunk, len(pluginIDs))]
		args := make([]any, 0, len(ids)+1)
		args = append(args, tenantID)
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := c.query(ctx, "SELECT "+installationCols+" FROM plugin_installations WHERE tenant_id = ? AND plugin_id IN ("+
			placeholders(len(ids))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("installations of tenant %s by plugins: %w", tenantID, err)
		}
		for rows.Next() {
			in, err := scanInstallation(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("installations of tenant %s by plugins: %w", tenantID, err)
			}
			out = append(out, in)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("installations of tenant %s by plugins: %w", tenantID, err)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (db *DB) CountInstallations(ctx context.Context, uid string) (int, error) {
	var n int
	if err := db.read().queryRow(ctx, "SELECT COUNT(*) FROM plugin_installations WHERE plugin_unique_identifier = ?", uid).Scan(&n); err != nil {
		return 0, fmt.Errorf("count installations of %s: %w", uid, err)
	}
	return n, nil
}

// InstallationsOfType lists every tenant's installations of one runtime type ("remote": the
// attachments a stopped daemon left behind).
func (db *DB) InstallationsOfType(ctx context.Context, runtimeType string) ([]store.Installation, error) {
	rows, err := db.readUncached().query(ctx, "SELECT "+installationCols+" FROM plugin_installations WHERE runtime_type = ? ORDER BY id", runtimeType)
	if err != nil {
		return nil, fmt.Errorf("installations of type %s: %w", runtimeType, err)
	}
	defer rows.Close()
	var out []store.Installation
	for rows.Next() {
		inst, err := scanInstallation(rows)
		if err != nil {
			return nil, fmt.Errorf("installations of type %s: %w", runtimeType, err)
		}
		out = append(out, inst)
	}
	return out, rows.Err()
}

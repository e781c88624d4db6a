package adopt

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/store"
)

// Snapshot is the reference's rows that adoption reads, as of one moment.
type Snapshot struct {
	Declarations  []RefDeclaration
	Plugins       map[string]RefPlugin // by unique identifier
	Installations []RefInstallation
	Endpoints     []RefEndpoint
	Tasks         []RefTask
	Storages      []RefStorage
	Serverless    map[string]bool // unique identifiers with a serverless runtime row
}

// RefDeclaration is a row of plugin_declarations: an uploaded package.
type RefDeclaration struct {
	UniqueIdentifier, PluginID string
}

// RefPlugin is a row of plugins.
type RefPlugin struct {
	UniqueIdentifier, PluginID, InstallType, Source string
}

// RefInstallation is a row of plugin_installations.
type RefInstallation struct {
	ID, TenantID, PluginID, UniqueIdentifier, RuntimeType, Source string
	Meta                                                          json.RawMessage
	EndpointsSetups, EndpointsActive                              int
	CreatedAt, UpdatedAt                                          time.Time
}

// RefEndpoint is a row of endpoints. Settings hold the secret values as Dify encrypted them.
type RefEndpoint struct {
	ID, HookID, TenantID, UserID, PluginID, Name string
	Enabled                                      bool
	ExpiredAt, CreatedAt, UpdatedAt              time.Time
	Settings                                     json.RawMessage
}

// RefTask is a row of install_tasks.
type RefTask struct {
	ID, TenantID, Status           string
	TotalPlugins, CompletedPlugins int
	Plugins                        json.RawMessage
	CreatedAt, UpdatedAt           time.Time
}

// RefStorage is a row of tenant_storages: the bytes the reference counts against a plugin's
// KV quota.
type RefStorage struct {
	TenantID, PluginID string
	Size               int64
}

// Read takes a consistent snapshot of the reference's rows in one read-only, repeatable-read
// transaction, so an install running on the reference meanwhile is seen whole or not at all.
func (s *Source) Read(ctx context.Context) (*Snapshot, error) {
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("reference database: %w", err)
	}
	defer tx.Rollback()
	snap := &Snapshot{Plugins: map[string]RefPlugin{}, Serverless: map[string]bool{}}
	mysql := s.S.DBType == "mysql"
	exists := "SELECT to_regclass($1) IS NOT NULL"
	if mysql {
		exists = "SELECT COUNT(*) > 0 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?"
	}
	each := func(table, query string, scan func(*sql.Rows) error) error {
		var ok bool
		if err := tx.QueryRowContext(ctx, exists, table).Scan(&ok); err != nil {
			return fmt.Errorf("reference table %s: %w", table, err)
		}
		if !ok {
			if table == "serverless_runtimes" {
				return nil // older references have none
			}
			return fmt.Errorf("reference table %s: %w (is this a dify-plugin-daemon database, migrated by its `commandline migrate`?)", table, errNoTable)
		}
		if mysql {
			// uuid columns are char(36) there; the casts are PostgreSQL's.
			query = strings.ReplaceAll(query, "::text", "")
		}
		rows, err := tx.QueryContext(ctx, query)
		if err != nil {
			return fmt.Errorf("reading reference table %s: %w", table, err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("reading reference table %s: %w", table, err)
			}
		}
		return rows.Err()
	}
	var b []byte
	steps := []struct {
		table, query string
		scan         func(*sql.Rows) error
	}{
		{"plugin_declarations", `SELECT plugin_unique_identifier, plugin_id FROM plugin_declarations ORDER BY created_at, plugin_unique_identifier`,
			func(r *sql.Rows) error {
				var d RefDeclaration
				err := r.Scan(&d.UniqueIdentifier, &d.PluginID)
				snap.Declarations = append(snap.Declarations, d)
				return err
			}},
		{"plugins", `SELECT plugin_unique_identifier, plugin_id, COALESCE(install_type, ''), COALESCE(source, '') FROM plugins`,
			func(r *sql.Rows) error {
				var p RefPlugin
				err := r.Scan(&p.UniqueIdentifier, &p.PluginID, &p.InstallType, &p.Source)
				snap.Plugins[p.UniqueIdentifier] = p
				return err
			}},
		{"plugin_installations", `SELECT id::text, tenant_id::text, plugin_id, plugin_unique_identifier, COALESCE(runtime_type, ''), COALESCE(source, ''),
				meta, COALESCE(endpoints_setups, 0), COALESCE(endpoints_active, 0), created_at, updated_at
				FROM plugin_installations ORDER BY created_at, id`,
			func(r *sql.Rows) error {
				var in RefInstallation
				err := r.Scan(&in.ID, &in.TenantID, &in.PluginID, &in.UniqueIdentifier, &in.RuntimeType, &in.Source,
					&b, &in.EndpointsSetups, &in.EndpointsActive, &in.CreatedAt, &in.UpdatedAt)
				in.Meta = clone(b)
				snap.Installations = append(snap.Installations, in)
				return err
			}},
		{"endpoints", `SELECT id::text, hook_id, tenant_id, COALESCE(user_id, ''), plugin_id, COALESCE(name, 'default'), COALESCE(enabled, false),
				expired_at, settings, created_at, updated_at FROM endpoints ORDER BY created_at, id`,
			func(r *sql.Rows) error {
				var e RefEndpoint
				var exp sql.NullTime
				err := r.Scan(&e.ID, &e.HookID, &e.TenantID, &e.UserID, &e.PluginID, &e.Name, &e.Enabled, &exp, &b, &e.CreatedAt, &e.UpdatedAt)
				e.ExpiredAt, e.Settings = exp.Time, clone(b)
				snap.Endpoints = append(snap.Endpoints, e)
				return err
			}},
		{"install_tasks", `SELECT id::text, tenant_id::text, status, total_plugins, completed_plugins, plugins, created_at, updated_at
				FROM install_tasks ORDER BY created_at, id`,
			func(r *sql.Rows) error {
				var t RefTask
				err := r.Scan(&t.ID, &t.TenantID, &t.Status, &t.TotalPlugins, &t.CompletedPlugins, &b, &t.CreatedAt, &t.UpdatedAt)
				t.Plugins = clone(b)
				snap.Tasks = append(snap.Tasks, t)
				return err
			}},
		{"tenant_storages", `SELECT tenant_id, plugin_id, size FROM tenant_storages ORDER BY tenant_id, plugin_id`,
			func(r *sql.Rows) error {
				var st RefStorage
				err := r.Scan(&st.TenantID, &st.PluginID, &st.Size)
				snap.Storages = append(snap.Storages, st)
				return err
			}},
		{"serverless_runtimes", `SELECT plugin_unique_identifier FROM serverless_runtimes`,
			func(r *sql.Rows) error {
				var uid string
				err := r.Scan(&uid)
				snap.Serverless[uid] = true
				return err
			}},
	}
	for _, st := range steps {
		if err := each(st.table, st.query, st.scan); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

func clone(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

// ParseObject reads a JSON column the reference serialises from a Go map (an installation's
// meta, an endpoint's settings): an object, or null / nothing for an empty one. Anything else
// is an error naming the column, so a damaged row is reported rather than carried over.
func ParseObject(raw []byte, what string) (map[string]any, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", what, err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// ParseTaskPlugins reads install_tasks.plugins, the reference's list of
// InstallTaskPluginStatus, into plugd's task items.
func ParseTaskPlugins(raw []byte) ([]store.TaskPlugin, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return []store.TaskPlugin{}, nil
	}
	var items []struct {
		UID      string          `json:"plugin_unique_identifier"`
		Labels   json.RawMessage `json:"labels"`
		Icon     string          `json:"icon"`
		IconDark string          `json:"icon_dark"`
		PluginID string          `json:"plugin_id"`
		Status   string          `json:"status"`
		Message  string          `json:"message"`
		Source   string          `json:"source"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("install task plugins: not a JSON list of plugin statuses: %v", err)
	}
	out := make([]store.TaskPlugin, 0, len(items))
	for i, it := range items {
		switch store.TaskStatus(it.Status) {
		case store.TaskPending, store.TaskRunning, store.TaskSuccess, store.TaskFailed:
		default:
			return nil, fmt.Errorf("install task plugins[%d]: status %q is none of pending, running, success, failed", i, it.Status)
		}
		labels := it.Labels
		if len(labels) == 0 {
			labels = json.RawMessage("{}")
		}
		out = append(out, store.TaskPlugin{
			UniqueIdentifier: it.UID, PluginID: it.PluginID, Status: store.TaskStatus(it.Status), Message: it.Message,
			Icon: it.Icon, IconDark: it.IconDark, Labels: labels, Source: it.Source,
		})
	}
	return out, nil
}

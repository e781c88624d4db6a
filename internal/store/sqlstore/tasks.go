package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/plugd/plugd/internal/store"
)

const taskCols = "id, tenant_id, status, total_plugins, completed_plugins, plugins, created_at, updated_at"

func scanTask(s interface{ Scan(...any) error }) (store.Task, error) {
	var t store.Task
	var plugins string
	if err := s.Scan(&t.ID, &t.TenantID, &t.Status, &t.TotalPlugins, &t.CompletedPlugins, &plugins,
		timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}); err != nil {
		return t, err
	}
	var err error
	t.Plugins, err = decodeTaskPlugins(t.ID, plugins)
	return t, err
}

func decodeTaskPlugins(id, text string) ([]store.TaskPlugin, error) {
	var ps []store.TaskPlugin
	if err := json.Unmarshal([]byte(text), &ps); err != nil {
		return nil, fmt.Errorf("task %s: stored plugins are not a JSON array of task plugins: %w", id, err)
	}
	if ps == nil {
		ps = []store.TaskPlugin{}
	}
	return ps, nil
}

func taskPluginsText(t store.Task) (string, error) {
	if t.Plugins == nil {
		return "[]", nil
	}
	b, err := json.Marshal(t.Plugins)
	if err != nil {
		return "", fmt.Errorf("task %s plugins: %w", t.ID, err)
	}
	return string(b), nil
}

// CreateTask stores t; ID and timestamps are filled in when empty and an empty status is pending.
func (db *DB) CreateTask(ctx context.Context, t store.Task) (store.Task, error) {
	if err := need("create task", "tenant id", t.TenantID); err != nil {
		return t, err
	}
	if t.ID == "" {
		t.ID = newID()
	}
	if t.Status == "" {
		t.Status = store.TaskPending
	}
	at := now()
	t.CreatedAt = orNow(t.CreatedAt, at)
	t.UpdatedAt = orNow(t.UpdatedAt, t.CreatedAt)
	plugins, err := taskPluginsText(t)
	if err != nil {
		return t, fmt.Errorf("create task: %w", err)
	}
	err = db.tx(ctx, func(c conn) error {
		n, err := c.insertOrSkip(ctx, "INSERT INTO install_tasks ("+taskCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "id",
			t.ID, t.TenantID, string(t.Status), t.TotalPlugins, t.CompletedPlugins, plugins, c.ts(t.CreatedAt), c.ts(t.UpdatedAt))
		if err == nil && n == 0 {
			err = fmt.Errorf("task %s exists already: %w", t.ID, store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return t, fmt.Errorf("create task: %w", err)
	}
	// Give back what a read would: the plugins as stored, in a slice of their own.
	t.Plugins, err = decodeTaskPlugins(t.ID, plugins)
	return t, err
}

func (db *DB) GetTask(ctx context.Context, tenantID, id string) (store.Task, error) {
	t, err := scanTask(db.read().queryRow(ctx, "SELECT "+taskCols+" FROM install_tasks WHERE id = ? AND tenant_id = ?", id, tenantID))
	if isNoRows(err) {
		return t, fmt.Errorf("task %s of tenant %s: %w", id, tenantID, store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("get task %s of tenant %s: %w", id, tenantID, err)
	}
	return t, nil
}

// ListTasks pages the tenant's tasks, newest first.
func (db *DB) ListTasks(ctx context.Context, tenantID string, p store.Page) ([]store.Task, error) {
	lim, largs, err := limit(p)
	if err != nil {
		return nil, fmt.Errorf("list tasks of tenant %s: %w", tenantID, err)
	}
	out, err := db.queryTasks(ctx, db.read(), "SELECT "+taskCols+" FROM install_tasks WHERE tenant_id = ? ORDER BY created_at DESC, id DESC"+lim,
		append([]any{tenantID}, largs...)...)
	if err != nil {
		return nil, fmt.Errorf("list tasks of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

// TasksWithStatus lists every tenant's tasks in one of the statuses, oldest first.
func (db *DB) TasksWithStatus(ctx context.Context, statuses ...store.TaskStatus) ([]store.Task, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	args := make([]any, len(statuses))
	for i, s := range statuses {
		args[i] = string(s)
	}
	out, err := db.queryTasks(ctx, db.readUncached(), "SELECT "+taskCols+" FROM install_tasks WHERE status IN ("+placeholders(len(statuses))+
		") ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("tasks with status %v: %w", statuses, err)
	}
	return out, nil
}

func (db *DB) queryTasks(ctx context.Context, c conn, query string, args ...any) ([]store.Task, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpdateTask reads the task under a row lock, lets fn change it and writes it back. fn may
// change the status, counters and plugins; its changes to ID, TenantID and CreatedAt are
// ignored, and UpdatedAt is set here. fn's error aborts the update and is returned wrapped.
func (db *DB) UpdateTask(ctx context.Context, id string, fn func(*store.Task) error) (store.Task, error) {
	var t store.Task
	err := db.tx(ctx, func(c conn) error {
		var err error
		t, err = scanTask(c.queryRow(ctx, "SELECT "+taskCols+" FROM install_tasks WHERE id = ?"+c.forUpdate(), id))
		if isNoRows(err) {
			return fmt.Errorf("task %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		keep := t
		if err := fn(&t); err != nil {
			return err
		}
		t.ID, t.TenantID, t.CreatedAt = keep.ID, keep.TenantID, keep.CreatedAt
		t.UpdatedAt = now()
		plugins, err := taskPluginsText(t)
		if err != nil {
			return err
		}
		_, err = c.exec(ctx, "UPDATE install_tasks SET status = ?, total_plugins = ?, completed_plugins = ?, plugins = ?, updated_at = ? WHERE id = ?",
			string(t.Status), t.TotalPlugins, t.CompletedPlugins, plugins, c.ts(t.UpdatedAt), id)
		if err != nil {
			return err
		}
		t.Plugins, err = decodeTaskPlugins(t.ID, plugins)
		return err
	})
	if err != nil {
		return t, fmt.Errorf("update task %s: %w", id, err)
	}
	return t, nil
}

func (db *DB) DeleteTask(ctx context.Context, tenantID, id string) error {
	err := db.tx(ctx, func(c conn) error {
		n, err := c.exec(ctx, "DELETE FROM install_tasks WHERE id = ? AND tenant_id = ?", id, tenantID)
		if err == nil && n == 0 {
			err = fmt.Errorf("task %s of tenant %s: %w", id, tenantID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// DeleteTasks deletes every task of the tenant; having none is not an error.
func (db *DB) DeleteTasks(ctx context.Context, tenantID string) error {
	err := db.tx(ctx, func(c conn) error {
		_, err := c.exec(ctx, "DELETE FROM install_tasks WHERE tenant_id = ?", tenantID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete tasks of tenant %s: %w", tenantID, err)
	}
	return nil
}

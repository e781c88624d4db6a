// Package store keeps the daemon's durable state: uploaded declarations, installed plugins,
// per-tenant installations, install tasks and endpoints. The interface is what the rest of the
// daemon needs; the sqlstore sub-package implements it on SQLite (the zero-config default) and
// PostgreSQL with one schema and embedded, versioned migrations.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

var (
	// ErrNotFound: no row matches. Wrapped with what was looked for.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write would break a uniqueness rule (a tenant installing a second
	// version of a plugin, a duplicate hook id).
	ErrConflict = errors.New("conflict")
)

// Declaration is an uploaded package's declaration, kept from upload on whether or not anyone
// installs it (the reference's plugin_declarations). The package bytes live in blob storage.
type Declaration struct {
	UniqueIdentifier string          // author/name:version@checksum
	PluginID         string          // author/name
	Declaration      json.RawMessage // manifest.Plugin as JSON
	// Verification is {"authorized_category": ...} for a signed package, JSON null otherwise.
	Verification json.RawMessage
	CreatedAt    time.Time
}

// Plugin is one installed unique identifier on this deployment, shared by every tenant that
// installed it (the reference's plugins). Refers counts those tenants.
type Plugin struct {
	UniqueIdentifier string
	PluginID         string
	Refers           int
	InstallType      string // "local" (a process under this daemon) or "remote" (debugging)
	Source           string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Installation is one tenant's installation of one plugin; a tenant has at most one version of
// each plugin id.
type Installation struct {
	ID               string // UUID
	TenantID         string
	PluginID         string
	UniqueIdentifier string
	RuntimeType      string // "local" or "remote"
	Source           string // opaque label from the caller: marketplace, github, package, remote
	Meta             json.RawMessage
	EndpointsSetups  int
	EndpointsActive  int
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TaskStatus is the state of an install task or of one plugin in it.
type TaskStatus string

const (
	TaskPending TaskStatus = "pending"
	TaskRunning TaskStatus = "running"
	TaskSuccess TaskStatus = "success"
	TaskFailed  TaskStatus = "failed"
)

// Task is an install (or upgrade) task; its JSON is the reference's InstallTask, which Dify polls.
type Task struct {
	ID               string       `json:"id"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	Status           TaskStatus   `json:"status"`
	TenantID         string       `json:"tenant_id"`
	TotalPlugins     int          `json:"total_plugins"`
	CompletedPlugins int          `json:"completed_plugins"`
	Plugins          []TaskPlugin `json:"plugins"`
}

// TaskPlugin is one plugin of a task. Phase and Progress are plugd's additions: where the
// environment build is and its latest output line, so a stuck install shows why.
type TaskPlugin struct {
	UniqueIdentifier string          `json:"plugin_unique_identifier"`
	PluginID         string          `json:"plugin_id"`
	Status           TaskStatus      `json:"status"`
	Message          string          `json:"message"`
	Icon             string          `json:"icon"`
	IconDark         string          `json:"icon_dark"`
	Labels           json.RawMessage `json:"labels"`
	Source           string          `json:"source"`
	Phase            string          `json:"phase,omitempty"`
	Progress         string          `json:"progress,omitempty"`
	// Upgrade, when set, is the unique identifier this item replaces (an upgrade task).
	Upgrade string          `json:"upgrade_from,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
	// Fence is the fencing token of the cluster claim that last wrote the item (0 on one
	// node): writes with an older token are refused (install.Manager).
	Fence int64 `json:"fence,omitempty"`
}

// Endpoint is a tenant's endpoint of a plugin, reachable at /e/{HookID}/.
type Endpoint struct {
	ID        string
	HookID    string
	TenantID  string
	UserID    string
	PluginID  string
	Name      string
	Enabled   bool
	ExpiredAt time.Time
	Settings  json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Page is offset pagination: Page counts from 1.
type Page struct {
	Page, Size int
}

// Offset is the number of rows before the page.
func (p Page) Offset() int { return (max(p.Page, 1) - 1) * p.Size }

// Store is the daemon's durable state. Every method is atomic; implementations are safe for
// concurrent use by several processes sharing one database.
type Store interface {
	// PutDeclaration records an uploaded package's declaration; an existing row is kept.
	PutDeclaration(ctx context.Context, d Declaration) error
	GetDeclaration(ctx context.Context, uniqueIdentifier string) (Declaration, error)
	// DeleteDeclaration removes the declaration unless a Plugin row still uses it, which is
	// ErrConflict: someone installed it meanwhile, so the caller keeps the package bytes too.
	DeleteDeclaration(ctx context.Context, uniqueIdentifier string) error

	GetPlugin(ctx context.Context, uniqueIdentifier string) (Plugin, error)
	// ListPlugins is every installed unique identifier: the daemon reconciles from it at boot.
	ListPlugins(ctx context.Context) ([]Plugin, error)

	// Install creates inst and, when missing, the Plugin row of its unique identifier, and
	// counts the reference, in one transaction. ErrConflict when the tenant already has the
	// plugin id installed. The endpoint counters start from the tenant's endpoints of the plugin
	// that outlived an earlier uninstall; an empty ID is generated.
	Install(ctx context.Context, inst Installation, p Plugin) (Installation, error)
	// Uninstall removes the installation and drops the reference; when it was the last one the
	// Plugin row goes too and lastRef is true (the caller then frees the package and
	// environment). ErrNotFound when there is no such installation.
	Uninstall(ctx context.Context, tenantID, installationID string) (inst Installation, lastRef bool, err error)
	// Upgrade points the tenant's installation of the plugin from oldUID to newUID, moving the
	// reference, in one transaction. lastRef tells whether oldUID lost its last reference. An
	// empty source or meta keeps the installation's; newPlugin must be of the same plugin id.
	Upgrade(ctx context.Context, tenantID, oldUID string, newPlugin Plugin, source string, meta json.RawMessage) (inst Installation, lastRef bool, err error)

	GetInstallation(ctx context.Context, tenantID, installationID string) (Installation, error)
	// GetInstallationByPlugin finds the tenant's installation of a plugin id (author/name).
	GetInstallationByPlugin(ctx context.Context, tenantID, pluginID string) (Installation, error)
	// ListInstallations pages the tenant's installations, newest first (the reference's order), with
	// the total count.
	ListInstallations(ctx context.Context, tenantID string, p Page) ([]Installation, int, error)
	// InstallationsByPlugins returns the tenant's installations of the given plugin ids.
	InstallationsByPlugins(ctx context.Context, tenantID string, pluginIDs []string) ([]Installation, error)
	// InstallationsOfType lists every tenant's installations of a runtime type.
	InstallationsOfType(ctx context.Context, runtimeType string) ([]Installation, error)
	// CountInstallations counts installations of a unique identifier across tenants.
	CountInstallations(ctx context.Context, uniqueIdentifier string) (int, error)

	CreateTask(ctx context.Context, t Task) (Task, error)
	GetTask(ctx context.Context, tenantID, id string) (Task, error)
	// ListTasks pages the tenant's tasks, newest first.
	ListTasks(ctx context.Context, tenantID string, p Page) ([]Task, error)
	// TasksWithStatus lists every tenant's tasks in one of the statuses (boot recovery).
	TasksWithStatus(ctx context.Context, statuses ...TaskStatus) ([]Task, error)
	// UpdateTask reads the task, lets fn change it and writes it back, holding a row lock so
	// concurrent updates of one task never lose each other's changes. fn returning an error
	// aborts the update (the error comes back wrapped). fn's changes to ID, TenantID and
	// CreatedAt are ignored.
	UpdateTask(ctx context.Context, id string, fn func(*Task) error) (Task, error)
	DeleteTask(ctx context.Context, tenantID, id string) error
	DeleteTasks(ctx context.Context, tenantID string) error

	// CreateEndpoint stores e and counts it on the tenant's installation of e.PluginID
	// (ErrNotFound when there is none). An empty HookID gets a random 16-character [a-z0-9] one;
	// ErrConflict when the ID or a given HookID is taken. Endpoints outlive an uninstall.
	CreateEndpoint(ctx context.Context, e Endpoint) (Endpoint, error)
	GetEndpoint(ctx context.Context, tenantID, id string) (Endpoint, error)
	GetEndpointByHook(ctx context.Context, hookID string) (Endpoint, error)
	// ListEndpoints pages the tenant's endpoints, of one plugin when pluginID is not empty,
	// newest first.
	ListEndpoints(ctx context.Context, tenantID, pluginID string, p Page) ([]Endpoint, error)
	// UpdateEndpoint changes name, settings and enabled, keeping the installation's counters;
	// an empty name or settings keeps the stored one.
	UpdateEndpoint(ctx context.Context, e Endpoint) (Endpoint, error)
	DeleteEndpoint(ctx context.Context, tenantID, id string) error

	// DebugKey returns the tenant's remote-debugging key, valid for ttl from now: the current
	// one, its validity extended, or a new random one when there is none or it expired.
	DebugKey(ctx context.Context, tenantID string, ttl time.Duration) (key string, expires time.Time, err error)
	// ResolveDebugKey finds the tenant of an unexpired key (ErrNotFound otherwise) without
	// extending it.
	ResolveDebugKey(ctx context.Context, key string) (tenantID string, err error)

	Close() error
}

// Package catalog is the tool catalog of one deployment: every tool a tenant can call, whatever
// provides it — an installed plugin, an imported OpenAPI description, a Dify workflow app or (the
// next issue) an MCP server — each tool described by one JSON Schema of its inputs and called
// the same way, with the same stream of result messages plugin tools produce.
//
// The package is the domain only. It owns the small interfaces it needs — where stored
// providers live (Store), the tenant's installed plugins (PluginSource), how each kind of
// provider runs a tool (Caller), how secrets are sealed (Secrets) — and carries no SQL, HTTP or
// SDK type, so that the HTTP API, the CLI and the MCP server share it and adapters stay
// replaceable. The tenant is always an explicit parameter: nothing reads it from a context.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Kind is what provides a provider's tools.
type Kind string

const (
	KindPlugin   Kind = "plugin"   // a tool provider of an installed (or remote-debugged) plugin
	KindAPI      Kind = "api"      // operations of an imported OpenAPI / Swagger description
	KindWorkflow Kind = "workflow" // a Dify workflow app, through Dify's public app API
	KindMCP      Kind = "mcp"      // tools of an MCP server (its client is the next issue's)
)

// Kinds lists every kind, in the order the catalog lists providers when no position applies.
var Kinds = []Kind{KindPlugin, KindAPI, KindWorkflow, KindMCP}

// Valid tells whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Error kinds. Every error the catalog returns wraps one of these, so that the HTTP API maps
// them to statuses and the CLI to messages without reading text.
var (
	ErrNotFound   = errors.New("not found")       // no such provider or tool for this tenant
	ErrConflict   = errors.New("conflict")        // a provider of that kind and name exists
	ErrInvalid    = errors.New("invalid")         // the request itself is wrong (names what)
	ErrReadOnly   = errors.New("read-only")       // plugin providers follow installs, not edits
	ErrNoCaller   = errors.New("not callable")    // no adapter for this kind is configured
	ErrNoSecrets  = errors.New("no secret store") // secrets given but nowhere safe to keep them
	ErrCallFailed = errors.New("call failed")     // the tool ran and failed (upstream error)
)

// Provider is one set of tools as the catalog lists it.
type Provider struct {
	// ID is unique per tenant: author/plugin/provider for plugin providers (what Dify stores in
	// app configs), a generated UUID for the other kinds.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Name is the short name: the plugin's provider name, or the name given at import (unique
	// per tenant and kind).
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	Icon        string `json:"icon,omitempty"`
	// Tags are the provider's declared tags (a plugin's identity.tags), which tool sets of
	// the MCP server select by.
	Tags []string `json:"tags,omitempty"`
	// PluginID and PluginUniqueIdentifier say which installed version provides a plugin
	// provider; Remote marks one attached for remote debugging.
	PluginID               string `json:"plugin_id,omitempty"`
	PluginUniqueIdentifier string `json:"plugin_unique_identifier,omitempty"`
	Remote                 bool   `json:"remote,omitempty"`
	// Config is the kind's own non-secret settings (an API provider's servers and auth scheme,
	// a workflow's base URL), opaque to the catalog and handed back to its Caller.
	Config json.RawMessage `json:"config,omitempty"`
	// Credentials are the provider's secrets, masked (first 2 + *** + last 2) in every answer;
	// only a Caller sees them in clear.
	Credentials map[string]string `json:"credentials,omitempty"`
	// CredentialsSchema names the credentials a plugin provider takes (from its declaration).
	CredentialsSchema []CredentialField `json:"credentials_schema,omitempty"`
	Tools             []Tool            `json:"tools"`
	// Pinned and Hidden are the tenant's preferences for this provider.
	Pinned    bool      `json:"pinned,omitempty"`
	Hidden    bool      `json:"hidden,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// CredentialField is one credential a provider takes.
type CredentialField struct {
	Name     string `json:"name"`
	Type     string `json:"type"` // secret-input, text-input, select, ...
	Required bool   `json:"required"`
}

// Tool is one callable tool.
type Tool struct {
	Name        string `json:"name"`
	Label       string `json:"label"`
	Description string `json:"description"`
	// InputSchema is one JSON Schema (an object schema) of the tool's arguments, whatever the
	// kind: plugin parameters, OpenAPI parameters and body, workflow inputs are all turned into
	// one.
	InputSchema json.RawMessage `json:"input_schema"`
	// OutputSchema, when known, describes the json / variable messages the tool produces.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Messages are the kinds of messages the tool may produce (text, json, blob, link, image,
	// file, variable, log); empty means any.
	Messages []string `json:"messages,omitempty"`
	// Operation is the kind's own description of the tool (an OpenAPI operation, ...), opaque
	// to the catalog and handed back to its Caller.
	Operation json.RawMessage `json:"operation,omitempty"`
	Pinned    bool            `json:"pinned,omitempty"`
	Hidden    bool            `json:"hidden,omitempty"`
}

// Message is one result of a tool call, in the shape plugin tools stream it (Dify's
// ToolInvokeMessage): {"type": "text", "message": {"text": "..."}, "meta": ...}.
type Message struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
	Meta    json.RawMessage `json:"meta,omitempty"`
}

// TextMessage is a text result.
func TextMessage(text string) Message {
	b, _ := json.Marshal(map[string]string{"text": text})
	return Message{Type: "text", Message: b}
}

// JSONMessage is a json result; v must marshal.
func JSONMessage(v any) (Message, error) {
	b, err := json.Marshal(map[string]any{"json_object": v})
	if err != nil {
		return Message{}, fmt.Errorf("json message: %w", err)
	}
	return Message{Type: "json", Message: b}, nil
}

// BlobMessage is a binary result (base64 in JSON) with its MIME type in meta.
func BlobMessage(data []byte, mimeType string) Message {
	b, _ := json.Marshal(map[string][]byte{"blob": data})
	meta, _ := json.Marshal(map[string]string{"mime_type": mimeType})
	return Message{Type: "blob", Message: b, Meta: meta}
}

// Stream is the result of a call: Next returns the messages in order and io.EOF at the end;
// Close abandons the call and makes a blocked Next return.
type Stream interface {
	Next() (Message, error)
	Close()
}

// Invocation is one call, as a Caller gets it: the provider and tool as listed (with their
// Config and Operation) and the credentials in clear.
type Invocation struct {
	Tenant      string
	UserID      string
	Provider    Provider
	Tool        Tool
	Arguments   map[string]any
	Credentials map[string]string
	// CredentialType says how Credentials were obtained: "" or "api-key" (entered by a
	// user), "oauth2" (an OAuth grant's tokens). Plugin tools receive it as Dify's
	// credential_type; plugins branch on it (API key header or bearer token).
	CredentialType string
}

// Caller runs the tools of one kind of provider.
type Caller interface {
	Call(ctx context.Context, inv Invocation) (Stream, error)
}

// InstalledPlugin is one plugin installed for a tenant, with the tool providers its
// declaration has (none for a plugin of another category).
type InstalledPlugin struct {
	PluginID         string
	UniqueIdentifier string
	Version          string
	Remote           bool
	Providers        []Provider
}

// PluginSource says which plugins a tenant has installed, including remote-debug attachments.
// The catalog derives plugin providers from it on every read rather than copying them, so
// they appear and disappear with installs by construction.
type PluginSource interface {
	Installed(ctx context.Context, tenant string) ([]InstalledPlugin, error)
}

// Secrets seals and opens provider credentials. Sealing binds the ciphertext to the tenant and
// the provider (associated data), so a stored value cannot be moved to another row.
type Secrets interface {
	Seal(ctx context.Context, tenant, ref string, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, tenant, ref string, sealed []byte) ([]byte, error)
}

// ToolRef is a tool as an app or workflow has it configured (Dify's field names).
type ToolRef struct {
	Type       string `json:"type"` // plugin/builtin, api, workflow, mcp
	ProviderID string `json:"provider_id"`
	ToolName   string `json:"tool_name"`
}

// Why a configured tool is gone.
const (
	ReasonProviderUninstalled = "provider_uninstalled" // the plugin is not installed (any more)
	ReasonProviderNotInPlugin = "provider_not_in_plugin"
	ReasonToolNotInVersion    = "tool_not_in_version" // the installed version has no such tool
	ReasonProviderRemoved     = "provider_removed"    // an API / workflow / MCP provider was deleted
	ReasonOperationRemoved    = "operation_removed"   // a re-import no longer has the operation
	ReasonToolNotFound        = "tool_not_found"      // the provider never had it, as far as we know
	ReasonUnknownType         = "unknown_type"
)

// Deleted is a configured tool that no longer exists, and why.
type Deleted struct {
	ToolRef
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// ChangeKind is what a change-log entry records.
type ChangeKind string

const (
	ChangeProviderAdded   ChangeKind = "provider_added"
	ChangeProviderUpdated ChangeKind = "provider_updated"
	ChangeProviderRemoved ChangeKind = "provider_removed"
	ChangeToolAdded       ChangeKind = "tool_added"
	ChangeToolRemoved     ChangeKind = "tool_removed"
	ChangePreference      ChangeKind = "preference"
)

// Change is one entry of a tenant's change log. Versions increase by one per entry and never
// repeat, so "what changed since N" is every entry with Version > N.
type Change struct {
	Version      int64      `json:"version"`
	At           time.Time  `json:"at"`
	Kind         ChangeKind `json:"kind"`
	ProviderKind Kind       `json:"provider_kind,omitempty"`
	ProviderID   string     `json:"provider_id,omitempty"`
	Tool         string     `json:"tool,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	Detail       string     `json:"detail,omitempty"`
}

// Target is what a preference applies to.
type Target string

const (
	TargetProvider Target = "provider" // Name is a provider id
	TargetTool     Target = "tool"     // Name is provider_id + "/" + tool name
)

// Preference is a tenant's pin or hide of one provider or tool. Pins keep the order they were
// made in (Position); a hidden item is left out of lists but stays callable.
type Preference struct {
	Target   Target `json:"target"`
	Name     string `json:"name"`
	Pinned   bool   `json:"pinned"`
	Position int    `json:"position,omitempty"`
	Hidden   bool   `json:"hidden"`
}

// StoredProvider is a provider of a stored kind (api, workflow, mcp) as the Store keeps it:
// the listed form, with its credentials sealed.
type StoredProvider struct {
	Provider
	// SealedCredentials replaces Provider.Credentials, which the Store never sees.
	SealedCredentials []byte
}

// PluginSeen is what the catalog last saw of one installed plugin of a tenant, so that an
// install, upgrade or uninstall shows in the change log however it happened.
type PluginSeen struct {
	PluginID         string
	UniqueIdentifier string
	Version          string
	// Tools are provider_id/tool_name of every tool the plugin had.
	Tools []string
}

// Store keeps the catalog's own state. Every method is atomic; the change entries passed with
// a write are appended in the same transaction, each given the tenant's next version.
type Store interface {
	// CreateProvider stores p (ErrConflict when the tenant has a provider of that kind and
	// name, or that id) and appends changes.
	CreateProvider(ctx context.Context, tenant string, p StoredProvider, changes []Change) error
	// ReplaceProvider overwrites the stored provider of p.ID (ErrNotFound when missing).
	ReplaceProvider(ctx context.Context, tenant string, p StoredProvider, changes []Change) error
	// DeleteProvider removes it (ErrNotFound when missing).
	DeleteProvider(ctx context.Context, tenant, id string, changes []Change) error
	GetProvider(ctx context.Context, tenant, id string) (StoredProvider, error)
	// ListProviders is every stored provider of the tenant, by id.
	ListProviders(ctx context.Context, tenant string) ([]StoredProvider, error)

	// SetPreference creates, changes or (neither pinned nor hidden) drops a preference; a new
	// pin goes after the tenant's other pins.
	SetPreference(ctx context.Context, tenant string, p Preference, changes []Change) error
	Preferences(ctx context.Context, tenant string) ([]Preference, error)

	// PluginsSeen and SetPluginsSeen keep what the catalog last saw of installed plugins; the
	// set replaces the tenant's whole record and appends changes, unless the tenant's version
	// moved past expectVersion meanwhile (then ErrConflict: someone else recorded it).
	PluginsSeen(ctx context.Context, tenant string) ([]PluginSeen, int64, error)
	SetPluginsSeen(ctx context.Context, tenant string, seen []PluginSeen, expectVersion int64, changes []Change) error

	// Version is the tenant's current version (0 before its first change): one cheap read
	// that tells a cache whether anything changed.
	Version(ctx context.Context, tenant string) (int64, error)
	// Changes lists the tenant's entries with Version > since, oldest first, at most limit
	// (0: all), and the tenant's current version.
	Changes(ctx context.Context, tenant string, since int64, limit int) ([]Change, int64, error)
	// LastRemoval is the newest tool_removed or provider_removed entry for the provider (and
	// tool, when not empty); ErrNotFound when there is none.
	LastRemoval(ctx context.Context, tenant, providerID, tool string) (Change, error)
}

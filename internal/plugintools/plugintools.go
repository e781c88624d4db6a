// Package plugintools connects installed plugins to the tool catalog: it derives each tenant's
// plugin tool providers from the installations and declarations the daemon's store already
// keeps (so remote-debug attachments, installs, upgrades and uninstalls show up by
// construction, with nothing copied to keep in sync), and calls their tools through the
// dispatcher exactly as the daemon's tool/invoke route does.
package plugintools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// Store is what the source reads: the tenant's installations and their declarations.
type Store interface {
	ListInstallations(ctx context.Context, tenantID string, p store.Page) ([]store.Installation, int, error)
	GetDeclaration(ctx context.Context, uniqueIdentifier string) (store.Declaration, error)
}

// Source lists a tenant's plugin tool providers. Declarations are parsed once per unique
// identifier (which ends in the package checksum, so its declaration never changes).
type Source struct {
	store Store
	mu    sync.Mutex
	cache map[string]parsed // uid -> providers
}

type parsed struct {
	version   string
	providers []catalog.Provider
}

const cacheMax = 4096

// NewSource returns a Source reading st.
func NewSource(st Store) *Source { return &Source{store: st, cache: map[string]parsed{}} }

var _ catalog.PluginSource = (*Source)(nil)

// Installed lists the tenant's installed plugins with the tool providers they declare.
func (s *Source) Installed(ctx context.Context, tenant string) ([]catalog.InstalledPlugin, error) {
	insts, _, err := s.store.ListInstallations(ctx, tenant, store.Page{})
	if err != nil {
		return nil, fmt.Errorf("installations of tenant %s: %w", tenant, err)
	}
	out := make([]catalog.InstalledPlugin, 0, len(insts))
	for _, in := range insts {
		p, err := s.parse(ctx, in.UniqueIdentifier)
		if errors.Is(err, store.ErrNotFound) {
			continue // being installed or removed right now
		}
		if err != nil {
			return nil, err
		}
		// Each tenant gets its own copy: the catalog sets fields on what it is given.
		provs := make([]catalog.Provider, len(p.providers))
		copy(provs, p.providers)
		for i := range provs {
			provs[i].ID = in.PluginID + "/" + provs[i].Name
			provs[i].CreatedAt, provs[i].UpdatedAt = in.CreatedAt, in.UpdatedAt
		}
		out = append(out, catalog.InstalledPlugin{
			PluginID: in.PluginID, UniqueIdentifier: in.UniqueIdentifier, Version: p.version,
			Remote: in.RuntimeType == "remote", Providers: provs,
		})
	}
	return out, nil
}

func (s *Source) parse(ctx context.Context, uid string) (parsed, error) {
	s.mu.Lock()
	p, ok := s.cache[uid]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	d, err := s.store.GetDeclaration(ctx, uid)
	if err != nil {
		return parsed{}, fmt.Errorf("declaration of %s: %w", uid, err)
	}
	var decl manifest.Plugin
	if err := json.Unmarshal(d.Declaration, &decl); err != nil {
		return parsed{}, fmt.Errorf("declaration of %s is unreadable: %w", uid, err)
	}
	p = parsed{version: decl.Version}
	if decl.Tool != nil {
		p.providers = []catalog.Provider{Provider(*decl.Tool)}
	}
	s.mu.Lock()
	if len(s.cache) >= cacheMax {
		clear(s.cache)
	}
	s.cache[uid] = p
	s.mu.Unlock()
	return p, nil
}

// Provider turns a declared tool provider into the catalog's form (ID left for the caller,
// who knows the plugin id).
func Provider(tp manifest.ToolProvider) catalog.Provider {
	p := catalog.Provider{
		Kind: catalog.KindPlugin, Name: tp.Identity.Name, Label: tp.Identity.Label.EnUS,
		Description: tp.Identity.Description.EnUS, Icon: tp.Identity.Icon, Tags: tp.Identity.Tags, Tools: make([]catalog.Tool, 0, len(tp.Tools)),
	}
	for _, c := range tp.CredentialsSchema {
		p.CredentialsSchema = append(p.CredentialsSchema, catalog.CredentialField{Name: c.Name, Type: c.Type, Required: c.Required})
	}
	for _, t := range tp.Tools {
		desc := t.Description.LLM
		if desc == "" {
			desc = t.Description.Human.EnUS
		}
		tool := catalog.Tool{Name: t.Identity.Name, Label: t.Identity.Label.EnUS, Description: desc, InputSchema: InputSchema(t.Parameters)}
		if len(t.OutputSchema) > 0 {
			tool.OutputSchema, _ = json.Marshal(t.OutputSchema)
		}
		p.Tools = append(p.Tools, tool)
	}
	return p
}

// InputSchema is one JSON Schema object of a tool's parameters, every form included (llm
// parameters are what a model fills; form ones what Dify's user sets — a catalog caller
// passes both). Types follow the SDK's ToolParameterType.
func InputSchema(params []manifest.ToolParameter) json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, p := range params {
		s := map[string]any{}
		switch p.Type {
		case "string", "secret-input", "text-input", "paragraph", "dynamic-select", "checkbox":
			s["type"] = "string"
		case "number":
			s["type"] = "number"
			if p.Min != nil {
				s["minimum"] = *p.Min
			}
			if p.Max != nil {
				s["maximum"] = *p.Max
			}
		case "boolean":
			s["type"] = "boolean"
		case "select":
			var enum []string
			for _, o := range p.Options {
				enum = append(enum, o.Value)
			}
			if p.Multiple {
				s["type"] = "array"
				s["items"] = map[string]any{"type": "string", "enum": enum}
			} else {
				s["type"] = "string"
				s["enum"] = enum
			}
		case "array", "files":
			s["type"] = "array"
		case "object", "file", "model-selector", "app-selector":
			s["type"] = "object"
		}
		d := p.LLMDescription
		if d == "" {
			d = p.HumanDescription.EnUS
		}
		if d != "" {
			s["description"] = d
		}
		if p.Label.EnUS != "" {
			s["title"] = p.Label.EnUS
		}
		if p.Default != nil {
			s["default"] = p.Default
		}
		props[p.Name] = s
		if p.Required {
			required = append(required, p.Name)
		}
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required})
	return b
}

// WireStream is a plugin request's results, as the dispatcher streams them.
type WireStream interface {
	Next() (wire.SessionMessage, error)
	Close()
}

// InvokeFunc runs one plugin request: the dispatcher's Invoke.
type InvokeFunc func(ctx context.Context, uid string, access wire.AccessType, action wire.Action, data json.RawMessage, ic runtime.InvokeContext) (WireStream, error)

// OAuth gives the credentials of a tenant's OAuth connection of a plugin provider (the
// oauth.Manager, through the daemon), refreshed when they expire soon. ok is false when the
// provider was never connected; an error says why the connection cannot be used and how to
// connect again.
type OAuth interface {
	Credentials(ctx context.Context, tenant, providerID string) (values map[string]string, ok bool, err error)
}

// Caller calls plugin tools through the dispatcher.
type Caller struct {
	invoke InvokeFunc
	oauth  OAuth
}

// NewCaller returns a Caller using invoke.
func NewCaller(invoke InvokeFunc) *Caller { return &Caller{invoke: invoke} }

// WithOAuth makes calls without credentials use the provider's OAuth connection, when it has
// one, as credential type oauth2.
func (c *Caller) WithOAuth(o OAuth) *Caller { c.oauth = o; return c }

var _ catalog.Caller = (*Caller)(nil)

// Call sends the tool/invoke request the daemon's route would send for it.
func (c *Caller) Call(ctx context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	creds, ct := inv.Credentials, inv.CredentialType
	if len(creds) == 0 && ct == "" && c.oauth != nil {
		vals, ok, err := c.oauth.Credentials(ctx, inv.Tenant, inv.Provider.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			creds, ct = vals, string(wire.CredentialOAuth2)
		}
	}
	if creds == nil {
		creds = map[string]string{}
	}
	if ct == "" {
		ct = string(wire.CredentialAPIKey)
	}
	args := inv.Arguments
	if args == nil {
		args = map[string]any{} // the SDK refuses null tool_parameters
	}
	data, err := json.Marshal(map[string]any{
		"provider": inv.Provider.Name, "tool": inv.Tool.Name, "tool_parameters": args,
		"credentials": creds, "credential_type": ct,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the arguments: %w: %w", err, catalog.ErrInvalid)
	}
	st, err := c.invoke(ctx, inv.Provider.PluginUniqueIdentifier, wire.AccessTool, wire.ActionInvokeTool, data,
		runtime.InvokeContext{TenantID: inv.Tenant, UserID: inv.UserID})
	if err != nil {
		return nil, err
	}
	return &stream{st: st}, nil
}

// stream turns the plugin's stream items (ToolInvokeMessage JSON) into catalog messages.
type stream struct{ st WireStream }

func (s *stream) Next() (catalog.Message, error) {
	for {
		m, err := s.st.Next()
		if err != nil {
			var serr *wire.SessionError
			if errors.As(err, &serr) {
				return catalog.Message{}, fmt.Errorf("%s: %s: %w", serr.ErrorType, serr.Message, catalog.ErrCallFailed)
			}
			return catalog.Message{}, err
		}
		if m.Type != wire.MessageStream {
			if m.Type == wire.MessageEnd {
				return catalog.Message{}, io.EOF
			}
			continue
		}
		var msg catalog.Message
		if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Type == "" {
			return catalog.Message{}, fmt.Errorf("the plugin sent a result that is not a tool message: %.80s", m.Data)
		}
		return msg, nil
	}
}

func (s *stream) Close() { s.st.Close() }

package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Config is what a Catalog is built from. Store is required; the rest may be nil, which turns
// off what needs them (no plugin providers, a kind without caller is listed but not
// callable, secrets cannot be stored).
type Config struct {
	Store    Store
	Plugins  PluginSource
	Callers  map[Kind]Caller
	Secrets  Secrets
	Ordering Ordering
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Catalog is every tenant's tool catalog. It is safe for concurrent use.
type Catalog struct {
	cfg Config
	// snaps caches each tenant's snapshot (*snapshot), valid while the tenant's version in
	// the store has not moved: every stored change bumps it, so other processes' writes are
	// seen on the next read.
	snaps sync.Map
	// syncMu serialises the recording of plugin changes per tenant within this process (the
	// store's version check covers other processes).
	syncMu sync.Map // tenant -> *sync.Mutex
}

// snapshot is what a tenant's catalog held at one version: the stored providers (masked) and
// what was recorded of installed plugins. It is never changed once built.
type snapshot struct {
	version int64
	stored  []Provider
	sealed  [][]byte       // the sealed credentials of stored[i]
	byID    map[string]int // provider id -> index in stored
	seen    []PluginSeen
	seenBy  map[string]string // plugin id -> unique identifier
}

// New returns a Catalog.
func New(cfg Config) *Catalog {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Catalog{cfg: cfg}
}

// ListOptions narrow a listing.
type ListOptions struct {
	Kind Kind // only this kind; empty: all
	// ShowHidden includes what the tenant hid (marked Hidden); settings' excludes still apply.
	ShowHidden bool
}

// List returns the tenant's providers with their tools, ordered and filtered (see Ordering),
// credentials masked.
func (c *Catalog) List(ctx context.Context, tenant string, opts ListOptions) ([]Provider, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	plugins, snap, err := c.current(ctx, tenant)
	if err != nil {
		return nil, err
	}
	n := len(snap.stored)
	for _, ip := range plugins {
		n += len(ip.Providers)
	}
	all := make([]Provider, 0, n)
	for _, ip := range plugins {
		for _, p := range ip.Providers {
			if i, ok := snap.byID[p.ID]; ok {
				p.Credentials = snap.stored[i].Credentials // masked
			}
			all = append(all, p)
		}
	}
	for _, p := range snap.stored {
		if p.Kind != KindPlugin {
			all = append(all, p)
		}
	}
	rank := map[Kind]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Kind != all[j].Kind {
			return rank[all[i].Kind] < rank[all[j].Kind]
		}
		return all[i].ID < all[j].ID
	})
	if opts.Kind != "" {
		kept := all[:0]
		for _, p := range all {
			if p.Kind == opts.Kind {
				kept = append(kept, p)
			}
		}
		all = kept
	}
	prefs, err := c.cfg.Store.Preferences(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading the preferences of tenant %s: %w", tenant, err)
	}
	return c.cfg.Ordering.arrange(all, prefs, opts.ShowHidden), nil
}

// current returns the tenant's installed plugins and its snapshot, recording plugin changes
// since the last look first, so that installs, upgrades, uninstalls and remote-debug
// attachments show in the change log however they happened.
func (c *Catalog) current(ctx context.Context, tenant string) ([]InstalledPlugin, *snapshot, error) {
	var plugins []InstalledPlugin
	if c.cfg.Plugins != nil {
		var err error
		plugins, err = c.cfg.Plugins.Installed(ctx, tenant)
		if err != nil {
			return nil, nil, fmt.Errorf("listing the installed plugins of tenant %s: %w", tenant, err)
		}
		for i := range plugins {
			for j := range plugins[i].Providers {
				p := &plugins[i].Providers[j]
				p.Kind = KindPlugin
				p.PluginID = plugins[i].PluginID
				p.PluginUniqueIdentifier = plugins[i].UniqueIdentifier
				p.Remote = plugins[i].Remote
			}
		}
	}
	for attempt := 0; ; attempt++ {
		snap, err := c.snapshot(ctx, tenant)
		if err != nil {
			return nil, nil, err
		}
		if sameInstalls(snap, plugins) {
			return plugins, snap, nil
		}
		if attempt >= 4 {
			return nil, nil, fmt.Errorf("recording the installed plugins of tenant %s: they changed on every one of %d tries", tenant, attempt)
		}
		err = c.recordPlugins(ctx, tenant, snap, plugins)
		if err != nil && (!errors.Is(err, ErrConflict) || attempt >= 3) {
			return nil, nil, err
		}
		// Recorded (or someone else did): read the snapshot again. A plugin without tools
		// (an agent strategy, a model) changes the record but writes no change, so the
		// version may not have moved: the cached snapshot must go, or its old record would
		// be found different again and again.
		c.snaps.Delete(tenant)
	}
}

// snapshot returns the tenant's snapshot at the store's current version.
func (c *Catalog) snapshot(ctx context.Context, tenant string) (*snapshot, error) {
	v, err := c.cfg.Store.Version(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading the catalog version of tenant %s: %w", tenant, err)
	}
	if cached, ok := c.snaps.Load(tenant); ok && cached.(*snapshot).version == v {
		return cached.(*snapshot), nil
	}
	seen, _, err := c.cfg.Store.PluginsSeen(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("reading the plugins last seen for tenant %s: %w", tenant, err)
	}
	stored, err := c.cfg.Store.ListProviders(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("listing the stored providers of tenant %s: %w", tenant, err)
	}
	// Read after v: if someone wrote meanwhile, this data is newer than v and the next read
	// sees a newer version and reloads; it is never older than v.
	snap := &snapshot{version: v, seen: seen, seenBy: make(map[string]string, len(seen)), stored: make([]Provider, len(stored)),
		sealed: make([][]byte, len(stored)), byID: make(map[string]int, len(stored))}
	for _, s := range seen {
		snap.seenBy[s.PluginID] = s.UniqueIdentifier
	}
	for i, sp := range stored {
		snap.stored[i] = c.masked(sp)
		snap.sealed[i] = sp.SealedCredentials
		snap.byID[sp.ID] = i
	}
	c.snaps.Store(tenant, snap)
	return snap, nil
}

// sameInstalls tells whether the installed plugins are the ones the snapshot recorded.
func sameInstalls(snap *snapshot, plugins []InstalledPlugin) bool {
	if len(plugins) != len(snap.seenBy) {
		return false
	}
	for _, ip := range plugins {
		if snap.seenBy[ip.PluginID] != ip.UniqueIdentifier {
			return false
		}
	}
	return true
}

// recordPlugins appends the difference between the snapshot's record of installed plugins
// and the current ones to the change log; ErrConflict when the tenant's version moved since
// the snapshot (someone else recorded, or changed something).
func (c *Catalog) recordPlugins(ctx context.Context, tenant string, snap *snapshot, plugins []InstalledPlugin) error {
	mu, _ := c.syncMu.LoadOrStore(tenant, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	cur := make([]PluginSeen, 0, len(plugins))
	for _, ip := range plugins {
		s := PluginSeen{PluginID: ip.PluginID, UniqueIdentifier: ip.UniqueIdentifier, Version: ip.Version}
		for _, p := range ip.Providers {
			for _, t := range p.Tools {
				s.Tools = append(s.Tools, p.ID+"/"+t.Name)
			}
		}
		cur = append(cur, s)
	}
	changes := pluginChanges(snap.seen, cur, c.cfg.Now())
	if err := c.cfg.Store.SetPluginsSeen(ctx, tenant, cur, snap.version, changes); err != nil {
		return fmt.Errorf("recording plugin changes of tenant %s: %w", tenant, err)
	}
	return nil
}

// pluginChanges is the change-log entries between two records of installed plugins.
func pluginChanges(old, cur []PluginSeen, now time.Time) []Change {
	index := func(list []PluginSeen) map[string]PluginSeen {
		m := make(map[string]PluginSeen, len(list))
		for _, s := range list {
			m[s.PluginID] = s
		}
		return m
	}
	oldBy, curBy := index(old), index(cur)
	var out []Change
	add := func(k ChangeKind, provider, tool, reason, detail string) {
		out = append(out, Change{At: now, Kind: k, ProviderKind: KindPlugin, ProviderID: provider, Tool: tool, Reason: reason, Detail: detail})
	}
	split := func(full string) (string, string) {
		i := strings.LastIndexByte(full, '/')
		return full[:i], full[i+1:]
	}
	providersOf := func(tools []string) map[string]bool {
		m := map[string]bool{}
		for _, t := range tools {
			p, _ := split(t)
			m[p] = true
		}
		return m
	}
	var ids []string
	for id := range oldBy {
		ids = append(ids, id)
	}
	for id := range curBy {
		if _, ok := oldBy[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		o, had := oldBy[id]
		n, has := curBy[id]
		switch {
		case had && has && o.UniqueIdentifier == n.UniqueIdentifier:
			continue
		case had && !has:
			for p := range sortedKeys(providersOf(o.Tools)) {
				add(ChangeProviderRemoved, p, "", ReasonProviderUninstalled, fmt.Sprintf("plugin %s was uninstalled", o.UniqueIdentifier))
			}
			for _, t := range o.Tools {
				p, tool := split(t)
				add(ChangeToolRemoved, p, tool, ReasonProviderUninstalled, fmt.Sprintf("plugin %s was uninstalled", o.UniqueIdentifier))
			}
		case !had && has:
			for p := range sortedKeys(providersOf(n.Tools)) {
				add(ChangeProviderAdded, p, "", "", fmt.Sprintf("plugin %s installed", n.UniqueIdentifier))
			}
			for _, t := range n.Tools {
				p, tool := split(t)
				add(ChangeToolAdded, p, tool, "", "")
			}
		default: // upgraded, downgraded or re-attached
			op, np := providersOf(o.Tools), providersOf(n.Tools)
			for p := range sortedKeys(np) {
				if op[p] {
					add(ChangeProviderUpdated, p, "", "", fmt.Sprintf("plugin %s replaced by %s", o.UniqueIdentifier, n.UniqueIdentifier))
				} else {
					add(ChangeProviderAdded, p, "", "", fmt.Sprintf("plugin %s installed", n.UniqueIdentifier))
				}
			}
			for p := range sortedKeys(op) {
				if !np[p] {
					add(ChangeProviderRemoved, p, "", ReasonProviderNotInPlugin, fmt.Sprintf("plugin version %s has no provider %s", versionOf(n), p))
				}
			}
			ot, nt := setOf(o.Tools), setOf(n.Tools)
			for _, t := range o.Tools {
				if !nt[t] {
					p, tool := split(t)
					add(ChangeToolRemoved, p, tool, ReasonToolNotInVersion, fmt.Sprintf("plugin version %s has no tool %s", versionOf(n), tool))
				}
			}
			for _, t := range n.Tools {
				if !ot[t] {
					p, tool := split(t)
					add(ChangeToolAdded, p, tool, "", "")
				}
			}
		}
	}
	return out
}

func versionOf(s PluginSeen) string {
	if s.Version != "" {
		return s.Version
	}
	return s.UniqueIdentifier
}

// sortedKeys iterates a set in name order.
func sortedKeys(m map[string]bool) func(func(string) bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return func(yield func(string) bool) {
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// Get returns one provider of the tenant, masked; hidden ones too.
func (c *Catalog) Get(ctx context.Context, tenant, providerID string) (Provider, error) {
	p, err := c.get(ctx, tenant, providerID)
	if err != nil {
		return Provider{}, err
	}
	p.Credentials = maskAll(p.Credentials)
	return p, nil
}

// get finds a provider with its credentials in clear.
func (c *Catalog) get(ctx context.Context, tenant, providerID string) (Provider, error) {
	if err := needTenant(tenant); err != nil {
		return Provider{}, err
	}
	if providerID == "" {
		return Provider{}, fmt.Errorf("provider id is empty: %w", ErrInvalid)
	}
	if isPluginProviderID(providerID) {
		plugins, snap, err := c.current(ctx, tenant)
		if err != nil {
			return Provider{}, err
		}
		for _, ip := range plugins {
			for _, p := range ip.Providers {
				if p.ID != providerID {
					continue
				}
				if i, ok := snap.byID[p.ID]; ok { // credentials stored for it
					if p.Credentials, err = c.open(ctx, tenant, StoredProvider{Provider: snap.stored[i], SealedCredentials: snap.sealed[i]}); err != nil {
						return Provider{}, err
					}
				}
				return p, nil
			}
		}
		return Provider{}, fmt.Errorf("tool provider %s of tenant %s: %w", providerID, tenant, ErrNotFound)
	}
	// The snapshot has every stored provider decoded already: one version read instead of
	// decoding the provider (all its tools) on every call.
	snap, err := c.snapshot(ctx, tenant)
	if err != nil {
		return Provider{}, err
	}
	i, ok := snap.byID[providerID]
	if !ok || snap.stored[i].Kind == KindPlugin {
		return Provider{}, fmt.Errorf("tool provider %s of tenant %s: %w", providerID, tenant, ErrNotFound)
	}
	p := snap.stored[i]
	creds, err := c.open(ctx, tenant, StoredProvider{Provider: p, SealedCredentials: snap.sealed[i]})
	if err != nil {
		return Provider{}, err
	}
	p.Credentials = creds
	return p, nil
}

// isPluginProviderID tells plugin provider ids (author/plugin/provider) from the UUIDs of the
// stored kinds.
func isPluginProviderID(id string) bool { return strings.Count(id, "/") == 2 }

// CallRequest is one tool call.
type CallRequest struct {
	ProviderID string
	Tool       string
	Arguments  map[string]any
	UserID     string
	// Credentials, when given, are used instead of the stored ones (plugin providers keep
	// no credentials in the catalog; the caller passes them per call, as Dify does).
	Credentials map[string]string
}

// Call runs one tool of the tenant's and returns its messages. Arguments are checked against
// the tool's required inputs first; a hidden tool is still callable.
func (c *Catalog) Call(ctx context.Context, tenant string, req CallRequest) (Stream, error) {
	p, err := c.get(ctx, tenant, req.ProviderID)
	if err != nil {
		return nil, err
	}
	var tool *Tool
	for i := range p.Tools {
		if p.Tools[i].Name == req.Tool {
			tool = &p.Tools[i]
		}
	}
	if tool == nil {
		return nil, fmt.Errorf("tool %s of provider %s: %w", req.Tool, req.ProviderID, ErrNotFound)
	}
	if err := checkArguments(tool.InputSchema, req.Arguments); err != nil {
		return nil, fmt.Errorf("calling %s/%s: %w", req.ProviderID, req.Tool, err)
	}
	caller := c.cfg.Callers[p.Kind]
	if caller == nil {
		return nil, fmt.Errorf("tools of kind %s: %w", p.Kind, ErrNoCaller)
	}
	creds := p.Credentials
	if req.Credentials != nil {
		creds = req.Credentials
	}
	args := req.Arguments
	if args == nil {
		args = map[string]any{}
	}
	st, err := caller.Call(ctx, Invocation{Tenant: tenant, UserID: req.UserID, Provider: p, Tool: *tool, Arguments: args, Credentials: creds})
	if err != nil {
		return nil, fmt.Errorf("calling %s/%s: %w", req.ProviderID, req.Tool, err)
	}
	return st, nil
}

// checkArguments refuses a call missing a required argument, naming it: the one check every
// kind agrees on. Types are the tool's to check (a plugin coerces strings, an API validates).
func checkArguments(schema json.RawMessage, args map[string]any) error {
	if len(schema) == 0 {
		return nil
	}
	var s struct {
		Required []string `json:"required"`
	}
	if json.Unmarshal(schema, &s) != nil {
		return nil
	}
	var missing []string
	for _, r := range s.Required {
		if v, ok := args[r]; !ok || v == nil {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("required argument(s) missing: %s: %w", strings.Join(missing, ", "), ErrInvalid)
	}
	return nil
}

// NewProvider is a provider of a stored kind to add: what an import (OpenAPI, workflow, MCP)
// produced, with its credentials in clear.
type NewProvider struct {
	Kind        Kind
	Name        string
	Label       string
	Description string
	Icon        string
	Config      json.RawMessage
	Credentials map[string]string
	Tools       []Tool
}

// Add stores a new provider of kind api, workflow or mcp for the tenant. Its credentials are
// sealed through Secrets; ErrConflict when the tenant has one of that kind and name.
func (c *Catalog) Add(ctx context.Context, tenant string, np NewProvider) (Provider, error) {
	if err := needTenant(tenant); err != nil {
		return Provider{}, err
	}
	if err := checkNew(np); err != nil {
		return Provider{}, err
	}
	now := c.cfg.Now().UTC().Truncate(time.Microsecond)
	p := Provider{ID: uuid.NewString(), Kind: np.Kind, Name: np.Name, Label: orDefault(np.Label, np.Name),
		Description: np.Description, Icon: np.Icon, Config: np.Config, Tools: np.Tools, CreatedAt: now, UpdatedAt: now}
	sp, err := c.seal(ctx, tenant, p, np.Credentials)
	if err != nil {
		return Provider{}, err
	}
	changes := []Change{{At: now, Kind: ChangeProviderAdded, ProviderKind: p.Kind, ProviderID: p.ID, Detail: p.Name}}
	for _, t := range p.Tools {
		changes = append(changes, Change{At: now, Kind: ChangeToolAdded, ProviderKind: p.Kind, ProviderID: p.ID, Tool: t.Name})
	}
	if err := c.cfg.Store.CreateProvider(ctx, tenant, sp, changes); err != nil {
		return Provider{}, fmt.Errorf("adding %s provider %q for tenant %s: %w", p.Kind, p.Name, tenant, err)
	}
	p.Credentials = maskAll(np.Credentials)
	return p, nil
}

// Replace re-imports a stored provider: its tools, config and description are replaced; nil
// credentials keep the stored ones, and a value equal to its masked form keeps that one
// (Dify's [__HIDDEN__] convention, with the mask itself as the marker). Tools that are gone
// are logged as removed by the re-import, which is what Check reports for them later.
func (c *Catalog) Replace(ctx context.Context, tenant, id string, np NewProvider) (Provider, error) {
	old, err := c.get(ctx, tenant, id)
	if err != nil {
		return Provider{}, err
	}
	if old.Kind == KindPlugin {
		return Provider{}, fmt.Errorf("provider %s follows its plugin's installation: %w", id, ErrReadOnly)
	}
	if np.Kind == "" {
		np.Kind = old.Kind
	}
	if np.Name == "" {
		np.Name = old.Name
	}
	if np.Kind != old.Kind {
		return Provider{}, fmt.Errorf("provider %s is of kind %s, not %s: %w", id, old.Kind, np.Kind, ErrInvalid)
	}
	if err := checkNew(np); err != nil {
		return Provider{}, err
	}
	creds := np.Credentials
	if creds == nil {
		creds = old.Credentials
	} else {
		for k, v := range creds {
			if ov, ok := old.Credentials[k]; ok && v == Mask(ov) {
				creds[k] = ov
			}
		}
	}
	now := c.cfg.Now().UTC().Truncate(time.Microsecond)
	p := Provider{ID: id, Kind: old.Kind, Name: np.Name, Label: orDefault(np.Label, np.Name), Description: np.Description,
		Icon: np.Icon, Config: np.Config, Tools: np.Tools, CreatedAt: old.CreatedAt, UpdatedAt: now}
	sp, err := c.seal(ctx, tenant, p, creds)
	if err != nil {
		return Provider{}, err
	}
	changes := []Change{{At: now, Kind: ChangeProviderUpdated, ProviderKind: p.Kind, ProviderID: id, Detail: p.Name}}
	newTools, oldTools := map[string]bool{}, map[string]bool{}
	for _, t := range p.Tools {
		newTools[t.Name] = true
	}
	for _, t := range old.Tools {
		oldTools[t.Name] = true
		if !newTools[t.Name] {
			changes = append(changes, Change{At: now, Kind: ChangeToolRemoved, ProviderKind: p.Kind, ProviderID: id, Tool: t.Name,
				Reason: ReasonOperationRemoved, Detail: fmt.Sprintf("re-import of %q no longer has %s", p.Name, t.Name)})
		}
	}
	for _, t := range p.Tools {
		if !oldTools[t.Name] {
			changes = append(changes, Change{At: now, Kind: ChangeToolAdded, ProviderKind: p.Kind, ProviderID: id, Tool: t.Name})
		}
	}
	if err := c.cfg.Store.ReplaceProvider(ctx, tenant, sp, changes); err != nil {
		return Provider{}, fmt.Errorf("replacing provider %s of tenant %s: %w", id, tenant, err)
	}
	p.Credentials = maskAll(creds)
	return p, nil
}

// SetCredentials stores the credentials of a plugin provider for the tenant (sealed), so that
// calls without credentials of their own — an MCP client's, a script's — use them, as Dify uses
// a builtin provider's default credentials. Empty creds deletes them. They outlive an
// uninstall, as Dify's do, and apply again when the plugin comes back.
func (c *Catalog) SetCredentials(ctx context.Context, tenant, providerID string, creds map[string]string) (Provider, error) {
	if !isPluginProviderID(providerID) {
		return Provider{}, fmt.Errorf("provider %s: only plugin providers take credentials this way (re-import the others): %w", providerID, ErrInvalid)
	}
	p, err := c.get(ctx, tenant, providerID)
	if err != nil {
		return Provider{}, err
	}
	for _, f := range p.CredentialsSchema {
		if f.Required && len(creds) > 0 && creds[f.Name] == "" {
			return Provider{}, fmt.Errorf("provider %s needs the credential %s: %w", providerID, f.Name, ErrInvalid)
		}
	}
	now := c.cfg.Now().UTC().Truncate(time.Microsecond)
	log := []Change{{At: now, Kind: ChangeProviderUpdated, ProviderKind: KindPlugin, ProviderID: providerID, Detail: "credentials changed"}}
	_, err = c.cfg.Store.GetProvider(ctx, tenant, providerID)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Provider{}, fmt.Errorf("credentials of %s: %w", providerID, err)
	}
	switch {
	case len(creds) == 0 && !exists:
		p.Credentials = nil
		return p, nil
	case len(creds) == 0:
		err = c.cfg.Store.DeleteProvider(ctx, tenant, providerID, log)
		p.Credentials = nil
	default:
		var sp StoredProvider
		sp, err = c.seal(ctx, tenant, Provider{ID: providerID, Kind: KindPlugin, Name: providerID, CreatedAt: now, UpdatedAt: now}, creds)
		if err != nil {
			return Provider{}, err
		}
		if exists {
			err = c.cfg.Store.ReplaceProvider(ctx, tenant, sp, log)
		} else {
			err = c.cfg.Store.CreateProvider(ctx, tenant, sp, log)
		}
		p.Credentials = maskAll(creds)
	}
	if err != nil {
		return Provider{}, fmt.Errorf("credentials of %s for tenant %s: %w", providerID, tenant, err)
	}
	return p, nil
}

// Remove deletes a stored provider. Plugin providers go with their plugin's uninstall.
func (c *Catalog) Remove(ctx context.Context, tenant, id string) error {
	if err := needTenant(tenant); err != nil {
		return err
	}
	if isPluginProviderID(id) {
		return fmt.Errorf("provider %s follows its plugin's installation; uninstall the plugin instead: %w", id, ErrReadOnly)
	}
	sp, err := c.cfg.Store.GetProvider(ctx, tenant, id)
	if err != nil {
		return fmt.Errorf("removing provider %s of tenant %s: %w", id, tenant, err)
	}
	now := c.cfg.Now()
	changes := []Change{{At: now, Kind: ChangeProviderRemoved, ProviderKind: sp.Kind, ProviderID: id, Reason: ReasonProviderRemoved, Detail: sp.Name}}
	if err := c.cfg.Store.DeleteProvider(ctx, tenant, id, changes); err != nil {
		return fmt.Errorf("removing provider %s of tenant %s: %w", id, tenant, err)
	}
	return nil
}

// PreferenceChange changes a tenant's preference about one provider (Name = its id) or tool
// (Name = provider_id/tool); a nil field keeps what is stored.
type PreferenceChange struct {
	Target Target `json:"target"`
	Name   string `json:"name"`
	Pinned *bool  `json:"pinned,omitempty"`
	Hidden *bool  `json:"hidden,omitempty"`
}

// SetPreference pins/unpins or hides/shows a provider or a tool and returns the preference
// as it now is. The target must exist for the tenant, so a typo is an error, not a silent
// no-op.
func (c *Catalog) SetPreference(ctx context.Context, tenant string, ch PreferenceChange) (Preference, error) {
	if err := needTenant(tenant); err != nil {
		return Preference{}, err
	}
	switch ch.Target {
	case TargetProvider:
		if _, err := c.get(ctx, tenant, ch.Name); err != nil {
			return Preference{}, err
		}
	case TargetTool:
		i := strings.LastIndexByte(ch.Name, '/')
		if i <= 0 {
			return Preference{}, fmt.Errorf("tool %q: want provider_id/tool_name: %w", ch.Name, ErrInvalid)
		}
		p, err := c.get(ctx, tenant, ch.Name[:i])
		if err != nil {
			return Preference{}, err
		}
		if !slices.ContainsFunc(p.Tools, func(t Tool) bool { return t.Name == ch.Name[i+1:] }) {
			return Preference{}, fmt.Errorf("tool %s of provider %s: %w", ch.Name[i+1:], p.ID, ErrNotFound)
		}
	default:
		return Preference{}, fmt.Errorf("preference target %q: want provider or tool: %w", ch.Target, ErrInvalid)
	}
	prefs, err := c.cfg.Store.Preferences(ctx, tenant)
	if err != nil {
		return Preference{}, fmt.Errorf("reading the preferences of tenant %s: %w", tenant, err)
	}
	pref := Preference{Target: ch.Target, Name: ch.Name}
	for _, p := range prefs {
		if p.Target == ch.Target && p.Name == ch.Name {
			pref = p
		}
	}
	if ch.Pinned != nil {
		pref.Pinned = *ch.Pinned
	}
	if ch.Hidden != nil {
		pref.Hidden = *ch.Hidden
	}
	detail := fmt.Sprintf("%s %s pinned=%t hidden=%t", pref.Target, pref.Name, pref.Pinned, pref.Hidden)
	log := []Change{{At: c.cfg.Now(), Kind: ChangePreference, Detail: detail}}
	if err := c.cfg.Store.SetPreference(ctx, tenant, pref, log); err != nil {
		return Preference{}, fmt.Errorf("setting a preference of tenant %s: %w", tenant, err)
	}
	return pref, nil
}

// Check answers which of the configured tools are gone and why. Tools that exist (hidden or
// not) are not in the answer.
func (c *Catalog) Check(ctx context.Context, tenant string, refs []ToolRef) ([]Deleted, error) {
	if err := needTenant(tenant); err != nil {
		return nil, err
	}
	plugins, snap, err := c.current(ctx, tenant)
	if err != nil {
		return nil, err
	}
	byPlugin := map[string]InstalledPlugin{}
	for _, ip := range plugins {
		byPlugin[ip.PluginID] = ip
	}
	byID := map[string]Provider{}
	for _, p := range snap.stored {
		if p.Kind == KindPlugin {
			continue // credentials kept for a plugin provider
		}
		byID[p.ID] = p
		// Dify stores MCP tools under the server identifier; plugd's name plays that part.
		if p.Kind == KindMCP {
			byID[p.Name] = p
		}
	}
	hasTool := func(p Provider, name string) bool {
		return slices.ContainsFunc(p.Tools, func(t Tool) bool { return t.Name == name })
	}
	var out []Deleted
	for _, ref := range refs {
		gone := func(reason, format string, args ...any) {
			out = append(out, Deleted{ToolRef: ref, Reason: reason, Detail: fmt.Sprintf(format, args...)})
		}
		switch ref.Type {
		case "plugin", "builtin":
			parts := strings.Split(ref.ProviderID, "/")
			if len(parts) == 1 && parts[0] != "" {
				// Dify's hardcoded providers kept their short names in old configs; their
				// plugins are langgenius/<name>/<name>, which Dify also matches them to.
				parts = []string{"langgenius", parts[0], parts[0]}
			}
			if len(parts) != 3 {
				gone(ReasonProviderUninstalled, "provider %q is not a plugin provider id (author/plugin/provider)", ref.ProviderID)
				continue
			}
			ip, ok := byPlugin[parts[0]+"/"+parts[1]]
			if !ok {
				gone(ReasonProviderUninstalled, "plugin %s/%s is not installed", parts[0], parts[1])
				continue
			}
			full := strings.Join(parts, "/")
			idx := slices.IndexFunc(ip.Providers, func(p Provider) bool { return p.ID == full })
			if idx < 0 {
				gone(ReasonProviderNotInPlugin, "installed version %s of plugin %s has no tool provider %s", ip.Version, ip.PluginID, parts[2])
				continue
			}
			if !hasTool(ip.Providers[idx], ref.ToolName) {
				gone(ReasonToolNotInVersion, "installed version %s of plugin %s has no tool %s", ip.Version, ip.PluginID, ref.ToolName)
			}
		case string(KindAPI), string(KindWorkflow), string(KindMCP):
			p, ok := byID[ref.ProviderID]
			if !ok || string(p.Kind) != ref.Type {
				gone(ReasonProviderRemoved, "%s provider %s does not exist (any more)", ref.Type, ref.ProviderID)
				continue
			}
			if hasTool(p, ref.ToolName) {
				continue
			}
			last, err := c.cfg.Store.LastRemoval(ctx, tenant, p.ID, ref.ToolName)
			switch {
			case err == nil && last.Reason != "":
				gone(last.Reason, "%s", last.Detail)
			case err == nil || errors.Is(err, ErrNotFound):
				gone(ReasonToolNotFound, "%s provider %q has no tool %s", p.Kind, p.Name, ref.ToolName)
			default:
				return nil, fmt.Errorf("checking tool %s of %s: %w", ref.ToolName, p.ID, err)
			}
		default:
			gone(ReasonUnknownType, "type %q is not one of plugin, builtin, api, workflow, mcp", ref.Type)
		}
	}
	return out, nil
}

// ChangeSet is the answer to "what changed since N".
type ChangeSet struct {
	Since   int64    `json:"since"`
	Version int64    `json:"version"` // the tenant's current version: ask since this next time
	Changes []Change `json:"changes"`
}

// Changes lists what changed in the tenant's catalog after version since (at most limit
// entries, 0: all). Plugin installs and uninstalls made since the last look are recorded
// first, so they are never missed.
func (c *Catalog) Changes(ctx context.Context, tenant string, since int64, limit int) (ChangeSet, error) {
	if err := needTenant(tenant); err != nil {
		return ChangeSet{}, err
	}
	if since < 0 {
		return ChangeSet{}, fmt.Errorf("since %d: must be >= 0: %w", since, ErrInvalid)
	}
	if _, _, err := c.current(ctx, tenant); err != nil {
		return ChangeSet{}, err
	}
	ch, v, err := c.cfg.Store.Changes(ctx, tenant, since, limit)
	if err != nil {
		return ChangeSet{}, fmt.Errorf("reading the change log of tenant %s: %w", tenant, err)
	}
	if ch == nil {
		ch = []Change{}
	}
	return ChangeSet{Since: since, Version: v, Changes: ch}, nil
}

// seal turns a provider and its clear credentials into the stored form.
func (c *Catalog) seal(ctx context.Context, tenant string, p Provider, creds map[string]string) (StoredProvider, error) {
	sp := StoredProvider{Provider: p}
	sp.Credentials = nil
	if len(creds) == 0 {
		return sp, nil
	}
	if c.cfg.Secrets == nil {
		return sp, fmt.Errorf("provider %q has credentials: %w", p.Name, ErrNoSecrets)
	}
	plain, err := json.Marshal(creds)
	if err != nil {
		return sp, err
	}
	sealed, err := c.cfg.Secrets.Seal(ctx, tenant, credentialRef(p.ID), plain)
	if err != nil {
		return sp, fmt.Errorf("sealing the credentials of provider %q: %w", p.Name, err)
	}
	sp.SealedCredentials = sealed
	sp.Credentials = map[string]string{}
	for k := range creds {
		sp.Credentials[k] = "" // the names only, so lists can mask without opening
	}
	return sp, nil
}

// open returns a stored provider's credentials in clear.
func (c *Catalog) open(ctx context.Context, tenant string, sp StoredProvider) (map[string]string, error) {
	if len(sp.SealedCredentials) == 0 {
		return nil, nil
	}
	if c.cfg.Secrets == nil {
		return nil, fmt.Errorf("provider %q has sealed credentials: %w", sp.Name, ErrNoSecrets)
	}
	plain, err := c.cfg.Secrets.Open(ctx, tenant, credentialRef(sp.ID), sp.SealedCredentials)
	if err != nil {
		return nil, fmt.Errorf("opening the credentials of provider %q: %w", sp.Name, err)
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("credentials of provider %q are not a JSON object: %w", sp.Name, err)
	}
	return m, nil
}

// masked is a stored provider as lists show it: secret names with a fixed mask, since the
// clear values are not opened for a list.
func (c *Catalog) masked(sp StoredProvider) Provider {
	p := sp.Provider
	if len(p.Credentials) > 0 {
		m := make(map[string]string, len(p.Credentials))
		for k := range p.Credentials {
			m[k] = "******"
		}
		p.Credentials = m
	}
	return p
}

// credentialRef is the associated data sealed with a provider's credentials.
func credentialRef(providerID string) string { return "tool-provider:" + providerID }

func checkNew(np NewProvider) error {
	switch np.Kind {
	case KindAPI, KindWorkflow, KindMCP:
	case KindPlugin:
		return fmt.Errorf("plugin providers come from installs, not adds: %w", ErrReadOnly)
	default:
		return fmt.Errorf("provider kind %q: want api, workflow or mcp: %w", np.Kind, ErrInvalid)
	}
	if np.Name == "" || len(np.Name) > 128 || strings.ContainsAny(np.Name, "/\x00") {
		return fmt.Errorf("provider name %q: want 1-128 characters without '/': %w", np.Name, ErrInvalid)
	}
	names := map[string]bool{}
	for i, t := range np.Tools {
		if t.Name == "" || strings.Contains(t.Name, "/") {
			return fmt.Errorf("tool %d of provider %q has a bad name %q: %w", i, np.Name, t.Name, ErrInvalid)
		}
		if names[t.Name] {
			return fmt.Errorf("provider %q has two tools named %s: %w", np.Name, t.Name, ErrInvalid)
		}
		names[t.Name] = true
		if len(t.InputSchema) > 0 && !json.Valid(t.InputSchema) {
			return fmt.Errorf("tool %s of provider %q: input schema is not JSON: %w", t.Name, np.Name, ErrInvalid)
		}
	}
	return nil
}

func needTenant(tenant string) error {
	if tenant == "" {
		return fmt.Errorf("tenant is empty: %w", ErrInvalid)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Mask shows a secret as Dify does: the first 2 and last 2 characters around asterisks for
// the rest, or only asterisks when it has 6 characters or fewer.
func Mask(s string) string {
	r := []rune(s)
	if len(r) <= 6 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:2]) + strings.Repeat("*", len(r)-4) + string(r[len(r)-2:])
}

func maskAll(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = Mask(v)
	}
	return out
}

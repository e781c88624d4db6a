package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/store"
)

// Bounds of the batch routes, the reference's.
const (
	maxInstallBatch = 64
	maxLookupBatch  = 256
	scanPageSize    = 256
	maxPageSize     = 256
)

// installationJSON is the reference's PluginInstallation row as JSON.
type installationJSON struct {
	ID                     string          `json:"id"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	TenantID               string          `json:"tenant_id"`
	PluginID               string          `json:"plugin_id"`
	PluginUniqueIdentifier string          `json:"plugin_unique_identifier"`
	RuntimeType            string          `json:"runtime_type"`
	EndpointsSetups        int             `json:"endpoints_setups"`
	EndpointsActive        int             `json:"endpoints_active"`
	Source                 string          `json:"source"`
	Meta                   json.RawMessage `json:"meta"`
}

// metaOrEmpty is an installation's meta; Dify's model requires an object.
func metaOrEmpty(m json.RawMessage) json.RawMessage {
	if !isObject(m) {
		return json.RawMessage("{}")
	}
	return m
}

func toInstallationJSON(in store.Installation) installationJSON {
	return installationJSON{
		ID: in.ID, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, TenantID: in.TenantID, PluginID: in.PluginID,
		PluginUniqueIdentifier: in.UniqueIdentifier, RuntimeType: in.RuntimeType,
		EndpointsSetups: in.EndpointsSetups, EndpointsActive: in.EndpointsActive, Source: in.Source, Meta: metaOrEmpty(in.Meta),
	}
}

// pluginItem is one entry of the list routes.
type pluginItem struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	PluginID               string          `json:"plugin_id"`
	TenantID               string          `json:"tenant_id"`
	PluginUniqueIdentifier string          `json:"plugin_unique_identifier"`
	EndpointsActive        int             `json:"endpoints_active"`
	EndpointsSetups        int             `json:"endpoints_setups"`
	InstallationID         string          `json:"installation_id"`
	Declaration            json.RawMessage `json:"declaration"`
	RuntimeType            string          `json:"runtime_type"`
	Version                string          `json:"version"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	Source                 string          `json:"source"`
	Checksum               string          `json:"checksum"`
	Meta                   json.RawMessage `json:"meta"`
	// Verification is plugd's addition: the signer's {authorized_category} (langgenius,
	// partner, community) or null for an unverified package, as upload and decode answer it.
	// Dify's models ignore fields they do not declare.
	Verification json.RawMessage `json:"verification"`
}

// verificationOrNull is a stored verification, JSON null when there is none.
func verificationOrNull(v json.RawMessage) json.RawMessage {
	if !isObject(v) {
		return json.RawMessage("null")
	}
	return v
}

func toPluginItem(in store.Installation, d *decl) pluginItem {
	return pluginItem{
		ID: in.ID, Name: d.plugin.Name, PluginID: in.PluginID, TenantID: in.TenantID,
		PluginUniqueIdentifier: in.UniqueIdentifier, EndpointsActive: in.EndpointsActive, EndpointsSetups: in.EndpointsSetups,
		InstallationID: in.ID, Declaration: d.raw, RuntimeType: in.RuntimeType, Version: d.plugin.Version,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, Source: in.Source, Checksum: checksumOf(in.UniqueIdentifier),
		Meta: metaOrEmpty(in.Meta), Verification: verificationOrNull(d.verification),
	}
}

// allInstallations reads every installation of the tenant, a page at a time.
func (s *Server) allInstallations(ctx context.Context, tenant string) ([]store.Installation, error) {
	var all []store.Installation
	for page := 1; ; page++ {
		batch, total, err := s.cfg.Store.ListInstallations(ctx, tenant, store.Page{Page: page, Size: scanPageSize})
		if err != nil {
			return nil, fmt.Errorf("listing installations of tenant %s: %w", tenant, err)
		}
		all = append(all, batch...)
		if len(batch) < scanPageSize || len(all) >= total {
			return all, nil
		}
	}
}

// Install routes.

type identifiersBody struct {
	UIDs   []string          `json:"plugin_unique_identifiers"`
	Source string            `json:"source"`
	Metas  []json.RawMessage `json:"metas"`
}

func (b *identifiersBody) check() error {
	if len(b.UIDs) == 0 || len(b.UIDs) > maxInstallBatch {
		return badRequest("field plugin_unique_identifiers must list 1 to %d identifiers, found %d", maxInstallBatch, len(b.UIDs))
	}
	for i, u := range b.UIDs {
		if _, err := parseUID(u, fmt.Sprintf("plugin_unique_identifiers[%d]", i)); err != nil {
			return err
		}
	}
	if b.Source == "" {
		return badRequest("field source is required (marketplace, github, package or remote)")
	}
	if len(b.Metas) != 0 && len(b.Metas) != len(b.UIDs) {
		return badRequest("field metas has %d items; it must have one per identifier (%d)", len(b.Metas), len(b.UIDs))
	}
	for i, m := range b.Metas {
		if !isNull(m) && !isObject(m) {
			return badRequest("field metas[%d] must be an object", i)
		}
	}
	return nil
}

func (s *Server) installIdentifiers(w http.ResponseWriter, r *http.Request) {
	b, valid := readChecked[identifiersBody](s, w, r)
	if !valid {
		return
	}
	started, err := s.cfg.Installer.Install(r.Context(), r.PathValue("tenant_id"), b.UIDs, b.Source, b.Metas)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, started)
}

type upgradeBody struct {
	Original string          `json:"original_plugin_unique_identifier"`
	New      string          `json:"new_plugin_unique_identifier"`
	Source   string          `json:"source"`
	Meta     json.RawMessage `json:"meta"`
}

func (b *upgradeBody) check() error {
	orig, err := parseUID(b.Original, "original_plugin_unique_identifier")
	if err != nil {
		return err
	}
	nu, err := parseUID(b.New, "new_plugin_unique_identifier")
	if err != nil {
		return err
	}
	switch {
	case orig.pluginID() != nu.pluginID():
		return badRequest("cannot upgrade %s to %s: they are different plugins", orig.pluginID(), nu.pluginID())
	case orig.raw == nu.raw:
		return badRequest("original and new plugin unique identifiers are the same (%s)", orig.raw)
	case b.Source == "":
		return badRequest("field source is required (marketplace, github, package or remote)")
	case !isNull(b.Meta) && !isObject(b.Meta):
		return badRequest("field meta must be an object")
	}
	return nil
}

func (s *Server) installUpgrade(w http.ResponseWriter, r *http.Request) {
	b, valid := readChecked[upgradeBody](s, w, r)
	if !valid {
		return
	}
	started, err := s.cfg.Installer.Upgrade(r.Context(), r.PathValue("tenant_id"), b.Original, b.New, b.Source, b.Meta)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, started)
}

// Tasks.

// taskJSON fills what Dify's task model requires but an older row may lack: a list of
// plugins and labels with en_US.
func taskJSON(t store.Task) store.Task {
	if t.Plugins == nil {
		t.Plugins = []store.TaskPlugin{}
	}
	for i := range t.Plugins {
		p := &t.Plugins[i]
		if !isObject(p.Labels) {
			p.Labels, _ = json.Marshal(manifest.I18n{EnUS: p.PluginID})
		}
	}
	return t
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r, maxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tasks, err := s.cfg.Store.ListTasks(r.Context(), r.PathValue("tenant_id"), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]store.Task, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskJSON(t))
	}
	ok(w, out)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("task_id")
	t, err := s.cfg.Store.GetTask(r.Context(), r.PathValue("tenant_id"), id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("install task %s: %w", id, err))
		return
	}
	ok(w, taskJSON(t))
}

func (s *Server) deleteAllTasks(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Installer.DeleteTasks(r.Context(), r.PathValue("tenant_id")); err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, true)
}

func (s *Server) deleteTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("task_id")
	if err := s.cfg.Installer.DeleteTask(r.Context(), r.PathValue("tenant_id"), id); err != nil {
		s.fail(w, r, fmt.Errorf("install task %s: %w", id, err))
		return
	}
	ok(w, true)
}

func (s *Server) deleteTaskItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("task_id")
	uid, err := parseUID(r.PathValue("identifier"), "plugin unique identifier in the path")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.cfg.Installer.DeleteTaskItem(r.Context(), r.PathValue("tenant_id"), id, uid.raw); err != nil {
		s.fail(w, r, fmt.Errorf("install task %s: %w", id, err))
		return
	}
	ok(w, true)
}

// Packages and declarations.

// uidQuery reads plugin_unique_identifier from the query.
func uidQuery(r *http.Request) (uniqueID, error) {
	return parseUID(r.URL.Query().Get("plugin_unique_identifier"), "query parameter plugin_unique_identifier")
}

func (s *Server) decodeFromIdentifier(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("plugin_unique_identifier")
	if raw == "" {
		// Older Dify sends the identifier as a JSON body on this GET.
		body, err := readBody(w, r, maxManagementBody)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var b struct {
				UID string `json:"plugin_unique_identifier"`
			}
			if err := unmarshalBody(body, &b); err != nil {
				s.fail(w, r, err)
				return
			}
			raw = b.UID
		}
	}
	uid, err := parseUID(raw, "plugin_unique_identifier")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	dec, err := s.cfg.Installer.Decode(r.Context(), uid.raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, dec)
}

func (s *Server) fetchManifest(w http.ResponseWriter, r *http.Request) {
	uid, err := uidQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.decls.get(r.Context(), uid.raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, d.raw)
}

// fetchIdentifier tells whether the unique identifier is installed by any tenant.
func (s *Server) fetchIdentifier(w http.ResponseWriter, r *http.Request) {
	uid, err := uidQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	_, err = s.cfg.Store.GetPlugin(r.Context(), uid.raw)
	switch {
	case err == nil:
		ok(w, true)
	case errors.Is(err, store.ErrNotFound):
		ok(w, false)
	default:
		s.fail(w, r, err)
	}
}

var languages = []string{"en_US", "zh_Hans", "ja_JP", "pt_BR"}

func (s *Server) fetchReadme(w http.ResponseWriter, r *http.Request) {
	uid, err := uidQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lang := r.URL.Query().Get("language")
	if lang == "" {
		lang = "en_US"
	}
	rd, err := s.cfg.Installer.Readme(r.Context(), uid.raw, lang)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, rd)
}

// uninstall removes an installation; a missing one is not an error, as in the reference,
// so that Dify can retry a removal that half failed.
func (s *Server) uninstall(w http.ResponseWriter, r *http.Request) {
	var b struct {
		ID string `json:"plugin_installation_id"`
	}
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	if b.ID == "" {
		s.fail(w, r, badRequest("field plugin_installation_id is required"))
		return
	}
	err := s.cfg.Installer.Uninstall(r.Context(), r.PathValue("tenant_id"), b.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	ok(w, true)
}

// resetPlugin is plugd's own route (the reference has none): POST
// /plugin/{tenant_id}/management/reset {"plugin_id": "author/name"} clears the failed state of
// the tenant's installed version at once, so a crash-looping plugin whose cause is fixed need
// not wait out its back-off. The plugin's process is shared by every tenant that installed
// that version, so the reset is too. data: {"plugin_unique_identifier", "running"}; running
// is false when no process of it had been started since the daemon started.
func (s *Server) resetPlugin(w http.ResponseWriter, r *http.Request) {
	var b struct {
		PluginID string `json:"plugin_id"`
	}
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	if b.PluginID == "" {
		s.fail(w, r, badRequest("field plugin_id is required"))
		return
	}
	inst, err := s.cfg.Store.GetInstallationByPlugin(r.Context(), r.PathValue("tenant_id"), b.PluginID)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, notFound("plugin %s is not installed for this tenant", b.PluginID))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, map[string]any{"plugin_unique_identifier": inst.UniqueIdentifier, "running": s.cfg.Reset(inst.UniqueIdentifier)})
}

// Listing installations.

func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r, maxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	insts, total, err := s.cfg.Store.ListInstallations(r.Context(), r.PathValue("tenant_id"), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	list := make([]pluginItem, 0, len(insts))
	for _, in := range insts {
		d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		list = append(list, toPluginItem(in, d))
	}
	ok(w, map[string]any{"list": list, "total": total})
}

var categories = []string{
	manifest.CategoryTool, manifest.CategoryModel, manifest.CategoryExtension,
	manifest.CategoryAgentStrategy, manifest.CategoryDatasource, manifest.CategoryTrigger,
}

func checkCategory(c string) error {
	if !slices.Contains(categories, c) {
		return badRequest("category %q is unknown; expected one of %s", truncate(c, 64), strings.Join(categories, ", "))
	}
	return nil
}

func (s *Server) installationIDs(w http.ResponseWriter, r *http.Request) {
	cat, err := requiredQuery(r, "category")
	if err == nil {
		err = checkCategory(cat)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	insts, err := s.allInstallations(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := []string{}
	for _, in := range insts {
		d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if d.plugin.Category() == cat {
			ids = append(ids, in.PluginID)
		}
	}
	ok(w, map[string]any{"plugin_ids": ids})
}

// listByCategory pages the tenant's plugins of one category, filtered by query (a substring
// of the plugin id, name or label) and tags (any of them).
func (s *Server) listByCategory(w http.ResponseWriter, r *http.Request) {
	cat := r.PathValue("category")
	if err := checkCategory(cat); err != nil {
		s.fail(w, r, err)
		return
	}
	p, err := pageParams(r, maxPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	lang := q.Get("language")
	if lang != "" && !slices.Contains(languages, lang) {
		s.fail(w, r, badRequest("query parameter language=%q is unknown; expected one of %s", truncate(lang, 64), strings.Join(languages, ", ")))
		return
	}
	query := strings.ToLower(q.Get("query"))
	var tags []string
	for _, t := range q["tags"] {
		for _, part := range strings.Split(t, ",") {
			if part = strings.TrimSpace(part); part != "" {
				tags = append(tags, part)
			}
		}
	}
	insts, err := s.allInstallations(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	skip, list := p.Offset(), []pluginItem{}
	hasMore := false
	for _, in := range insts {
		d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if d.plugin.Category() != cat || !matches(&d.plugin, in.PluginID, query, tags, lang) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(list) == p.Size {
			hasMore = true
			break
		}
		list = append(list, toPluginItem(in, d))
	}
	ok(w, map[string]any{"list": list, "has_more": hasMore})
}

func matches(p *manifest.Plugin, pluginID, query string, tags []string, lang string) bool {
	if len(tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(p.Tags, t) }) {
		return false
	}
	if query == "" {
		return true
	}
	label := p.Label.EnUS
	switch lang {
	case "zh_Hans":
		label = cmpOr(p.Label.ZhHans, label)
	case "ja_JP":
		label = cmpOr(p.Label.JaJP, label)
	case "pt_BR":
		label = cmpOr(p.Label.PtBR, label)
	}
	for _, s := range []string{pluginID, p.Name, label} {
		if strings.Contains(strings.ToLower(s), query) {
			return true
		}
	}
	return false
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// pluginIDsBody is the body of the batch lookups.
type pluginIDsBody struct {
	PluginIDs []string `json:"plugin_ids"`
}

func (s *Server) fetchBatch(w http.ResponseWriter, r *http.Request) {
	var b pluginIDsBody
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	if len(b.PluginIDs) > maxLookupBatch {
		s.fail(w, r, badRequest("field plugin_ids lists %d plugins; at most %d are allowed", len(b.PluginIDs), maxLookupBatch))
		return
	}
	type item struct {
		installationJSON
		Version     string          `json:"version"`
		Checksum    string          `json:"checksum"`
		Declaration json.RawMessage `json:"declaration"`
	}
	out := []item{}
	if len(b.PluginIDs) > 0 {
		insts, err := s.cfg.Store.InstallationsByPlugins(r.Context(), r.PathValue("tenant_id"), b.PluginIDs)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, in := range insts {
			d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			out = append(out, item{toInstallationJSON(in), d.plugin.Version, checksumOf(in.UniqueIdentifier), d.raw})
		}
	}
	ok(w, out)
}

// missing reports which of the identifiers the tenant lacks, or has in another version.
func (s *Server) missing(w http.ResponseWriter, r *http.Request) {
	var b struct {
		UIDs []string `json:"plugin_unique_identifiers"`
	}
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	if len(b.UIDs) > maxLookupBatch {
		s.fail(w, r, badRequest("field plugin_unique_identifiers lists %d identifiers; at most %d are allowed", len(b.UIDs), maxLookupBatch))
		return
	}
	uids := make([]uniqueID, 0, len(b.UIDs))
	ids := make([]string, 0, len(b.UIDs))
	for i, raw := range b.UIDs {
		u, err := parseUID(raw, fmt.Sprintf("plugin_unique_identifiers[%d]", i))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		uids = append(uids, u)
		ids = append(ids, u.pluginID())
	}
	type missingItem struct {
		UID     string `json:"plugin_unique_identifier"`
		Current string `json:"current_identifier,omitempty"`
	}
	out := []missingItem{}
	if len(uids) > 0 {
		insts, err := s.cfg.Store.InstallationsByPlugins(r.Context(), r.PathValue("tenant_id"), ids)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		installed := map[string]string{}
		for _, in := range insts {
			installed[in.PluginID] = in.UniqueIdentifier
		}
		for _, u := range uids {
			cur, have := installed[u.pluginID()]
			if !have || cur != u.raw {
				out = append(out, missingItem{u.raw, cur})
			}
		}
	}
	ok(w, out)
}

// Providers.

// providerItem is the reference's per-kind installation row (ToolInstallation and friends)
// with the provider's declaration.
type providerItem struct {
	ID                     string          `json:"id"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`
	TenantID               string          `json:"tenant_id"`
	Provider               string          `json:"provider"`
	PluginUniqueIdentifier string          `json:"plugin_unique_identifier"`
	PluginID               string          `json:"plugin_id"`
	Declaration            json.RawMessage `json:"declaration"`
	// Meta is the plugin's meta, sent for agent strategies only.
	Meta json.RawMessage `json:"meta,omitempty"`
}

func toProviderItem(in store.Installation, d *decl, k providerKind) (providerItem, bool) {
	name, raw, has := d.provider(k)
	if !has {
		return providerItem{}, false
	}
	it := providerItem{
		ID: in.ID, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, TenantID: in.TenantID, Provider: name,
		PluginUniqueIdentifier: in.UniqueIdentifier, PluginID: in.PluginID, Declaration: raw,
	}
	if k == kindAgent {
		it.Meta = d.parts.Meta
	}
	return it, true
}

// providerList pages the tenant's providers of one kind. Each plugin declares at most one
// provider of a kind, so the installations are filtered, then paged.
func (s *Server) providerList(k providerKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := pageParams(r, maxPageSize)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		insts, err := s.allInstallations(r.Context(), r.PathValue("tenant_id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		skip, out := p.Offset(), []providerItem{}
		for _, in := range insts {
			if len(out) == p.Size {
				break
			}
			d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			it, has := toProviderItem(in, d, k)
			if !has {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, it)
		}
		ok(w, out)
	}
}

// providerGet answers one provider by plugin_id and provider name.
func (s *Server) providerGet(k providerKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pluginID, err := requiredQuery(r, "plugin_id")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		provider, err := requiredQuery(r, "provider")
		if err != nil {
			s.fail(w, r, err)
			return
		}
		in, err := s.cfg.Store.GetInstallationByPlugin(r.Context(), r.PathValue("tenant_id"), pluginID)
		if err != nil {
			s.fail(w, r, classify(fmt.Errorf("plugin %s: %w", pluginID, err), true))
			return
		}
		d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		it, has := toProviderItem(in, d, k)
		if !has || it.Provider != provider {
			s.fail(w, r, pluginNotFound("plugin %s has no provider %q of this kind", pluginID, truncate(provider, 128)))
			return
		}
		ok(w, it)
	}
}

func (s *Server) toolsExist(w http.ResponseWriter, r *http.Request) {
	var b struct {
		ProviderIDs []struct {
			PluginID     string `json:"plugin_id"`
			ProviderName string `json:"provider_name"`
		} `json:"provider_ids"`
	}
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	if len(b.ProviderIDs) > maxLookupBatch {
		s.fail(w, r, badRequest("field provider_ids lists %d providers; at most %d are allowed", len(b.ProviderIDs), maxLookupBatch))
		return
	}
	ids := make([]string, 0, len(b.ProviderIDs))
	for i, p := range b.ProviderIDs {
		if p.PluginID == "" || p.ProviderName == "" {
			s.fail(w, r, badRequest("field provider_ids[%d] needs plugin_id and provider_name", i))
			return
		}
		ids = append(ids, p.PluginID)
	}
	out := make([]bool, len(b.ProviderIDs))
	if len(ids) > 0 {
		insts, err := s.cfg.Store.InstallationsByPlugins(r.Context(), r.PathValue("tenant_id"), ids)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		tools := map[string]string{} // plugin id -> tool provider name
		for _, in := range insts {
			d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if name, _, has := d.provider(kindTool); has {
				tools[in.PluginID] = name
			}
		}
		for i, p := range b.ProviderIDs {
			name, has := tools[p.PluginID]
			out[i] = has && name == p.ProviderName
		}
	}
	ok(w, out)
}

// modelBindings lists the tenant's model providers with where they come from.
func (s *Server) modelBindings(w http.ResponseWriter, r *http.Request) {
	insts, err := s.allInstallations(r.Context(), r.PathValue("tenant_id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type binding struct {
		Provider               string `json:"provider"`
		InstallationID         string `json:"installation_id"`
		PluginID               string `json:"plugin_id"`
		PluginUniqueIdentifier string `json:"plugin_unique_identifier"`
		RuntimeType            string `json:"runtime_type"`
		Source                 string `json:"source"`
		Version                string `json:"version"`
		Verified               bool   `json:"verified"`
	}
	out := []binding{}
	for _, in := range insts {
		d, err := s.decls.get(r.Context(), in.UniqueIdentifier)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if name, _, has := d.provider(kindModel); has {
			out = append(out, binding{name, in.ID, in.PluginID, in.UniqueIdentifier, in.RuntimeType, in.Source, d.plugin.Version, d.verified()})
		}
	}
	ok(w, out)
}

package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
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

// maxEndpointPageSize is the reference's bound for endpoint lists.
const maxEndpointPageSize = 100

// endpointExpiry is the expiry the reference gives every endpoint: in effect, never.
var endpointExpiry = time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)

// endpointJSON is Dify's EndpointEntityWithInstance.
type endpointJSON struct {
	ID          string                     `json:"id"`
	CreatedAt   time.Time                  `json:"created_at"`
	UpdatedAt   time.Time                  `json:"updated_at"`
	Settings    map[string]any             `json:"settings"`
	TenantID    string                     `json:"tenant_id"`
	UserID      string                     `json:"user_id"`
	PluginID    string                     `json:"plugin_id"`
	ExpiredAt   time.Time                  `json:"expired_at"`
	Declaration *manifest.EndpointProvider `json:"declaration"`
	Name        string                     `json:"name"`
	Enabled     bool                       `json:"enabled"`
	HookID      string                     `json:"hook_id"`
}

// parseSettings decodes settings, keeping numbers exact.
func parseSettings(raw json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	if isNull(raw) {
		return out, nil
	}
	if !isObject(raw) {
		return nil, badRequest("field settings must be an object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, badRequest("field settings: %v", err)
	}
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// validateSettings checks settings against the endpoint group's declared settings: required
// ones are present, and values have the declared type. Undeclared keys are kept, as in the
// reference.
func validateSettings(settings map[string]any, configs []manifest.ProviderConfig) error {
	for _, c := range configs {
		v, present := settings[c.Name]
		if !present || v == nil || v == "" {
			if c.Required {
				return badRequest("settings.%s is required", c.Name)
			}
			continue
		}
		switch c.Type {
		case "secret-input", "text-input":
			if _, ok := v.(string); !ok {
				return badRequest("settings.%s must be a string", c.Name)
			}
		case "select":
			sv, ok := v.(string)
			if !ok {
				return badRequest("settings.%s must be a string", c.Name)
			}
			if len(c.Options) > 0 && !slices.ContainsFunc(c.Options, func(o manifest.ConfigOption) bool { return o.Value == sv }) {
				vals := make([]string, 0, len(c.Options))
				for _, o := range c.Options {
					vals = append(vals, o.Value)
				}
				return badRequest("settings.%s=%q is not one of %s", c.Name, truncate(sv, 128), strings.Join(vals, ", "))
			}
		case "boolean":
			switch v := v.(type) {
			case bool:
			case string:
				if v != "true" && v != "false" {
					return badRequest("settings.%s must be true or false", c.Name)
				}
			default:
				return badRequest("settings.%s must be true or false", c.Name)
			}
		case "app-selector", "model-selector":
			if _, ok := v.(map[string]any); !ok {
				return badRequest("settings.%s must be an object", c.Name)
			}
		case "array[tools]":
			if _, ok := v.([]any); !ok {
				return badRequest("settings.%s must be an array", c.Name)
			}
		}
	}
	return nil
}

// maskSecret hides a secret the way the reference does, so that a masked value sent back
// unchanged by the UI is recognised: the first and last two characters of longer values,
// stars for the rest.
func maskSecret(s string) string {
	if len(s) > 6 {
		return s[:2] + strings.Repeat("*", len(s)-4) + s[len(s)-2:]
	}
	return strings.Repeat("*", len(s))
}

func isSecret(name string, configs []manifest.ProviderConfig) bool {
	return slices.ContainsFunc(configs, func(c manifest.ProviderConfig) bool { return c.Name == name && c.Type == "secret-input" })
}

// maskSettings returns settings with secret-input values masked.
func maskSettings(settings map[string]any, configs []manifest.ProviderConfig) map[string]any {
	out := make(map[string]any, len(settings))
	for k, v := range settings {
		if s, ok := v.(string); ok && isSecret(k, configs) {
			v = maskSecret(s)
		}
		out[k] = v
	}
	return out
}

// endpointDecl finds the endpoint declaration of the tenant's installation of pluginID.
func (s *Server) endpointDecl(ctx context.Context, tenant, pluginID string) (store.Installation, *decl, error) {
	in, err := s.cfg.Store.GetInstallationByPlugin(ctx, tenant, pluginID)
	if err != nil {
		return in, nil, classify(fmt.Errorf("plugin %s is not installed: %w", pluginID, err), true)
	}
	d, err := s.decls.get(ctx, in.UniqueIdentifier)
	if err != nil {
		return in, nil, err
	}
	if d.plugin.Endpoint == nil {
		return in, nil, badRequest("plugin %s declares no endpoints", pluginID)
	}
	return in, d, nil
}

type setupBody struct {
	UID      string          `json:"plugin_unique_identifier"`
	UserID   string          `json:"user_id"`
	Settings json.RawMessage `json:"settings"`
	Name     string          `json:"name"`
}

func (b *setupBody) check() (uniqueID, map[string]any, error) {
	uid, err := parseUID(b.UID, "plugin_unique_identifier")
	if err != nil {
		return uid, nil, err
	}
	if b.UserID == "" {
		return uid, nil, badRequest("field user_id is required")
	}
	if strings.TrimSpace(b.Name) == "" {
		return uid, nil, badRequest("field name is required")
	}
	settings, err := parseSettings(b.Settings)
	return uid, settings, err
}

func (s *Server) endpointSetup(w http.ResponseWriter, r *http.Request) {
	var b setupBody
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	uid, settings, err := b.check()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant := r.PathValue("tenant_id")
	in, d, err := s.endpointDecl(r.Context(), tenant, uid.pluginID())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if in.UniqueIdentifier != uid.raw {
		s.fail(w, r, pluginNotFound("plugin %s is installed as %s, not %s", uid.pluginID(), in.UniqueIdentifier, uid.raw))
		return
	}
	if perm := d.plugin.Resource.Permission; perm == nil || perm.Endpoint == nil || !perm.Endpoint.Enabled {
		s.fail(w, r, permissionDenied("plugin %s does not ask for the endpoint permission in its manifest (resource.permission.endpoint.enabled)", uid.pluginID()))
		return
	}
	if err := validateSettings(settings, d.plugin.Endpoint.Settings); err != nil {
		s.fail(w, r, err)
		return
	}
	id := newUUID()
	sealed, err := s.secrets(r.Context(), tenant, id, secretsEncrypt, settings, d.plugin.Endpoint.Settings)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, _ := json.Marshal(sealed)
	_, err = s.cfg.Store.CreateEndpoint(r.Context(), store.Endpoint{
		ID: id, HookID: newHookID(), TenantID: tenant, UserID: b.UserID, PluginID: uid.pluginID(),
		Name: b.Name, Enabled: true, ExpiredAt: endpointExpiry, Settings: raw,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok(w, true)
}

type endpointIDBody struct {
	EndpointID string `json:"endpoint_id"`
}

func (b *endpointIDBody) check() error {
	if b.EndpointID == "" {
		return badRequest("field endpoint_id is required")
	}
	return nil
}

func (s *Server) endpointRemove(w http.ResponseWriter, r *http.Request) {
	b, valid := readChecked[endpointIDBody](s, w, r)
	if !valid {
		return
	}
	tenant := r.PathValue("tenant_id")
	e, getErr := s.cfg.Store.GetEndpoint(r.Context(), tenant, b.EndpointID)
	if err := s.cfg.Store.DeleteEndpoint(r.Context(), tenant, b.EndpointID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			// The reference answers a missing endpoint with its database's "record not
			// found" as an internal error, and Dify's delete_endpoint (a retry, two clicks)
			// takes exactly that as success; -404 would make it raise.
			s.fail(w, r, internalError("failed to remove endpoint: record not found"))
			return
		}
		s.fail(w, r, fmt.Errorf("failed to remove endpoint %s: %w", b.EndpointID, err))
		return
	}
	if getErr == nil {
		s.clearSecrets(r.Context(), tenant, e.ID, e.PluginID)
	}
	ok(w, true)
}

type updateBody struct {
	EndpointID string          `json:"endpoint_id"`
	UserID     string          `json:"user_id"`
	Settings   json.RawMessage `json:"settings"`
	Name       string          `json:"name"`
}

func (b *updateBody) check() (map[string]any, error) {
	switch {
	case b.EndpointID == "":
		return nil, badRequest("field endpoint_id is required")
	case b.UserID == "":
		return nil, badRequest("field user_id is required")
	case strings.TrimSpace(b.Name) == "":
		return nil, badRequest("field name is required")
	}
	return parseSettings(b.Settings)
}

// endpointUpdate renames an endpoint and replaces its settings. A secret sent back exactly as
// the list masked it keeps its stored value: the UI never has the real one.
func (s *Server) endpointUpdate(w http.ResponseWriter, r *http.Request) {
	var b updateBody
	if err := decodeJSON(w, r, maxManagementBody, &b); err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	settings, err := b.check()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant := r.PathValue("tenant_id")
	e, err := s.cfg.Store.GetEndpoint(r.Context(), tenant, b.EndpointID)
	if err != nil {
		s.fail(w, r, fmt.Errorf("endpoint %s: %w", b.EndpointID, err))
		return
	}
	_, d, err := s.endpointDecl(r.Context(), tenant, e.PluginID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	configs := d.plugin.Endpoint.Settings
	old, err := parseSettings(e.Settings)
	if err != nil {
		old = map[string]any{} // unreadable stored settings: every secret must be sent anew
	} else if old, err = s.secrets(r.Context(), tenant, e.ID, secretsDecrypt, old, configs); err != nil {
		s.fail(w, r, err)
		return
	}
	for k, v := range settings {
		sv, isStr := v.(string)
		ov, had := old[k].(string)
		if isStr && had && isSecret(k, configs) && sv == maskSecret(ov) {
			settings[k] = ov
		}
	}
	if err := validateSettings(settings, configs); err != nil {
		s.fail(w, r, err)
		return
	}
	sealed, err := s.secrets(r.Context(), tenant, e.ID, secretsEncrypt, settings, configs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e.Settings, _ = json.Marshal(sealed)
	e.Name = b.Name
	if _, err := s.cfg.Store.UpdateEndpoint(r.Context(), e); err != nil {
		s.fail(w, r, fmt.Errorf("endpoint %s: %w", b.EndpointID, err))
		return
	}
	s.clearSecrets(r.Context(), tenant, e.ID, e.PluginID)
	ok(w, true)
}

func (s *Server) endpointEnable(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, valid := readChecked[endpointIDBody](s, w, r)
		if !valid {
			return
		}
		e, err := s.cfg.Store.GetEndpoint(r.Context(), r.PathValue("tenant_id"), b.EndpointID)
		if err != nil {
			s.fail(w, r, fmt.Errorf("endpoint %s: %w", b.EndpointID, err))
			return
		}
		if e.Enabled != enabled {
			e.Enabled = enabled
			if _, err := s.cfg.Store.UpdateEndpoint(r.Context(), e); err != nil {
				s.fail(w, r, fmt.Errorf("endpoint %s: %w", b.EndpointID, err))
				return
			}
		}
		ok(w, true)
	}
}

func (s *Server) endpointList(w http.ResponseWriter, r *http.Request) {
	s.listEndpoints(w, r, "")
}

func (s *Server) endpointListPlugin(w http.ResponseWriter, r *http.Request) {
	pluginID, err := requiredQuery(r, "plugin_id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listEndpoints(w, r, pluginID)
}

// listEndpoints lists endpoints with masked settings and their plugin's endpoint declaration;
// an endpoint whose plugin is gone shows empty settings and declaration, as in the reference.
func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, pluginID string) {
	p, err := pageParams(r, maxEndpointPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tenant := r.PathValue("tenant_id")
	eps, err := s.cfg.Store.ListEndpoints(r.Context(), tenant, pluginID, p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	decls := map[string]*decl{} // by plugin id; nil: not installed
	out := make([]endpointJSON, 0, len(eps))
	for _, e := range eps {
		d, seen := decls[e.PluginID]
		if !seen {
			_, d, err = s.endpointDecl(r.Context(), tenant, e.PluginID)
			if err != nil {
				if classify(err, false).code == -500 {
					s.fail(w, r, err)
					return
				}
				d = nil // uninstalled, or no longer declaring endpoints
			}
			decls[e.PluginID] = d
		}
		j := endpointJSON{
			ID: e.ID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, TenantID: e.TenantID, UserID: e.UserID,
			PluginID: e.PluginID, ExpiredAt: e.ExpiredAt, Name: e.Name, Enabled: e.Enabled, HookID: e.HookID,
			Settings:    map[string]any{},
			Declaration: &manifest.EndpointProvider{Settings: []manifest.ProviderConfig{}, Endpoints: []manifest.Endpoint{}},
		}
		if d != nil {
			j.Declaration = d.plugin.Endpoint
			if settings, err := parseSettings(e.Settings); err == nil {
				plain, err := s.secrets(r.Context(), tenant, e.ID, secretsDecrypt, settings, d.plugin.Endpoint.Settings)
				if err != nil {
					s.fail(w, r, fmt.Errorf("endpoint %s: %w", e.ID, err))
					return
				}
				j.Settings = maskSettings(plain, d.plugin.Endpoint.Settings)
			}
		}
		out = append(out, j)
	}
	ok(w, out)
}

// newHookID returns a random 16-letter lowercase hook id, the reference's form: 75 bits,
// the capability that guards /e/.
func newHookID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	for i := range b {
		b[i] = letters[randIntn(len(letters))]
	}
	return string(b)
}

// randIntn is a uniform crypto/rand integer in [0, n), n <= 256.
func randIntn(n int) int {
	limit := 256 - 256%n
	var one [1]byte
	for {
		_, _ = rand.Read(one[:]) // never fails
		if int(one[0]) < limit {
			return int(one[0]) % n
		}
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// clearSecrets tells Dify to drop what it cached of an endpoint's settings after a change or
// removal, as the reference does; a failure only costs a stale cache, so it is logged.
func (s *Server) clearSecrets(ctx context.Context, tenant, endpointID, pluginID string) {
	_, d, err := s.endpointDecl(ctx, tenant, pluginID)
	if err != nil || !s.needsSecrets(d.plugin.Endpoint.Settings) {
		return
	}
	if _, err := s.secrets(ctx, tenant, endpointID, secretsClear, map[string]any{}, d.plugin.Endpoint.Settings); err != nil {
		s.log.Warn("clearing endpoint secrets in Dify", "endpoint", endpointID, "err", err)
	}
}

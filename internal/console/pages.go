package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/mcpserver"
)

func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"/static/", http.FileServerFS(static))
	m.Handle("GET "+Prefix+"/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	m.HandleFunc("GET "+Prefix+"/login", c.loginPage)
	m.HandleFunc("POST "+Prefix+"/login", c.login)
	m.HandleFunc("POST "+Prefix+"/logout", c.auth(func(w http.ResponseWriter, r *http.Request, _ session) { c.logout(w, r) }))
	m.HandleFunc("GET "+Prefix+"/{$}", c.auth(func(w http.ResponseWriter, r *http.Request, _ session) {
		http.Redirect(w, r, tenantURL(c.cfg.DefaultTenant, "plugins"), http.StatusSeeOther)
	}))
	m.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET "+Prefix+"/switch", c.auth(func(w http.ResponseWriter, r *http.Request, _ session) {
		t := strings.TrimSpace(r.URL.Query().Get("tenant"))
		if t == "" {
			t = c.cfg.DefaultTenant
		}
		http.Redirect(w, r, tenantURL(t, "plugins"), http.StatusSeeOther)
	}))
	const T = Prefix + "/t/{tenant}/"
	for pattern, h := range map[string]authed{
		"GET " + T + "plugins":               c.pluginsPage,
		"POST " + T + "plugins/uninstall":    c.uninstall,
		"POST " + T + "plugins/reset":        c.resetPlugin,
		"GET " + T + "install":               c.installPage,
		"POST " + T + "install/marketplace":  c.installMarketplace,
		"GET " + T + "tasks":                 c.tasksPage,
		"GET " + T + "tasks/{id}":            c.taskPage,
		"GET " + T + "tools":                 c.toolsPage,
		"POST " + T + "tools/preference":     c.toolPreference,
		"GET " + T + "tools/try":             c.tryPage,
		"POST " + T + "tools/call":           c.toolCall,
		"GET " + T + "openapi":               c.openAPIPage,
		"POST " + T + "openapi":              c.openAPIImport,
		"POST " + T + "providers/delete":     c.providerDelete,
		"GET " + T + "mcp":                   c.mcpPage,
		"POST " + T + "mcp/servers":          c.mcpAddServer,
		"POST " + T + "mcp/tokens":           c.mcpCreateToken,
		"POST " + T + "mcp/tokens/revoke":    c.mcpRevokeToken,
		"GET " + T + "debug":                 c.debugPage,
		"POST " + T + "debug":                c.debugKey,
		"GET " + T + "oauth":                 c.oauthPage,
		"POST " + T + "oauth/clients":        c.oauthSetClient,
		"POST " + T + "oauth/clients/delete": c.oauthDeleteClient,
		"POST " + T + "oauth/connect":        c.oauthConnect,
		"GET " + T + "oauth/flows/{id}":      c.oauthFlowStatus,
		"POST " + T + "oauth/disconnect":     c.oauthDisconnect,
	} {
		m.HandleFunc(pattern, c.auth(h))
	}
	// The upload's CSRF token is the multipart form's first part, checked as it streams.
	m.HandleFunc("POST "+T+"install", c.authUpload(c.install))
}

func tenantURL(tenant, page string) string {
	return Prefix + "/t/" + url.PathEscape(tenant) + "/" + page
}

func apiTenant(r *http.Request) string { return url.PathEscape(r.PathValue("tenant")) }

// escapeID escapes a provider id for an API path segment by segment: plugin provider ids
// are author/plugin/provider, and a dot segment must not walk to another route.
func escapeID(id string) string {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		switch p {
		case ".", "..":
			parts[i] = strings.Repeat("%2E", len(p))
		default:
			parts[i] = url.PathEscape(p)
		}
	}
	return strings.Join(parts, "/")
}

// base is the page skeleton for a request.
func (c *Console) base(r *http.Request, s session, title, nav string) page {
	return page{Title: title, Nav: nav, Tenant: r.PathValue("tenant"), User: userLabel(s.user), CSRF: s.csrf,
		Flash: r.URL.Query().Get("done")}
}

func userLabel(u string) string {
	if u == "" {
		return "server key"
	}
	return u
}

// back redirects to a page of the tenant with a note shown on it.
func back(w http.ResponseWriter, r *http.Request, page, note string) {
	u := tenantURL(r.PathValue("tenant"), page)
	if note != "" {
		if strings.Contains(u, "?") {
			u += "&"
		} else {
			u += "?"
		}
		u += "done=" + url.QueryEscape(note)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// Plugins.

type pluginRow struct {
	InstallationID, PluginID, UID, Name, Version, Source, State, StateError string
	Verified                                                                string
	RSS                                                                     int64
	InFlight                                                                int
	Calls, Errors                                                           float64
	MeanLatency                                                             float64 // seconds; 0 when no calls
}

type pluginItem struct {
	InstallationID string          `json:"installation_id"`
	PluginID       string          `json:"plugin_id"`
	UID            string          `json:"plugin_unique_identifier"`
	Name           string          `json:"name"`
	Version        string          `json:"version"`
	Source         string          `json:"source"`
	Verification   json.RawMessage `json:"verification"`
}

type pluginState struct {
	UID      string `json:"unique_identifier"`
	State    string `json:"state"`
	Error    string `json:"error"`
	RSS      int64  `json:"rss"`
	InFlight int    `json:"in_flight"`
}

func (c *Console) pluginsPage(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "Plugins", "plugins")
	var list struct {
		List  []pluginItem `json:"list"`
		Total int          `json:"total"`
	}
	if err := c.call(r.Context(), "GET", "/plugin/"+apiTenant(r)+"/management/list?page=1&page_size=256", nil, &list); err != nil {
		p.Error = err.Error()
	}
	states := map[string]pluginState{}
	if rec, err := c.do(r.Context(), "GET", "/health/ready", nil, nil); err == nil {
		var ready struct {
			Plugins []pluginState `json:"plugins"`
		}
		if json.Unmarshal(rec.buf.Bytes(), &ready) == nil {
			for _, st := range ready.Plugins {
				states[st.UID] = st
			}
		}
	}
	stats := c.pluginStats()
	rows := make([]pluginRow, 0, len(list.List))
	for _, it := range list.List {
		row := pluginRow{InstallationID: it.InstallationID, PluginID: it.PluginID, UID: it.UID, Name: it.Name,
			Version: it.Version, Source: it.Source, State: "idle", Verified: "unverified"}
		var v struct {
			Category string `json:"authorized_category"`
		}
		if json.Unmarshal(it.Verification, &v) == nil && v.Category != "" {
			row.Verified = v.Category
		}
		if st, ok := states[it.UID]; ok {
			row.State, row.StateError, row.RSS, row.InFlight = st.State, st.Error, st.RSS, st.InFlight
		}
		if st, ok := stats[it.UID]; ok {
			row.Calls, row.Errors = st.calls, st.errors
			if st.count > 0 {
				row.MeanLatency = st.seconds / st.count
			}
			if row.RSS == 0 {
				row.RSS = int64(st.rss)
			}
		}
		rows = append(rows, row)
	}
	p.Data = rows
	c.render(w, http.StatusOK, "plugins.html", p)
}

type pluginStat struct{ calls, errors, seconds, count, rss float64 }

// pluginStats reads the dispatcher's series from the registry: invocations and errors
// summed over actions, the latency histogram's sum and count, resident memory.
func (c *Console) pluginStats() map[string]*pluginStat {
	out := map[string]*pluginStat{}
	if c.cfg.Metrics == nil {
		return out
	}
	families, err := c.cfg.Metrics.Gather()
	if err != nil {
		c.log.Warn("console: reading metrics", "err", err)
	}
	get := func(m *dto.Metric) *pluginStat {
		for _, l := range m.GetLabel() {
			if l.GetName() == "plugin" {
				st, ok := out[l.GetValue()]
				if !ok {
					st = &pluginStat{}
					out[l.GetValue()] = st
				}
				return st
			}
		}
		return &pluginStat{}
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "plugin_invocations_total":
				get(m).calls += m.GetCounter().GetValue()
			case "plugin_invocation_errors_total":
				get(m).errors += m.GetCounter().GetValue()
			case "plugin_invocation_duration_seconds":
				st := get(m)
				st.seconds += m.GetHistogram().GetSampleSum()
				st.count += float64(m.GetHistogram().GetSampleCount())
			case "plugin_resident_memory_bytes":
				get(m).rss = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func (c *Console) uninstall(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PostForm.Get("installation_id")
	if err := c.call(r.Context(), "POST", "/plugin/"+apiTenant(r)+"/management/uninstall", map[string]string{"plugin_installation_id": id}, nil); err != nil {
		c.failPage(w, r, s, "plugins", err)
		return
	}
	back(w, r, "plugins", "Uninstalled "+r.PostForm.Get("name")+".")
}

func (c *Console) resetPlugin(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PostForm.Get("plugin_id")
	if err := c.call(r.Context(), "POST", "/plugin/"+apiTenant(r)+"/management/reset", map[string]string{"plugin_id": id}, nil); err != nil {
		c.failPage(w, r, s, "plugins", err)
		return
	}
	back(w, r, "plugins", "Reset "+id+": its next request starts it.")
}

// failPage shows an error on a simple page with a way back.
func (c *Console) failPage(w http.ResponseWriter, r *http.Request, s session, nav string, err error) {
	p := c.base(r, s, "Something went wrong", nav)
	p.Error = err.Error()
	p.Data = tenantURL(r.PathValue("tenant"), nav)
	status := http.StatusBadGateway
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 {
		status = ae.Status
	}
	c.render(w, status, "error.html", p)
}

// Installs.

func (c *Console) installPage(w http.ResponseWriter, r *http.Request, s session) {
	c.render(w, http.StatusOK, "install.html", c.base(r, s, "Install a plugin", "install"))
}

// authUpload is auth for the multipart upload: the form's first part must be the csrf field
// with the session's token; the handler gets the reader positioned after it.
func (c *Console) authUpload(h func(w http.ResponseWriter, r *http.Request, s session, mr *multipart.Reader)) http.HandlerFunc {
	return c.authNoBody(func(w http.ResponseWriter, r *http.Request, s session) {
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, "want a multipart form: "+err.Error(), http.StatusBadRequest)
			return
		}
		part, err := mr.NextPart()
		if err != nil || part.FormName() != "csrf" {
			http.Error(w, "missing CSRF token: the form's first field must be csrf", http.StatusForbidden)
			return
		}
		token, _ := io.ReadAll(io.LimitReader(part, 256))
		if !equalToken(string(token), s.csrf) {
			http.Error(w, "wrong CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r, s, mr)
	})
}

func (c *Console) install(w http.ResponseWriter, r *http.Request, s session, mr *multipart.Reader) {
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "package" {
		c.failPage(w, r, s, "install", errors.New("the form has no package file"))
		return
	}
	// The package streams through to the API's upload route as a form of its own.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("dify_pkg", part.FileName())
		if err == nil {
			_, err = io.Copy(fw, part)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	h := http.Header{"Content-Type": {mw.FormDataContentType()}}
	rec, err := c.do(r.Context(), "POST", "/plugin/"+apiTenant(r)+"/management/install/upload/package", pr, h)
	pr.Close()
	if err == nil {
		err = decodeEnvelope(rec, nil)
	}
	var dec struct {
		UID string `json:"unique_identifier"`
	}
	if err == nil {
		err = decodeEnvelope(rec, &dec)
	}
	if err != nil {
		c.failPage(w, r, s, "install", fmt.Errorf("uploading the package: %w", err))
		return
	}
	var started struct {
		AllInstalled bool   `json:"all_installed"`
		TaskID       string `json:"task_id"`
	}
	body := map[string]any{"plugin_unique_identifiers": []string{dec.UID}, "source": "package", "metas": []any{map[string]any{}}}
	if err := c.call(r.Context(), "POST", "/plugin/"+apiTenant(r)+"/management/install/identifiers", body, &started); err != nil {
		c.failPage(w, r, s, "install", fmt.Errorf("installing %s: %w", dec.UID, err))
		return
	}
	if started.AllInstalled || started.TaskID == "" {
		back(w, r, "plugins", dec.UID+" is installed already.")
		return
	}
	http.Redirect(w, r, tenantURL(r.PathValue("tenant"), "tasks/"+url.PathEscape(started.TaskID)), http.StatusSeeOther)
}

// installMarketplace has the daemon download a Marketplace plugin (org/name[:version] or a
// unique identifier) and install it; the next page is its task.
func (c *Console) installMarketplace(w http.ResponseWriter, r *http.Request, s session) {
	ref := strings.TrimSpace(r.PostForm.Get("plugin"))
	var started struct {
		UID          string `json:"unique_identifier"`
		TaskID       string `json:"task_id"`
		AllInstalled bool   `json:"all_installed"`
	}
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/install", map[string]any{"plugin": ref}, &started); err != nil {
		c.failPage(w, r, s, "install", fmt.Errorf("installing %s from the Marketplace: %w", ref, err))
		return
	}
	if started.AllInstalled || started.TaskID == "" {
		back(w, r, "plugins", started.UID+" is installed already.")
		return
	}
	http.Redirect(w, r, tenantURL(r.PathValue("tenant"), "tasks/"+url.PathEscape(started.TaskID)), http.StatusSeeOther)
}

func decodeEnvelope(rec *recorder, out any) error {
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.buf.Bytes(), &env); err != nil {
		return &apiError{rec.status, fmt.Sprintf("answer %d: %s", rec.status, truncate(rec.buf.String(), 300))}
	}
	if env.Code != 0 || rec.status >= 400 {
		return &apiError{rec.status, env.Message}
	}
	if out != nil {
		return json.Unmarshal(env.Data, out)
	}
	return nil
}

type task struct {
	ID               string       `json:"id"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	Status           string       `json:"status"`
	TotalPlugins     int          `json:"total_plugins"`
	CompletedPlugins int          `json:"completed_plugins"`
	Plugins          []taskPlugin `json:"plugins"`
}

type taskPlugin struct {
	UID      string `json:"plugin_unique_identifier"`
	PluginID string `json:"plugin_id"`
	Status   string `json:"status"`
	Message  string `json:"message"`
	Phase    string `json:"phase,omitempty"`
	Progress string `json:"progress,omitempty"`
}

func (c *Console) tasksPage(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "Install tasks", "tasks")
	var tasks []task
	if err := c.call(r.Context(), "GET", "/plugin/"+apiTenant(r)+"/management/install/tasks?page=1&page_size=100", nil, &tasks); err != nil {
		p.Error = err.Error()
	}
	p.Data = tasks
	c.render(w, http.StatusOK, "tasks.html", p)
}

// taskPage shows one task; asked for JSON (the page's own script polls it) it answers the
// task alone.
func (c *Console) taskPage(w http.ResponseWriter, r *http.Request, s session) {
	var t task
	err := c.call(r.Context(), "GET", "/plugin/"+apiTenant(r)+"/management/install/tasks/"+url.PathEscape(r.PathValue("id")), nil, &t)
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(t)
		return
	}
	p := c.base(r, s, "Install task", "tasks")
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = t
	c.render(w, http.StatusOK, "task.html", p)
}

// The tool catalog.

type toolsData struct {
	Query     string
	Providers []catalog.Provider
	Shown     int
}

func (c *Console) toolsPage(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "Tools", "tools")
	var list []catalog.Provider
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/providers?hidden=true", nil, &list); err != nil {
		p.Error = err.Error()
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := toolsData{Query: q}
	for _, prov := range list {
		if q != "" && !matches(q, prov.ID, prov.Name, prov.Label, prov.Description) {
			var tools []catalog.Tool
			for _, t := range prov.Tools {
				if matches(q, t.Name, t.Label, t.Description) {
					tools = append(tools, t)
				}
			}
			if len(tools) == 0 {
				continue
			}
			prov.Tools = tools
		}
		d.Shown += len(prov.Tools)
		d.Providers = append(d.Providers, prov)
	}
	p.Data = d
	c.render(w, http.StatusOK, "tools.html", p)
}

func matches(q string, fields ...string) bool {
	q = strings.ToLower(q)
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// toolPreference pins or hides a provider or tool: target (provider or tool), name, and one
// of pinned or hidden set to true or false.
func (c *Console) toolPreference(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	ch := map[string]any{"target": f.Get("target"), "name": f.Get("name")}
	for _, k := range []string{"pinned", "hidden"} {
		if v := f.Get(k); v != "" {
			ch[k] = v == "true"
		}
	}
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/preferences", ch, nil); err != nil {
		c.failPage(w, r, s, "tools", err)
		return
	}
	note := f.Get("name") + ": "
	switch {
	case f.Get("pinned") == "true":
		note += "pinned."
	case f.Get("pinned") == "false":
		note += "unpinned."
	case f.Get("hidden") == "true":
		note += "hidden."
	default:
		note += "shown."
	}
	u := "tools"
	if q := f.Get("q"); q != "" {
		u += "?q=" + url.QueryEscape(q)
	}
	back(w, r, u, note)
}

type tryData struct {
	Provider catalog.Provider
	Tool     catalog.Tool
	Fields   []Field
	Values   url.Values
	Messages []json.RawMessage
	Called   bool
}

// findTool reads the provider and the tool named by provider and tool.
func (c *Console) findTool(ctx context.Context, tenant, providerID, tool string) (catalog.Provider, catalog.Tool, []Field, error) {
	var prov catalog.Provider
	if err := c.call(ctx, "GET", "/tools/"+url.PathEscape(tenant)+"/providers/"+escapeID(providerID), nil, &prov); err != nil {
		return prov, catalog.Tool{}, nil, err
	}
	i := slices.IndexFunc(prov.Tools, func(t catalog.Tool) bool { return t.Name == tool })
	if i < 0 {
		return prov, catalog.Tool{}, nil, fmt.Errorf("provider %s has no tool %q", providerID, tool)
	}
	fields, err := FormFields(prov.Tools[i].InputSchema)
	return prov, prov.Tools[i], fields, err
}

func (c *Console) tryPage(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	prov, tool, fields, err := c.findTool(r.Context(), r.PathValue("tenant"), q.Get("provider"), q.Get("tool"))
	if err != nil {
		c.failPage(w, r, s, "tools", err)
		return
	}
	p := c.base(r, s, "Try "+tool.Name, "tools")
	p.Data = tryData{Provider: prov, Tool: tool, Fields: fields, Values: url.Values{}}
	c.render(w, http.StatusOK, "try.html", p)
}

// toolCall runs a tool with the form's arguments. The page's script asks for the event
// stream and shows messages as they come; without it, the result is a page.
func (c *Console) toolCall(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	prov, tool, fields, err := c.findTool(r.Context(), r.PathValue("tenant"), f.Get("provider"), f.Get("tool"))
	if err != nil {
		c.failPage(w, r, s, "tools", err)
		return
	}
	args, err := FormArguments(fields, f)
	stream := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if err != nil {
		if stream {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := c.base(r, s, "Try "+tool.Name, "tools")
		p.Error = err.Error()
		p.Data = tryData{Provider: prov, Tool: tool, Fields: fields, Values: f}
		c.render(w, http.StatusBadRequest, "try.html", p)
		return
	}
	body := map[string]any{"provider_id": prov.ID, "tool": tool.Name, "arguments": args, "user_id": "console:" + userLabel(s.user)}
	req, err := c.apiRequest(r.Context(), "POST", "/tools/"+apiTenant(r)+"/call", body, nil)
	if err != nil {
		c.failPage(w, r, s, "tools", err)
		return
	}
	if stream {
		c.cfg.API.ServeHTTP(w, req) // `data:` events, flushed as they come
		return
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.cfg.API.ServeHTTP(rec, req)
	p := c.base(r, s, "Try "+tool.Name, "tools")
	msgs, err := readEvents(rec)
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = tryData{Provider: prov, Tool: tool, Fields: fields, Values: f, Messages: msgs, Called: true}
	c.render(w, http.StatusOK, "try.html", p)
}

// readEvents collects a buffered `data:` stream's messages; an error envelope ends it.
func readEvents(rec *recorder) ([]json.RawMessage, error) {
	if !strings.HasPrefix(rec.header.Get("Content-Type"), "text/event-stream") {
		return nil, decodeEnvelope(rec, nil)
	}
	var msgs []json.RawMessage
	sc := bufio.NewScanner(&rec.buf)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var env struct {
			Code    int             `json:"code"`
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &env); err != nil {
			return msgs, fmt.Errorf("a result line is not JSON: %v", err)
		}
		if env.Code != 0 {
			return msgs, errors.New(env.Message)
		}
		msgs = append(msgs, env.Data)
	}
	return msgs, sc.Err()
}

// OpenAPI import and provider removal.

func (c *Console) providersOf(ctx context.Context, tenant string, kind catalog.Kind) ([]catalog.Provider, error) {
	var list []catalog.Provider
	err := c.call(ctx, "GET", "/tools/"+url.PathEscape(tenant)+"/providers?hidden=true&kind="+string(kind), nil, &list)
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, err
}

type openAPIData struct {
	Providers []catalog.Provider
	Values    url.Values
}

func (c *Console) openAPIPage(w http.ResponseWriter, r *http.Request, s session) {
	c.renderOpenAPI(w, r, s, http.StatusOK, url.Values{}, nil)
}

func (c *Console) renderOpenAPI(w http.ResponseWriter, r *http.Request, s session, status int, values url.Values, fail error) {
	p := c.base(r, s, "OpenAPI import", "openapi")
	list, err := c.providersOf(r.Context(), r.PathValue("tenant"), catalog.KindAPI)
	if fail != nil {
		err = fail
	}
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = openAPIData{Providers: list, Values: values}
	c.render(w, status, "openapi.html", p)
}

func (c *Console) openAPIImport(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	body := map[string]any{"name": strings.TrimSpace(f.Get("name")), "label": f.Get("label"), "server_url": strings.TrimSpace(f.Get("server_url"))}
	if u := strings.TrimSpace(f.Get("url")); u != "" {
		body["url"] = u
	} else {
		body["schema"] = f.Get("schema")
	}
	auth := map[string]string{"type": f.Get("auth_type")}
	if n := strings.TrimSpace(f.Get("auth_name")); n != "" {
		auth["name"] = n
	}
	if auth["type"] != "" {
		body["auth"] = auth
	}
	creds := map[string]string{}
	for _, k := range []string{"api_key", "username", "password"} {
		if v := f.Get(k); v != "" {
			creds[k] = v
		}
	}
	if len(creds) > 0 {
		body["credentials"] = creds
	}
	var prov catalog.Provider
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/import/openapi", body, &prov); err != nil {
		keep := url.Values{}
		for _, k := range []string{"name", "label", "url", "schema", "server_url", "auth_type", "auth_name"} {
			keep.Set(k, f.Get(k))
		}
		c.renderOpenAPI(w, r, s, http.StatusBadRequest, keep, fmt.Errorf("importing: %w", err))
		return
	}
	back(w, r, "openapi", fmt.Sprintf("Imported %s: %d tools.", prov.Name, len(prov.Tools)))
}

func (c *Console) providerDelete(w http.ResponseWriter, r *http.Request, s session) {
	id, from := r.PostForm.Get("id"), r.PostForm.Get("from")
	if from != "mcp" {
		from = "openapi"
	}
	if err := c.call(r.Context(), "DELETE", "/tools/"+apiTenant(r)+"/providers/"+escapeID(id), nil, nil); err != nil {
		c.failPage(w, r, s, from, err)
		return
	}
	back(w, r, from, "Removed "+r.PostForm.Get("name")+".")
}

// MCP: servers as providers, and the daemon's own MCP server's tokens and sets.

type mcpData struct {
	Servers  []catalog.Provider
	Tokens   []mcpserver.Token
	Sets     []mcpserver.ToolSet
	Endpoint string
	NewToken string // shown once, just after creation
	Values   url.Values
}

func (c *Console) mcpPage(w http.ResponseWriter, r *http.Request, s session) {
	c.renderMCP(w, r, s, http.StatusOK, mcpData{Values: url.Values{}}, nil)
}

func (c *Console) renderMCP(w http.ResponseWriter, r *http.Request, s session, status int, d mcpData, fail error) {
	p := c.base(r, s, "MCP", "mcp")
	tenant := r.PathValue("tenant")
	var errs []string
	var err error
	if d.Servers, err = c.providersOf(r.Context(), tenant, catalog.KindMCP); err != nil {
		errs = append(errs, err.Error())
	}
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/mcp/tokens", nil, &d.Tokens); err != nil {
		errs = append(errs, "tokens: "+err.Error())
	}
	if err := c.call(r.Context(), "GET", "/tools/"+apiTenant(r)+"/mcp/sets", nil, &d.Sets); err != nil {
		errs = append(errs, "tool sets: "+err.Error())
	}
	scheme := "http"
	if r.TLS != nil || c.cfg.SecureCookies {
		scheme = "https"
	}
	d.Endpoint = scheme + "://" + r.Host + "/mcp/" + url.PathEscape(tenant)
	if fail != nil {
		errs = append([]string{fail.Error()}, errs...)
	}
	p.Error = strings.Join(errs, "; ")
	p.Data = d
	c.render(w, status, "mcp.html", p)
}

func (c *Console) mcpAddServer(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	body := map[string]any{"name": strings.TrimSpace(f.Get("name"))}
	if u := strings.TrimSpace(f.Get("url")); u != "" {
		body["url"] = u
		headers := map[string]string{}
		if h := strings.TrimSpace(f.Get("authorization")); h != "" {
			headers["Authorization"] = h
		}
		if len(headers) > 0 {
			body["headers"] = headers
		}
		if f.Get("oauth") == "true" {
			body["oauth"] = true
		}
	} else {
		body["command"] = strings.TrimSpace(f.Get("command"))
		if a := strings.TrimSpace(f.Get("args")); a != "" {
			body["args"] = strings.Fields(a)
		}
	}
	var prov catalog.Provider
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/import/mcp", body, &prov); err != nil {
		keep := url.Values{}
		for _, k := range []string{"name", "url", "command", "args", "oauth"} {
			keep.Set(k, f.Get(k))
		}
		c.renderMCP(w, r, s, http.StatusBadRequest, mcpData{Values: keep}, fmt.Errorf("adding the MCP server: %w", err))
		return
	}
	back(w, r, "mcp", fmt.Sprintf("Added %s: %d tools.", prov.Name, len(prov.Tools)))
}

func (c *Console) mcpCreateToken(w http.ResponseWriter, r *http.Request, s session) {
	f := r.PostForm
	body := map[string]any{"name": strings.TrimSpace(f.Get("name")), "set": strings.TrimSpace(f.Get("set"))}
	if h := strings.TrimSpace(f.Get("ttl_hours")); h != "" {
		n, err := strconv.ParseFloat(h, 64)
		if err != nil || n < 0 || n > 24*3650 {
			c.renderMCP(w, r, s, http.StatusBadRequest, mcpData{Values: url.Values{}}, fmt.Errorf("valid for %q hours: want a number from 0 (no expiry) to 87600", h))
			return
		}
		body["ttl_seconds"] = int64(n * 3600)
	}
	var created struct {
		Token string `json:"token"`
	}
	if err := c.call(r.Context(), "POST", "/tools/"+apiTenant(r)+"/mcp/tokens", body, &created); err != nil {
		c.renderMCP(w, r, s, http.StatusBadRequest, mcpData{Values: url.Values{}}, fmt.Errorf("creating the token: %w", err))
		return
	}
	// Rendered, not redirected: the token exists in clear only in this answer.
	c.renderMCP(w, r, s, http.StatusOK, mcpData{NewToken: created.Token, Values: url.Values{}}, nil)
}

func (c *Console) mcpRevokeToken(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PostForm.Get("id")
	if err := c.call(r.Context(), "DELETE", "/tools/"+apiTenant(r)+"/mcp/tokens/"+url.PathEscape(id), nil, nil); err != nil {
		c.failPage(w, r, s, "mcp", err)
		return
	}
	back(w, r, "mcp", "Token revoked.")
}

// Remote debugging.

type debugData struct {
	Enabled bool
	Addr    string
	Key     string
	Expires time.Time
}

func (c *Console) debugPage(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "Remote debugging", "debug")
	p.Data = debugData{Enabled: c.cfg.DebugAddr != "", Addr: c.cfg.DebugAddr}
	c.render(w, http.StatusOK, "debug.html", p)
}

func (c *Console) debugKey(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "Remote debugging", "debug")
	d := debugData{Enabled: c.cfg.DebugAddr != "", Addr: c.cfg.DebugAddr}
	var key struct {
		Key       string    `json:"key"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := c.call(r.Context(), "POST", "/plugin/"+apiTenant(r)+"/debugging/key", map[string]string{}, &key); err != nil {
		p.Error = "getting a key: " + err.Error()
	} else {
		d.Key, d.Expires = key.Key, key.ExpiresAt
	}
	p.Data = d
	c.render(w, http.StatusOK, "debug.html", p)
}

// Package clienttest is a fake plugin daemon for tests of code that calls a daemon: it serves
// the management and tool dispatch routes the client uses, with the reference daemon's
// envelopes, error encodings and `data:` streams, keeping its state in memory. It is written
// from the API description, not from plugd's server, so the two can catch each other's
// mistakes.
package clienttest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Daemon is the fake. Its exported fields may be changed before the first request.
type Daemon struct {
	// Key is the X-Api-Key every request must carry.
	Key string
	// Polls is how many reads of a task see it unfinished before it ends (default 2): the
	// first read sees it pending, later ones running with a phase and progress line.
	Polls int
	// PageLimit is the largest page_size the list route accepts (default 256).
	PageLimit int

	srv *httptest.Server

	mu         sync.Mutex
	packages   map[string]int // unique identifier -> size of the uploaded package
	installs   map[string][]*installation
	tasks      map[string]*task
	nextID     int
	dispatches []Dispatched
	uploads    []Upload
	bundle     []json.RawMessage
}

// SetBundle sets what install/upload/bundle answers for any bundle: its dependencies as
// the reference's {type, value} objects. The unique identifiers of package entries count
// as uploaded once a bundle is.
func (d *Daemon) SetBundle(deps ...json.RawMessage) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bundle = deps
}

// Upload is one package upload the fake received.
type Upload struct {
	Filename        string
	ContentType     string // of the dify_pkg part
	VerifySignature string
	Size            int64
	ContentLength   int64 // of the request; -1 when streamed without one
}

// Dispatched is one dispatch request the fake received.
type Dispatched struct {
	Path     string
	PluginID string
	Body     json.RawMessage
}

type installation struct {
	id, tenant, pluginID, uid, source string
	created                           time.Time
}

type task struct {
	id, tenant, uid, source string
	reads                   int
	created                 time.Time
}

// New starts the fake; it stops when the test ends.
func New(t testing.TB, key string) *Daemon {
	d := &Daemon{Key: key, Polls: 2, PageLimit: 256, packages: map[string]int{}, installs: map[string][]*installation{}, tasks: map[string]*task{}}
	mux := http.NewServeMux()
	M := "/plugin/{tenant}/management/"
	mux.HandleFunc("POST "+M+"install/upload/package", d.auth(d.upload))
	mux.HandleFunc("POST "+M+"install/upload/bundle", d.auth(d.uploadBundle))
	mux.HandleFunc("POST "+M+"install/identifiers", d.auth(d.install))
	mux.HandleFunc("GET "+M+"install/tasks/{id}", d.auth(d.task))
	mux.HandleFunc("GET "+M+"list", d.auth(d.list))
	mux.HandleFunc("POST "+M+"uninstall", d.auth(d.uninstall))
	mux.HandleFunc("POST /plugin/{tenant}/dispatch/{path...}", d.auth(d.dispatch))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": "not_found", "message": "route not found"})
	})
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	return d
}

// URL is the fake's base URL.
func (d *Daemon) URL() string { return d.srv.URL }

// Client is an HTTP client for the fake.
func (d *Daemon) Client() *http.Client { return d.srv.Client() }

// Install records an installation of uid (author/name:version@checksum) for tenant, as if
// a task had finished, and returns its installation id.
func (d *Daemon) Install(tenant, uid, source string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addInstallation(tenant, uid, source)
}

// Installed lists the unique identifiers installed for tenant.
func (d *Daemon) Installed(tenant string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, in := range d.installs[tenant] {
		out = append(out, in.uid)
	}
	return out
}

// Dispatches returns the dispatch requests received so far.
func (d *Daemon) Dispatches() []Dispatched {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Dispatched(nil), d.dispatches...)
}

// Uploads returns the package uploads received so far.
func (d *Daemon) Uploads() []Upload {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Upload(nil), d.uploads...)
}

func (d *Daemon) addInstallation(tenant, uid, source string) string {
	d.nextID++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", d.nextID)
	d.installs[tenant] = append(d.installs[tenant], &installation{id: id, tenant: tenant, pluginID: pluginID(uid), uid: uid, source: source, created: time.Now().UTC()})
	return id
}

// pluginID is author/name of author/name:version@checksum.
func pluginID(uid string) string {
	id, _, _ := strings.Cut(uid, ":")
	return id
}

// Envelopes.

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func success(data any) map[string]any {
	return map[string]any{"code": 0, "message": "success", "data": data}
}

// failure is the reference's error envelope: message is the JSON of {message, error_type, args}.
func failure(code int, typ, msg string) map[string]any {
	inner, _ := json.Marshal(map[string]any{"message": msg, "error_type": typ, "args": nil})
	return map[string]any{"code": code, "message": string(inner), "data": nil}
}

// pluginFailure is a plugin's own error passed on: doubly encoded inside a PluginInvokeError.
func pluginFailure(pluginType, msg string) map[string]any {
	inner, _ := json.Marshal(map[string]any{"error_type": pluginType, "message": msg, "args": map[string]any{}})
	return failure(-500, "PluginInvokeError", string(inner))
}

func (d *Daemon) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != d.Key {
			writeJSON(w, http.StatusUnauthorized, failure(-401, "PluginDaemonUnauthorizedError", "invalid key"))
			return
		}
		h(w, r)
	}
}

// Management routes: HTTP 200 even for errors, as the reference answers.

func (d *Daemon) upload(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", err.Error()))
		return
	}
	up := Upload{ContentLength: r.ContentLength}
	var sum string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", err.Error()))
			return
		}
		switch part.FormName() {
		case "verify_signature":
			b, _ := io.ReadAll(part)
			up.VerifySignature = string(b)
		case "dify_pkg":
			h := sha256.New()
			n, err := io.Copy(h, part)
			if err != nil {
				writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", err.Error()))
				return
			}
			up.Filename, up.ContentType, up.Size, sum = part.FileName(), part.Header.Get("Content-Type"), n, hex.EncodeToString(h.Sum(nil))
		}
	}
	d.mu.Lock()
	d.uploads = append(d.uploads, up)
	d.mu.Unlock()
	if up.Filename == "" {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", "no dify_pkg file in the form"))
		return
	}
	if up.VerifySignature == "true" {
		writeJSON(w, http.StatusOK, failure(-500, "PluginDaemonInternalServerError", "plugin verification has been enabled, and the plugin you want to install has a bad signature"))
		return
	}
	// The package's name before the extension is the plugin name; the author is "test".
	name := strings.TrimSuffix(up.Filename, ".difypkg")
	uid := "test/" + name + ":0.0.1@" + sum
	d.mu.Lock()
	d.packages[uid] = int(up.Size)
	d.mu.Unlock()
	writeJSON(w, http.StatusOK, success(map[string]any{
		"unique_identifier": uid,
		"manifest":          declaration(uid),
		"verification":      nil,
	}))
}

// uploadBundle takes a dify_bundle form like upload and answers d.Bundle.
func (d *Daemon) uploadBundle(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", err.Error()))
		return
	}
	up := Upload{ContentLength: r.ContentLength}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", err.Error()))
			return
		}
		switch part.FormName() {
		case "verify_signature":
			b, _ := io.ReadAll(part)
			up.VerifySignature = string(b)
		case "dify_bundle":
			n, _ := io.Copy(io.Discard, part)
			up.Filename, up.ContentType, up.Size = part.FileName(), part.Header.Get("Content-Type"), n
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.uploads = append(d.uploads, up)
	if up.Filename == "" {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", "no dify_bundle file in the form"))
		return
	}
	for _, raw := range d.bundle {
		var dep struct {
			Type  string `json:"type"`
			Value struct {
				UniqueIdentifier string `json:"unique_identifier"`
			} `json:"value"`
		}
		if json.Unmarshal(raw, &dep) == nil && dep.Type == "package" {
			d.packages[dep.Value.UniqueIdentifier] = 0
		}
	}
	answer := d.bundle
	if answer == nil {
		answer = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, success(answer))
}

// declaration is the fake's PluginDeclaration of a plugin: one tool provider named after the
// plugin with "_tools" appended.
func declaration(uid string) map[string]any {
	id := pluginID(uid)
	author, name, _ := strings.Cut(id, "/")
	version := strings.TrimPrefix(uid[len(id):], ":")
	version, _, _ = strings.Cut(version, "@")
	return map[string]any{
		"author": author, "name": name, "version": version, "type": "plugin",
		"tool": map[string]any{"identity": map[string]any{"author": author, "name": name + "_tools"}},
	}
}

func (d *Daemon) install(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UIDs   []string          `json:"plugin_unique_identifiers"`
		Source string            `json:"source"`
		Metas  []json.RawMessage `json:"metas"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.UIDs) != 1 || req.Source == "" || len(req.Metas) != len(req.UIDs) {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", fmt.Sprintf("bad install request (the fake takes one identifier, a source and one meta): %v", err)))
		return
	}
	tenant := r.PathValue("tenant")
	d.mu.Lock()
	defer d.mu.Unlock()
	uid := req.UIDs[0]
	if _, ok := d.packages[uid]; !ok {
		writeJSON(w, http.StatusOK, failure(-400, "PluginUniqueIdentifierError", "package "+uid+" was not uploaded"))
		return
	}
	for _, in := range d.installs[tenant] {
		if in.pluginID == pluginID(uid) {
			writeJSON(w, http.StatusOK, success(map[string]any{"all_installed": true, "task_id": ""}))
			return
		}
	}
	d.nextID++
	id := fmt.Sprintf("task-%d", d.nextID)
	d.tasks[id] = &task{id: id, tenant: tenant, uid: uid, source: req.Source, created: time.Now().UTC()}
	writeJSON(w, http.StatusOK, success(map[string]any{"all_installed": false, "task_id": id}))
}

// task answers with the task's state and moves it one step on. A plugin whose name contains
// "broken" fails.
func (d *Daemon) task(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tasks[r.PathValue("id")]
	if t == nil || t.tenant != r.PathValue("tenant") {
		writeJSON(w, http.StatusOK, failure(-500, "PluginDaemonInternalServerError", "record not found"))
		return
	}
	t.reads++
	status, item := "pending", map[string]any{
		"plugin_unique_identifier": t.uid, "plugin_id": pluginID(t.uid), "status": "pending", "message": "",
		"icon": "", "labels": map[string]string{"en_US": pluginID(t.uid)}, "source": t.source,
	}
	completed := 0
	switch {
	case t.reads > d.Polls && strings.Contains(t.uid, "broken"):
		status = "failed"
		item["status"], item["message"] = "failed", "failed to init environment: No matching distribution found for nonexistent-pkg"
	case t.reads > d.Polls:
		status, completed = "success", 1
		item["status"], item["message"] = "success", "installed"
		if t.reads == d.Polls+1 {
			d.addInstallation(t.tenant, t.uid, t.source)
		}
	case t.reads > 1:
		status = "running"
		item["status"], item["phase"], item["progress"] = "running", "python environment", fmt.Sprintf("Resolved %d packages", t.reads)
	}
	writeJSON(w, http.StatusOK, success(map[string]any{
		"id": t.id, "created_at": t.created, "updated_at": time.Now().UTC(), "status": status, "tenant_id": t.tenant,
		"total_plugins": 1, "completed_plugins": completed, "plugins": []any{item},
	}))
}

func (d *Daemon) list(w http.ResponseWriter, r *http.Request) {
	page, err1 := strconv.Atoi(r.URL.Query().Get("page"))
	size, err2 := strconv.Atoi(r.URL.Query().Get("page_size"))
	if err1 != nil || err2 != nil || page < 1 || size < 1 || size > d.PageLimit {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", "page must be >= 1 and page_size from 1 to "+strconv.Itoa(d.PageLimit)))
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	all := d.installs[r.PathValue("tenant")]
	items := []any{}
	for i := (page - 1) * size; i < len(all) && i < page*size; i++ {
		in := all[i]
		decl := declaration(in.uid)
		_, checksum, _ := strings.Cut(in.uid, "@")
		items = append(items, map[string]any{
			"id": in.id, "name": decl["name"], "plugin_id": in.pluginID, "tenant_id": in.tenant,
			"plugin_unique_identifier": in.uid, "endpoints_active": 0, "endpoints_setups": 0,
			"installation_id": in.id, "declaration": decl, "runtime_type": "local", "version": decl["version"],
			"created_at": in.created, "updated_at": in.created, "source": in.source, "checksum": checksum, "meta": map[string]any{},
		})
	}
	writeJSON(w, http.StatusOK, success(map[string]any{"list": items, "total": len(all)}))
}

func (d *Daemon) uninstall(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"plugin_installation_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" {
		writeJSON(w, http.StatusOK, failure(-400, "PluginDaemonBadRequestError", "plugin_installation_id is required"))
		return
	}
	tenant := r.PathValue("tenant")
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.installs[tenant][:0]
	for _, in := range d.installs[tenant] {
		if in.id != req.ID {
			kept = append(kept, in)
		}
	}
	d.installs[tenant] = kept
	writeJSON(w, http.StatusOK, success(true)) // a missing installation is success too, as in the reference
}

// dispatch serves tool/invoke. Tools: "echo" streams the text parameter back as a text
// message, then a json and a link message; "fail" streams one text message and then the
// plugin's error; "boom" fails before streaming with an internal error. Other paths are
// answered with one event holding the request's data.
func (d *Daemon) dispatch(w http.ResponseWriter, r *http.Request) {
	pid := r.Header.Get("X-Plugin-ID")
	if pid == "" {
		writeJSON(w, http.StatusBadRequest, failure(-400, "PluginDaemonBadRequestError", "X-Plugin-ID is required"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	tenant := r.PathValue("tenant")
	d.mu.Lock()
	d.dispatches = append(d.dispatches, Dispatched{Path: r.PathValue("path"), PluginID: pid, Body: body})
	installed := false
	for _, in := range d.installs[tenant] {
		installed = installed || in.pluginID == pid
	}
	d.mu.Unlock()
	if !installed {
		writeJSON(w, http.StatusNotFound, failure(-404, "PluginNotFoundError", "plugin "+pid+" is not installed"))
		return
	}
	var req struct {
		UserID string `json:"user_id"`
		Data   struct {
			Provider       string         `json:"provider"`
			Tool           string         `json:"tool"`
			ToolParameters map[string]any `json:"tool_parameters"`
			Credentials    map[string]any `json:"credentials"`
			CredentialType string         `json:"credential_type"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, failure(-400, "PluginDaemonBadRequestError", err.Error()))
		return
	}
	if req.Data.Tool == "boom" {
		writeJSON(w, http.StatusInternalServerError, failure(-500, "PluginDaemonInternalServerError", "no runtime for "+pid))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	send := func(v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "data: %s\n\n", b)
		w.(http.Flusher).Flush()
	}
	if r.PathValue("path") != "tool/invoke" {
		send(success(json.RawMessage(body)))
		return
	}
	switch req.Data.Tool {
	case "echo":
		send(success(map[string]any{"type": "text", "message": map[string]any{"text": fmt.Sprint(req.Data.ToolParameters["text"])}, "meta": nil}))
		send(success(map[string]any{"type": "json", "message": map[string]any{"json_object": map[string]any{"params": req.Data.ToolParameters, "credentials": req.Data.Credentials}}, "meta": nil}))
		send(success(map[string]any{"type": "link", "message": map[string]any{"text": "https://example.com/x"}, "meta": nil}))
	case "fail":
		send(success(map[string]any{"type": "text", "message": map[string]any{"text": "starting"}, "meta": nil}))
		send(pluginFailure("ValueError", "the tool failed on purpose"))
	default:
		send(pluginFailure("ToolNotFoundError", "tool "+req.Data.Tool+" not found"))
	}
}

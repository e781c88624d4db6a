// Package marketplacetest is a fake Dify Marketplace for tests, on loopback: the public
// routes plugd uses (search, batch, versions, download), shaped as the Marketplace answers
// them ({"code":0,"msg":"","data":...}), serving packages given to it. By default it serves
// the officially signed langgenius/agent 0.0.14 from the repository's testdata/vectors, so
// tests need no network and nothing outside the checkout.
package marketplacetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/pkgfile"
)

// AgentPackage returns langgenius/agent 0.0.14 as the Marketplace serves it, signed with
// Dify's official key (no verification file, so its category is langgenius).
func AgentPackage(t testing.TB) []byte {
	t.Helper()
	b, err := Vector("official/langgenius-agent_0.0.14.difypkg")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vector reads a file of the repository's testdata/vectors, found from the working folder
// up to the module root (go.mod), so any package's tests can use it.
func Vector(name string) ([]byte, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return os.ReadFile(filepath.Join(dir, "testdata", "vectors", filepath.FromSlash(name)))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("vector %s: no go.mod above the working folder", name)
		}
		dir = parent
	}
}

// AgentUID is AgentPackage's unique identifier.
const AgentUID = "langgenius/agent:0.0.14@26958a0e80a10655ce73812bdb7c35a66ce7b16f5ac346d298bda17ff85efd1e"

// Server is a running fake Marketplace.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	packages map[string][]byte   // by unique identifier
	order    map[string][]string // plugin id -> identifiers, oldest first
	// Downloads counts download requests, to tell a cache hit from a download.
	Downloads atomic.Int64
}

// New starts a fake Marketplace serving the given packages (the official agent package
// when none).
func New(packages ...[]byte) (*Server, error) {
	if len(packages) == 0 {
		agent, err := Vector("official/langgenius-agent_0.0.14.difypkg")
		if err != nil {
			return nil, err
		}
		packages = [][]byte{agent}
	}
	s := &Server{packages: map[string][]byte{}, order: map[string][]string{}}
	for _, p := range packages {
		if err := s.Add(p); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/plugins/search/advanced", s.search)
	mux.HandleFunc("POST /api/v1/plugins/batch", s.batch)
	mux.HandleFunc("GET /api/v1/plugins/{org}/{name}/versions", s.versions)
	mux.HandleFunc("GET /api/v1/plugins/download", s.download)
	s.Server = httptest.NewServer(mux)
	return s, nil
}

// Add publishes a package; the last one added of a plugin is its latest version.
func (s *Server) Add(data []byte) error {
	pkg, err := pkgfile.Read(bytes.NewReader(data), int64(len(data)), pkgfile.DefaultLimits())
	if err != nil {
		return err
	}
	defer pkg.Close()
	uid, err := marketplace.Identify(context.Background(), pkg)
	if err != nil {
		return err
	}
	id, _, _ := strings.Cut(uid, ":")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packages[uid] = data
	s.order[id] = append(s.order[id], uid)
	return nil
}

func reply(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "msg": "success", "data": data})
}

func replyError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": -1, "msg": msg, "data": nil})
}

// card is a plugin's listing as search and batch answer it.
func (s *Server) card(id string) map[string]any {
	uids := s.order[id]
	latest := uids[len(uids)-1]
	org, name, _ := strings.Cut(id, "/")
	version := strings.TrimPrefix(strings.SplitN(latest, "@", 2)[0], id+":")
	return map[string]any{
		"type": "plugin", "org": org, "name": name, "plugin_id": id,
		"version": version, "latest_version": version, "latest_package_identifier": latest,
		"label": map[string]string{"en_US": name}, "brief": map[string]string{"en_US": "the " + name + " plugin"},
		"category": "agent-strategy", "install_count": 1000, "verified": true,
		"verification": map[string]string{"authorized_category": "langgenius"},
	}
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Page     int    `json:"page"`
		PageSize int    `json:"page_size"`
		Query    string `json:"query"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		replyError(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plugins := []map[string]any{}
	var ids []string
	for id := range s.order {
		if strings.Contains(id, strings.ToLower(body.Query)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		plugins = append(plugins, s.card(id))
	}
	reply(w, map[string]any{"plugins": plugins, "total": len(plugins)})
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PluginIDs []string `json:"plugin_ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		replyError(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plugins := []map[string]any{}
	for _, id := range body.PluginIDs {
		if _, ok := s.order[id]; ok {
			plugins = append(plugins, s.card(id))
		}
	}
	reply(w, map[string]any{"plugins": plugins})
}

func (s *Server) versions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("org") + "/" + r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	uids, ok := s.order[id]
	if !ok {
		replyError(w, http.StatusNotFound, "plugin not found")
		return
	}
	versions := []map[string]any{}
	for i := len(uids) - 1; i >= 0; i-- {
		head, sum, _ := strings.Cut(uids[i], "@")
		_, version, _ := strings.Cut(head, ":")
		versions = append(versions, map[string]any{
			"plugin_org": r.PathValue("org"), "plugin_name": r.PathValue("name"), "version": version,
			"checksum": sum, "unique_identifier": uids[i], "created_at": "2025-04-14T12:00:00Z", "status": "active",
		})
	}
	reply(w, map[string]any{"versions": versions})
}

func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.Downloads.Add(1)
	uid := r.URL.Query().Get("unique_identifier")
	s.mu.Lock()
	data, ok := s.packages[uid]
	s.mu.Unlock()
	if !ok {
		replyError(w, http.StatusNotFound, fmt.Sprintf("plugin package %s not found", uid))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	_, _ = w.Write(data)
}

package apitools_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plugd/plugd/internal/apitools"
	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/egress"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

// petServer implements a few Petstore operations on loopback, as the description says, and
// records what it was sent.
type petServer struct {
	mu   sync.Mutex
	reqs []*http.Request
	body []string
}

func (p *petServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.body = append(p.body, string(b))
	p.mu.Unlock()
	if r.Header.Get("api_key") != "special-key-42" {
		http.Error(w, `{"code":401,"message":"no key"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v2/pet/7":
		w.Write([]byte(`{"id":7,"name":"doggie","status":"available"}`))
	case r.Method == http.MethodGet && r.URL.Path == "/v2/pet/findByStatus":
		w.Write([]byte(`[{"id":7,"name":"doggie","status":"` + strings.Join(r.URL.Query()["status"], "+") + `"}]`))
	case r.Method == http.MethodPost && r.URL.Path == "/v2/store/order":
		w.Write(b)
	case r.Method == http.MethodGet && r.URL.Path == "/v2/store/inventory":
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte{0x89, 'P', 'N', 'G'})
	default:
		http.Error(w, `{"code":404,"message":"Pet not found"}`, http.StatusNotFound)
	}
}

func setup(t *testing.T, allow string) (*catalog.Catalog, apitools.Importer, *petServer, string) {
	srv := &petServer{}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	a, err := egress.ParseAllow(allow)
	if err != nil {
		t.Fatal(err)
	}
	client := egress.New(egress.Settings{Allow: a})
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindAPI: apitools.Caller{Client: client}}})
	return c, apitools.Importer{Client: client}, srv, ts.URL + "/v2"
}

func call(t *testing.T, c *catalog.Catalog, id, tool string, args map[string]any) (catalog.Message, error) {
	t.Helper()
	st, err := c.Call(t.Context(), "t", catalog.CallRequest{ProviderID: id, Tool: tool, Arguments: args})
	if err != nil {
		return catalog.Message{}, err
	}
	defer st.Close()
	m, err := st.Next()
	if err != nil {
		return m, err
	}
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("more than one message: %v", err)
	}
	return m, nil
}

// TestPetstore imports the real Petstore 3.0, 3.1 and 2.0 descriptions and calls operations
// against a loopback server with path, query and body arguments and an api-key header.
func TestPetstore(t *testing.T) {
	for _, file := range []string{"petstore-3.0.json", "petstore-3.1.json", "petstore-2.0.yaml"} {
		t.Run(file, func(t *testing.T) {
			c, im, srv, base := setup(t, "127.0.0.1")
			text, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			np, err := im.NewProvider(t.Context(), apitools.Import{Name: "pets", Schema: string(text), ServerURL: base,
				Auth: apitools.Auth{Type: apitools.AuthAPIKeyHeader, Name: "api_key"}, Credentials: map[string]string{"api_key": "special-key-42"}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Add(t.Context(), "t", np)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Tools) < 19 || p.Credentials["api_key"] != "sp**********42" {
				t.Fatalf("%d tools, credentials %v", len(p.Tools), p.Credentials)
			}
			m, err := call(t, c, p.ID, "getPetById", map[string]any{"petId": 7})
			if err != nil || m.Type != "json" || !strings.Contains(string(m.Message), `"doggie"`) {
				t.Fatalf("getPetById: %+v %v", m, err)
			}
			m, err = call(t, c, p.ID, "findPetsByStatus", map[string]any{"status": []any{"available", "sold"}})
			if err != nil || m.Type != "text" || !strings.Contains(string(m.Message), "available") {
				t.Fatalf("findPetsByStatus: %+v %v", m, err)
			}
			order := map[string]any{"id": 3, "petId": 7, "quantity": 2, "status": "placed", "complete": false}
			args := map[string]any{}
			var schema struct {
				Properties map[string]any `json:"properties"`
			}
			json.Unmarshal(toolSchema(p, "placeOrder"), &schema)
			if _, whole := schema.Properties["body"]; whole {
				args["body"] = order
			} else {
				args = order
			}
			m, err = call(t, c, p.ID, "placeOrder", args)
			if err != nil || m.Type != "json" || !strings.Contains(string(m.Message), `"quantity":2`) {
				t.Fatalf("placeOrder: %+v %v (schema %s)", m, err, toolSchema(p, "placeOrder"))
			}
			srv.mu.Lock()
			last := srv.reqs[len(srv.reqs)-1]
			srv.mu.Unlock()
			if last.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("placeOrder sent %q", last.Header.Get("Content-Type"))
			}
			if file != "petstore-2.0.yaml" {
				m, err = call(t, c, p.ID, "getInventory", nil)
				if err != nil || m.Type != "blob" || !strings.Contains(string(m.Meta), "image/png") {
					t.Fatalf("getInventory: %+v %v", m, err)
				}
			}
			// Upstream errors, bad arguments.
			if _, err := call(t, c, p.ID, "getPetById", map[string]any{"petId": 8}); !errors.Is(err, catalog.ErrCallFailed) || !strings.Contains(err.Error(), "404") {
				t.Fatalf("missing pet: %v", err)
			}
			if _, err := call(t, c, p.ID, "getPetById", map[string]any{"petId": 7, "colour": "x"}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "colour") {
				t.Fatalf("unknown argument: %v", err)
			}
		})
	}
}

func toolSchema(p catalog.Provider, name string) json.RawMessage {
	for _, t := range p.Tools {
		if t.Name == name {
			return t.InputSchema
		}
	}
	return nil
}

// TestSchemes uses the description's own api_key scheme: the credential is keyed by the
// scheme's name and applied the way the description says.
func TestSchemes(t *testing.T) {
	c, im, srv, base := setup(t, "127.0.0.1")
	text, _ := os.ReadFile(filepath.Join("testdata", "petstore-3.0.json"))
	np, err := im.NewProvider(t.Context(), apitools.Import{Name: "pets", Schema: string(text), ServerURL: base,
		Auth: apitools.Auth{Type: apitools.AuthSchemes}, Credentials: map[string]string{"api_key": "special-key-42"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Add(t.Context(), "t", np)
	if err != nil {
		t.Fatal(err)
	}
	m, err := call(t, c, p.ID, "getPetById", map[string]any{"petId": 7})
	if err != nil || !strings.Contains(string(m.Message), "doggie") {
		t.Fatalf("getPetById with the description's scheme: %+v %v", m, err)
	}
	// An operation whose requirement the credentials do not meet (petstore_auth, OAuth) is
	// refused before anything is sent, saying what would do.
	n := len(srv.reqs)
	if _, err := call(t, c, p.ID, "findPetsByStatus", map[string]any{"status": []any{"sold"}}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "petstore_auth") {
		t.Fatalf("unmet requirement: %v", err)
	}
	if len(srv.reqs) != n {
		t.Fatal("a request was sent without the credentials it needs")
	}
}

// TestGuard: without loopback allowed, the call is refused by egress and said so.
func TestGuard(t *testing.T) {
	c, im, srv, base := setup(t, "")
	text, _ := os.ReadFile(filepath.Join("testdata", "petstore-3.0.json"))
	np, err := im.NewProvider(t.Context(), apitools.Import{Name: "pets", Schema: string(text), ServerURL: base})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Add(t.Context(), "t", np)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, c, p.ID, "getPetById", map[string]any{"petId": 7}); !errors.Is(err, catalog.ErrCallFailed) {
		t.Fatalf("loopback call without allow: %v", err)
	}
	if len(srv.reqs) != 0 {
		t.Fatal("the request reached the loopback server")
	}
}

func TestImportRefuses(t *testing.T) {
	_, im, _, _ := setup(t, "")
	for _, req := range []apitools.Import{
		{Name: "x", Schema: "not: [an api"},
		{Name: "x", Schema: `{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{}}`},
		{Name: "x", Schema: "{}", Auth: apitools.Auth{Type: apitools.AuthBasic}},
		{Name: "x", Schema: "{}", Auth: apitools.Auth{Type: "digest"}},
		{Name: "x"},
	} {
		if _, err := im.NewProvider(t.Context(), req); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

// TestImportFromURL fetches the description through the guarded client: allowed on loopback
// here, refused without the allowance.
func TestImportFromURL(t *testing.T) {
	text, _ := os.ReadFile(filepath.Join("testdata", "petstore-2.0.yaml"))
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(text)
	}))
	defer docs.Close()
	_, im, _, _ := setup(t, "127.0.0.1")
	np, err := im.NewProvider(t.Context(), apitools.Import{Name: "pets", URL: docs.URL + "/petstore.yaml"})
	if err != nil || len(np.Tools) < 19 || !strings.Contains(string(np.Config), docs.URL) {
		t.Fatalf("import from URL: %d tools, %s, %v", len(np.Tools), np.Config, err)
	}
	_, guarded, _, _ := setup(t, "")
	if _, err := guarded.NewProvider(t.Context(), apitools.Import{Name: "pets", URL: docs.URL + "/petstore.yaml"}); err == nil {
		t.Fatal("a description on loopback was fetched without the allowance")
	}
}

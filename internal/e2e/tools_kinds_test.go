package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/workflow/workflowtest"
)

// TestToolCatalogAPIAndWorkflow adds a Dify workflow app (a fake of Dify's public app API on
// loopback) and imports the real Petstore description (served by a small pet server on
// loopback) through `plugd tools`, calls both, re-imports the description without an operation
// and checks it is reported removed by the re-import, calls again after a restart (the master
// key file opens the stored credentials) and after `plugd keys rotate`, and finds neither secret in clear
// anywhere in the daemon's data folder (database, WAL and all).
func TestToolCatalogAPIAndWorkflow(t *testing.T) {
	const appKey, petKey = "app-secret-e2e-123", "pet-secret-e2e-456"
	app := httptest.NewServer(workflowtest.NewApp(appKey))
	defer app.Close()
	pets := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("api_key") != petKey {
			http.Error(w, `{"message":"no key"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v2/pet/7":
			w.Write([]byte(`{"id":7,"name":"doggie","status":"available"}`))
		default:
			http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		}
	}))
	defer pets.Close()

	// Loopback is refused by default; this deployment allows it for the two fakes.
	d := startDaemon(t, daemonOptions{Env: map[string]string{"PLUGD_EGRESS_ALLOW": "127.0.0.1"}})
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	tenant := newTenant()
	plugd := cliRunner(ctx, t, d, tenant)
	var p struct {
		ID          string            `json:"id"`
		Credentials map[string]string `json:"credentials"`
		Tools       []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}

	out, errOut, code := plugd("tools", "add-workflow", "greet", "--base-url", app.URL+"/v1", "--api-key", appKey, "--mode", "streaming", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Credentials["api_key"] != "ap**************23" || len(p.Tools) != 1 {
		t.Fatalf("add-workflow: exit %d\n%s\n%s", code, out, errOut)
	}
	workflowID := p.ID
	out, errOut, code = plugd("tools", "call", p.ID, "greet", "--param", "name=Ada", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Node progress as log messages, the streamed text chunk, then the outputs as text and json.
	if code != 0 || len(lines) != 5 || !strings.Contains(lines[0], `"type":"log"`) || !strings.Contains(lines[1], `"status":"success"`) ||
		lines[2] != `{"type":"text","message":{"text":"Hello, Ada!"}}` ||
		lines[4] != `{"type":"json","message":{"json_object":{"greeting":"Hello, Ada!"}}}` {
		t.Fatalf("call the workflow: exit %d\n%s\n%s", code, out, errOut)
	}

	petstore, err := filepath.Abs(filepath.Join("..", "apitools", "testdata", "petstore-3.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = plugd("tools", "import-openapi", "pets", "--file", petstore,
		"--server-url", pets.URL+"/v2", "--auth-type", "api_key_header", "--auth-name", "api_key", "--credential", "api_key="+petKey, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || len(p.Tools) < 19 || p.Credentials["api_key"] != "pe**************56" {
		t.Fatalf("import-openapi: exit %d\n%.400s\n%s", code, out, errOut)
	}
	out, errOut, code = plugd("tools", "call", p.ID, "getPetById", "--param", "petId=7", "--json")
	if code != 0 || !strings.Contains(out, `"type":"json"`) || !strings.Contains(out, `"doggie"`) {
		t.Fatalf("call getPetById: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = plugd("tools", "call", p.ID, "getPetById", "--param", "petId=8")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("call getPetById for a missing pet: exit %d\n%s", code, errOut)
	}

	// Re-import without getPetById: check says the re-import removed it.
	raw, err := os.ReadFile(petstore)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc["paths"].(map[string]any)["/pet/{petId}"].(map[string]any), "get")
	trimmed := filepath.Join(t.TempDir(), "petstore.json")
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(trimmed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := plugd("tools", "import-openapi", "pets", "--file", trimmed, "--replace", p.ID, "--server-url", pets.URL+"/v2",
		"--auth-type", "api_key_header", "--auth-name", "api_key"); code != 0 {
		t.Fatalf("re-import: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = plugd("tools", "check", "api:"+p.ID+":getPetById", "api:"+p.ID+":findPetsByStatus", "--json")
	if code != 1 || !strings.Contains(out, `"operation_removed"`) || strings.Count(out, `"reason"`) != 1 {
		t.Fatalf("check after the re-import: exit %d\n%s", code, out)
	}
	// The stored key survived the re-import (no credential given keeps it).
	out, errOut, code = plugd("tools", "call", p.ID, "findPetsByStatus", "--param", `status=["available"]`, "--json")
	if code != 1 || !strings.Contains(errOut, "404") { // the pet server only knows /pet/7: a 404, not a 401
		t.Fatalf("call after the re-import: exit %d\n%s\n%s", code, out, errOut)
	}

	// After a restart the master key file opens the stored credentials again.
	d.restart()
	out, errOut, code = plugd("tools", "call", workflowID, "greet", "--param", "name=Bo", "--json")
	if code != 0 || !strings.Contains(out, `{"greeting":"Hello, Bo!"}`) {
		t.Fatalf("workflow call after a restart: exit %d\n%s\n%s", code, out, errOut)
	}
	// (getPetById is gone since the re-import; findPetsByStatus reaches the pet server, which
	// answers 404 to a caller with the right key and 401 to one without.)
	out, errOut, code = plugd("tools", "call", p.ID, "findPetsByStatus", "--param", `status=["available"]`, "--json")
	if code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("call after a restart: exit %d\n%s\n%s", code, out, errOut)
	}

	// Rotating the master key (plugd stopped) keeps every credential usable.
	d.stop()
	before, err := os.ReadFile(filepath.Join(d.opts.DataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	rot := exec.CommandContext(ctx, binary(t), "keys", "rotate", "--data-dir", d.opts.DataDir, "--json")
	rot.Env, rot.Dir = d.environ(), d.home
	rotOut, err := rot.CombinedOutput()
	var rep struct {
		Rewrapped int `json:"rewrapped"`
	}
	if err != nil || json.Unmarshal(rotOut, &rep) != nil || rep.Rewrapped != 1 {
		t.Fatalf("plugd keys rotate: %v\n%s", err, rotOut)
	}
	after, _ := os.ReadFile(filepath.Join(d.opts.DataDir, "master.key"))
	if string(after) == string(before) {
		t.Fatal("master.key did not change")
	}
	d.restart()
	out, errOut, code = plugd("tools", "call", workflowID, "greet", "--param", "name=Cy", "--json")
	if code != 0 || !strings.Contains(out, `{"greeting":"Hello, Cy!"}`) {
		t.Fatalf("workflow call after the key rotation: exit %d\n%s\n%s", code, out, errOut)
	}

	// No secret in clear anywhere in the data folder (the master key file aside, which holds
	// no credential).
	err = filepath.WalkDir(d.opts.DataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || strings.Contains(path, string(filepath.Separator)+"python") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil // sockets and the like
		}
		for _, s := range []string{appKey, petKey} {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds the secret %s in clear", path, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

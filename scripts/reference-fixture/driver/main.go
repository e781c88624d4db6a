// Command driver makes plugd adopt's fixture with the real reference daemon (see
// ../make.sh, which builds the reference and starts its PostgreSQL and Redis). It serves a
// fake of Dify's inner API, starts the reference server with it, installs plugins across two
// tenants through the reference's HTTP API, sets up endpoints (one with a secret setting),
// writes plugin key-value data through the plugins, and records the reference's answers to
// Dify's calls as golden files that plugd must reproduce after adoption.
//
// The fake Dify encrypts an endpoint's secret-input settings as "enc:" + the plain value and
// decrypts by stripping that prefix: the same scheme as the fake in internal/e2e, so the
// daemon that adopted the fixture decrypts the stored values by asking the same fake, as it
// would ask the same real Dify after a switch.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// The fixture's tenants and the user that sets up endpoints. Fixed, so the golden files are
// stable between runs of this driver.
const (
	tenantA  = "0b9a3ac4-7c3e-4c55-9a55-7c0c5a6f0a01"
	tenantB  = "5d2f4e17-90f1-4f3b-8a0d-3c9a1d2e0b02"
	userID   = "7e1c2d3b-4a5f-4e6d-9c8b-1a2b3c4d5e6f"
	innerKey = "fixture-inner-api-key"
)

func main() {
	server := flag.String("server", "", "the reference's server binary")
	addr := flag.String("addr", "127.0.0.1:55102", "address the reference server listens on (SERVER_HOST:SERVER_PORT)")
	apiKey := flag.String("key", "fixture-server-key", "SERVER_KEY")
	out := flag.String("out", "", "folder for the golden files")
	pkgs := flag.String("packages", "", "comma-separated: adoptkv.difypkg,e2etool.difypkg,echo.difypkg")
	logFile := flag.String("log", "", "the reference server's log file")
	flag.Parse()
	if *server == "" || *out == "" || *pkgs == "" || *logFile == "" {
		log.Fatal("usage: driver -server BIN -out DIR -packages A,B,C -log FILE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	if err := run(ctx, *server, *addr, *apiKey, *out, strings.Split(*pkgs, ","), *logFile); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, server, addr, apiKey, out string, pkgs []string, logFile string) error {
	if len(pkgs) != 3 {
		return fmt.Errorf("-packages: want 3 packages (adoptkv, e2etool, echo), got %d", len(pkgs))
	}
	dify := &fakeDify{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ln, dify)
	difyURL := "http://" + ln.Addr().String()

	host, port, _ := net.SplitHostPort(addr)
	lf, err := os.Create(logFile)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.CommandContext(ctx, server)
	cmd.Env = append(os.Environ(),
		"SERVER_HOST="+host, "SERVER_PORT="+port, "SERVER_KEY="+apiKey,
		"DIFY_INNER_API_URL="+difyURL, "DIFY_INNER_API_KEY="+innerKey)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	c := &client{base: "http://" + addr, key: apiKey}
	if err := c.waitHealthy(ctx); err != nil {
		return err
	}
	log.Printf("reference daemon up at %s, fake Dify at %s", addr, difyURL)

	uids := make([]string, len(pkgs))
	for i, p := range pkgs {
		uid, err := c.upload(ctx, tenantA, p)
		if err != nil {
			return fmt.Errorf("uploading %s: %w", p, err)
		}
		uids[i] = uid
		log.Printf("uploaded %s", uid)
	}
	kv, tool, echo := uids[0], uids[1], uids[2]
	installs := []struct {
		tenant string
		uids   []string
		metas  []map[string]any
	}{
		{tenantA, []string{kv, tool, echo}, []map[string]any{{"fixture": "a-kv"}, {}, {"fixture": "a-echo"}}},
		{tenantB, []string{kv, echo}, []map[string]any{{"fixture": "b-kv"}, {}}},
	}
	for _, in := range installs {
		if err := c.install(ctx, in.tenant, in.uids, in.metas); err != nil {
			return err
		}
	}

	// Endpoints: a secret setting on adoptkv in both tenants, e2etool's (no settings) in A,
	// then disabled, so both enabled states are adopted.
	if err := c.setupEndpoint(ctx, tenantA, kv, "kv-a", map[string]any{"api_key": "sk-tenant-a-secret", "greeting": "hello"}); err != nil {
		return err
	}
	if err := c.setupEndpoint(ctx, tenantB, kv, "kv-b", map[string]any{"api_key": "short", "greeting": "hola"}); err != nil {
		return err
	}
	if err := c.setupEndpoint(ctx, tenantA, tool, "echo-a", map[string]any{}); err != nil {
		return err
	}
	epsA, err := c.endpoints(ctx, tenantA)
	if err != nil {
		return err
	}
	epsB, err := c.endpoints(ctx, tenantB)
	if err != nil {
		return err
	}
	hook := func(eps []endpoint, name string) endpoint {
		for _, e := range eps {
			if e.Name == name {
				return e
			}
		}
		log.Fatalf("no endpoint named %s in %v", name, eps)
		return endpoint{}
	}
	kvA, kvB, echoA := hook(epsA, "kv-a"), hook(epsB, "kv-b"), hook(epsA, "echo-a")
	if err := c.ok(ctx, "POST", "/plugin/"+tenantA+"/endpoint/disable", map[string]any{"endpoint_id": echoA.ID}); err != nil {
		return err
	}

	// Plugin KV data, written through the plugins: the endpoint and the tool of adoptkv.
	writes := []struct{ hook, key, body string }{
		{kvA.HookID, "greeting", "hello from tenant A"},
		{kvB.HookID, "greeting", "hola from tenant B"},
	}
	for _, w := range writes {
		st, body, err := c.raw(ctx, "POST", "/e/"+w.hook+"/kv/"+w.key, nil, strings.NewReader(w.body))
		if err != nil || st != 200 {
			return fmt.Errorf("writing %s through endpoint %s: %d %s %v", w.key, w.hook, st, body, err)
		}
	}
	if _, err := c.dispatchTool(ctx, tenantA, "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "notes/first", "value": "a key with a slash"}); err != nil {
		return err
	}

	// The answers Dify gets, as golden files.
	golden := map[string]any{}
	for _, t := range []string{tenantA, tenantB} {
		st, body, err := c.raw(ctx, "GET", "/plugin/"+t+"/management/list?page=1&page_size=100", nil, nil)
		if err != nil {
			return err
		}
		golden["list_"+t] = answer(st, body)
		st, body, err = c.raw(ctx, "GET", "/plugin/"+t+"/endpoint/list?page=1&page_size=100", nil, nil)
		if err != nil {
			return err
		}
		golden["endpoints_"+t] = answer(st, body)
	}
	sse, err := c.dispatchTool(ctx, tenantA, "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "notes/first"})
	if err != nil {
		return err
	}
	golden["tool_kv_notes_"+tenantA] = sse
	if sse, err = c.dispatchTool(ctx, tenantB, "plugd/adoptkv", "adoptkv", "kv", map[string]any{"key": "greeting"}); err != nil {
		return err
	}
	golden["tool_kv_greeting_"+tenantB] = sse
	if sse, err = c.dispatchTool(ctx, tenantB, "test/echo", "echo", "echo", map[string]any{"text": "adopted?"}); err != nil {
		return err
	}
	golden["tool_echo_"+tenantB] = sse
	for _, e := range []struct{ name, hook, path string }{
		{"hook_kv_a", kvA.HookID, "/kv/greeting"},
		{"hook_kv_b", kvB.HookID, "/kv/greeting"},
		{"hook_kv_a_missing", kvA.HookID, "/kv/nothing"},
		{"hook_echo_a_disabled", echoA.HookID, "/echo?x=1"},
	} {
		st, body, err := c.raw(ctx, "GET", "/e/"+e.hook+e.path, nil, nil)
		if err != nil {
			return err
		}
		golden[e.name] = map[string]any{"hook_id": e.hook, "path": e.path, "status": st, "body": string(body)}
	}
	golden["tenants"] = []string{tenantA, tenantB}
	golden["dify_calls"] = dify.log()
	b, err := json.MarshalIndent(golden, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "golden.json"), append(b, '\n'), 0o644)
}

// answer keeps an HTTP answer as the status and the JSON body (or the text when not JSON).
func answer(status int, body []byte) map[string]any {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		v = string(body)
	}
	return map[string]any{"status": status, "body": v}
}

type client struct {
	base, key string
}

func (c *client) raw(ctx context.Context, method, path string, hdr http.Header, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if strings.HasPrefix(path, "/plugin/") {
		req.Header.Set("X-Api-Key", c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// call sends a JSON body (or none) and decodes the envelope's data into out.
func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	hdr := http.Header{}
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
		hdr.Set("Content-Type", "application/json")
	}
	st, b, err := c.raw(ctx, method, path, hdr, body)
	if err != nil {
		return err
	}
	return decodeEnv(method+" "+path, st, b, out)
}

func decodeEnv(what string, st int, b []byte, out any) error {
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d %.300s", what, st, b)
	}
	if env.Code != 0 {
		return fmt.Errorf("%s: code %d: %s", what, env.Code, env.Message)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Data, out)
}

func (c *client) ok(ctx context.Context, method, path string, in any) error {
	return c.call(ctx, method, path, in, nil)
}

func (c *client) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if st, _, err := c.raw(ctx, "GET", "/health/check", nil, nil); err == nil && st == 200 {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return errors.New("the reference daemon did not answer /health/check within 2 minutes (see its log)")
}

func (c *client) upload(ctx context.Context, tenant, file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("dify_pkg", filepath.Base(file))
	fw.Write(data)
	mw.WriteField("verify_signature", "false")
	mw.Close()
	hdr := http.Header{"Content-Type": {mw.FormDataContentType()}}
	st, b, err := c.raw(ctx, "POST", "/plugin/"+tenant+"/management/install/upload/package", hdr, &buf)
	if err != nil {
		return "", err
	}
	var out struct {
		UniqueIdentifier string `json:"unique_identifier"`
	}
	if err := decodeEnv("upload "+file, st, b, &out); err != nil {
		return "", err
	}
	return out.UniqueIdentifier, nil
}

func (c *client) install(ctx context.Context, tenant string, uids []string, metas []map[string]any) error {
	var out struct {
		AllInstalled bool   `json:"all_installed"`
		TaskID       string `json:"task_id"`
	}
	err := c.call(ctx, "POST", "/plugin/"+tenant+"/management/install/identifiers",
		map[string]any{"plugin_unique_identifiers": uids, "source": "package", "metas": metas}, &out)
	if err != nil {
		return err
	}
	if out.AllInstalled {
		return nil
	}
	for {
		var task struct {
			Status  string `json:"status"`
			Plugins []struct {
				UID     string `json:"plugin_unique_identifier"`
				Status  string `json:"status"`
				Message string `json:"message"`
			} `json:"plugins"`
		}
		if err := c.call(ctx, "GET", "/plugin/"+tenant+"/management/install/tasks/"+out.TaskID, nil, &task); err != nil {
			// The reference deletes a task 60 s after one of its plugins succeeded, even while
			// another is still installing (seen on MySQL, where an environment took longer):
			// then the installations themselves say when it is done.
			if !strings.Contains(err.Error(), "record not found") {
				return err
			}
			return c.waitInstalled(ctx, tenant, uids)
		}
		switch task.Status {
		case "success":
			log.Printf("tenant %s: installed %v", tenant, uids)
			return nil
		case "failed":
			return fmt.Errorf("tenant %s: install task %s failed: %+v", tenant, out.TaskID, task.Plugins)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// waitInstalled polls the tenant's plugin list until every uid is installed.
func (c *client) waitInstalled(ctx context.Context, tenant string, uids []string) error {
	for {
		var list struct {
			List []struct {
				UID string `json:"plugin_unique_identifier"`
			} `json:"list"`
		}
		if err := c.call(ctx, "GET", "/plugin/"+tenant+"/management/list?page=1&page_size=100", nil, &list); err != nil {
			return err
		}
		have := map[string]bool{}
		for _, p := range list.List {
			have[p.UID] = true
		}
		missing := 0
		for _, u := range uids {
			if !have[u] {
				missing++
			}
		}
		if missing == 0 {
			log.Printf("tenant %s: installed %v (its task was deleted before the last plugin finished)", tenant, uids)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("tenant %s: %d of %v not installed: %w", tenant, missing, uids, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

type endpoint struct {
	ID     string `json:"id"`
	HookID string `json:"hook_id"`
	Name   string `json:"name"`
}

func (c *client) setupEndpoint(ctx context.Context, tenant, uid, name string, settings map[string]any) error {
	return c.ok(ctx, "POST", "/plugin/"+tenant+"/endpoint/setup", map[string]any{
		"plugin_unique_identifier": uid, "user_id": userID, "settings": settings, "name": name,
	})
}

func (c *client) endpoints(ctx context.Context, tenant string) ([]endpoint, error) {
	var out []endpoint
	err := c.call(ctx, "GET", "/plugin/"+tenant+"/endpoint/list?page=1&page_size=100", nil, &out)
	return out, err
}

// dispatchTool invokes a tool as Dify does and returns the raw event stream.
func (c *client) dispatchTool(ctx context.Context, tenant, pluginID, provider, tool string, params map[string]any) (string, error) {
	b, _ := json.Marshal(map[string]any{
		"tenant_id": tenant, "user_id": userID,
		"data": map[string]any{"provider": provider, "tool": tool, "tool_parameters": params, "credentials": map[string]any{}, "credential_type": "api-key"},
	})
	hdr := http.Header{"Content-Type": {"application/json"}, "X-Plugin-Id": {pluginID}}
	st, body, err := c.raw(ctx, "POST", "/plugin/"+tenant+"/dispatch/tool/invoke", hdr, bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	if st != 200 || strings.Contains(string(body), `"code":-`) {
		return "", fmt.Errorf("tool %s/%s in %s: HTTP %d %s", pluginID, tool, tenant, st, body)
	}
	return string(body), nil
}

// fakeDify answers Dify's inner API route invoke/encrypt the way internal/e2e's fake does.
type fakeDify struct {
	mu    sync.Mutex
	calls []map[string]any
}

func (f *fakeDify) log() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeDify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	f.mu.Lock()
	f.calls = append(f.calls, map[string]any{
		"path": r.URL.Path, "transfer_encoding": r.TransferEncoding, "content_length": r.ContentLength,
		"key_ok": r.Header.Get("X-Inner-Api-Key") == innerKey, "opt": in["opt"], "namespace": in["namespace"],
		"tenant_id": in["tenant_id"],
	})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("X-Inner-Api-Key") != innerKey {
		w.WriteHeader(404)
		return
	}
	if r.URL.Path != "/inner/api/invoke/encrypt" {
		json.NewEncoder(w).Encode(map[string]any{"data": nil, "error": "the fixture's fake Dify only answers invoke/encrypt"})
		return
	}
	data, _ := in["data"].(map[string]any)
	configs, _ := in["config"].([]any)
	var secrets []string
	for _, c := range configs {
		if m, ok := c.(map[string]any); ok && m["type"] == "secret-input" {
			name, _ := m["name"].(string)
			secrets = append(secrets, name)
		}
	}
	sort.Strings(secrets)
	outData := map[string]any{}
	for k, v := range data {
		outData[k] = v
	}
	switch in["opt"] {
	case "encrypt":
		for _, k := range secrets {
			if s, ok := outData[k].(string); ok && s != "" {
				outData[k] = "enc:" + s
			}
		}
	case "decrypt":
		for _, k := range secrets {
			if s, ok := outData[k].(string); ok {
				outData[k] = strings.TrimPrefix(s, "enc:")
			}
		}
	case "clear":
		outData = map[string]any{}
	}
	json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"data": outData}, "error": ""})
}

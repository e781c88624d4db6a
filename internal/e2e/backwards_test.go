package e2e

// Backwards invocation end to end: real SDK plugins (testdata/plugins/e2eagent, e2ehook) call
// back into Dify through a real `plugd serve` (or `plugd plugin invoke`), and the fake inner
// API of fake_dify_test.go plays Dify. What is checked:
//   - an agent strategy's streamed LLM call and builtin tool call reach Dify with the
//     request's tenant and user, and their answers reach the plugin;
//   - endpoint settings of type secret-input are encrypted through Dify on setup, shown
//     masked in the list, decrypted for the plugin; plugin storage and its quota; file upload
//     through Dify's signed upload URL;
//   - the manifest's permissions are enforced;
//   - a misbehaving or hanging Dify ends the plugin's call with an error, never a hang;
//   - the CLI's `plugin invoke` reaches Dify when DIFY_INNER_API_URL is set.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	agentPluginID    = "plugd/e2eagent"
	agentProvider    = "e2eagent"
	agentStrategy    = "probe"
	hookPluginID     = "plugd/e2ehook"
	fakeToolProvider = "e2e/faketools/faketools" // what strategies/probe.py calls
	fakeToolName     = "lookup"
	toolCredentialID = "cred-e2e-1"
)

var (
	bwPkgMu sync.Mutex
	bwPkgs  = map[string]testPackage{}
)

// bwPackage packages testdata/plugins/<plugin>, changed by edit, once per run and variant.
func bwPackage(t testing.TB, plugin, variant string, edit func(dir string) error) testPackage {
	t.Helper()
	bin := binary(t)
	bwPkgMu.Lock()
	defer bwPkgMu.Unlock()
	key := plugin + "-" + variant
	if p, ok := bwPkgs[key]; ok {
		return p
	}
	dir := filepath.Join(runDir, "src-"+key, plugin)
	if err := copyTree(filepath.Join("testdata", "plugins", plugin), dir); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		if err := edit(dir); err != nil {
			t.Fatal(err)
		}
	}
	p, err := packageDir(bin, dir, filepath.Join(runDir, key+".difypkg"))
	if err != nil {
		t.Fatal(err)
	}
	bwPkgs[key] = p
	return p
}

// withoutModelPermission removes e2eagent's model permission block.
func withoutModelPermission(dir string) error {
	return editFile(filepath.Join(dir, "manifest.yaml"), func(s string) string {
		return strings.Replace(s, "    model:\n      enabled: true\n      llm: true\n", "", 1)
	})
}

// difyEnv points a daemon (or the CLI) at the fake.
func difyEnv(f *fakeDify, extra map[string]string) map[string]string {
	env := map[string]string{"DIFY_INNER_API_URL": f.URL(), "DIFY_INNER_API_KEY": f.Key()}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// fakeModel is the model-selector value Dify passes an agent strategy.
var fakeModel = map[string]any{
	"provider": "langgenius/openai/openai", "model": "gpt-fake", "model_type": "llm", "mode": "chat",
	"completion_params": map[string]any{"temperature": 0.1}, "history_prompt_messages": []any{},
}

// invokeAgent is PluginAgentClient.invoke (api/core/plugin/impl/agent.py) for the probe
// strategy: action is llm, tool or both.
func invokeAgent(ctx context.Context, c *difyClient, userID, action, query string) ([]toolMessage, error) {
	body := map[string]any{
		"user_id": userID, "conversation_id": nil, "app_id": nil, "message_id": nil,
		"context": map[string]any{"credentials": map[string]any{"tool_credentials": map[string]any{fakeToolProvider: toolCredentialID}}},
		"data": map[string]any{
			"agent_strategy_provider": agentProvider, "agent_strategy": agentStrategy,
			"agent_strategy_params": map[string]any{"model": fakeModel, "query": query, "action": action},
		},
	}
	return collect[toolMessage](ctx, c, c.p("dispatch/agent_strategy/invoke"), map[string]string{"X-Plugin-ID": agentPluginID}, body)
}

// errorText is everything an error says, the plugin's own message included.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if de := asDifyError(err); de != nil {
		s += " | " + de.ErrorMessage + " | " + de.InnerType + ": " + de.InnerMessage + " | " + string(de.Raw)
	}
	return s
}

// logLines returns the daemon's log lines holding any of subs.
func (d *daemon) logLines(subs ...string) []string { return d.logLinesSince(0, subs...) }

// logLinesSince is logLines for the lines after the first mark lines (see logMark).
func (d *daemon) logLinesSince(mark int, subs ...string) []string {
	var out []string
	for i, line := range d.allLogLines() {
		if i < mark {
			continue
		}
		for _, s := range subs {
			if s != "" && strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// logMark is the number of log lines written so far.
func (d *daemon) logMark() int { return len(d.allLogLines()) }

func (d *daemon) allLogLines() []string {
	var out []string
	for _, p := range d.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		out = append(out, strings.Split(strings.TrimRight(string(b), "\n"), "\n")...)
	}
	return out
}

// requireDifyWired fails fast, with a clear message, when the daemon never called the fake
// for a backwards call that needs Dify (the daemon does not honour DIFY_INNER_API_URL yet).
func requireDifyWired(t *testing.T, d *daemon, f *fakeDify, err error) {
	t.Helper()
	if f.callCount() == 0 {
		t.Fatalf("the plugin's call never reached the fake Dify at %s (DIFY_INNER_API_URL not honoured?): %v\n%s",
			f.URL(), errorText(err), strings.Join(d.logLines("ERROR", "WARN", "backwards"), "\n"))
	}
}

func checkNoViolations(t *testing.T, f *fakeDify) {
	t.Helper()
	for _, v := range f.violationList() {
		t.Errorf("the daemon broke the inner API contract: %s", v)
	}
}

// TestBackwardsThroughServe drives both plugins through `plugd serve` against the fake Dify.
func TestBackwardsThroughServe(t *testing.T) {
	pythonTools(t)
	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, nil)})
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	installAndWait(ctx, t, c, bwPackage(t, "e2eagent", "base", nil))
	hookUID := installAndWait(ctx, t, c, bwPackage(t, "e2ehook", "base", nil))

	t.Run("agent", func(t *testing.T) {
		user := "e2e-user-" + randomHex(4)
		query := "what is up?"
		msgs, err := invokeAgent(ctx, c, user, "both", query)
		requireDifyWired(t, d, fake, err)
		if err != nil {
			t.Fatalf("agent_strategy/invoke: %s", errorText(err))
		}
		out := texts(msgs)
		wantTool := fakeToolText(fakeToolProvider, fakeToolName, map[string]any{"query": query})
		if !strings.Contains(out, "llm said: hello world") {
			t.Errorf("the strategy's text %q lacks the LLM's answer \"hello world\"", out)
		}
		if !strings.Contains(out, "tool said: "+wantTool) {
			t.Errorf("the strategy's text %q lacks the tool's answer %q", out, wantTool)
		}
		var gotJSON bool
		for _, m := range msgs {
			if m.Type == "json" {
				gotJSON = true
				if n, tok := field(m.Message, "json_object", "llm_chunks"), field(m.Message, "json_object", "llm_total_tokens"); n != float64(len(fakeLLMPieces)+1) || tok != float64(fakeLLMTotalTokens) {
					t.Errorf("the plugin saw %v LLM chunks and %v total tokens, want %d and %d (every chunk, usage included)", n, tok, len(fakeLLMPieces)+1, fakeLLMTotalTokens)
				}
			}
		}
		if !gotJSON {
			t.Errorf("no json message with the LLM's chunk count: %+v", msgs)
		}

		llm := fake.callsTo("invoke/llm")
		if len(llm) != 1 {
			t.Fatalf("the fake saw %d invoke/llm calls, want 1", len(llm))
		}
		for k, want := range map[string]string{"tenant_id": tenant, "user_id": user, "provider": "langgenius/openai/openai", "model": "gpt-fake", "model_type": "llm", "mode": "chat"} {
			if got := llm[0].str(k); got != want {
				t.Errorf("invoke/llm %s = %q, want %q", k, got, want)
			}
		}
		if got := str(llm[0].Raw, "prompt_messages", "0", "content"); got != query {
			t.Errorf("invoke/llm prompt_messages[0].content = %q, want %q (%.300s)", got, query, llm[0].Raw)
		}
		if got := field(llm[0].Raw, "completion_params", "temperature"); got != 0.1 {
			t.Errorf("invoke/llm completion_params.temperature = %v, want 0.1", got)
		}
		if got := field(llm[0].Raw, "stream"); got != true {
			t.Errorf("invoke/llm stream = %v, want true", got)
		}
		tool := fake.callsTo("invoke/tool")
		if len(tool) != 1 {
			t.Fatalf("the fake saw %d invoke/tool calls, want 1", len(tool))
		}
		for k, want := range map[string]string{"tenant_id": tenant, "user_id": user, "tool_type": "builtin", "provider": fakeToolProvider, "tool": fakeToolName} {
			if got := tool[0].str(k); got != want {
				t.Errorf("invoke/tool %s = %q, want %q", k, got, want)
			}
		}
		if got := str(tool[0].Raw, "tool_parameters", "query"); got != query {
			t.Errorf("invoke/tool tool_parameters.query = %q, want %q", got, query)
		}
		if got := tool[0].str("credential_id"); got != toolCredentialID {
			t.Errorf("invoke/tool credential_id = %q, want %q (from the dispatch's context.credentials.tool_credentials: the daemon must pass the context to the plugin)", got, toolCredentialID)
		}
		for _, call := range fake.callsTo("") {
			if !call.KeyOK {
				t.Errorf("%s was sent without the right X-Inner-Api-Key (%q)", call.Route, call.Header.Get("X-Inner-Api-Key"))
			}
		}
	})

	t.Run("endpoint", func(t *testing.T) {
		user := "e2e-admin-" + randomHex(4)
		ok, err := c.setupEndpoint(ctx, user, hookUID, "e2e hook", map[string]any{"api_key": "sk-secret"})
		if err != nil || !ok {
			requireDifyWired(t, d, fake, err)
			t.Fatalf("endpoint/setup: %v, %s", ok, errorText(err))
		}
		var encrypts []difyCall
		for _, call := range fake.callsTo("invoke/encrypt") {
			if call.str("opt") == "encrypt" {
				encrypts = append(encrypts, call)
			}
		}
		if len(encrypts) == 0 {
			t.Fatalf("endpoint/setup with a secret-input setting made no invoke/encrypt call with opt encrypt; calls: %d", fake.callCount())
		}
		enc := encrypts[0]
		if enc.str("tenant_id") != tenant || enc.str("namespace") != "endpoint" || str(enc.Raw, "data", "api_key") != "sk-secret" {
			t.Errorf("invoke/encrypt: %.500s; want tenant %s, namespace endpoint, data.api_key sk-secret", enc.Raw, tenant)
		}
		if str(enc.Raw, "config", "0", "name") != "api_key" || str(enc.Raw, "config", "0", "type") != "secret-input" {
			t.Errorf("invoke/encrypt config: %.500s; want the api_key secret-input declaration", enc.Raw)
		}

		list, err := c.listPluginEndpoints(ctx, hookPluginID, 1, 100)
		if err != nil || len(list) != 1 {
			t.Fatalf("endpoint/list/plugin: %d endpoints, %s", len(list), errorText(err))
		}
		var ep endpoint
		if err := json.Unmarshal(list[0], &ep); err != nil {
			t.Fatal(err)
		}
		shown, _ := ep.Settings["api_key"].(string)
		switch {
		case shown == "sk-secret":
			t.Errorf("endpoint/list shows the secret api_key in clear: %q", shown)
		case strings.Contains(shown, "enc:") || strings.Contains(shown, "secret"):
			t.Errorf("endpoint/list shows the api_key as %q: neither clear nor ciphertext belongs there, only a mask", shown)
		case shown == "":
			t.Errorf("endpoint/list shows no api_key at all (%v); Dify shows a masked value", ep.Settings)
		default:
			t.Logf("endpoint/list shows api_key as %q", shown)
		}

		hook := "/e/" + ep.HookID + "/store"
		post := func(body []byte) (int, map[string]any, []byte) {
			t.Helper()
			status, _, b := d.rawRequest(t, http.MethodPost, hook, map[string]string{"Content-Type": "text/plain"}, body)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			return status, m, b
		}
		status, reply, raw := post([]byte("remember me"))
		if status != http.StatusOK || reply == nil {
			t.Fatalf("POST %s: HTTP %d %.500s\n%s", hook, status, raw, strings.Join(d.logLines("ERROR", "WARN"), "\n"))
		}
		if reply["stored"] != "remember me" {
			t.Errorf("storage: the plugin read back %q, want %q", reply["stored"], "remember me")
		}
		if reply["api_key"] != "sk-secret" {
			t.Errorf("the plugin received api_key %v, want the decrypted sk-secret", reply["api_key"])
		}
		uploads := fake.uploadList()
		if len(uploads) != 1 {
			t.Fatalf("the fake received %d uploads, want 1", len(uploads))
		}
		up := uploads[0]
		if string(up.Data) != "uploaded by e2ehook: remember me" || up.Filename != "e2ehook.txt" || up.Mimetype != "text/plain" || up.TenantID != tenant {
			t.Errorf("upload: %+v", up)
		}
		if got := str(raw, "upload", "id"); got != up.ID {
			t.Errorf("the plugin's upload id is %q, the fake's %q", got, up.ID)
		}
		if got := str(raw, "upload", "preview_url"); !strings.HasPrefix(got, fake.URL()+"/files/tools/"+up.ID) {
			t.Errorf("the plugin's upload preview_url is %q", got)
		}
		if reqs := fake.callsTo("upload/file/request"); len(reqs) != 1 || reqs[0].str("tenant_id") != tenant || reqs[0].str("filename") != "e2ehook.txt" || reqs[0].str("mimetype") != "text/plain" {
			t.Errorf("upload/file/request calls: %d (first %.300s)", len(reqs), firstRaw(reqs))
		} else {
			t.Logf("upload/file/request for an endpoint call carried user_id %q", reqs[0].str("user_id"))
		}
		var decrypted bool
		for _, call := range fake.callsTo("invoke/encrypt") {
			if call.str("opt") == "decrypt" && str(call.Raw, "data", "api_key") == "enc:sk-secret" {
				decrypted = true
			}
		}
		if !decrypted {
			t.Errorf("no invoke/encrypt decrypt call of the stored ciphertext enc:sk-secret")
		}
		if p := fake.plainDecrypts(); len(p) > 0 {
			t.Errorf("the daemon asked Dify to decrypt values that were never encrypted (stored in clear?): %q", p)
		}

		// Over the manifest's 1 KiB storage quota.
		status, reply, raw = post(bytes.Repeat([]byte("q"), 2000))
		msg, _ := reply["storage_error"].(string)
		lower := strings.ToLower(msg)
		switch {
		case status != 507 || msg == "":
			t.Errorf("a 2000-byte value over the 1024-byte quota: HTTP %d %.500s; want the plugin's 507 with the storage error", status, raw)
		case !strings.Contains(lower, "quota") && !strings.Contains(lower, "limit") && !strings.Contains(lower, "1024"):
			t.Errorf("the quota error the plugin got does not say what is wrong: %q", msg)
		default:
			report(t, "storage over quota: the plugin was told %q", msg)
		}
		status, reply, raw = post([]byte("small again"))
		if status != http.StatusOK || reply["stored"] != "small again" {
			t.Errorf("after the refused write, a small one: HTTP %d %.300s", status, raw)
		}
	})
	checkNoViolations(t, fake)
}

func firstRaw(calls []difyCall) []byte {
	if len(calls) == 0 {
		return nil
	}
	return calls[0].Raw
}

// TestBackwardsPermissionDenied installs e2eagent without its model permission: its LLM call
// is refused by the daemon, never reaching Dify, while its tool call still works.
func TestBackwardsPermissionDenied(t *testing.T) {
	pythonTools(t)
	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, nil)})
	c := d.client(newTenant())
	ctx := context.Background()
	installAndWait(ctx, t, c, bwPackage(t, "e2eagent", "nomodel", withoutModelPermission))

	_, err := invokeAgent(ctx, c, "e2e-user", "llm", "may I?")
	const want = "permission denied, you need to enable llm access in plugin manifest"
	switch {
	case err == nil:
		t.Errorf("an LLM call without the model permission succeeded")
	case !strings.Contains(errorText(err), want):
		t.Errorf("an LLM call without the model permission: %s; want an error saying %q\n%s", errorText(err), want,
			strings.Join(d.logLines("permission", "ERROR"), "\n"))
	default:
		report(t, "LLM call without permission: Dify sees %s", err)
	}
	if n := len(fake.callsTo("invoke/llm")); n != 0 {
		t.Errorf("the refused LLM call reached Dify %d times", n)
	}

	msgs, err := invokeAgent(ctx, c, "e2e-user", "tool", "and this?")
	requireDifyWired(t, d, fake, err)
	if err != nil || !strings.Contains(texts(msgs), "tool said: fake tool") {
		t.Errorf("the tool call of the same plugin (tool permission granted): %s, %q", errorText(err), texts(msgs))
	}
	checkNoViolations(t, fake)
}

// TestBackwardsDifyMisbehaves switches the fake to each fault; every call must end with an
// error (the fake's own message where it sent one), and the daemon must keep working.
func TestBackwardsDifyMisbehaves(t *testing.T) {
	pythonTools(t)
	fake := newFakeDify(t)
	d := startDaemon(t, daemonOptions{Env: difyEnv(fake, map[string]string{"DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT": "3000"})})
	c := d.client(newTenant())
	ctx := context.Background()
	installAndWait(ctx, t, c, bwPackage(t, "e2eagent", "base", nil))
	hookUID := installAndWait(ctx, t, c, bwPackage(t, "e2ehook", "base", nil))

	// A guard against a hung call, far above the 3 s read timeout; not a speed requirement.
	const guard = 2 * time.Minute
	call := func(t *testing.T, action string) ([]toolMessage, error, time.Duration) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, guard)
		defer cancel()
		start := time.Now()
		msgs, err := invokeAgent(cctx, c, "e2e-user", action, "are you there?")
		if cctx.Err() != nil {
			t.Fatalf("the call was still running after %v: a misbehaving Dify hangs the plugin's call\n%s", guard,
				strings.Join(d.logLines("ERROR", "WARN", "backwards"), "\n"))
		}
		return msgs, err, time.Since(start)
	}

	msgs, err, _ := call(t, "llm")
	requireDifyWired(t, d, fake, err)
	if err != nil || !strings.Contains(texts(msgs), "hello world") {
		t.Fatalf("the healthy call before the faults: %s, %q", errorText(err), texts(msgs))
	}

	tests := []struct {
		fault string
		want  string // in the error, when Dify said something
	}{
		{fault: faultError, want: fakeErrorText},
		{fault: faultSSE},
		{fault: faultNotJSON},
		{fault: faultHugeFrame},
		{fault: faultTruncated},
		{fault: faultStatus500},
		{fault: faultHang},
		{fault: "wrongkey"},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			if tt.fault == "wrongkey" {
				key := fake.Key()
				fake.setKey("rotated-" + randomHex(4))
				defer fake.setKey(key)
			} else {
				fake.setFault(tt.fault)
				defer fake.setFault(faultNone)
			}
			mark := d.logMark()
			msgs, err, took := call(t, "llm")
			text := errorText(err)
			switch {
			case err == nil:
				t.Errorf("the call succeeded against a Dify answering %s: %q", tt.fault, texts(msgs))
			case tt.want != "" && !strings.Contains(text, tt.want):
				t.Errorf("the error does not carry Dify's message %q: %s", tt.want, text)
			default:
				report(t, "Dify fault %s: the call ended after %v with %s", tt.fault, took.Round(100*time.Millisecond), err)
			}
			if err != nil {
				for _, l := range d.logLinesSince(mark, "backwards invocation failed") {
					t.Logf("daemon: %s", l)
				}
			}
		})
	}

	msgs, err, _ = call(t, "both")
	if err != nil || !strings.Contains(texts(msgs), "hello world") || !strings.Contains(texts(msgs), "tool said: fake tool") {
		t.Errorf("after the faults, a healthy call: %s, %q", errorText(err), texts(msgs))
	}

	// Encryption failing must fail the setup, never store the secret in clear.
	for _, fault := range []string{faultError, faultNotJSON, faultStatus500} {
		fake.setFault(fault)
		ok, err := c.setupEndpoint(ctx, "e2e-admin", hookUID, "e2e hook "+fault, map[string]any{"api_key": "sk-secret"})
		fake.setFault(faultNone)
		if err == nil && ok {
			t.Errorf("endpoint/setup succeeded while invoke/encrypt answered %s", fault)
		} else {
			t.Logf("endpoint/setup with invoke/encrypt answering %s: %s", fault, errorText(err))
		}
	}
	if list, err := c.listPluginEndpoints(ctx, hookPluginID, 1, 100); err != nil {
		t.Errorf("endpoint/list/plugin: %s", errorText(err))
	} else if len(list) != 0 {
		t.Errorf("endpoint/list/plugin shows %d endpoints set up while encryption failed: %.500s", len(list), list[0])
	}
	if ok, err := c.setupEndpoint(ctx, "e2e-admin", hookUID, "e2e hook", map[string]any{"api_key": "sk-secret"}); err != nil || !ok {
		t.Errorf("endpoint/setup once Dify is healthy again: %v, %s", ok, errorText(err))
	}
	// The fake's key changes above are faults of the test's making, not contract breaks.
	checkNoViolations(t, fake)
}

// TestBackwardsThroughCLI runs the agent strategy with `plugd plugin invoke --request` and
// DIFY_INNER_API_URL / DIFY_INNER_API_KEY / PLUGD_TENANT in its environment: the LLM and tool
// calls reach the fake, for that tenant.
func TestBackwardsThroughCLI(t *testing.T) {
	python, uv := pythonTools(t)
	bin := binary(t)
	fake := newFakeDify(t)
	dir := filepath.Join(t.TempDir(), "e2eagent")
	if err := copyTree(filepath.Join("testdata", "plugins", "e2eagent"), dir); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(sharedPy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sharedPy, filepath.Join(dataDir, "python")); err != nil {
		t.Fatal(err)
	}
	req := filepath.Join(t.TempDir(), "request.json")
	body := mustJSON(map[string]any{
		"type": "agent_strategy", "action": "invoke_agent_strategy",
		"data": map[string]any{
			"agent_strategy_provider": agentProvider, "agent_strategy": agentStrategy,
			"agent_strategy_params": map[string]any{"model": fakeModel, "query": "from the cli", "action": "both"},
		},
	})
	if err := os.WriteFile(req, body, 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir(), "LANG=C.UTF-8",
		"PYTHON_INTERPRETER_PATH=" + python, "UV_PATH=" + uv}
	for k, v := range difyEnv(fake, nil) {
		env = append(env, k+"="+v)
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "PIP_MIRROR_URL", "PIP_EXTRA_INDEX_URL", "SSL_CERT_FILE"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), installDeadline)
	defer cancel()
	invoke := func(extraEnv ...string) (stdout, stderr string, err error) {
		cmd := exec.CommandContext(ctx, bin, "plugin", "invoke", dir, "--request", req, "--data-dir", dataDir)
		cmd.Env = append(slices.Clone(env), extraEnv...)
		cmd.Dir = home
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("plugd plugin invoke: %v", err)
		}
		return o.String(), e.String(), err
	}

	// Without PLUGD_TENANT the developer commands act for the tenant "default", as the daemon's
	// client commands do.
	stdout, stderr, err := invoke()
	if err != nil || !strings.Contains(stdout, "hello world") {
		t.Errorf("plugd plugin invoke without PLUGD_TENANT: exit %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if llm := fake.callsTo("invoke/llm"); len(llm) != 1 || llm[0].str("tenant_id") != "default" {
		t.Errorf("without PLUGD_TENANT, invoke/llm calls: %d (first %.300s)", len(llm), firstRaw(llm))
	}
	fake.reset()

	tenant := newTenant()
	stdout, stderr, err = invoke("PLUGD_TENANT=" + tenant)
	llm := fake.callsTo("invoke/llm")
	if len(llm) == 0 {
		t.Fatalf("plugd plugin invoke with DIFY_INNER_API_URL and PLUGD_TENANT set: the LLM call never reached the fake (exit %v)\nstdout:\n%s\nstderr:\n%s",
			err, stdout, stderr)
	}
	if err != nil || !strings.Contains(stdout, "hello world") || !strings.Contains(stdout, "tool said: fake tool") {
		t.Errorf("plugd plugin invoke: exit %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if got := llm[0].str("tenant_id"); got != tenant {
		t.Errorf("invoke/llm tenant_id = %q, want PLUGD_TENANT %q", got, tenant)
	}
	t.Logf("plugd plugin invoke called invoke/llm as user_id %q", llm[0].str("user_id"))
	if got := str(llm[0].Raw, "prompt_messages", "0", "content"); got != "from the cli" {
		t.Errorf("invoke/llm prompt_messages[0].content = %q", got)
	}
	if tools := fake.callsTo("invoke/tool"); len(tools) != 1 || tools[0].str("tenant_id") != tenant {
		t.Errorf("invoke/tool calls: %d (first %.300s)", len(tools), firstRaw(tools))
	}
	checkNoViolations(t, fake)
}

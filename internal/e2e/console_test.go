package e2e

// The web console (internal/console) in a real headless Chromium, driven with chromedp,
// against a real `plugd serve`: log in, upload and install the test plugin and watch its task
// reach success, pin a tool, call it from its generated form, import an OpenAPI description,
// create an MCP token, get a remote-debugging key, connect an OAuth credential against the
// test authorization server (scripts/oauth-server.sh); then every page at 1280×800 and 390×844 is
// screenshotted, checked for horizontal overflow and checked by axe-core's WCAG 2 A/AA rules
// (colour contrast among them).
//
//   PLUGD_TEST_CHROMIUM     the browser (scripts/chromium.sh installs Debian's chromium)
//   PLUGD_TEST_AXE          axe-core's axe.min.js (scripts/chromium.sh installs it from npm)
//   PLUGD_TEST_SCREENSHOTS  where the screenshots go (default: a temporary folder of the test)

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/plugd/plugd/internal/oauth/oauthtest"
)

// browser starts one headless Chromium for the test, or skips (fails when services are
// required) without one.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := os.Getenv("PLUGD_TEST_CHROMIUM")
	if exe == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_CHROMIUM is not set: run scripts/chromium.sh (scripts/test-deps.sh does)")
		}
		t.Skip("PLUGD_TEST_CHROMIUM is not set (scripts/chromium.sh)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in CI; the pages are our own
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// do runs browser steps with a deadline (a guard against a hung page, not a speed
// requirement) and fails the test naming the step.
func do(t *testing.T, ctx context.Context, step string, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\n%s", step, err, pageState(ctx))
	}
}

// waitPath waits, through navigations, until the tab shows a loaded page at path.
func waitPath(t *testing.T, ctx context.Context, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](`location.pathname === `+strconv.Quote(path)+` && document.readyState === "complete"`))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the tab did not reach %s within %s\n%s", path, limit, pageState(ctx))
}

// pageState is where the tab is and what it shows, for a failure message.
func pageState(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerHTML.slice(0, 3000)`))
	if err != nil {
		return "(page state unavailable: " + err.Error() + ")"
	}
	return s
}

// get runs one browser action that answers a value.
func get[T any](t *testing.T, ctx context.Context, step string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

type css = chromedp.CSS

func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	p := packages(t)
	debugPort := freePort(t)
	d := startDaemon(t, daemonOptions{Env: map[string]string{
		"PLUGIN_REMOTE_INSTALLING_ENABLED": "true",
		"PLUGIN_REMOTE_INSTALLING_HOST":    "127.0.0.1",
		"PLUGIN_REMOTE_INSTALLING_PORT":    strconv.Itoa(debugPort),
		"PLUGD_EGRESS_ALLOW":               "127.0.0.1", // the test authorization server
	}})
	tenant := newTenant()
	T := d.base + "/console/t/" + tenant + "/"
	shots := os.Getenv("PLUGD_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	axe := axeSource(t)
	shoot := func(name string) {
		t.Helper()
		if get(t, ctx, name+": overflow", chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`)) {
			t.Errorf("%s: the page is wider than the viewport", name)
		}
		png := get(t, ctx, name+": screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if axe != "" {
			checkAxe(t, ctx, name, axe)
		}
	}

	// Log in with the server key; a wrong one first.
	do(t, ctx, "wrong key", 30*time.Second,
		chromedp.Navigate(d.base+"/console/"),
		chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#password"), "not-the-key"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css(".note.err")),
	)
	do(t, ctx, "log in", 30*time.Second,
		chromedp.SetValue(css("#password"), d.key),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("nav")),
	)
	if h1 := get(t, ctx, "title", chromedp.Text(css("h1"))); h1 != "Plugins" {
		t.Fatalf("after login the page is %q, want Plugins", h1)
	}

	// Upload and install; the task page follows the install to its end.
	do(t, ctx, "upload", time.Minute,
		chromedp.Navigate(T+"install"),
		chromedp.SetUploadFiles(css("#package"), []string{p.V1.Path}),
		chromedp.Submit(css("#package")),
		chromedp.WaitVisible(css("#task")),
	)
	do(t, ctx, "install progress", 10*time.Minute,
		chromedp.WaitVisible(css(`#task[data-status="success"], #task[data-status="failed"]`)),
	)
	status := get(t, ctx, "task status", chromedp.Text(css("#task-status")))
	items := get(t, ctx, "task items", chromedp.Text(css("#task-items")))
	if status != "success" || !strings.Contains(items, p.V1.UID) {
		t.Fatalf("install task ended %q: %s", status, items)
	}

	// The plugin is listed.
	do(t, ctx, "plugins page", 30*time.Second, chromedp.Navigate(T+"plugins"))
	if row := get(t, ctx, "plugin row", chromedp.Text(css(`tr[data-plugin="plugd/e2etool"]`))); !strings.Contains(row, "0.0.1") {
		t.Errorf("plugins row: %q, want version 0.0.1", row)
	}

	// Pin the echo tool from the catalog page, after a search for it.
	const provider = "plugd/e2etool/e2etool"
	toolSel := `li[data-tool="echo"]`
	do(t, ctx, "pin", time.Minute,
		chromedp.Navigate(T+"tools"),
		chromedp.SetValue(css("#q"), "echo"),
		chromedp.Submit(css("#q")),
		chromedp.WaitVisible(css(toolSel)),
		chromedp.Click(css(toolSel+` button[aria-label="Pin echo"]`)),
		chromedp.WaitVisible(css(toolSel+" .badge.pinned")),
	)
	if note := get(t, ctx, "pin note", chromedp.Text(css(".note.ok"))); !strings.Contains(note, "pinned") {
		t.Errorf("after pinning the note is %q", note)
	}
	var provs []struct {
		ID    string `json:"id"`
		Tools []struct {
			Name   string `json:"name"`
			Pinned bool   `json:"pinned"`
		} `json:"tools"`
	}
	getJSON(t, d, "/tools/"+tenant+"/providers", &provs)
	found := false
	for _, pr := range provs {
		for _, tl := range pr.Tools {
			if pr.ID == provider && tl.Name == "echo" {
				found = tl.Pinned
			}
		}
	}
	if !found {
		t.Errorf("the API does not show %s/echo pinned: %+v", provider, provs)
	}

	// Call the tool from its generated form; the result streams in.
	do(t, ctx, "call", 3*time.Minute,
		chromedp.Navigate(T+"tools/try?provider="+url.QueryEscape(provider)+"&tool=echo"),
		chromedp.WaitVisible(css("#arg-text")),
		chromedp.SendKeys(css("#arg-text"), "hello from the console"),
		chromedp.Click(css("#try-form button[type=submit]")),
		chromedp.WaitVisible(css(`#result[data-done="true"]`)),
	)
	if result := get(t, ctx, "result", chromedp.Text(css("#result"))); !strings.Contains(result, "hello from the console") {
		t.Errorf("tool result: %q, want the echoed text", result)
	}
	shoot("try-result-desktop")

	// Import an OpenAPI description from its text.
	do(t, ctx, "openapi import", time.Minute,
		chromedp.Navigate(T+"openapi"),
		chromedp.SendKeys(css("#oa-name"), "petstore"),
		chromedp.SetValue(css("#oa-schema"), consolePetstore),
		chromedp.Submit(css("#oa-name")),
		chromedp.WaitVisible(css(".note")),
	)
	if note := get(t, ctx, "openapi note", chromedp.Text(css(".note"))); !strings.Contains(note, "petstore: 2 tools") {
		t.Errorf("after the import the note is %q", note)
	}

	// An MCP token, shown once; a remote-debugging key.
	do(t, ctx, "mcp token", 30*time.Second,
		chromedp.Navigate(T+"mcp"),
		chromedp.SendKeys(css("#tok-name"), "browser"),
		chromedp.Submit(css("#tok-name")),
		chromedp.WaitVisible(css("#new-token")),
	)
	if token := get(t, ctx, "token", chromedp.Text(css("#new-token"))); len(strings.TrimSpace(token)) < 20 {
		t.Errorf("new MCP token %q", token)
	}
	do(t, ctx, "debug key", 30*time.Second,
		chromedp.Navigate(T+"debug"),
		chromedp.Click(css("main form button")),
		chromedp.WaitVisible(css("#debug-key")),
	)
	if key := get(t, ctx, "debug key", chromedp.Text(css("#debug-key"))); strings.TrimSpace(key) == "" {
		t.Error("no remote-debugging key shown")
	}

	// OAuth: an OpenAPI description behind the real test authorization server, its client set
	// on the OAuth page, "Connect", the sign-in in a second tab; the first follows the flow.
	issuer := oauthtest.Issuer(t)
	client := oauthtest.Register(t, issuer, d.base+"/oauth/callback")
	do(t, ctx, "oauth api import", time.Minute,
		chromedp.Navigate(T+"openapi"),
		chromedp.SendKeys(css("#oa-name"), "me"),
		chromedp.SetValue(css("#oa-schema"), fmt.Sprintf(consoleOAuthAPI, issuer+"/auth", issuer+"/token")),
		chromedp.SetValue(css("#oa-auth"), "oauth2"),
		chromedp.Submit(css("#oa-name")),
		chromedp.WaitVisible(css(".note.ok")),
		chromedp.Navigate(T+"oauth"),
		chromedp.WaitVisible(css(`#oauth-connections tr[data-provider]`)),
	)
	if cb := get(t, ctx, "callback", chromedp.Text(css("#oauth-callback"))); cb != d.base+"/oauth/callback" {
		t.Errorf("the OAuth page shows the redirect URI %q, want %s", cb, d.base+"/oauth/callback")
	}
	do(t, ctx, "oauth client", time.Minute,
		chromedp.SendKeys(css("#oc-id"), client.ID),
		chromedp.SendKeys(css("#oc-secret"), client.Secret),
		chromedp.SendKeys(css("#oc-revoke"), issuer+"/token/revocation"),
		chromedp.Submit(css("#oc-id")),
		chromedp.WaitVisible(css(".note.ok")),
		chromedp.WaitVisible(css("#oauth-clients")),
		chromedp.Click(css(`#oauth-connections button[aria-label="Connect me"]`)),
		chromedp.WaitVisible(css("#oauth-authorize")),
	)
	authURL := get(t, ctx, "authorization URL", chromedp.Evaluate[string](`document.getElementById("oauth-authorize").href`))
	if !strings.HasPrefix(authURL, issuer+"/auth?") {
		t.Fatalf("authorization URL %q, want one of %s", authURL, issuer)
	}
	signIn, closeSignIn := chromedp.NewContext(ctx) // a second tab of the same browser
	defer closeSignIn()
	if err := chromedp.Do(signIn); err != nil { // opens the tab: without a deadline, as NewContext asks
		t.Fatalf("opening a second tab: %v", err)
	}
	do(t, signIn, "sign in", 2*time.Minute,
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(css(`input[name="login"]`)),
		chromedp.SendKeys(css(`input[name="login"]`), "alice"),
		chromedp.SendKeys(css(`input[name="password"]`), "any password"),
		chromedp.Submit(css(`input[name="login"]`)),
		chromedp.WaitVisible(css(`form:has(input[name="prompt"][value="consent"]) button`)),
		chromedp.Click(css(`form:has(input[name="prompt"][value="consent"]) button`)),
	)
	waitPath(t, signIn, "/oauth/callback", time.Minute)
	if h := get(t, signIn, "callback page", chromedp.Text(css("h1"))); h != "Connected" {
		t.Fatalf("the callback page says %q: %s", h, get(t, signIn, "callback text", chromedp.Text(css("body"))))
	}
	do(t, ctx, "flow followed", time.Minute,
		chromedp.WaitVisible(css(`#oauth-connections tr[data-provider] .badge.connected`)),
	)
	if note := get(t, ctx, "connected note", chromedp.Text(css(".note.ok"))); !strings.Contains(note, "is connected") {
		t.Errorf("after the flow the note is %q", note)
	}
	if b := get(t, ctx, "re-authorize", chromedp.Text(css(`#oauth-connections button[aria-label="Re-authorize me"]`))); b != "Re-authorize" {
		t.Errorf("a connected provider offers %q", b)
	}

	// Every page at both sizes: screenshots, no horizontal overflow, axe's WCAG A/AA rules.
	pages := []struct{ name, url, ready string }{
		{"plugins", T + "plugins", "#plugins"},
		{"install", T + "install", "#install-form"},
		{"tasks", T + "tasks", "table"},
		{"tools", T + "tools", toolSel},
		{"try", T + "tools/try?provider=" + url.QueryEscape(provider) + "&tool=echo", "#try-form"},
		{"openapi", T + "openapi", "#openapi-form"},
		{"mcp", T + "mcp", "#token-form"},
		{"oauth", T + "oauth", "#oauth-connections"},
		{"debug", T + "debug", "main form"},
	}
	sizes := []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}}
	for _, sz := range sizes {
		for _, pg := range pages {
			do(t, ctx, pg.name+"-"+sz.name, time.Minute,
				chromedp.EmulateViewport(sz.w, sz.h),
				chromedp.Navigate(pg.url),
				chromedp.WaitVisible(css(pg.ready)),
			)
			shoot(pg.name + "-" + sz.name)
		}
		// The login page, logged out, then in again.
		do(t, ctx, "logout", 30*time.Second,
			chromedp.Click(css(`form[action="/console/logout"] button`)),
			chromedp.WaitVisible(css("#password")),
		)
		shoot("login-" + sz.name)
		do(t, ctx, "log in again", 30*time.Second,
			chromedp.SetValue(css("#password"), d.key),
			chromedp.Submit(css("#password")),
			chromedp.WaitVisible(css("nav")),
		)
	}
	t.Logf("screenshots in %s", shots)
}

// axeSource reads axe-core, or skips the accessibility checks (fails when services are
// required) without it.
func axeSource(t *testing.T) string {
	path := os.Getenv("PLUGD_TEST_AXE")
	if path == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_AXE is not set: run scripts/chromium.sh (scripts/test-deps.sh does)")
		}
		t.Log("PLUGD_TEST_AXE is not set: accessibility checks skipped")
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkAxe runs axe-core's WCAG 2 A and AA rules (colour contrast among them) on the page
// and fails on any violation, naming the rule and the elements.
func checkAxe(t *testing.T, ctx context.Context, name, axe string) {
	t.Helper()
	get(t, ctx, name+": load axe", chromedp.Evaluate[bool](axe+"; true"))
	res := get(t, ctx, name+": axe", chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"]}}).then(r => JSON.stringify({
			violations: r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)})),
			contrast: r.passes.concat(r.violations, r.incomplete).filter(x => x.id === "color-contrast").reduce((n, x) => n + x.nodes.length, 0)}))`,
		chromedp.EvalAwaitPromise))
	var answer struct {
		Violations []struct {
			ID    string   `json:"id"`
			Help  string   `json:"help"`
			Nodes []string `json:"nodes"`
		} `json:"violations"`
		Contrast int `json:"contrast"` // text elements the contrast rule looked at
	}
	if err := json.Unmarshal([]byte(res), &answer); err != nil {
		t.Fatalf("%s: axe answered %q: %v", name, res, err)
	}
	if answer.Contrast == 0 {
		t.Errorf("%s: axe checked the contrast of no text element", name)
	}
	violations := answer.Violations
	for _, v := range violations {
		t.Errorf("%s: axe %s (%s): %s", name, v.ID, v.Help, strings.Join(v.Nodes, " | "))
	}
}

// getJSON reads an API route's envelope data.
func getJSON(t *testing.T, d *daemon, path string, out any) {
	t.Helper()
	status, _, body := d.rawRequest(t, "GET", path, map[string]string{"X-Api-Key": d.key}, nil)
	var env struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || status != 200 || env.Code != 0 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", path, err))
	}
}

const consolePetstore = `openapi: 3.0.3
info: {title: Petstore, version: "1.0"}
servers: [{url: "http://127.0.0.1:9/v1"}]
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1}}
      responses: {"200": {description: ok}}
    post:
      operationId: createPet
      summary: Create a pet
      requestBody:
        content:
          application/json:
            schema: {type: object, required: [name], properties: {name: {type: string}, tag: {type: string, enum: [cat, dog]}}}
      responses: {"201": {description: created}}
`

// consoleOAuthAPI is an OpenAPI description whose calls need an OAuth token of the test
// authorization server (its authorization and token URLs filled in).
const consoleOAuthAPI = `{"openapi": "3.0.3", "info": {"title": "Me", "version": "1"}, "servers": [{"url": "http://127.0.0.1:9/api"}],
  "components": {"securitySchemes": {"as": {"type": "oauth2", "flows": {"authorizationCode": {
    "authorizationUrl": %q, "tokenUrl": %q, "scopes": {"api:read": "read"}}}}}},
  "security": [{"as": ["api:read"]}],
  "paths": {"/me": {"get": {"operationId": "whoami", "responses": {"200": {"description": "ok"}}}}}}`

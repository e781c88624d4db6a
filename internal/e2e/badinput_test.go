package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// errorEnvelope decodes an error envelope and its error JSON, failing the test when body is
// not one.
func errorEnvelope(t *testing.T, what string, body []byte) (code int, errorType, message string) {
	t.Helper()
	env, err := parseEnvelope(body)
	if err != nil {
		t.Errorf("%s: body %.300q is not an envelope: %v", what, body, err)
		return 0, "", ""
	}
	if env.Code == 0 {
		t.Errorf("%s: envelope code 0 (success), want an error: %.300s", what, body)
	}
	de, ok := parseErrorJSON(env.Message)
	if !ok {
		t.Errorf("%s: the envelope's message %q is not the error JSON {error_type, message}", what, env.Message)
		return env.Code, "", env.Message
	}
	return env.Code, de.ErrorType, de.Message
}

// TestBadInput sends what a misconfigured Dify, a buggy client or an attacker would, and
// checks that each gets a clear error in the daemon's envelope, never a crash or a leak.
func TestBadInput(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	list := "/plugin/" + tenant + "/management/list?page=1&page_size=256"
	dispatch := "/plugin/" + tenant + "/dispatch/tool/invoke"
	invokeBody := mustJSON(toolInvokeBody("u", providerName, toolName, map[string]any{}, map[string]any{"text": "x"}))

	t.Run("api key", func(t *testing.T) {
		for name, headers := range map[string]map[string]string{
			"missing": nil,
			"wrong":   {"X-Api-Key": d.key + "x"},
			"empty":   {"X-Api-Key": ""},
			"prefix":  {"X-Api-Key": d.key[:len(d.key)-1]},
		} {
			status, _, body := d.rawRequest(t, http.MethodGet, list, headers, nil)
			code, typ, _ := errorEnvelope(t, name+" key", body)
			if status != http.StatusUnauthorized || code != -401 || typ != "PluginDaemonUnauthorizedError" {
				t.Errorf("%s key: HTTP %d code %d %s, want 401 -401 PluginDaemonUnauthorizedError", name, status, code, typ)
			}
			h := map[string]string{"X-Plugin-ID": pluginID, "Content-Type": "application/json"}
			for k, v := range headers {
				h[k] = v
			}
			status, _, _ = d.rawRequest(t, http.MethodPost, dispatch, h, invokeBody)
			if status != http.StatusUnauthorized {
				t.Errorf("%s key on dispatch: HTTP %d, want 401", name, status)
			}
		}
		// Dify's own client sees the 401 as a client-side error.
		bad := newDifyClient(d.base, "wrong-key", tenant)
		if _, err := bad.listPlugins(ctx); asDifyError(err) == nil || asDifyError(err).Class != "PluginDaemonClientSideError" {
			t.Errorf("list with a wrong key through the Dify client: %v", err)
		}
	})

	key := map[string]string{"X-Api-Key": d.key, "Content-Type": "application/json"}
	withPlugin := map[string]string{"X-Api-Key": d.key, "Content-Type": "application/json", "X-Plugin-ID": pluginID}

	t.Run("malformed JSON", func(t *testing.T) {
		for _, tc := range []struct {
			path    string
			headers map[string]string
			body    string
		}{
			{"/plugin/" + tenant + "/management/install/identifiers", key, `{"plugin_unique_identifiers": [`},
			{"/plugin/" + tenant + "/management/uninstall", key, `not json at all`},
			{"/plugin/" + tenant + "/endpoint/setup", key, `{"name": 1, "user_id": }`},
			{"/plugin/" + tenant + "/management/installation/missing", key, `[]`},
		} {
			status, _, body := d.rawRequest(t, http.MethodPost, tc.path, tc.headers, []byte(tc.body))
			code, typ, _ := errorEnvelope(t, tc.path, body)
			if status != http.StatusBadRequest || code != -400 {
				t.Errorf("POST %s %q: HTTP %d code %d %s, want 400 -400", tc.path, tc.body, status, code, typ)
			}
		}
		// A dispatch with a broken body to a plugin not installed: the installation is looked
		// up before the body is read, as the reference's middleware does (TestDifyFlow sends
		// a broken body to an installed plugin).
		status, _, body := d.rawRequest(t, http.MethodPost, dispatch, withPlugin, []byte(`{"data": {"provider":`))
		if code, _, _ := errorEnvelope(t, "dispatch with broken JSON", body); status != http.StatusNotFound || code != -404 {
			t.Errorf("dispatch with broken JSON to a plugin not installed: HTTP %d code %d, want 404 -404", status, code)
		}
		// No X-Plugin-ID.
		status, _, body = d.rawRequest(t, http.MethodPost, dispatch, key, invokeBody)
		if code, _, _ := errorEnvelope(t, "dispatch without X-Plugin-ID", body); status != http.StatusBadRequest || code != -400 {
			t.Errorf("dispatch without X-Plugin-ID: HTTP %d code %d, want 400 -400", status, code)
		}
	})

	t.Run("unknown plugin", func(t *testing.T) {
		status, _, body := d.rawRequest(t, http.MethodPost, dispatch, withPlugin, invokeBody)
		code, typ, _ := errorEnvelope(t, "dispatch to a plugin not installed", body)
		if status != http.StatusNotFound || code != -404 || typ != "PluginNotFoundError" {
			t.Errorf("dispatch to a plugin not installed: HTTP %d code %d %s, want 404 -404 PluginNotFoundError", status, code, typ)
		}
		// What Dify makes of it: the stream reader parses the JSON body as an envelope.
		_, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x"})
		if de := asDifyError(err); de == nil || de.Class != "ValueError" || de.ErrorType != "PluginNotFoundError" {
			t.Errorf("the Dify client on an unknown plugin: %v", err)
		}
		// Management reads of an unknown identifier answer errors, not crashes.
		_, err = c.fetchManifest(ctx, "plugd/nosuch:0.0.1@"+strings.Repeat("ef", 32))
		if asDifyError(err) == nil {
			t.Errorf("fetch/manifest of an unknown plugin: %v, want an error", err)
		}
		_, err = c.fetchManifest(ctx, "not an identifier")
		if de := asDifyError(err); de == nil || de.Class == "PluginDaemonInternalServerError" {
			t.Errorf("fetch/manifest of a malformed identifier: %v, want a client-side error", err)
		}
		status, _, _ = d.rawRequest(t, http.MethodGet, "/plugin/"+tenant+"/no/such/route", key, nil)
		if status != http.StatusNotFound {
			t.Errorf("unknown route: HTTP %d, want 404", status)
		}
	})

	t.Run("bad packages", func(t *testing.T) {
		garbage := make([]byte, 4096)
		rand.Read(garbage)
		var notPlugin bytes.Buffer
		zw := zip.NewWriter(&notPlugin)
		w, _ := zw.Create("hello.txt")
		w.Write([]byte("not a plugin"))
		zw.Close()
		for name, pkg := range map[string][]byte{
			"garbage bytes":          garbage,
			"truncated zip":          pk.V1.Data[:len(pk.V1.Data)/2],
			"empty file":             {},
			"zip without a manifest": notPlugin.Bytes(),
		} {
			uploadFails(t, c, name, formBody{
				files:  map[string]formFile{"dify_pkg": {name: "x.difypkg", data: pkg}},
				fields: map[string]string{"verify_signature": "false"},
			}, name != "zip without a manifest")
		}
		uploadFails(t, c, "no dify_pkg field", formBody{
			files:  map[string]formFile{"package": {name: "x.difypkg", data: pk.V1.Data}},
			fields: map[string]string{"verify_signature": "false"},
		}, true)
		uploadFails(t, c, "no multipart body", nil, true)
	})

	t.Run("oversized upload", func(t *testing.T) {
		small := startDaemon(t, daemonOptions{Env: map[string]string{"MAX_PLUGIN_PACKAGE_SIZE": "100000"}})
		big := make([]byte, 1<<20)
		rand.Read(big)
		sc := small.client(tenant)
		status, body := uploadRaw(t, sc, formBody{
			files:  map[string]formFile{"dify_pkg": {name: "big.difypkg", data: big}},
			fields: map[string]string{"verify_signature": "false"},
		})
		_, err := decodeResponse(status, body)
		if err == nil {
			t.Fatalf("1 MiB upload to a daemon limited to 100000 bytes succeeded")
		}
		if status != http.StatusOK {
			t.Logf("oversized upload: HTTP %d (Dify shows a generic client-side error, not the message): %.300s", status, body)
		} else if de := asDifyError(err); !strings.Contains(strings.ToLower(de.Message), "size") && !strings.Contains(de.Message, "100000") && !strings.Contains(strings.ToLower(de.Message), "large") {
			t.Errorf("oversized upload: %q does not say the package is too large", de.Message)
		}
		// The limit does not refuse a package below it.
		if _, err := sc.uploadPackage(ctx, pk.V1.Data, false); err != nil {
			t.Errorf("a %d-byte package under the 100000-byte limit: %v", len(pk.V1.Data), err)
		}
	})

	t.Run("extract-asset path tricks", func(t *testing.T) {
		if _, err := c.uploadPackage(ctx, pk.V1.Data, false); err != nil {
			t.Fatalf("upload: %v", err)
		}
		for _, p := range []string{
			"../manifest.yaml", "../../../../../../etc/passwd", "/etc/passwd", "..\\manifest.yaml",
			"icon.svg/../../manifest.yaml", "%2e%2e/manifest.yaml", "", ".", "..", "_assets/../manifest.yaml",
			"icon.svg\x00.png",
		} {
			q := url.Values{"plugin_unique_identifier": {pk.V1.UID}, "file_path": {p}}
			status, _, body := d.rawRequest(t, http.MethodGet, "/plugin/"+tenant+"/extract-asset/?"+q.Encode(), key, nil)
			if status == http.StatusOK && (bytes.Contains(body, []byte("author: plugd")) || bytes.Contains(body, []byte("root:"))) {
				t.Errorf("extract-asset %q leaked a file outside _assets: %.100q", p, body)
			}
			if status == http.StatusOK && !isEnvelopeError(body) {
				t.Errorf("extract-asset %q: HTTP 200 with %d bytes, want an error", p, len(body))
			}
		}
		// Nothing of another package either.
		q := url.Values{"plugin_unique_identifier": {"plugd/nosuch:0.0.1@" + strings.Repeat("12", 32)}, "file_path": {"icon.svg"}}
		if status, _, body := d.rawRequest(t, http.MethodGet, "/plugin/"+tenant+"/extract-asset/?"+q.Encode(), key, nil); status == http.StatusOK && !isEnvelopeError(body) {
			t.Errorf("extract-asset of an unknown package: HTTP 200 with %.100q", body)
		}
	})

	t.Run("endpoint proxy path tricks", func(t *testing.T) {
		for _, p := range []string{
			"/e/nosuchhook/echo", "/e/nosuchhook", "/e/../plugin/" + tenant + "/management/list",
			"/e/%2e%2e/plugin/" + tenant + "/management/list", "/e/x/..%2f..%2fplugin/" + tenant + "/management/list",
			"/e/" + strings.Repeat("a", 300) + "/echo",
		} {
			status, _, body := d.rawRequest(t, http.MethodPost, p, nil, []byte("x"))
			if status == http.StatusOK {
				t.Errorf("POST %.80s: HTTP 200 %.200q, want it refused", p, body)
			}
			if bytes.Contains(body, []byte(`"list"`)) {
				t.Errorf("POST %.80s reached management/list without a key: %.200q", p, body)
			}
		}
	})
}

func isEnvelopeError(body []byte) bool {
	env, err := parseEnvelope(body)
	return err == nil && env.Code != 0
}

// uploadRaw posts an upload through the Dify client's transport and returns status and body.
func uploadRaw(t *testing.T, c *difyClient, body any) (int, []byte) {
	t.Helper()
	resp, err := c.send(context.Background(), http.MethodPost, c.p("management/install/upload/package"), nil, body, nil)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	b, err := readBody(resp)
	if err != nil {
		t.Fatalf("upload: reading the body: %v", err)
	}
	return resp.StatusCode, b
}

// uploadFails checks that an upload is refused with an error Dify can show: HTTP 200 and an
// error envelope (the reference answers upload errors that way; Dify reads no body of a
// non-2xx answer), whose message names the dify_pkg field when namesField.
func uploadFails(t *testing.T, c *difyClient, what string, body any, namesField bool) {
	t.Helper()
	status, b := uploadRaw(t, c, body)
	code, typ, msg := errorEnvelope(t, "upload of "+what, b)
	if status != http.StatusOK {
		t.Errorf("upload of %s: HTTP %d (code %d %s %q); the reference answers 200 with the error envelope, so Dify shows the message", what, status, code, typ, msg)
	}
	if namesField && !strings.Contains(msg, "dify_pkg") {
		t.Errorf("upload of %s: message %q does not name the dify_pkg field", what, msg)
	}
	if msg == "" {
		t.Errorf("upload of %s: empty error message", what)
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		t.Errorf("upload of %s: body is not JSON: %.200q", what, b)
	}
}

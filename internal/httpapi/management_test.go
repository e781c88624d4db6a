package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/signature"
	"github.com/plugd/plugd/internal/store"
)

// multipartBody builds an upload form; fields are written in the order given.
func multipartBody(t testing.TB, fields ...[2]string) (string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if f[0] == "dify_pkg" || f[0] == "dify_bundle" {
			fw, err := mw.CreateFormFile(f[0], "upload")
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(fw, f[1])
			continue
		}
		mw.WriteField(f[0], f[1])
	}
	mw.Close()
	return buf.String(), mw.FormDataContentType()
}

func (h *harness) upload(body, contentType string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/plugin/t1/management/install/upload/package", strings.NewReader(body))
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

func TestUpload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields [][2]string
		verify bool
	}{
		{"verify first", [][2]string{{"verify_signature", "true"}, {"dify_pkg", "PKGDATA"}}, true},
		{"verify false", [][2]string{{"verify_signature", "false"}, {"dify_pkg", "PKGDATA"}}, false},
		{"verify after file", [][2]string{{"dify_pkg", "PKGDATA"}, {"verify_signature", "true"}}, true},
		{"no verify field", [][2]string{{"other", "x"}, {"dify_pkg", "PKGDATA"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			body, ct := multipartBody(t, tc.fields...)
			data := expectOK(t, h.upload(body, ct))
			if string(h.inst.uploaded) != "PKGDATA" || h.inst.verify != tc.verify {
				t.Fatalf("installer read %q verify %v", h.inst.uploaded, h.inst.verify)
			}
			var d install.Decoded
			if err := json.Unmarshal(data, &d); err != nil || d.UniqueIdentifier != toolUID {
				t.Fatalf("%s", data)
			}
		})
	}
}

// TestUploadBundle: the bundle reaches the installer with verify_signature, whichever comes
// first, and its dependency list is the envelope's data.
func TestUploadBundle(t *testing.T) {
	for _, fields := range [][][2]string{
		{{"verify_signature", "true"}, {"dify_bundle", "BUNDLE"}},
		{{"dify_bundle", "BUNDLE"}, {"verify_signature", "true"}},
	} {
		h := newHarness(t)
		body, ct := multipartBody(t, fields...)
		req := httptest.NewRequest("POST", "/plugin/t1/management/install/upload/bundle", strings.NewReader(body))
		req.Header.Set("X-Api-Key", testKey)
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.srv.ServeHTTP(rec, req)
		data := expectOK(t, rec)
		want := `[{"type":"package","value":{"manifest":{"name":"echo"},"unique_identifier":"` + toolUID + `"}},` +
			`{"type":"marketplace","value":{"organization":"langgenius","plugin":"maths","version":"0.0.8"}}]`
		if string(data) != want || string(h.inst.uploaded) != "BUNDLE" || !h.inst.verify {
			t.Fatalf("data %s (want %s), installer read %q verify %v", data, want, h.inst.uploaded, h.inst.verify)
		}
	}
	h := newHarness(t, func(c *Config) { c.MaxBundleSize = 10 })
	body, ct := multipartBody(t, [2]string{"verify_signature", "false"}, [2]string{"dify_bundle", strings.Repeat("x", 11)})
	req := httptest.NewRequest("POST", "/plugin/t1/management/install/upload/bundle", strings.NewReader(body))
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	expectErr(t, rec, 200, -400, typeBadRequest, "bundle is larger than the limit of 10 bytes (MAX_BUNDLE_PACKAGE_SIZE)")
	// A package in dify_pkg is not a bundle.
	body, ct = multipartBody(t, [2]string{"dify_pkg", "x"})
	req = httptest.NewRequest("POST", "/plugin/t1/management/install/upload/bundle", strings.NewReader(body))
	req.Header.Set("X-Api-Key", testKey)
	req.Header.Set("Content-Type", ct)
	rec = httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	expectErr(t, rec, 200, -400, typeBadRequest, "field dify_bundle is missing")
}

// TestUploadTooLarge: the limit applies while reading: the installer never sees more than
// MaxPackageSize bytes and the caller gets a clear error.
func TestUploadTooLarge(t *testing.T) {
	const limit = 1000
	for _, order := range []string{"verify first", "file first"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.MaxPackageSize = limit })
			pkg := strings.Repeat("x", limit+1)
			fields := [][2]string{{"verify_signature", "false"}, {"dify_pkg", pkg}}
			if order == "file first" {
				fields[0], fields[1] = fields[1], fields[0]
			}
			body, ct := multipartBody(t, fields...)
			rec := h.upload(body, ct)
			expectErr(t, rec, 200, -400, typeBadRequest, "larger than the limit of 1000 bytes")
			if len(h.inst.uploaded) > limit {
				t.Fatalf("the installer read %d bytes", len(h.inst.uploaded))
			}
		})
	}
	// Exactly the limit is fine.
	h := newHarness(t, func(c *Config) { c.MaxPackageSize = limit })
	body, ct := multipartBody(t, [2]string{"verify_signature", "false"}, [2]string{"dify_pkg", strings.Repeat("x", limit)})
	expectOK(t, h.upload(body, ct))
	if len(h.inst.uploaded) != limit {
		t.Fatalf("read %d", len(h.inst.uploaded))
	}
}

func TestUploadRefusals(t *testing.T) {
	h := newHarness(t)
	noPkg, ct := multipartBody(t, [2]string{"verify_signature", "true"})
	badVerify, ct2 := multipartBody(t, [2]string{"verify_signature", "maybe"}, [2]string{"dify_pkg", "x"})
	for _, tc := range []struct{ name, body, ct, want string }{
		{"json body", `{}`, "application/json", "multipart/form-data"},
		{"no boundary", "x", "multipart/form-data", "multipart/form-data"},
		{"no package", noPkg, ct, "dify_pkg is missing"},
		{"bad verify", badVerify, ct2, "verify_signature"},
		{"broken multipart", "--b\r\nnope", "multipart/form-data; boundary=b", "malformed multipart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectErr(t, h.upload(tc.body, tc.ct), 200, -400, typeBadRequest, tc.want)
		})
	}
}

// TestErrorMapping: installer errors map to the envelope codes in one place.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err       error
		code      int
		typ, want string
	}{
		{&install.InputError{Field: "dify_pkg", Err: errors.New("not a zip")}, -400, typeBadRequest, "dify_pkg: not a zip"},
		{&install.InputError{Field: "id", Err: install.ErrIdentifier}, -400, typeIdentifier, "id"},
		{fmt.Errorf("verifying: %w", signature.ErrUnsigned), -400, typeBadRequest, "not signed"},
		{fmt.Errorf("verifying: %w", signature.ErrBadSignature), -400, typeBadRequest, "bad signature"},
		{fmt.Errorf("row: %w", store.ErrNotFound), -404, typeNotFound, "not found"},
		{fmt.Errorf("row: %w", store.ErrConflict), -400, typeBadRequest, "conflict"},
		{errors.New("disk full"), -500, typeInternal, "disk full"},
	} {
		h := newHarness(t)
		h.inst.err = tc.err
		body, ct := multipartBody(t, [2]string{"verify_signature", "true"}, [2]string{"dify_pkg", "x"})
		expectErr(t, h.upload(body, ct), 200, tc.code, tc.typ, tc.want)
	}
}

func TestInstallRoutes(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, method, path, body string
		wantData, wantCall       string
	}{
		{"identifiers", "POST", "/plugin/t1/management/install/identifiers",
			`{"plugin_unique_identifiers":["` + toolUID + `"],"source":"marketplace","metas":[{}]}`,
			`{"all_installed":false,"task_id":"task-1"}`, "install t1 " + toolUID + " marketplace 1"},
		{"upgrade", "POST", "/plugin/t1/management/install/upgrade",
			`{"original_plugin_unique_identifier":"` + toolUID + `","new_plugin_unique_identifier":"` + toolUID2 + `","source":"package","meta":{}}`,
			`{"all_installed":true,"task_id":""}`, "upgrade t1 " + toolUID + " " + toolUID2 + " package"},
		{"delete all", "POST", "/plugin/t1/management/install/tasks/delete_all", "", "true", "delete-tasks t1"},
		{"delete", "POST", "/plugin/t1/management/install/tasks/k1/delete", "", "true", "delete-task t1 k1"},
		{"delete item", "POST", "/plugin/t1/management/install/tasks/k1/delete/" + toolUID, "", "true", "delete-item t1 k1 " + toolUID},
		{"decode", "GET", "/plugin/t1/management/decode/from_identifier?plugin_unique_identifier=" + toolUID, "", "", "decode " + toolUID},
		{"decode body", "GET", "/plugin/t1/management/decode/from_identifier", `{"plugin_unique_identifier":"` + toolUID + `"}`, "", "decode " + toolUID},
		{"readme", "GET", "/plugin/t1/management/fetch/readme?plugin_unique_identifier=" + toolUID + "&language=ja_JP", "",
			`{"content":"# Echo","language":"ja_JP"}`, "readme " + toolUID + " ja_JP"},
		{"uninstall", "POST", "/plugin/t1/management/uninstall", `{"plugin_installation_id":"i1"}`, "true", "uninstall t1 i1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := expectOK(t, h.do(tc.method, tc.path, tc.body))
			if tc.wantData != "" && string(data) != tc.wantData {
				t.Fatalf("data %s, want %s", data, tc.wantData)
			}
			if got := h.inst.lastCall(); got != tc.wantCall {
				t.Fatalf("call %q, want %q", got, tc.wantCall)
			}
		})
	}
}

func TestInstallRefusals(t *testing.T) {
	h := newHarness(t)
	many := `"` + strings.Repeat(toolUID+`","`, 64) + toolUID + `"`
	for _, tc := range []struct {
		name, method, path, body string
		typ, want                string
	}{
		{"no ids", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":[],"source":"x"}`, typeBadRequest, "1 to 64"},
		{"too many ids", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":[` + many + `],"source":"x"}`, typeBadRequest, "found 65"},
		{"bad id", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":["` + toolUID + `","x"],"source":"x"}`, typeIdentifier, "plugin_unique_identifiers[1]"},
		{"no source", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":["` + toolUID + `"]}`, typeBadRequest, "source is required"},
		{"metas length", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":["` + toolUID + `"],"source":"x","metas":[{},{}]}`, typeBadRequest, "one per identifier"},
		{"ids type", "POST", "/plugin/t1/management/install/identifiers", `{"plugin_unique_identifiers":"x"}`, typeBadRequest, `"plugin_unique_identifiers" must be an array`},
		{"upgrade other plugin", "POST", "/plugin/t1/management/install/upgrade", `{"original_plugin_unique_identifier":"` + toolUID + `","new_plugin_unique_identifier":"` + modelUID + `","source":"x"}`, typeBadRequest, "different plugins"},
		{"upgrade same", "POST", "/plugin/t1/management/install/upgrade", `{"original_plugin_unique_identifier":"` + toolUID + `","new_plugin_unique_identifier":"` + toolUID + `","source":"x"}`, typeBadRequest, "the same"},
		{"upgrade missing", "POST", "/plugin/t1/management/install/upgrade", `{"source":"x"}`, typeIdentifier, "original_plugin_unique_identifier is required"},
		{"delete item bad id", "POST", "/plugin/t1/management/install/tasks/k/delete/nope", "", typeIdentifier, "nope"},
		{"tasks page", "GET", "/plugin/t1/management/install/tasks?page=0", "", typeBadRequest, "page=\"0\""},
		{"tasks page size", "GET", "/plugin/t1/management/install/tasks?page=1&page_size=257", "", typeBadRequest, "1 to 256"},
		{"decode no id", "GET", "/plugin/t1/management/decode/from_identifier", "", typeIdentifier, "plugin_unique_identifier is required"},
		{"decode bad body", "GET", "/plugin/t1/management/decode/from_identifier", "{", typeBadRequest, "not valid JSON"},
		{"manifest no id", "GET", "/plugin/t1/management/fetch/manifest", "", typeIdentifier, "plugin_unique_identifier is required"},
		{"uninstall no id", "POST", "/plugin/t1/management/uninstall", `{}`, typeBadRequest, "plugin_installation_id is required"},
		{"bundle not multipart", "POST", "/plugin/t1/management/install/upload/bundle", "", typeBadRequest, "bundle in field dify_bundle"},
		{"category", "GET", "/plugin/t1/management/installation/ids?category=video", "", typeBadRequest, `category "video" is unknown`},
		{"category list", "GET", "/plugin/t1/management/video/list", "", typeBadRequest, `category "video" is unknown`},
		{"list language", "GET", "/plugin/t1/management/tool/list?language=xx", "", typeBadRequest, "language"},
		{"batch too many", "POST", "/plugin/t1/management/installation/fetch/batch", `{"plugin_ids":[` + strings.Repeat(`"a",`, 256) + `"a"]}`, typeBadRequest, "at most 256"},
		{"tool no provider", "GET", "/plugin/t1/management/tool?plugin_id=acme/echo", "", typeBadRequest, "provider is required"},
		{"exist no name", "POST", "/plugin/t1/management/tools/check_existence", `{"provider_ids":[{"plugin_id":"a"}]}`, typeBadRequest, "provider_ids[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Bodies that fail validation get 400, as in the reference; other refusals 200.
			status := 200
			if strings.HasSuffix(tc.path, "/install/identifiers") || strings.HasSuffix(tc.path, "/install/upgrade") {
				status = 400
			}
			expectErr(t, h.do(tc.method, tc.path, tc.body), status, -400, tc.typ, tc.want)
		})
	}
	if c := h.inst.lastCall(); c != "" {
		t.Fatalf("a refused request reached the installer: %s", c)
	}
}

func TestUninstallMissingIsTrue(t *testing.T) {
	h := newHarness(t)
	h.inst.err = fmt.Errorf("installation x: %w", store.ErrNotFound)
	if data := expectOK(t, h.do("POST", "/plugin/t1/management/uninstall", `{"plugin_installation_id":"x"}`)); string(data) != "true" {
		t.Fatal(string(data))
	}
}

func TestTasks(t *testing.T) {
	h := newHarness(t)
	h.store.tasks = []store.Task{
		{ID: "k1", TenantID: tenant, Status: store.TaskRunning, TotalPlugins: 1, Plugins: []store.TaskPlugin{{UniqueIdentifier: toolUID, PluginID: "acme/echo"}}},
		{ID: "k2", TenantID: tenant, Status: store.TaskSuccess},
		{ID: "k3", TenantID: "t2"},
	}
	data := expectOK(t, h.do("GET", "/plugin/t1/management/install/tasks?page=1&page_size=10", ""))
	var tasks []map[string]any
	if err := json.Unmarshal(data, &tasks); err != nil || len(tasks) != 2 {
		t.Fatalf("%s", data)
	}
	if tasks[1]["plugins"] == nil {
		t.Fatalf("plugins must be a list: %s", data)
	}
	if !strings.Contains(string(data), `"labels":{"en_US":"acme/echo"}`) {
		t.Fatalf("labels not filled: %s", data)
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/install/tasks/k1", ""))
	if !strings.Contains(string(data), `"status":"running"`) {
		t.Fatalf("%s", data)
	}
	expectErr(t, h.do("GET", "/plugin/t1/management/install/tasks/k3", ""), 200, -404, typeNotFound, "k3")
}

func TestListAndLookups(t *testing.T) {
	h := newHarness(t)
	in := h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	h.store.addPlugin(t, tenant, modelUID, modelPlugin())
	h.store.addPlugin(t, tenant, agentUID, agentPlugin())
	h.store.addPlugin(t, "t2", endpUID, endpointPlugin(true))

	data := expectOK(t, h.do("GET", "/plugin/t1/management/list?page=1&page_size=2&response_type=paged", ""))
	var list struct {
		List  []map[string]any `json:"list"`
		Total int              `json:"total"`
	}
	if err := json.Unmarshal(data, &list); err != nil || list.Total != 3 || len(list.List) != 2 {
		t.Fatalf("%s", data)
	}
	item := list.List[0]
	for k, want := range map[string]any{
		"id": in.ID, "installation_id": in.ID, "name": "echo", "plugin_id": "acme/echo", "tenant_id": tenant,
		"plugin_unique_identifier": toolUID, "version": "0.0.1", "checksum": "0123456789abcdef0123456789abcdef",
		"runtime_type": "local", "source": "package", "endpoints_active": 0.0, "endpoints_setups": 0.0,
	} {
		if item[k] != want {
			t.Errorf("list item %s = %v, want %v", k, item[k], want)
		}
	}
	for _, k := range []string{"declaration", "created_at", "updated_at", "meta"} {
		if item[k] == nil {
			t.Errorf("list item lacks %s", k)
		}
	}

	data = expectOK(t, h.do("GET", "/plugin/t1/management/installation/ids?category=model", ""))
	if string(data) != `{"plugin_ids":["acme/llm"]}` {
		t.Fatalf("%s", data)
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/tool/list?page=1&page_size=10&query=ECH&tags=utilities", ""))
	if !strings.Contains(string(data), `"has_more":false`) || !strings.Contains(string(data), toolUID) {
		t.Fatalf("%s", data)
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/tool/list?query=nothing", ""))
	if string(data) != `{"has_more":false,"list":[]}` {
		t.Fatalf("%s", data)
	}

	data = expectOK(t, h.do("POST", "/plugin/t1/management/installation/fetch/batch", `{"plugin_ids":["acme/echo","acme/none"]}`))
	if !strings.Contains(string(data), `"version":"0.0.1"`) || !strings.Contains(string(data), `"checksum":"0123456789abcdef0123456789abcdef"`) {
		t.Fatalf("%s", data)
	}
	data = expectOK(t, h.do("POST", "/plugin/t1/management/installation/missing", `{"plugin_unique_identifiers":["`+toolUID2+`","`+missingUID+`","`+modelUID+`"]}`))
	want := `[{"plugin_unique_identifier":"` + toolUID2 + `","current_identifier":"` + toolUID + `"},{"plugin_unique_identifier":"` + missingUID + `"}]`
	if string(data) != want {
		t.Fatalf("missing %s\nwant %s", data, want)
	}

	data = expectOK(t, h.do("GET", "/plugin/t1/management/fetch/identifier?plugin_unique_identifier="+toolUID, ""))
	if string(data) != "true" {
		t.Fatal(string(data))
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/fetch/identifier?plugin_unique_identifier="+missingUID, ""))
	if string(data) != "false" {
		t.Fatal(string(data))
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/fetch/manifest?plugin_unique_identifier="+modelUID, ""))
	if !strings.Contains(string(data), `"provider":"acmellm"`) {
		t.Fatalf("%s", data)
	}
	expectErr(t, h.do("GET", "/plugin/t1/management/fetch/manifest?plugin_unique_identifier="+missingUID, ""), 200, -404, typeNotFound, "")
}

func TestProviders(t *testing.T) {
	h := newHarness(t)
	h.store.addPlugin(t, tenant, toolUID, toolPlugin())
	h.store.addPlugin(t, tenant, modelUID, modelPlugin())
	h.store.addPlugin(t, tenant, agentUID, agentPlugin())

	for _, tc := range []struct{ path, want string }{
		{"tools", `"provider":"echo"`},
		{"models", `"provider":"acmellm"`},
		{"agent_strategies", `"provider":"react"`},
		{"datasources", ""},
		{"triggers", ""},
	} {
		data := expectOK(t, h.do("GET", "/plugin/t1/management/"+tc.path+"?page=1&page_size=256", ""))
		var items []map[string]any
		if err := json.Unmarshal(data, &items); err != nil {
			t.Fatalf("%s: %s", tc.path, data)
		}
		if tc.want == "" {
			if len(items) != 0 {
				t.Fatalf("%s: %s", tc.path, data)
			}
			continue
		}
		if len(items) != 1 || !strings.Contains(string(data), tc.want) || items[0]["declaration"] == nil || items[0]["plugin_id"] == nil {
			t.Fatalf("%s: %s", tc.path, data)
		}
	}
	data := expectOK(t, h.do("GET", "/plugin/t1/management/agent_strategies", ""))
	if !strings.Contains(string(data), `"meta":{"version":"0.0.1"`) {
		t.Fatalf("agent meta: %s", data)
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/tools?page=2&page_size=1", ""))
	if string(data) != "[]" {
		t.Fatalf("page 2: %s", data)
	}

	data = expectOK(t, h.do("GET", "/plugin/t1/management/tool?plugin_id=acme/echo&provider=echo", ""))
	if !strings.Contains(string(data), `"plugin_unique_identifier":"`+toolUID+`"`) {
		t.Fatalf("%s", data)
	}
	expectErr(t, h.do("GET", "/plugin/t1/management/tool?plugin_id=acme/echo&provider=other", ""), 200, -404, typePluginNotFound, "other")
	expectErr(t, h.do("GET", "/plugin/t1/management/tool?plugin_id=acme/nope&provider=echo", ""), 200, -404, typePluginNotFound, "acme/nope")
	expectErr(t, h.do("GET", "/plugin/t1/management/agent_strategy?plugin_id=acme/echo&provider=echo", ""), 200, -404, typePluginNotFound, "")

	data = expectOK(t, h.do("POST", "/plugin/t1/management/tools/check_existence",
		`{"provider_ids":[{"plugin_id":"acme/echo","provider_name":"echo"},{"plugin_id":"acme/echo","provider_name":"x"},{"plugin_id":"acme/llm","provider_name":"acmellm"}]}`))
	if string(data) != "[true,false,false]" {
		t.Fatalf("%s", data)
	}
	data = expectOK(t, h.do("GET", "/plugin/t1/management/models/bindings", ""))
	if !strings.Contains(string(data), `"provider":"acmellm"`) || !strings.Contains(string(data), `"verified":false`) {
		t.Fatalf("%s", data)
	}
}

func TestStoreFailure(t *testing.T) {
	h := newHarness(t)
	h.store.fail = errors.New("database is down")
	expectErr(t, h.do("GET", "/plugin/t1/management/list", ""), 200, -500, typeInternal, "database is down")
}

func TestAssets(t *testing.T) {
	h := newHarness(t)
	h.inst.assets["icon1"] = []byte("<svg/>")
	h.inst.assets["icon.svg"] = []byte("<svg2/>")

	rec := h.do("GET", "/plugin/t1/asset/icon1", "")
	if rec.Code != 200 || rec.Body.String() != "<svg/>" || rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	rec = h.do("GET", "/plugin/t1/asset/missing", "")
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("missing asset: %d %q", rec.Code, rec.Body)
	}
	rec = h.do("GET", "/plugin/t1/asset/a%2F..%2Fb", "")
	expectErr(t, rec, 400, -400, typeBadRequest, "not valid")

	q := "/plugin/t1/extract-asset/?plugin_unique_identifier=" + toolUID + "&file_path="
	rec = h.do("GET", q+"icon.svg", "")
	if rec.Code != 200 || rec.Body.String() != "<svg2/>" || h.inst.lastCall() != "file "+toolUID+" icon.svg" {
		t.Fatalf("%d %q %s", rec.Code, rec.Body, h.inst.lastCall())
	}
	for _, p := range []string{"../x", "a/../../x", "/etc/passwd", `a\b`, "a//b", "./a", "C:x", "", "a%00b"} {
		rec = h.do("GET", q+p, "")
		expectErr(t, rec, 400, -400, typeBadRequest, "file_path")
	}
	rec = h.do("GET", q+"nothing.png", "")
	expectErr(t, rec, 404, -404, typeNotFound, "nothing.png")
	rec = h.do("GET", "/plugin/t1/extract-asset/?plugin_unique_identifier=bad&file_path=a", "")
	expectErr(t, rec, 400, -400, typeIdentifier, "bad")
	if c := h.inst.lastCall(); c != "file "+toolUID+" nothing.png" {
		t.Fatalf("a refused path reached the installer: %s", c)
	}
}

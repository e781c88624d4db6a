package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const testKey = "the-server-key-0123456789"

// fakeAPI answers the API routes the tests touch and records what it was asked.
type fakeAPI struct {
	mu     sync.Mutex
	calls  []string
	bodies []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Api-Key") != testKey {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":-401,"message":"unauthorized","data":null}`)
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.bodies = append(f.bodies, string(b))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/management/list"):
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":{"list":[{"installation_id":"i1","plugin_id":"a/p","plugin_unique_identifier":"a/p:0.0.1@abc","name":"p","version":"0.0.1","source":"package","verification":null}],"total":1}}`)
	case r.URL.Path == "/health/ready":
		_, _ = io.WriteString(w, `{"ready":true,"plugins":[{"unique_identifier":"a/p:0.0.1@abc","state":"ready","rss":1048576,"in_flight":0}]}`)
	case strings.HasSuffix(r.URL.Path, "/providers/a/p/p"):
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":{"id":"a/p/p","kind":"plugin","name":"p","label":"P","tools":[{"name":"echo","label":"Echo","input_schema":{"type":"object","required":["text"],"properties":{"text":{"type":"string"}}}}]}}`)
	case strings.HasSuffix(r.URL.Path, "/call"):
		var body struct {
			Arguments map[string]any `json:"arguments"`
		}
		_ = json.Unmarshal(b, &body)
		text, _ := body.Arguments["text"].(string)
		w.Header().Set("Content-Type", "text/event-stream")
		msg, _ := json.Marshal(map[string]any{"type": "text", "message": map[string]string{"text": text}})
		_, _ = io.WriteString(w, "data: {\"code\":0,\"message\":\"success\",\"data\":"+string(msg)+"}\n\n")
		_, _ = io.WriteString(w, "data: {\"code\":-502,\"message\":\"the tool broke\",\"data\":null}\n\n")
	case r.URL.Path == "/tools/default/install":
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":{"unique_identifier":"org/x:1.0.0@abc","task_id":"task-1"}}`)
	case r.URL.Path == "/tools/default/oauth/clients":
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":[{"provider":"api-1","client_id":"cid","client_secret":"ab***yz","enabled":true,"level":"tenant"}]}`)
	case r.URL.Path == "/tools/default/oauth/connections":
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":[{"provider_id":"api-1","kind":"api","status":"needs_reauthorization","reason":"refresh refused","has_refresh_token":false}]}`)
	case r.URL.Path == "/tools/default/providers":
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":[
			{"id":"api-1","kind":"api","name":"me","label":"Me","config":{"auth":{"type":"oauth2"}},"tools":[]},
			{"id":"mcp-1","kind":"mcp","name":"docs","label":"Docs","config":{"url":"https://x","oauth":true},"tools":[]},
			{"id":"api-2","kind":"api","name":"plain","label":"Plain","config":{"auth":{"type":"none"}},"tools":[]}]}`)
	case r.URL.Path == "/tools/default/oauth/connect":
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":{"flow_id":"f1","provider_id":"mcp-1","authorization_url":"https://as.example/auth?state=s"}}`)
	case strings.HasSuffix(r.URL.Path, "/preferences"):
		_, _ = io.WriteString(w, `{"code":0,"message":"success","data":{}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code":-404,"message":"no route `+r.URL.Path+`","data":null}`)
	}
}

func (f *fakeAPI) last() (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return "", ""
	}
	return f.calls[len(f.calls)-1], f.bodies[len(f.bodies)-1]
}

func newTest(t *testing.T, cfg Config) (*Console, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	cfg.API, cfg.ServerKey = api, testKey
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, api
}

func request(method, target, body string, from string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = from
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return r
}

const local = "127.0.0.1:40000"

// login logs in and returns the session cookie and the page's CSRF token.
func login(t *testing.T, c *Console, user, password string) (*http.Cookie, string) {
	t.Helper()
	w := httptest.NewRecorder()
	c.ServeHTTP(w, request("POST", "/console/login", url.Values{"user": {user}, "password": {password}}.Encode(), local))
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	var ck *http.Cookie
	for _, k := range w.Result().Cookies() {
		if k.Name == cookieName {
			ck = k
		}
	}
	if ck == nil {
		t.Fatal("login set no session cookie")
	}
	w = httptest.NewRecorder()
	r := request("GET", "/console/t/default/plugins", "", local)
	r.AddCookie(ck)
	c.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("plugins page: %d %s", w.Code, w.Body)
	}
	_, rest, _ := strings.Cut(w.Body.String(), `data-csrf="`)
	token, _, _ := strings.Cut(rest, `"`)
	if token == "" {
		t.Fatal("the page carries no CSRF token")
	}
	return ck, token
}

func TestAccess(t *testing.T) {
	for _, tc := range []struct {
		access Access
		from   string
		header string
		want   int
	}{
		{AccessLoopback, "127.0.0.1:1234", "", 200},
		{AccessLoopback, "[::1]:1234", "", 200},
		{AccessLoopback, "10.1.2.3:1234", "", 404},
		{AccessLoopback, "127.0.0.1:1234", "X-Forwarded-For", 404}, // came through a proxy
		{AccessLoopback, "127.0.0.1:1234", "Forwarded", 404},
		{AccessOn, "10.1.2.3:1234", "", 200},
		{AccessOff, "127.0.0.1:1234", "", 404},
	} {
		c, _ := newTest(t, Config{Access: tc.access})
		r := request("GET", "/console/login", "", tc.from)
		if tc.header != "" {
			r.Header.Set(tc.header, "for=203.0.113.9")
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s from %s (%s): %d, want %d", tc.access, tc.from, tc.header, w.Code, tc.want)
		}
	}
}

func TestLoginSessionAndCSRF(t *testing.T) {
	c, api := newTest(t, Config{})

	// Not logged in: pages redirect to the login, posts are refused.
	w := httptest.NewRecorder()
	c.ServeHTTP(w, request("GET", "/console/t/default/tools", "", local))
	if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/console/login?next=") {
		t.Fatalf("anonymous page: %d %s", w.Code, w.Header().Get("Location"))
	}
	// A wrong key.
	w = httptest.NewRecorder()
	c.ServeHTTP(w, request("POST", "/console/login", "password=nope", local))
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Fatalf("wrong key: %d, cookies %v", w.Code, w.Result().Cookies())
	}

	ck, token := login(t, c, "", testKey)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/console" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure on plain HTTP, Path=/console", ck)
	}

	form := url.Values{"target": {"tool"}, "name": {"a/p/p/echo"}, "pinned": {"true"}}
	post := func(body url.Values, header map[string]string) *httptest.ResponseRecorder {
		r := request("POST", "/console/t/default/tools/preference", body.Encode(), local)
		r.AddCookie(ck)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	if w := post(form, nil); w.Code != http.StatusForbidden {
		t.Errorf("post without a CSRF token: %d", w.Code)
	}
	bad := url.Values{"csrf": {"wrong"}}
	for k, v := range form {
		bad[k] = v
	}
	if w := post(bad, nil); w.Code != http.StatusForbidden {
		t.Errorf("post with a wrong CSRF token: %d", w.Code)
	}
	if w := post(form, map[string]string{"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site post with the token: %d", w.Code)
	}
	if call, _ := api.last(); strings.Contains(call, "preferences") {
		t.Fatalf("a refused post reached the API: %s", call)
	}
	good := url.Values{"csrf": {token}}
	for k, v := range form {
		good[k] = v
	}
	if w := post(good, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("post with the token: %d %s", w.Code, w.Body)
	}
	call, body := api.last()
	var pref map[string]any
	_ = json.Unmarshal([]byte(body), &pref)
	if call != "POST /tools/default/preferences" || pref["target"] != "tool" || pref["name"] != "a/p/p/echo" || pref["pinned"] != true {
		t.Errorf("the API got %s %s", call, body)
	}
	// The header works as well as the field (the page's script sends it).
	if w := post(form, map[string]string{"X-CSRF-Token": token}); w.Code != http.StatusSeeOther {
		t.Errorf("post with the token in X-CSRF-Token: %d", w.Code)
	}

	// Logging out ends the session on the server.
	r := request("POST", "/console/logout", url.Values{"csrf": {token}}.Encode(), local)
	r.AddCookie(ck)
	w = httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	r = request("GET", "/console/t/default/plugins", "", local)
	r.AddCookie(ck)
	w = httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Errorf("the old cookie still works after logout: %d", w.Code)
	}
}

func TestUploadNeedsCSRFFirst(t *testing.T) {
	c, api := newTest(t, Config{})
	ck, _ := login(t, c, "", testKey)
	body := "--b\r\nContent-Disposition: form-data; name=\"package\"; filename=\"x.difypkg\"\r\n\r\nPK\r\n--b--\r\n"
	r := httptest.NewRequest("POST", "/console/t/default/install", strings.NewReader(body))
	r.RemoteAddr = local
	r.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("upload without a CSRF field first: %d", w.Code)
	}
	if call, _ := api.last(); strings.Contains(call, "upload") {
		t.Errorf("the refused upload reached the API: %s", call)
	}
}

func TestUserAccounts(t *testing.T) {
	file, err := setPassword(nil, "ana", "correct horse", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file, err = setPassword(append(file, "# a comment\n"...), "bo", "battery staple", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file, err = setPassword(file, "ana", "new password!", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := ParseUsers(strings.NewReader(string(file)), "users")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || strings.Count(string(file), "ana:") != 1 {
		t.Fatalf("users file:\n%s", file)
	}
	c, _ := newTest(t, Config{Users: users})
	login(t, c, "ana", "new password!")
	login(t, c, "bo", "battery staple")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, request("POST", "/console/login", "user=ana&password=correct+horse", "127.0.0.2:1"))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("the old password: %d", w.Code)
	}
	w = httptest.NewRecorder()
	c.ServeHTTP(w, request("POST", "/console/login", "user=nobody&password=correct+horse", "127.0.0.2:1"))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("an unknown user: %d", w.Code)
	}
	if _, err := SetPassword(nil, "x", "short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	for _, bad := range []string{"ana\n", "ana:plain\n", ":$2a$10$x\n", "a b:$2a$\n"} {
		if _, err := ParseUsers(strings.NewReader(bad), "users"); err == nil || !strings.Contains(err.Error(), "users:1") {
			t.Errorf("ParseUsers(%q) = %v, want an error naming users:1", bad, err)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := newTest(t, Config{Now: func() time.Time { return now }})
	try := func(from string) int {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, request("POST", "/console/login", "password=wrong", from))
		return w.Code
	}
	for i := range 5 {
		if got := try("127.0.0.1:1"); got != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, got)
		}
	}
	if got := try("127.0.0.1:2"); got != http.StatusTooManyRequests {
		t.Errorf("sixth attempt at once: %d, want 429", got)
	}
	if got := try("127.0.0.2:1"); got != http.StatusUnauthorized {
		t.Errorf("another address: %d", got)
	}
	now = now.Add(13 * time.Second)
	if got := try("127.0.0.1:3"); got != http.StatusUnauthorized {
		t.Errorf("after 13 s: %d, want one more attempt", got)
	}
}

func TestSecureCookieSetting(t *testing.T) {
	c, _ := newTest(t, Config{SecureCookies: true})
	ck, _ := login(t, c, "", testKey)
	if !ck.Secure {
		t.Error("PLUGD_CONSOLE_SECURE_COOKIES: the cookie is not Secure")
	}
}

func TestPluginsPage(t *testing.T) {
	c, _ := newTest(t, Config{})
	ck, _ := login(t, c, "", testKey)
	r := request("GET", "/console/t/default/plugins", "", local)
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	for _, want := range []string{`data-plugin="a/p"`, "0.0.1", "ready", "1.0 MiB"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("plugins page lacks %q", want)
		}
	}
}

// A tool call without the page's script (no event-stream Accept) renders the messages, and
// the error that ended the stream, on the page.
func TestToolCallWithoutScript(t *testing.T) {
	c, api := newTest(t, Config{})
	ck, token := login(t, c, "", testKey)
	call := func(form url.Values, accept string) *httptest.ResponseRecorder {
		form.Set("csrf", token)
		r := request("POST", "/console/t/default/tools/call", form.Encode(), local)
		r.AddCookie(ck)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	w := call(url.Values{"provider": {"a/p/p"}, "tool": {"echo"}, "arg.text": {"<hi>"}}, "")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "&lt;hi&gt;") || !strings.Contains(body, "the tool broke") {
		t.Errorf("page: %d\n%s", w.Code, body)
	}
	if _, sent := api.last(); !strings.Contains(sent, `"arguments":{"text":"\u003chi\u003e"}`) {
		t.Errorf("the API got %s", sent)
	}
	w = call(url.Values{"provider": {"a/p/p"}, "tool": {"echo"}, "arg.text": {"x"}}, "text/event-stream")
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/event-stream") || strings.Count(w.Body.String(), "data: ") != 2 {
		t.Errorf("stream: %s %q", w.Header().Get("Content-Type"), w.Body)
	}
	w = call(url.Values{"provider": {"a/p/p"}, "tool": {"echo"}}, "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "text: required") {
		t.Errorf("missing argument: %d", w.Code)
	}
}

func TestMarketplaceInstall(t *testing.T) {
	c, api := newTest(t, Config{})
	ck, token := login(t, c, "", testKey)
	r := request("POST", "/console/t/default/install/marketplace", url.Values{"csrf": {token}, "plugin": {" org/x "}}.Encode(), local)
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/t/default/tasks/task-1" {
		t.Errorf("marketplace install: %d -> %s", w.Code, w.Header().Get("Location"))
	}
	if call, body := api.last(); call != "POST /tools/default/install" || body != `{"plugin":"org/x"}` {
		t.Errorf("the API got %s %s", call, body)
	}
}

func TestOAuthPage(t *testing.T) {
	c, api := newTest(t, Config{OAuthCallbackURL: "http://127.0.0.1:5002/oauth/callback"})
	ck, token := login(t, c, "", testKey)
	r := request("GET", "/console/t/default/oauth", "", local)
	r.AddCookie(ck)
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	body := w.Body.String()
	for _, want := range []string{`data-provider="api-1"`, `data-provider="mcp-1"`, "needs_reauthorization", "refresh refused",
		`aria-label="Re-authorize me"`, `aria-label="Connect docs"`, "http://127.0.0.1:5002/oauth/callback", "registered on connect"} {
		if !strings.Contains(body, want) {
			t.Errorf("OAuth page lacks %q", want)
		}
	}
	if strings.Contains(body, `data-provider="api-2"`) {
		t.Error("a provider without OAuth is listed")
	}
	r = request("POST", "/console/t/default/oauth/connect", url.Values{"csrf": {token}, "provider": {"mcp-1"}}.Encode(), local)
	r.AddCookie(ck)
	w = httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), `href="https://as.example/auth?state=s"`) || !strings.Contains(w.Body.String(), `data-poll="/console/t/default/oauth/flows/f1"`) {
		t.Errorf("connect page: %d\n%s", w.Code, w.Body)
	}
	api.mu.Lock()
	i := slices.Index(api.calls, "POST /tools/default/oauth/connect")
	if i < 0 || !strings.Contains(api.bodies[i], `"provider_id":"mcp-1"`) {
		t.Errorf("the API got %v", api.calls)
	}
	api.mu.Unlock()
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/t/x/tools":   "/console/t/x/tools",
		"//evil.example/":      "/console/",
		"https://evil.example": "/console/",
		"/console/\\evil":      "/console/",
		"":                     "/console/",
		"/console/../../x":     "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeID(t *testing.T) {
	for in, want := range map[string]string{
		"author/plugin/provider": "author/plugin/provider",
		"a b/c?d":                "a%20b/c%3Fd",
		"../../plugin/x":         "%2E%2E/%2E%2E/plugin/x",
		"./x":                    "%2E/x",
	} {
		if got := escapeID(in); got != want {
			t.Errorf("escapeID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFormFieldsAndArguments(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","required":["text","n"],"properties":{
		"mode":{"type":"string","enum":["a","b"]},
		"text":{"type":"string","description":"what"},
		"n":{"type":"integer","minimum":1},
		"ratio":{"type":["number","null"]},
		"flag":{"type":"boolean"},
		"tags":{"type":"array","items":{"type":"string"}},
		"level":{"type":"integer","enum":[1,2]}}}`)
	fields, err := FormFields(schema)
	if err != nil {
		t.Fatal(err)
	}
	var names, kinds []string
	for _, f := range fields {
		names, kinds = append(names, f.Name), append(kinds, f.Kind)
	}
	if got := strings.Join(names, ","); got != "text,n,mode,ratio,flag,tags,level" {
		t.Errorf("order %s: want required first, then the schema's order", got)
	}
	if got := strings.Join(kinds, ","); got != "text,integer,select,number,boolean,json,select" {
		t.Errorf("kinds %s", got)
	}
	args, err := FormArguments(fields, url.Values{"arg.text": {"hi"}, "arg.n": {"3"}, "arg.mode": {"b"}, "arg.ratio": {"0.5"},
		"arg.flag": {"false"}, "arg.tags": {`["x"]`}, "arg.level": {"2"}, "other": {"ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(args)
	if string(b) != `{"flag":false,"level":2,"mode":"b","n":3,"ratio":0.5,"tags":["x"],"text":"hi"}` {
		t.Errorf("arguments %s", b)
	}
	_, err = FormArguments(fields, url.Values{"arg.n": {"x"}, "arg.mode": {"c"}, "arg.tags": {`{}`}})
	for _, want := range []string{"text: required", `n: "x" is not a whole number`, `mode: "c" is not one of a, b`, "tags: want a JSON array"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if _, err := FormFields(json.RawMessage(`{"properties":[1]}`)); err == nil {
		t.Error("properties as an array was accepted")
	}
}

func FuzzFormArguments(f *testing.F) {
	f.Add(`{"type":"object","required":["a"],"properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, "arg.a=x&arg.b=2")
	f.Add(`{"properties":{"e":{"enum":[1,"x",null,true]},"j":{"type":"object"}}}`, "arg.e=1&arg.j=%7B%7D")
	f.Add(`{"properties":{"n":{"type":"number","minimum":0}}}`, "arg.n=NaN")
	f.Add(`{"properties":{"a":{"type":"string"},"a":{"type":"string"}}}`, "")
	f.Add(`null`, "")
	f.Fuzz(func(t *testing.T, schema, form string) {
		fields, err := FormFields(json.RawMessage(schema))
		if err != nil {
			return
		}
		if len(fields) > maxSchemaFields {
			t.Fatalf("%d fields", len(fields))
		}
		values, err := url.ParseQuery(form)
		if err != nil {
			return
		}
		args, err := FormArguments(fields, values)
		if err != nil {
			return
		}
		if _, err := json.Marshal(args); err != nil {
			t.Fatalf("arguments cannot be sent: %v", err)
		}
		for k := range args {
			if values.Get(formPrefix+k) == "" {
				t.Fatalf("argument %q without a form value", k)
			}
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("password1"), bcrypt.MinCost)
	f.Add("ana:" + string(hash) + "\n# c\n\n")
	f.Add("ana\n")
	f.Add("a:b:c")
	f.Fuzz(func(t *testing.T, text string) {
		users, err := ParseUsers(strings.NewReader(text), "users")
		if err != nil {
			return
		}
		for name, h := range users {
			if checkUserName(name) != nil {
				t.Fatalf("accepted name %q", name)
			}
			if _, err := bcrypt.Cost(h); err != nil {
				t.Fatalf("accepted hash %q", h)
			}
		}
	})
}

func FuzzLoginForm(f *testing.F) {
	f.Add("user=&password=" + testKey + "&next=%2Fconsole%2Ft%2Fx%2Ftools")
	f.Add("password=x&next=//evil")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, body string) {
		c, _ := newTest(t, Config{})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, request("POST", "/console/login", body, local))
		switch w.Code {
		case http.StatusSeeOther:
			loc := w.Header().Get("Location")
			if !strings.HasPrefix(loc, "/console/") || strings.HasPrefix(loc, "//") {
				t.Fatalf("redirect to %q", loc)
			}
			if !strings.Contains(body, testKey) && !strings.Contains(body, url.QueryEscape(testKey)) {
				t.Fatalf("logged in without the key: %q", body)
			}
		case http.StatusUnauthorized, http.StatusBadRequest, http.StatusTooManyRequests:
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

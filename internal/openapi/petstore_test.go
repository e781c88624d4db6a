package openapi

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/plugd/plugd/internal/egress"
)

func parseFile(t testing.TB, name string) *Document {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data, "")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

func opByName(t testing.TB, doc *Document, name string) *Operation {
	t.Helper()
	for _, o := range doc.Operations {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("no operation %q", name)
	return nil
}

// petstore is a loopback implementation of the Swagger Petstore's operations used below,
// written from the description (the real petstore.swagger.io cannot be reached from here).
// It checks what the description requires: auth per operation, parameter places, media types.
type petstore struct {
	mu   sync.Mutex
	pets map[int64]map[string]any
	seen []string // "METHOD path?query" of every request
}

const (
	testAPIKey   = "special-key"
	testBearer   = "tok-123"
	testUser     = "alice"
	testPassword = "s3cret: pass"
)

func newPetstore(t *testing.T) (*petstore, *httptest.Server) {
	p := &petstore{pets: map[int64]map[string]any{}}
	srv := httptest.NewServer(http.StripPrefix("/v2", http.HandlerFunc(p.serve)))
	t.Cleanup(srv.Close)
	return p, srv
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (p *petstore) authorized(r *http.Request) bool {
	if r.Header.Get("api_key") == testAPIKey {
		return true
	}
	if r.Header.Get("Authorization") == "Bearer "+testBearer {
		return true
	}
	u, pw, ok := r.BasicAuth()
	return ok && u == testUser && pw == testPassword
}

func (p *petstore) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, r.Method+" "+r.URL.RequestURI())
	if !p.authorized(r) && !strings.HasPrefix(r.URL.Path, "/user") {
		writeJSON(w, 401, map[string]any{"message": "unauthorized"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	switch {
	case r.Method == "POST" && r.URL.Path == "/pet":
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			writeJSON(w, 415, map[string]any{"message": "want JSON, got " + ct})
			return
		}
		var pet map[string]any
		if err := json.NewDecoder(r.Body).Decode(&pet); err != nil || pet["name"] == nil || pet["photoUrls"] == nil {
			writeJSON(w, 405, map[string]any{"message": "invalid input"})
			return
		}
		id := int64(len(p.pets) + 1)
		if f, ok := pet["id"].(float64); ok {
			id = int64(f)
		}
		pet["id"] = id
		p.pets[id] = pet
		writeJSON(w, 200, pet)
	case r.Method == "GET" && r.URL.Path == "/pet/findByStatus":
		want := map[string]bool{}
		for _, s := range r.URL.Query()["status"] {
			want[s] = true
		}
		out := []any{}
		for id := int64(1); id <= int64(len(p.pets)+10); id++ {
			if pet := p.pets[id]; pet != nil && want[pet["status"].(string)] {
				out = append(out, pet)
			}
		}
		writeJSON(w, 200, out)
	case len(parts) == 2 && parts[0] == "pet":
		id, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			writeJSON(w, 400, map[string]any{"message": "invalid ID supplied"})
			return
		}
		pet := p.pets[id]
		if pet == nil {
			writeJSON(w, 404, map[string]any{"message": "pet not found"})
			return
		}
		switch r.Method {
		case "GET":
			writeJSON(w, 200, pet)
		case "POST": // updatePetWithForm
			if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
				writeJSON(w, 405, map[string]any{"message": "want a form"})
				return
			}
			if v := r.PostForm.Get("name"); v != "" {
				pet["name"] = v
			}
			if v := r.PostForm.Get("status"); v != "" {
				pet["status"] = v
			}
			writeJSON(w, 200, pet)
		case "DELETE":
			delete(p.pets, id)
			writeJSON(w, 200, map[string]any{"message": "deleted"})
		}
	case len(parts) == 3 && parts[0] == "pet" && parts[2] == "uploadImage":
		if r.Header.Get("Content-Type") == "application/octet-stream" {
			b, _ := io.ReadAll(r.Body)
			writeJSON(w, 200, map[string]any{"code": 200, "message": "received " + strconv.Itoa(len(b)) + " bytes"})
			return
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			writeJSON(w, 415, map[string]any{"message": err.Error()})
			return
		}
		if files := r.MultipartForm.File["file"]; len(files) > 0 {
			f, _ := files[0].Open()
			b, _ := io.ReadAll(f)
			f.Close()
			if string(b) != "\x89PNG\r\n" {
				writeJSON(w, 400, map[string]any{"message": "file content " + strconv.Quote(string(b))})
				return
			}
		}
		writeJSON(w, 200, map[string]any{"code": 200, "message": "additionalMetadata: " + r.MultipartForm.Value["additionalMetadata"][0]})
	case r.Method == "GET" && r.URL.Path == "/user/login":
		q := r.URL.Query()
		if q.Get("username") != testUser || q.Get("password") != testPassword {
			writeJSON(w, 400, map[string]any{"message": "invalid username/password supplied"})
			return
		}
		w.Header().Set("X-Rate-Limit", "5000")
		writeJSON(w, 200, "logged in user session:1")
	case r.Method == "PUT" && len(parts) == 2 && parts[0] == "user":
		var u map[string]any
		json.NewDecoder(r.Body).Decode(&u)
		name, _ := url.PathUnescape(parts[1])
		writeJSON(w, 200, map[string]any{"path": name, "body": u})
	default:
		writeJSON(w, 404, map[string]any{"message": "no route " + r.Method + " " + r.URL.Path})
	}
}

// call builds the request for a tool and sends it through the guarded client.
func call(t *testing.T, client *egress.Client, op *Operation, args map[string]any, auth Auth) (int, any) {
	t.Helper()
	req, err := BuildRequest(t.Context(), op, args, auth)
	if err != nil {
		t.Fatalf("%s: %v", op.Name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op.Name, err)
	}
	defer resp.Body.Close()
	var out any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: answer: %v", op.Name, err)
	}
	return resp.StatusCode, out
}

func loopbackClient(t testing.TB) *egress.Client {
	allow, err := egress.ParseAllow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return egress.New(egress.Settings{Allow: allow})
}

func TestPetstoreCalls(t *testing.T) {
	for _, file := range []string{"petstore-2.0.json", "petstore-2.0.yaml", "petstore-3.0.json", "petstore-3.0.yaml", "petstore-3.1.json"} {
		t.Run(file, func(t *testing.T) {
			doc := parseFile(t, file)
			store, srv := newPetstore(t)
			if len(doc.Operations) != 20 {
				t.Fatalf("%d operations, want the Petstore's 20", len(doc.Operations))
			}
			for _, o := range doc.Operations {
				if o.ServerURL != "http://petstore.swagger.io/v2" {
					t.Fatalf("%s: server %q", o.Name, o.ServerURL)
				}
				o.ServerURL = srv.URL + "/v2"
			}
			client := loopbackClient(t)
			apiKey := Auth{{Scheme: doc.Security["api_key"], Value: testAPIKey}}
			bearer := Auth{{Scheme: SecurityScheme{Type: "http", Scheme: "bearer"}, Value: testBearer}}
			basic := Auth{{Scheme: SecurityScheme{Type: "http", Scheme: "basic"}, Username: testUser, Password: testPassword}}
			if s := doc.Security["api_key"]; s.Type != "apiKey" || s.In != "header" || s.ParamName != "api_key" {
				t.Fatalf("api_key scheme: %+v", s)
			}
			if s := doc.Security["petstore_auth"]; s.Type != "oauth2" || len(s.OAuthFlows) != 1 || s.OAuthFlows[0].Flow != "implicit" || s.OAuthFlows[0].Scopes["write:pets"] == "" {
				t.Fatalf("petstore_auth scheme: %+v", s)
			}

			// JSON body from object arguments, bearer auth.
			code, got := call(t, client, opByName(t, doc, "addPet"), map[string]any{
				"name": "doggie", "photoUrls": []any{"https://example.com/a.png"}, "status": "available",
				"category": map[string]any{"id": 1.0, "name": "Dogs"}, "tags": []any{map[string]any{"id": 2.0, "name": "good"}},
			}, bearer)
			if code != 200 || got.(map[string]any)["name"] != "doggie" {
				t.Fatalf("addPet: %d %v", code, got)
			}
			pet := store.pets[int64(got.(map[string]any)["id"].(float64))]
			if pet["category"].(map[string]any)["name"] != "Dogs" || pet["tags"].([]any)[0].(map[string]any)["name"] != "good" {
				t.Fatalf("nested body lost: %v", pet)
			}
			id := pet["id"].(int64)
			if _, err := BuildRequest(t.Context(), opByName(t, doc, "addPet"), map[string]any{"name": "x"}, nil); !isArgErr(err, "photoUrls") {
				t.Fatalf("missing photoUrls: %v", err)
			}

			// Path parameter, api_key header auth from the document's own scheme.
			code, got = call(t, client, opByName(t, doc, "getPetById"), map[string]any{"petId": float64(id)}, apiKey)
			if code != 200 || got.(map[string]any)["name"] != "doggie" {
				t.Fatalf("getPetById: %d %v", code, got)
			}
			// Without credentials the server refuses: auth really travels.
			if code, _ := call(t, client, opByName(t, doc, "getPetById"), map[string]any{"petId": float64(id)}, nil); code != 401 {
				t.Fatalf("unauthenticated getPetById: %d", code)
			}

			// Query array (form, exploded), basic auth.
			code, got = call(t, client, opByName(t, doc, "findPetsByStatus"), map[string]any{"status": []any{"available", "sold"}}, basic)
			if code != 200 || len(got.([]any)) != 1 {
				t.Fatalf("findPetsByStatus: %d %v", code, got)
			}
			if last := store.seen[len(store.seen)-1]; last != "GET /pet/findByStatus?status=available&status=sold" {
				t.Fatalf("query sent as %q", last)
			}

			// Form body.
			code, got = call(t, client, opByName(t, doc, "updatePetWithForm"), map[string]any{"petId": float64(id), "name": "rex", "status": "sold"}, apiKey)
			if code != 200 || got.(map[string]any)["name"] != "rex" {
				t.Fatalf("updatePetWithForm: %d %v", code, got)
			}

			// Multipart body.
			// Multipart body (2.0, 3.0) or raw bytes given as base64 (3.1's Petstore).
			up := opByName(t, doc, "uploadFile")
			switch {
			case up.Body != nil && up.Body.ContentType == "multipart/form-data":
				args := map[string]any{"petId": float64(id), "additionalMetadata": "portrait"}
				if _, ok := up.Body.Fields["file"]; ok {
					args["file"] = base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n"))
				}
				code, got = call(t, client, up, args, apiKey)
				if code != 200 || got.(map[string]any)["message"] != "additionalMetadata: portrait" {
					t.Fatalf("uploadFile: %d %v", code, got)
				}
			case up.Body != nil && up.Body.ContentType == "application/octet-stream" && up.Body.Arg == "body":
				code, got = call(t, client, up, map[string]any{"petId": float64(id), "body": base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n"))}, apiKey)
				if code != 200 || got.(map[string]any)["message"] != "received 6 bytes" {
					t.Fatalf("uploadFile: %d %v", code, got)
				}
			default:
				t.Fatalf("uploadFile body: %+v", up.Body)
			}

			// Query parameters with characters that need escaping.
			code, got = call(t, client, opByName(t, doc, "loginUser"), map[string]any{"username": testUser, "password": testPassword}, nil)
			if code != 200 || got != "logged in user session:1" {
				t.Fatalf("loginUser: %d %v", code, got)
			}

			// A body field named like a path parameter: both travel, under different arguments.
			upd := opByName(t, doc, "updateUser")
			if upd.Body.Fields["body_username"] != "username" {
				t.Fatalf("updateUser body fields: %v", upd.Body.Fields)
			}
			code, got = call(t, client, upd, map[string]any{"username": "a b/c", "body_username": "new", "email": "a@example.com"}, nil)
			m := got.(map[string]any)
			if code != 200 || m["path"] != "a b/c" || m["body"].(map[string]any)["username"] != "new" {
				t.Fatalf("updateUser: %d %v", code, got)
			}
			if last := store.seen[len(store.seen)-1]; last != "PUT /user/a%20b%2Fc" {
				t.Fatalf("path sent as %q", last)
			}

			// Header parameter.
			del := opByName(t, doc, "deletePet")
			req, err := BuildRequest(t.Context(), del, map[string]any{"petId": float64(id), "api_key": testAPIKey}, nil)
			if err != nil || req.Header.Get("api_key") != testAPIKey {
				t.Fatalf("deletePet header: %v %v", req.Header, err)
			}
			resp, err := client.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("deletePet: %v %v", resp, err)
			}
			resp.Body.Close()
			if store.pets[id] != nil {
				t.Fatal("not deleted")
			}

			// An array body (createUsersWithArrayInput) is one argument.
			if b := opByName(t, doc, "createUsersWithArrayInput").Body; b == nil || b.Arg != "body" {
				t.Fatalf("array body: %+v", b)
			}
		})
	}
}

func isArgErr(err error, arg string) bool {
	var ae *ArgumentError
	return errors.As(err, &ae) && ae.Arg == arg
}

// security-3.0.json declares every kind of scheme; each is applied as written and checked by
// an echo server on loopback.
func TestSecuritySchemes(t *testing.T) {
	doc := parseFile(t, "security-3.0.json")
	s := doc.Security
	if s["basic"].Type != "http" || s["basic"].Scheme != "basic" || s["bearer_jwt"].BearerFormat != "JWT" ||
		s["apiKey_query"].In != "query" || s["apiKey_cookie"].In != "cookie" || s["apiKey_header"].ParamName != "X-API-KEY" {
		t.Fatalf("schemes: %+v", s)
	}
	var oauth SecurityScheme
	for _, sc := range s {
		if sc.Type == "oauth2" {
			oauth = sc
		}
	}
	if len(oauth.OAuthFlows) == 0 || oauth.OAuthFlows[0].TokenURL == "" && oauth.OAuthFlows[0].AuthorizationURL == "" {
		t.Fatalf("oauth2 flows not recorded: %+v", oauth)
	}
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		writeJSON(w, 200, map[string]any{})
	}))
	defer srv.Close()
	client := loopbackClient(t)
	for _, tc := range []struct {
		op, scheme string
		cred       Credential
		check      func(r *http.Request) bool
	}{
		{"anythingapiKey_get", "apiKey_query", Credential{Value: "k1"}, func(r *http.Request) bool { return r.URL.Query().Get("apiKey") == "k1" }},
		{"anythingapiKey_post", "apiKey_cookie", Credential{Value: "k2"}, func(r *http.Request) bool { c, err := r.Cookie("api_key"); return err == nil && c.Value == "k2" }},
		{"anythingapiKey_put", "apiKey_header", Credential{Value: "k3"}, func(r *http.Request) bool { return r.Header.Get("X-API-KEY") == "k3" }},
		{"anythingbasic_post", "basic", Credential{Username: "u", Password: "p"}, func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "u" && p == "p" }},
		{"anythingbearer_post", "bearer", Credential{Value: "t"}, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer t" }},
	} {
		op := opByName(t, doc, tc.op)
		found := false
		for _, req := range op.Security {
			if _, ok := req[tc.scheme]; ok {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s does not list %s: %v", tc.op, tc.scheme, op.Security)
		}
		op.ServerURL = srv.URL
		tc.cred.Scheme = s[tc.scheme]
		code, _ := call(t, client, op, nil, Auth{tc.cred})
		if code != 200 || !tc.check(got) {
			t.Fatalf("%s with %s: %d %v %v", tc.op, tc.scheme, code, got.URL, got.Header)
		}
	}
}

// Dify's naming rule for operations without operationId: path without the leading slash and
// without characters outside [a-zA-Z0-9_-], then _method.
func TestFallbackNames(t *testing.T) {
	doc := parseFile(t, "security-3.0.json")
	for _, want := range []string{"anythingapiKey_get", "anythingbasic_post", "anythingno-auth_post", "status401_post"} {
		opByName(t, doc, want)
	}
	if got := fallbackName("/", "GET"); got != "root_get" {
		t.Fatal(got)
	}
	if got := fallbackName("/v1/users/{id}.json", "delete"); got != "v1usersidjson_delete" {
		t.Fatal(got)
	}
}

func TestOpenAPI31(t *testing.T) {
	doc := parseFile(t, "train-travel-3.1.json")
	if doc.Kind != KindOpenAPI31 || len(doc.Operations) < 5 {
		t.Fatalf("%s, %d operations", doc.Kind, len(doc.Operations))
	}
	op := opByName(t, doc, "create-booking")
	props := op.InputSchema["properties"].(map[string]any)
	if props["trip_id"] == nil || props["passenger_name"] == nil {
		t.Fatalf("create-booking inputs: %v", props)
	}
	if s := doc.Security["OAuth2"]; s.Type != "oauth2" || len(s.OAuthFlows) == 0 {
		t.Fatalf("OAuth2 scheme: %+v", s)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		writeJSON(w, 201, map[string]any{"path": r.URL.Path, "auth": r.Header.Get("Authorization"), "body": body})
	}))
	defer srv.Close()
	op.ServerURL = srv.URL
	code, got := call(t, loopbackClient(t), op, map[string]any{"trip_id": "4f4e4e1-c824-4d63-b37a-d8d698862f1d", "passenger_name": "John Doe", "has_bicycle": true},
		Auth{{Scheme: doc.Security["OAuth2"], Value: "oauth-token"}})
	m := got.(map[string]any)
	if code != 201 || m["path"] != "/bookings" || m["auth"] != "Bearer oauth-token" || m["body"].(map[string]any)["has_bicycle"] != true {
		t.Fatalf("%d %v", code, got)
	}
	// 3.1 type arrays and 3.0 nullable both become JSON Schema type lists.
	src := `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"servers":[{"url":"https://x.example"}],"paths":{"/a":{"post":{"operationId":"a",
	  "requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object","required":["n"],"properties":{"n":{"type":["integer","null"],"exclusiveMinimum":0},"c":{"const":"fixed"}}}}}}}}}}`
	d, err := Parse([]byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	n := d.Operations[0].InputSchema["properties"].(map[string]any)["n"].(map[string]any)
	if types, _ := n["type"].([]string); len(types) != 2 || n["exclusiveMinimum"] != 0.0 {
		t.Fatalf("3.1 schema: %v", n)
	}
	src30 := `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer, nullable: true, minimum: 1, exclusiveMinimum: true}}
      responses: {200: {description: ok}}`
	d, err = Parse([]byte(src30), "https://api.example/base/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	id := d.Operations[0].InputSchema["properties"].(map[string]any)["id"].(map[string]any)
	if types, _ := id["type"].([]string); len(types) != 2 || id["exclusiveMinimum"] != 1.0 || id["minimum"] != nil {
		t.Fatalf("3.0 schema: %v", id)
	}
	if d.Operations[0].ServerURL != "https://api.example/" || d.Operations[0].Name != "aid_get" {
		t.Fatalf("no servers: resolved against the document URL: %q %q", d.Operations[0].ServerURL, d.Operations[0].Name)
	}
}

func TestServerVariables(t *testing.T) {
	doc := parseFile(t, "server-variables-3.0.json")
	op := opByName(t, doc, "global_post")
	if op.ServerURL != "https://demo.example.com:443/v2" {
		t.Fatalf("default server: %q", op.ServerURL)
	}
	u, err := op.Servers[0].Resolve(map[string]string{"name": "eu", "port": "8443"})
	if err != nil || u != "https://eu.example.com:8443/v2" {
		t.Fatalf("%q %v", u, err)
	}
	if len(op.Servers) < 2 {
		t.Fatalf("other servers not kept: %v", op.Servers)
	}
	// Operation-level servers win over the document's.
	if o := opByName(t, doc, "operation_post"); !strings.HasPrefix(o.ServerURL, "https://httpbin.com/anything/") {
		t.Fatalf("operation server: %q", o.ServerURL)
	}
}

func TestLargeRealDescription(t *testing.T) {
	f, err := os.Open("testdata/github-api.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Operations) < 900 {
		t.Fatalf("%d operations from GitHub's API", len(doc.Operations))
	}
	names := map[string]bool{}
	for _, o := range doc.Operations {
		if names[o.Name] {
			t.Fatalf("duplicate tool name %s", o.Name)
		}
		names[o.Name] = true
		if _, err := json.Marshal(o.InputSchema); err != nil {
			t.Fatalf("%s: input schema does not encode: %v", o.Name, err)
		}
	}
	op := opByName(t, doc, "issues/create")
	var got map[string]any
	var gotPath, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		json.NewDecoder(r.Body).Decode(&got)
		writeJSON(w, 201, map[string]any{"number": 1})
	}))
	defer srv.Close()
	if op.ServerURL != "https://api.github.com" {
		t.Fatalf("server %q", op.ServerURL)
	}
	op.ServerURL = srv.URL
	code, _ := call(t, loopbackClient(t), op, map[string]any{"owner": "octo", "repo": "hello", "title": "Bug", "labels": []any{"bug", "p1"}},
		Auth{{Scheme: SecurityScheme{Type: "http", Scheme: "bearer"}, Value: "ghp_x"}})
	if code != 201 || gotPath != "/repos/octo/hello/issues" || gotAuth != "Bearer ghp_x" || got["title"] != "Bug" || len(got["labels"].([]any)) != 2 {
		t.Fatalf("%d %s %s %v", code, gotPath, gotAuth, got)
	}
}

func TestCircularSchemas(t *testing.T) {
	doc := parseFile(t, "schema-circular-3.0.json")
	for _, o := range doc.Operations {
		if _, err := json.Marshal(o.InputSchema); err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	doc := parseFile(t, "petstore-3.0.json")
	get := opByName(t, doc, "getPetById")
	for _, tc := range []struct {
		args map[string]any
		arg  string
		says string
	}{
		{map[string]any{}, "petId", "is required"},
		{map[string]any{"petId": 1.0, "color": "red"}, "color", "not an input"},
		{map[string]any{"petId": map[string]any{"a": []any{1.0}}}, "petId", "single value"},
		{map[string]any{"petId": ""}, "petId", "empty"},
	} {
		_, err := BuildRequest(context.Background(), get, tc.args, nil)
		if !isArgErr(err, tc.arg) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "getPetById") {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
	login := opByName(t, doc, "loginUser")
	if _, err := BuildRequest(context.Background(), login, map[string]any{"username": "a\r\nX: y", "password": "p"}, nil); err != nil {
		t.Fatalf("query values are escaped, not refused: %v", err)
	}
	del := opByName(t, doc, "deletePet")
	if _, err := BuildRequest(context.Background(), del, map[string]any{"petId": 1.0, "api_key": "a\r\nX-Evil: 1"}, nil); !isArgErr(err, "api_key") {
		t.Fatalf("header injection: %v", err)
	}
	noServer := *get
	noServer.ServerURL = ""
	if _, err := BuildRequest(context.Background(), &noServer, map[string]any{"petId": 1.0}, nil); err == nil || !strings.Contains(err.Error(), "server URL") {
		t.Fatalf("no server: %v", err)
	}
}

func TestSerializationStyles(t *testing.T) {
	op := &Operation{Name: "t", Method: "GET", Path: "/p/{s}/{l}/{m}", ServerURL: "https://x.example/api",
		Parameters: []Parameter{
			{Arg: "s", Name: "s", In: "path", Style: "simple", Required: true},
			{Arg: "l", Name: "l", In: "path", Style: "label"},
			{Arg: "m", Name: "m", In: "path", Style: "matrix", Explode: true},
			{Arg: "ids", Name: "ids", In: "query", Style: "form", Explode: false},
			{Arg: "pipes", Name: "pipes", In: "query", Style: "pipeDelimited"},
			{Arg: "filter", Name: "filter", In: "query", Style: "deepObject", Explode: true},
			{Arg: "n", Name: "n", In: "query", Style: "form", Explode: true},
			{Arg: "session", Name: "session", In: "cookie", Style: "form"},
		}}
	props := map[string]any{}
	for _, p := range op.Parameters {
		props[p.Arg] = map[string]any{}
	}
	op.InputSchema = map[string]any{"type": "object", "properties": props}
	req, err := BuildRequest(context.Background(), op, map[string]any{
		"s": []any{"a", "b c"}, "l": "x", "m": []any{1.0, 2.0}, "ids": []any{3.0, 4.0}, "pipes": []any{"x", "y"},
		"filter": map[string]any{"color": "red", "size": 2.0}, "n": 1e6, "session": "abc",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://x.example/api/p/a,b%20c/.x/;m=1;m=2?ids=3%2C4&pipes=x%7Cy&filter%5Bcolor%5D=red&filter%5Bsize%5D=2&n=1000000"
	if req.URL.String() != want {
		t.Fatalf("got  %s\nwant %s", req.URL, want)
	}
	if c, err := req.Cookie("session"); err != nil || c.Value != "abc" {
		t.Fatalf("cookie: %v", req.Header)
	}
}

// An OpenAI plugin manifest (Dify's third format) is followed to its description, through
// the guarded client.
func TestFetchPluginManifest(t *testing.T) {
	spec, _ := os.ReadFile("testdata/petstore-3.0.yaml")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/ai-plugin.json":
			writeJSON(w, 200, map[string]any{"schema_version": "v1", "name_for_model": "pets",
				"api": map[string]any{"type": "openapi", "url": "/openapi.yaml"}})
		case "/openapi.yaml":
			w.Write(spec)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	doc, err := Fetch(t.Context(), loopbackClient(t), srv.URL+"/.well-known/ai-plugin.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Operations) != 20 {
		t.Fatalf("%d operations", len(doc.Operations))
	}
	// Without the allow-list, the guard refuses the loopback fetch.
	_, err = Fetch(t.Context(), egress.New(egress.Settings{}), srv.URL+"/openapi.yaml")
	var blocked *egress.BlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("fetch from loopback without allowing it: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	for src, says := range map[string]string{
		"":                         "empty",
		"[1, 2]":                   "not an object",
		"{\"openapi\": \"4.0.0\"}": "not supported",
		"{\"swagger\": \"1.2\"}":   "not supported",
		"{\"info\": {}}":           "neither",
		"a: [":                     "neither JSON nor YAML",
		`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{}}`: "no paths",
		`{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"https://evil.example/x.json"}}}}}}}}}`: "",
	} {
		_, err := Parse([]byte(src), "")
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// An operation stored as JSON (as the catalog keeps it) and read back builds the same request.
func TestOperationJSONRoundTrip(t *testing.T) {
	doc := parseFile(t, "petstore-3.0.json")
	op := opByName(t, doc, "updateUser")
	data, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	var back Operation
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"username": "bob", "body_username": "bobby", "email": "b@example.com"}
	r1, err1 := BuildRequest(context.Background(), op, args, nil)
	r2, err2 := BuildRequest(context.Background(), &back, args, nil)
	if err1 != nil || err2 != nil || r1.URL.String() != r2.URL.String() {
		t.Fatalf("%v %v %v %v", r1, r2, err1, err2)
	}
	b1, _ := io.ReadAll(r1.Body)
	b2, _ := io.ReadAll(r2.Body)
	if string(b1) != string(b2) || !strings.Contains(string(b1), `"username":"bobby"`) {
		t.Fatalf("%s vs %s", b1, b2)
	}
	if _, err := BuildRequest(context.Background(), &back, map[string]any{"email": "x"}, nil); !isArgErr(err, "username") {
		t.Fatalf("required lost in JSON: %v", err)
	}
}

func TestAuthFor(t *testing.T) {
	doc := parseFile(t, "security-3.0.json")
	creds := map[string]Credential{"apiKey_header": {Value: "k"}, "bearer": {Value: "t"}}
	auth, err := AuthFor(opByName(t, doc, "anythingapiKey_put"), doc.Security, creds)
	if err != nil || len(auth) != 1 || auth[0].Scheme.ParamName != "X-API-KEY" || auth[0].Value != "k" {
		t.Fatalf("%+v %v", auth, err)
	}
	_, err = AuthFor(opByName(t, doc, "anythingbasic_post"), doc.Security, creds)
	if err == nil || !strings.Contains(err.Error(), "basic") {
		t.Fatalf("unmet requirement: %v", err)
	}
	// A requirement list ending in {} makes auth optional.
	var optional *Operation
	for _, o := range doc.Operations {
		if o.Path == "/anything/optional-auth" {
			optional = o
		}
	}
	if auth, err := AuthFor(optional, doc.Security, nil); err != nil || auth != nil {
		t.Fatalf("optional auth: %v %v", auth, err)
	}
	if auth, err := AuthFor(opByName(t, doc, "anythingno-auth_post"), doc.Security, nil); err != nil || auth != nil {
		t.Fatalf("no auth: %v %v", auth, err)
	}
}

// Package openapi turns an OpenAPI 3.0 or 3.1, or Swagger 2.0, description (JSON or YAML) into
// tools, one per operation, and one operation plus its arguments into an *http.Request.
//
// Why this package exists: Dify's API tools accept only OpenAPI 3.0 with string, number and
// boolean parameters, servers[0], and api_key auth; users ask for 3.1, request bodies, arrays
// and objects, several servers, bearer and basic auth. Parsing is done by kin-openapi (chosen
// over libopenapi because it reads 3.0 and 3.1 into one model and converts Swagger 2 into it,
// so there is one code path here; its 3.1 support covers type arrays, const, examples,
// prefixItems, numeric exclusive bounds, $ref siblings and boolean schemas, which is what tool
// inputs need). Nothing is hand-parsed; this package only decides how an operation becomes a
// tool: its name (operationId, else Dify's path_method rule), one JSON Schema object for all
// its inputs (path, query, header and cookie parameters and the request body), its server and
// its security schemes.
//
// Every input is untrusted: documents are size-capped, external $refs are refused (no file or
// URL is read while loading), and errors name what is wrong and where.
package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
)

// MaxDocumentBytes bounds a description (GitHub's, among the largest public ones, is 13 MB).
const MaxDocumentBytes = 32 << 20

// Kind is the format a description was written in.
type Kind string

const (
	KindOpenAPI30 Kind = "openapi-3.0"
	KindOpenAPI31 Kind = "openapi-3.1"
	KindSwagger20 Kind = "swagger-2.0"
)

// Document is a parsed description.
type Document struct {
	Kind        Kind                      `json:"kind"`
	Title       string                    `json:"title"`
	Description string                    `json:"description,omitempty"`
	Version     string                    `json:"version,omitempty"`
	Servers     []Server                  `json:"servers,omitempty"`
	Security    map[string]SecurityScheme `json:"security_schemes,omitempty"`
	Operations  []*Operation              `json:"operations"`
	// Warnings are things kept going past: renamed duplicates, skipped parts.
	Warnings []string `json:"warnings,omitempty"`
}

// Server is one base URL an API is served from; Variables fill {name} in URL.
type Server struct {
	URL         string                    `json:"url"`
	Description string                    `json:"description,omitempty"`
	Variables   map[string]ServerVariable `json:"variables,omitempty"`
}

// ServerVariable is a {name} of a server URL.
type ServerVariable struct {
	Default     string   `json:"default"`
	Enum        []string `json:"enum,omitempty"`
	Description string   `json:"description,omitempty"`
}

// Resolve is the server's URL with each variable set from values or else its default.
func (s Server) Resolve(values map[string]string) (string, error) {
	out := s.URL
	for name, v := range s.Variables {
		val, ok := values[name]
		if !ok {
			val = v.Default
		} else if len(v.Enum) > 0 && !contains(v.Enum, val) {
			return "", fmt.Errorf("server variable %s=%q: want one of %s", name, val, strings.Join(v.Enum, ", "))
		}
		out = strings.ReplaceAll(out, "{"+name+"}", val)
	}
	if i := strings.Index(out, "{"); i >= 0 {
		return "", fmt.Errorf("server URL %s: variable at %d has no value or default", s.URL, i)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SecurityScheme is how an API wants callers to authenticate.
type SecurityScheme struct {
	Type         string      `json:"type"`                 // apiKey, http, oauth2, openIdConnect, mutualTLS
	In           string      `json:"in,omitempty"`         // apiKey: header, query or cookie
	ParamName    string      `json:"param_name,omitempty"` // apiKey: the header, query or cookie name
	Scheme       string      `json:"scheme,omitempty"`     // http: bearer, basic, ...
	BearerFormat string      `json:"bearer_format,omitempty"`
	Description  string      `json:"description,omitempty"`
	OAuthFlows   []OAuthFlow `json:"oauth_flows,omitempty"` // oauth2: recorded for the OAuth support
	OpenIDURL    string      `json:"openid_connect_url,omitempty"`
}

// OAuthFlow is one OAuth 2 flow of a scheme.
type OAuthFlow struct {
	Flow             string            `json:"flow"` // authorizationCode, clientCredentials, implicit, password
	AuthorizationURL string            `json:"authorization_url,omitempty"`
	TokenURL         string            `json:"token_url,omitempty"`
	RefreshURL       string            `json:"refresh_url,omitempty"`
	Scopes           map[string]string `json:"scopes,omitempty"`
}

// Requirement is one way to satisfy an operation's security: every named scheme together.
type Requirement map[string][]string // scheme name -> scopes

// Operation is one tool.
type Operation struct {
	Name        string `json:"name"`
	OperationID string `json:"operation_id,omitempty"`
	Method      string `json:"method"` // upper case
	Path        string `json:"path"`   // template, as in the document
	Summary     string `json:"summary,omitempty"`
	// Description is the operation's description, else its summary (as Dify does).
	Description string   `json:"description"`
	Deprecated  bool     `json:"deprecated,omitempty"`
	Servers     []Server `json:"servers,omitempty"` // the operation's or path's own, else the document's
	// ServerURL is where BuildRequest sends the call: Servers[0] with its defaults, resolved
	// against the document's URL when relative. Set it to choose another server.
	ServerURL string `json:"server_url"`
	// InputSchema is one JSON Schema object describing every argument.
	InputSchema map[string]any `json:"input_schema"`
	Parameters  []Parameter    `json:"parameters,omitempty"`
	Body        *Body          `json:"body,omitempty"`
	// Security lists the alternatives (any one is enough); empty: no authentication.
	Security []Requirement `json:"security,omitempty"`
}

// Parameter is one path, query, header or cookie parameter and the argument that fills it.
type Parameter struct {
	Arg      string         `json:"arg"`  // name in InputSchema (differs from Name on a clash)
	Name     string         `json:"name"` // name on the wire
	In       string         `json:"in"`   // path, query, header, cookie
	Required bool           `json:"required,omitempty"`
	Style    string         `json:"style"`
	Explode  bool           `json:"explode"`
	Schema   map[string]any `json:"schema"`
}

// Body is the request body and where its arguments come from.
type Body struct {
	ContentType string `json:"content_type"`
	Required    bool   `json:"required,omitempty"`
	// Arg holds the whole body when it is not an object of named fields; else Fields maps each
	// argument to its property (the names differ only on a clash with a parameter).
	Arg    string            `json:"arg,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// ParseError is a description that cannot be used, with the reason per format tried.
type ParseError struct {
	Reason string
}

func (e *ParseError) Error() string { return "openapi: " + e.Reason }

// Parse reads a description from JSON or YAML text. base, when not empty, is the URL the
// description came from; relative server URLs are resolved against it.
func Parse(data []byte, base string) (doc *Document, err error) {
	if len(data) > MaxDocumentBytes {
		return nil, &ParseError{Reason: fmt.Sprintf("description is %d bytes, more than the %d accepted", len(data), MaxDocumentBytes)}
	}
	jsonData, top, err := normalize(data)
	if err != nil {
		return nil, err
	}
	// The library is not expected to panic, but the input is untrusted: a panic is a bad
	// document, not a dead daemon.
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, &ParseError{Reason: fmt.Sprintf("the OpenAPI library failed on this description: %v", p)}
		}
	}()
	var t3 *openapi3.T
	var kind Kind
	switch {
	case top["openapi"] != nil:
		v := fmt.Sprint(top["openapi"])
		switch {
		case strings.HasPrefix(v, "3.0"):
			kind = KindOpenAPI30
		case strings.HasPrefix(v, "3.1"):
			kind = KindOpenAPI31
		default:
			return nil, &ParseError{Reason: fmt.Sprintf("openapi version %q is not supported (3.0 and 3.1 are)", v)}
		}
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		t3, err = loader.LoadFromData(jsonData)
		if err != nil {
			return nil, &ParseError{Reason: fmt.Sprintf("reading the OpenAPI %s description: %v", v, err)}
		}
	case top["swagger"] != nil:
		if v := fmt.Sprint(top["swagger"]); v != "2.0" {
			return nil, &ParseError{Reason: fmt.Sprintf("swagger version %q is not supported (2.0 is)", v)}
		}
		kind = KindSwagger20
		var t2 openapi2.T
		if err := json.Unmarshal(jsonData, &t2); err != nil {
			return nil, &ParseError{Reason: fmt.Sprintf("reading the Swagger 2.0 description: %v", err)}
		}
		loader := openapi3.NewLoader()
		loader.IsExternalRefsAllowed = false
		if t3, err = openapi2conv.ToV3WithLoader(&t2, loader, nil); err != nil {
			return nil, &ParseError{Reason: fmt.Sprintf("converting the Swagger 2.0 description to OpenAPI 3: %v", err)}
		}
	case isPluginManifest(top):
		return nil, &PluginManifestError{URL: pluginManifestURL(top)}
	default:
		return nil, &ParseError{Reason: "neither an OpenAPI 3 (\"openapi\" field), a Swagger 2.0 (\"swagger\" field) description nor an OpenAI plugin manifest"}
	}
	return build(t3, kind, base)
}

// normalize reads JSON or YAML into JSON bytes (what the library reads fastest) and the top
// level fields.
func normalize(data []byte) ([]byte, map[string]any, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, nil, &ParseError{Reason: "the description is empty"}
	}
	if trimmed[0] == '{' {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &top); err == nil {
			out := map[string]any{}
			for _, k := range []string{"openapi", "swagger", "schema_version", "api"} {
				if raw, ok := top[k]; ok {
					var v any
					if json.Unmarshal(raw, &v) == nil {
						out[k] = v
					}
				}
			}
			return trimmed, out, nil
		}
	}
	var v any
	if err := yaml.Unmarshal(trimmed, &v); err != nil {
		return nil, nil, &ParseError{Reason: fmt.Sprintf("the description is neither JSON nor YAML: %v", err)}
	}
	v, err := jsonable(v, 0)
	if err != nil {
		return nil, nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, nil, &ParseError{Reason: fmt.Sprintf("the description is a %T, not an object", v)}
	}
	out, err := json.Marshal(top)
	if err != nil {
		return nil, nil, &ParseError{Reason: fmt.Sprintf("the description cannot be converted to JSON: %v", err)}
	}
	return out, top, nil
}

// jsonable turns YAML's decoded values into JSON's (string map keys: YAML allows `200:`).
func jsonable(v any, depth int) (any, error) {
	if depth > 1000 {
		return nil, &ParseError{Reason: "the description nests more than 1000 levels"}
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			j, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[k] = j
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			j, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = j
		}
		return m, nil
	case []any:
		for i, e := range x {
			j, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			x[i] = j
		}
		return x, nil
	}
	return v, nil
}

var methods = []string{"get", "post", "put", "delete", "patch", "head", "options", "trace"}

// notNameChar is what Dify removes from a path to make a tool name (^[a-zA-Z0-9_-]).
var notNameChar = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// fallbackName is Dify's name for an operation without an operationId: the path without its
// leading slash and without characters outside [a-zA-Z0-9_-], then "_" and the lower-case
// method. For the path "/" Dify uses a random UUID; here it is "root", so a re-import gives
// the same name.
func fallbackName(path, method string) string {
	p := notNameChar.ReplaceAllString(strings.TrimPrefix(path, "/"), "")
	if p == "" {
		p = "root"
	}
	return p + "_" + strings.ToLower(method)
}

func build(t *openapi3.T, kind Kind, base string) (*Document, error) {
	doc := &Document{Kind: kind, Security: map[string]SecurityScheme{}}
	if t.Info != nil {
		doc.Title, doc.Description, doc.Version = t.Info.Title, t.Info.Description, t.Info.Version
	}
	doc.Servers = servers(t.Servers)
	if t.Components != nil {
		for name, ref := range t.Components.SecuritySchemes {
			if ref == nil || ref.Value == nil {
				continue
			}
			doc.Security[name] = securityScheme(ref.Value)
		}
	}
	if t.Paths == nil || t.Paths.Len() == 0 {
		return nil, &ParseError{Reason: "the description has no paths, so no operation to make a tool of"}
	}
	conv := newSchemaConverter()
	names := map[string]int{}
	paths := t.Paths.Keys()
	sort.Strings(paths)
	for _, path := range paths {
		item := t.Paths.Value(path)
		if item == nil {
			continue
		}
		for _, m := range methods {
			op := item.GetOperation(strings.ToUpper(m))
			if op == nil {
				continue
			}
			o, err := buildOperation(t, doc, conv, path, m, item, op, base)
			if err != nil {
				return nil, err
			}
			if n := names[o.Name]; n > 0 {
				renamed := o.Name + "_" + strconv.Itoa(n+1)
				doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s %s: tool name %q is taken, named %q", strings.ToUpper(m), path, o.Name, renamed))
				names[o.Name]++
				o.Name = renamed
			}
			names[o.Name]++
			doc.Operations = append(doc.Operations, o)
		}
	}
	if len(doc.Operations) == 0 {
		return nil, &ParseError{Reason: "the description's paths have no operations"}
	}
	return doc, nil
}

func servers(list openapi3.Servers) []Server {
	var out []Server
	for _, s := range list {
		if s == nil {
			continue
		}
		srv := Server{URL: s.URL, Description: s.Description}
		if len(s.Variables) > 0 {
			srv.Variables = map[string]ServerVariable{}
			for name, v := range s.Variables {
				if v == nil {
					continue
				}
				srv.Variables[name] = ServerVariable{Default: v.Default, Enum: v.Enum, Description: v.Description}
			}
		}
		out = append(out, srv)
	}
	return out
}

func securityScheme(s *openapi3.SecurityScheme) SecurityScheme {
	out := SecurityScheme{Type: s.Type, In: s.In, ParamName: s.Name, Scheme: strings.ToLower(s.Scheme),
		BearerFormat: s.BearerFormat, Description: s.Description, OpenIDURL: s.OpenIdConnectUrl}
	if f := s.Flows; f != nil {
		for _, x := range []struct {
			name string
			flow *openapi3.OAuthFlow
		}{{"authorizationCode", f.AuthorizationCode}, {"clientCredentials", f.ClientCredentials}, {"implicit", f.Implicit}, {"password", f.Password}} {
			if x.flow != nil {
				out.OAuthFlows = append(out.OAuthFlows, OAuthFlow{Flow: x.name, AuthorizationURL: x.flow.AuthorizationURL,
					TokenURL: x.flow.TokenURL, RefreshURL: x.flow.RefreshURL, Scopes: x.flow.Scopes})
			}
		}
	}
	return out
}

// resolveServer is the operation's default URL: its first server with variable defaults,
// resolved against base when relative; "" when there is none to be had.
func resolveServer(list []Server, base string) (string, error) {
	if len(list) == 0 {
		if base == "" {
			return "", nil
		}
		list = []Server{{URL: "/"}}
	}
	u, err := list[0].Resolve(nil)
	if err != nil {
		return "", err
	}
	if parsed, err := url.Parse(u); err == nil && !parsed.IsAbs() && base != "" {
		b, err := url.Parse(base)
		if err != nil {
			return "", fmt.Errorf("base URL %q: %w", base, err)
		}
		u = b.ResolveReference(parsed).String()
	}
	return u, nil
}

var argOrder = map[string]int{"path": 0, "query": 1, "header": 2, "cookie": 3}

func buildOperation(t *openapi3.T, doc *Document, conv *schemaConverter, path, method string, item *openapi3.PathItem, op *openapi3.Operation, base string) (*Operation, error) {
	where := strings.ToUpper(method) + " " + path
	o := &Operation{
		OperationID: op.OperationID,
		Method:      strings.ToUpper(method),
		Path:        path,
		Summary:     op.Summary,
		Description: op.Description,
		Deprecated:  op.Deprecated,
	}
	o.Name = op.OperationID
	if o.Name == "" {
		o.Name = fallbackName(path, method)
	}
	if o.Description == "" {
		o.Description = op.Summary
	}
	switch {
	case op.Servers != nil && len(*op.Servers) > 0:
		o.Servers = servers(*op.Servers)
	case len(item.Servers) > 0:
		o.Servers = servers(item.Servers)
	default:
		o.Servers = doc.Servers
	}
	var err error
	if o.ServerURL, err = resolveServer(o.Servers, base); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", where, err)
	}
	sec := t.Security
	if op.Security != nil {
		sec = *op.Security
	}
	for _, req := range sec {
		r := Requirement{}
		for name, scopes := range req {
			r[name] = scopes
		}
		o.Security = append(o.Security, r)
	}

	// Parameters: the path item's, overridden by the operation's with the same name and place.
	type key struct{ name, in string }
	byKey := map[key]*openapi3.Parameter{}
	var order []key
	for _, list := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, ref := range list {
			if ref == nil || ref.Value == nil {
				continue
			}
			p := ref.Value
			k := key{p.Name, p.In}
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			byKey[k] = p
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return argOrder[order[i].in] < argOrder[order[j].in] })

	props := map[string]any{}
	var required []string
	taken := func(name string) bool { _, ok := props[name]; return ok }
	for _, k := range order {
		p := byKey[k]
		if p.In == "header" && isReservedHeader(p.Name) {
			// OpenAPI says Accept, Content-Type and Authorization parameters are ignored.
			continue
		}
		if _, ok := argOrder[p.In]; !ok {
			return nil, &ParseError{Reason: fmt.Sprintf("%s: parameter %q is in %q, not path, query, header or cookie", where, p.Name, p.In)}
		}
		arg := p.Name
		if taken(arg) {
			arg = p.In + "_" + p.Name
			for taken(arg) {
				arg = "_" + arg
			}
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: %s parameter %q shares its name with another; its argument is %q", where, p.In, p.Name, arg))
		}
		schemaRef := p.Schema
		if schemaRef == nil {
			for _, mt := range p.Content {
				if mt != nil {
					schemaRef = mt.Schema
				}
				break
			}
		}
		s := conv.ref(schemaRef)
		if p.Description != "" && s["description"] == nil {
			s = withDescription(s, p.Description)
		}
		style, explode := paramStyle(p)
		required := p.Required || p.In == "path"
		o.Parameters = append(o.Parameters, Parameter{Arg: arg, Name: p.Name, In: p.In, Required: required, Style: style, Explode: explode, Schema: s})
		props[arg] = s
	}
	for _, p := range o.Parameters {
		if p.Required {
			required = append(required, p.Arg)
		}
		if p.In == "path" && !strings.Contains(path, "{"+p.Name+"}") {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: path parameter %q does not appear in the path", where, p.Name))
		}
	}

	if op.RequestBody != nil && op.RequestBody.Value != nil {
		rb := op.RequestBody.Value
		ct, mt := chooseContent(rb.Content)
		if mt != nil {
			b := &Body{ContentType: ct, Required: rb.Required}
			fields, req, isObject := conv.objectFields(mt.Schema)
			if isObject && ct != "application/octet-stream" && !strings.HasPrefix(ct, "text/") {
				b.Fields = map[string]string{}
				reqSet := map[string]bool{}
				for _, r := range req {
					reqSet[r] = true
				}
				names := make([]string, 0, len(fields))
				for n := range fields {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					arg := n
					if taken(arg) {
						arg = "body_" + n
						for taken(arg) {
							arg = "_" + arg
						}
						doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: body field %q shares its name with a parameter; its argument is %q", where, n, arg))
					}
					b.Fields[arg] = n
					props[arg] = conv.ref(fields[n])
					if reqSet[n] && rb.Required {
						required = append(required, arg)
					}
				}
			} else {
				arg := "body"
				for taken(arg) {
					arg = "_" + arg
				}
				b.Arg = arg
				s := conv.ref(mt.Schema)
				if rb.Description != "" && s["description"] == nil {
					s = withDescription(s, rb.Description)
				}
				props[arg] = s
				if rb.Required {
					required = append(required, arg)
				}
			}
			o.Body = b
		} else if len(rb.Content) > 0 {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: no request body media type plugd can send; the body is left out", where))
		}
	}
	sort.Strings(required)
	o.InputSchema = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o.InputSchema["required"] = required
	}
	return o, nil
}

func withDescription(s map[string]any, d string) map[string]any {
	c := make(map[string]any, len(s)+1)
	for k, v := range s {
		c[k] = v
	}
	c["description"] = d
	return c
}

func isReservedHeader(name string) bool {
	switch strings.ToLower(name) {
	case "accept", "content-type", "authorization":
		return true
	}
	return false
}

// paramStyle is the parameter's serialization style and explode flag with OpenAPI's defaults.
func paramStyle(p *openapi3.Parameter) (string, bool) {
	style := p.Style
	if style == "" {
		switch p.In {
		case "query", "cookie":
			style = "form"
		default:
			style = "simple"
		}
	}
	explode := style == "form"
	if p.Explode != nil {
		explode = *p.Explode
	}
	return style, explode
}

// chooseContent picks the request body media type to send: JSON first, then forms, then text
// or raw bytes.
func chooseContent(content openapi3.Content) (string, *openapi3.MediaType) {
	rank := func(ct string) int {
		base := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
		switch {
		case base == "application/json":
			return 0
		case strings.HasSuffix(base, "+json"):
			return 1
		case base == "application/x-www-form-urlencoded":
			return 2
		case base == "multipart/form-data":
			return 3
		case strings.HasPrefix(base, "text/"):
			return 4
		case base == "application/octet-stream":
			return 5
		case base == "*/*":
			return 6
		}
		return -1
	}
	best, bestRank := "", 99
	for ct := range content {
		if r := rank(ct); r >= 0 && (r < bestRank || r == bestRank && ct < best) {
			best, bestRank = ct, r
		}
	}
	if best == "" {
		return "", nil
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(best, ";")[0]))
	if ct == "*/*" {
		ct = "application/json"
	}
	return ct, content[best]
}

// PluginManifestError is returned for an OpenAI plugin manifest (ai-plugin.json): the
// description itself is at URL, to be fetched (Fetch does it).
type PluginManifestError struct{ URL string }

func (e *PluginManifestError) Error() string {
	return fmt.Sprintf("openapi: this is an OpenAI plugin manifest; its description is at %s", e.URL)
}

func isPluginManifest(top map[string]any) bool {
	api, ok := top["api"].(map[string]any)
	return ok && top["schema_version"] != nil && api["url"] != nil
}

func pluginManifestURL(top map[string]any) string {
	api, _ := top["api"].(map[string]any)
	u, _ := api["url"].(string)
	return u
}

// Doer sends HTTP requests: an *egress.Client, whose guard and size cap apply to the fetch.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Fetch downloads a description from rawURL through client and parses it. An OpenAI plugin
// manifest is followed once to the description it names (Dify's third format), which must be
// of type "openapi".
func Fetch(ctx context.Context, client Doer, rawURL string) (*Document, error) {
	data, err := fetch(ctx, client, rawURL)
	if err != nil {
		return nil, err
	}
	doc, err := Parse(data, rawURL)
	var pm *PluginManifestError
	if errors.As(err, &pm) {
		var m struct {
			API struct {
				Type string `json:"type"`
			} `json:"api"`
		}
		_ = json.Unmarshal(data, &m)
		if m.API.Type != "" && m.API.Type != "openapi" {
			return nil, &ParseError{Reason: fmt.Sprintf("plugin manifest %s: api type %q is not supported (openapi is)", rawURL, m.API.Type)}
		}
		target, perr := url.Parse(pm.URL)
		if perr != nil {
			return nil, &ParseError{Reason: fmt.Sprintf("plugin manifest %s: api url %q: %v", rawURL, pm.URL, perr)}
		}
		b, _ := url.Parse(rawURL)
		next := b.ResolveReference(target).String()
		if data, err = fetch(ctx, client, next); err != nil {
			return nil, err
		}
		doc, err = Parse(data, next)
		if errors.As(err, &pm) {
			return nil, &ParseError{Reason: fmt.Sprintf("plugin manifest %s names another manifest", rawURL)}
		}
	}
	return doc, err
}

func fetch(ctx context.Context, client Doer, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("openapi: fetching %s: %w", rawURL, err)
	}
	req.Header.Set("Accept", "application/json, application/yaml, text/yaml, */*")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("openapi: fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("openapi: fetching %s: HTTP %s", rawURL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("openapi: fetching %s: %w", rawURL, err)
	}
	if len(data) > MaxDocumentBytes {
		return nil, &ParseError{Reason: fmt.Sprintf("description at %s is more than %d bytes", rawURL, MaxDocumentBytes)}
	}
	return data, nil
}

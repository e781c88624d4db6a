// Package apitools makes imported OpenAPI / Swagger descriptions tool providers of the
// catalog: an import turns each operation into a tool (the openapi package parses and builds
// requests), and a call sends the operation's request through the guarded outbound client
// (egress), authenticated with the provider's credentials, answering with the catalog's
// messages: a json message for a JSON object, text for other text, a blob for binary bodies.
package apitools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/openapi"
)

// Doer sends requests: the egress client, whose address guard, timeouts and size cap apply.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Auth types a provider can use; the secret values are the provider's credentials (api_key,
// or username and password for basic).
const (
	AuthNone         = "none"
	AuthAPIKeyHeader = "api_key_header" // Dify's name; Name is the header (default Authorization)
	AuthAPIKeyQuery  = "api_key_query"  // Dify's name; Name is the query parameter (default key)
	AuthBearer       = "bearer"
	AuthBasic        = "basic"
	// AuthSchemes uses the description's own security schemes: each operation is sent with the
	// first of its security requirements the credentials meet, a credential keyed by scheme
	// name (NAME for a key or token, NAME.username and NAME.password for http basic).
	AuthSchemes = "schemes"
	// AuthOAuth2 sends the bearer token of the tenant's OAuth connection of the provider
	// (plugd tools connect), from Caller.Tokens; Name may pick the description's oauth2
	// scheme whose authorizationCode flow gives the endpoints (default: the first).
	AuthOAuth2 = "oauth2"
)

// Auth is how a provider's calls authenticate.
type Auth struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// Config is an api provider's non-secret settings (catalog.Provider.Config).
type Config struct {
	Auth Auth `json:"auth"`
	// ServerURL, when set, replaced every operation's server at import.
	ServerURL string `json:"server_url,omitempty"`
	// SourceURL is where the description was fetched from, if it was.
	SourceURL string `json:"source_url,omitempty"`
	Format    string `json:"format"` // openapi-3.0, openapi-3.1, swagger-2.0
	// Schemes are the description's security schemes, for AuthSchemes.
	Schemes  map[string]openapi.SecurityScheme `json:"schemes,omitempty"`
	Title    string                            `json:"title,omitempty"`
	Warnings []string                          `json:"warnings,omitempty"`
}

// Import is one import request.
type Import struct {
	Name, Label, Description string
	// Schema is the description's text; URL fetches it through the client instead.
	Schema    string
	URL       string
	ServerURL string
	Auth      Auth
	// Credentials: api_key for api_key_header, api_key_query and bearer; username and
	// password for basic.
	Credentials map[string]string
	// Reimport: the provider exists, so credentials may be left out to keep the stored ones.
	Reimport bool
}

// Importer reads descriptions.
type Importer struct{ Client Doer }

// NewProvider reads the description and returns the provider to add, one tool per operation.
func (im Importer) NewProvider(ctx context.Context, req Import) (catalog.NewProvider, error) {
	if req.Reimport && len(req.Credentials) == 0 {
		// The stored credentials stay; only the auth type itself is checked.
		if req.Auth.Type != "" && !knownAuth(req.Auth.Type) {
			return catalog.NewProvider{}, fmt.Errorf("auth type %q: want none, api_key_header, api_key_query, bearer, basic, schemes or oauth2: %w", req.Auth.Type, catalog.ErrInvalid)
		}
	} else if err := checkAuth(req.Auth, req.Credentials); err != nil {
		return catalog.NewProvider{}, err
	}
	var (
		doc *openapi.Document
		err error
	)
	switch {
	case req.Schema != "" && req.URL != "":
		return catalog.NewProvider{}, fmt.Errorf("give the description's text or its URL, not both: %w", catalog.ErrInvalid)
	case req.Schema != "":
		doc, err = openapi.Parse([]byte(req.Schema), "")
	case req.URL != "":
		doc, err = openapi.Fetch(ctx, im.Client, req.URL)
	default:
		return catalog.NewProvider{}, fmt.Errorf("no description given (text or URL): %w", catalog.ErrInvalid)
	}
	if err != nil {
		var pe *openapi.ParseError
		if errors.As(err, &pe) {
			return catalog.NewProvider{}, fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
		}
		return catalog.NewProvider{}, err
	}
	if len(doc.Operations) == 0 {
		return catalog.NewProvider{}, fmt.Errorf("the description has no operations: %w", catalog.ErrInvalid)
	}
	cfg := Config{Auth: req.Auth, ServerURL: req.ServerURL, SourceURL: req.URL, Format: string(doc.Kind), Title: doc.Title, Warnings: doc.Warnings,
		Schemes: doc.Security}
	if cfg.Auth.Type == "" {
		cfg.Auth.Type = AuthNone
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return catalog.NewProvider{}, err
	}
	np := catalog.NewProvider{Kind: catalog.KindAPI, Name: req.Name, Label: req.Label, Description: req.Description, Config: conf, Credentials: req.Credentials}
	if np.Label == "" {
		np.Label = doc.Title
	}
	if np.Description == "" {
		np.Description = doc.Description
	}
	for _, op := range doc.Operations {
		if req.ServerURL != "" {
			op.ServerURL = req.ServerURL
		}
		schema, err := json.Marshal(op.InputSchema)
		if err != nil {
			return catalog.NewProvider{}, fmt.Errorf("operation %s: input schema: %w", op.Name, err)
		}
		opJSON, err := json.Marshal(op)
		if err != nil {
			return catalog.NewProvider{}, fmt.Errorf("operation %s: %w", op.Name, err)
		}
		label := op.Summary
		if label == "" {
			label = op.Name
		}
		np.Tools = append(np.Tools, catalog.Tool{Name: op.Name, Label: label, Description: op.Description,
			InputSchema: schema, Operation: opJSON, Messages: []string{"json", "text", "blob"}})
	}
	return np, nil
}

func checkAuth(a Auth, creds map[string]string) error {
	need := func(keys ...string) error {
		for _, k := range keys {
			if creds[k] == "" {
				return fmt.Errorf("auth %s needs the credential %s: %w", a.Type, k, catalog.ErrInvalid)
			}
		}
		return nil
	}
	switch a.Type {
	case "", AuthNone:
		return nil
	case AuthAPIKeyHeader, AuthAPIKeyQuery, AuthBearer:
		return need("api_key")
	case AuthBasic:
		return need("username", "password")
	case AuthSchemes:
		return nil // which credentials an operation needs is decided per call
	case AuthOAuth2:
		return nil // the token comes from the OAuth connection
	}
	return fmt.Errorf("auth type %q: want none, api_key_header, api_key_query, bearer, basic, schemes or oauth2: %w", a.Type, catalog.ErrInvalid)
}

func knownAuth(t string) bool {
	switch t {
	case AuthNone, AuthAPIKeyHeader, AuthAPIKeyQuery, AuthBearer, AuthBasic, AuthSchemes, AuthOAuth2:
		return true
	}
	return false
}

// credentials is the openapi package's form of a provider's auth.
func credentials(a Auth, creds map[string]string) openapi.Auth {
	switch a.Type {
	case AuthAPIKeyHeader:
		name := a.Name
		if name == "" {
			name = "Authorization"
		}
		return openapi.Auth{{Scheme: openapi.SecurityScheme{Type: "apiKey", In: "header", ParamName: name}, Value: creds["api_key"]}}
	case AuthAPIKeyQuery:
		name := a.Name
		if name == "" {
			name = "key"
		}
		return openapi.Auth{{Scheme: openapi.SecurityScheme{Type: "apiKey", In: "query", ParamName: name}, Value: creds["api_key"]}}
	case AuthBearer:
		return openapi.Auth{{Scheme: openapi.SecurityScheme{Type: "http", Scheme: "bearer"}, Value: creds["api_key"]}}
	case AuthBasic:
		return openapi.Auth{{Scheme: openapi.SecurityScheme{Type: "http", Scheme: "basic"}, Username: creds["username"], Password: creds["password"]}}
	}
	return nil
}

// schemeCredentials are the stored credentials keyed by the description's scheme names: NAME
// for a key or token, NAME.username and NAME.password for http basic.
func schemeCredentials(schemes map[string]openapi.SecurityScheme, creds map[string]string) map[string]openapi.Credential {
	out := map[string]openapi.Credential{}
	for name, s := range schemes {
		if s.Type == "http" && strings.EqualFold(s.Scheme, "basic") {
			if u, p := creds[name+".username"], creds[name+".password"]; u != "" || p != "" {
				out[name] = openapi.Credential{Username: u, Password: p}
			}
		} else if v := creds[name]; v != "" {
			out[name] = openapi.Credential{Value: v}
		}
	}
	return out
}

// Tokens gives the Authorization header of a tenant's OAuth connection of a provider
// (oauth.Manager), refreshed when it expires soon; its error says how to reconnect.
type Tokens interface {
	Authorization(ctx context.Context, tenant, providerID string) (string, error)
}

// Caller calls API tools. Tokens serves providers with auth type oauth2; without it they
// cannot be called.
type Caller struct {
	Client Doer
	Tokens Tokens
}

var _ catalog.Caller = Caller{}

// Call builds the operation's request from the arguments and sends it.
func (c Caller) Call(ctx context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	var cfg Config
	if err := json.Unmarshal(inv.Provider.Config, &cfg); err != nil {
		return nil, fmt.Errorf("api provider %s has an unreadable config: %w", inv.Provider.ID, err)
	}
	var op openapi.Operation
	if err := json.Unmarshal(inv.Tool.Operation, &op); err != nil {
		return nil, fmt.Errorf("tool %s has an unreadable operation: %w", inv.Tool.Name, err)
	}
	auth := credentials(cfg.Auth, inv.Credentials)
	if cfg.Auth.Type == AuthOAuth2 {
		if c.Tokens == nil {
			return nil, fmt.Errorf("api provider %s uses OAuth, which this daemon has not set up: %w", inv.Provider.ID, catalog.ErrNoCaller)
		}
		h, err := c.Tokens.Authorization(ctx, inv.Tenant, inv.Provider.ID)
		if err != nil {
			return nil, err
		}
		auth = openapi.Auth{{Scheme: openapi.SecurityScheme{Type: "apiKey", In: "header", ParamName: "Authorization"}, Value: h}}
	}
	if cfg.Auth.Type == AuthSchemes {
		var err error
		if auth, err = openapi.AuthFor(&op, cfg.Schemes, schemeCredentials(cfg.Schemes, inv.Credentials)); err != nil {
			return nil, fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
		}
	}
	req, err := openapi.BuildRequest(ctx, &op, inv.Arguments, auth)
	if err != nil {
		var ae *openapi.ArgumentError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("%w: %w", err, catalog.ErrInvalid)
		}
		return nil, err
	}
	resp, err := c.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", req.Method, req.URL.Redacted(), err, catalog.ErrCallFailed)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w: %w", req.Method, req.URL.Redacted(), err, catalog.ErrCallFailed)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%s %s answered HTTP %d: %.500s: %w", req.Method, req.URL.Redacted(), resp.StatusCode, body, catalog.ErrCallFailed)
	}
	m, err := message(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, err
	}
	return &one{m: &m}, nil
}

// message turns a response body into one message: a JSON object as json (other JSON and any
// text as text), anything else as a blob.
func message(contentType string, body []byte) (catalog.Message, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	isJSON := mt == "application/json" || strings.HasSuffix(mt, "+json")
	if isJSON || mt == "" {
		var obj map[string]any
		if json.Unmarshal(body, &obj) == nil && obj != nil {
			return catalog.JSONMessage(obj)
		}
	}
	if isJSON || mt == "" || strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+xml") || mt == "application/xml" {
		return catalog.TextMessage(string(body)), nil
	}
	return catalog.BlobMessage(body, mt), nil
}

// one is a stream of one message.
type one struct{ m *catalog.Message }

func (o *one) Next() (catalog.Message, error) {
	if o.m == nil {
		return catalog.Message{}, io.EOF
	}
	m := *o.m
	o.m = nil
	return m, nil
}

func (o *one) Close() { o.m = nil }

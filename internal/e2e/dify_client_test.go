package e2e

// A Go rendering of the plugin-daemon client inside Dify's API server
// (api/core/plugin/impl/base.py and the impl/*.py callers), written from
// shared/reference/dify-api-side.md §1.1-1.5 and nothing else. It sends what Dify sends and
// fails where Dify fails, so a test that passes through it passes for Dify too.
//
// What it reproduces:
//   - paths `plugin/{tenant_id}/...` joined to the base URL, X-Api-Key on every request,
//     X-Plugin-ID on dispatch, JSON bodies with Content-Type application/json, the multipart
//     upload with the file field dify_pkg and the form field verify_signature;
//   - Dify's refusal of paths with a `..` segment;
//   - non-streamed answers: the HTTP status first (non-2xx is an error whose body is never
//     read), then the envelope, a non-zero code decoded as the error JSON, null data refused;
//   - streamed answers: lines, blanks skipped, an optional `data:` prefix stripped, every line
//     an envelope whatever the HTTP status, code -500 decoded as the error JSON and a
//     PluginInvokeError's message decoded once more as the plugin's own error.
// Errors come back as *difyError, named after the Python exception Dify would raise.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
)

// difyClient is one tenant's view of a daemon, as Dify's API server holds it.
type difyClient struct {
	base   string // PLUGIN_DAEMON_URL, e.g. http://127.0.0.1:5002
	key    string // PLUGIN_DAEMON_KEY, sent as X-Api-Key
	tenant string
	hc     *http.Client
}

// newDifyClient makes a client with Dify's HTTP behaviour: no redirects followed (httpx's
// default) and no proxy from the environment (Dify sets trust_env=False).
func newDifyClient(base, key, tenant string) *difyClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 50
	return &difyClient{
		base: strings.TrimRight(base, "/"), key: key, tenant: tenant,
		hc: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// difyError is the exception Dify's client raises, with what it was made from.
type difyError struct {
	// Class is the Python exception class Dify raises: PluginInvokeError,
	// PluginNotFoundError, PluginDaemonClientSideError, PluginDaemonInnerError, ValueError...
	// (for a PluginInvokeError whose inner type Dify knows, the inner type).
	Class   string
	Message string // the exception's text as Dify builds it

	Status int // HTTP status (0 when the request failed)
	// Code, ErrorType and ErrorMessage come from the envelope and its error JSON when they
	// decoded; on the non-streamed path with a non-2xx status Dify never reads them, they are
	// filled for the tests' assertions only.
	Code         int
	ErrorType    string
	ErrorMessage string
	// InnerType and InnerMessage are the plugin's own error inside a PluginInvokeError
	// (Dify's PluginInvokeError.get_error_type / get_error_message).
	InnerType    string
	InnerMessage string
	Raw          []byte // the body or the stream line
	Err          error  // the transport error, if any
}

func (e *difyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Class, e.Message)
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d", e.Status)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *difyError) Unwrap() error { return e.Err }

// asDifyError returns err's *difyError, or nil.
func asDifyError(err error) *difyError {
	var de *difyError
	if errors.As(err, &de) {
		return de
	}
	return nil
}

// envelope is the daemon's answer, validated as Dify's PluginDaemonBasicResponse: an int
// code and a string message are required, data may be null.
type envelope struct {
	Code    int
	Message string
	Data    json.RawMessage // nil when null or absent
}

// parseEnvelope validates one envelope the way pydantic does for Dify: a JSON object with an
// integer code and a string message.
func parseEnvelope(b []byte) (envelope, error) {
	var raw struct {
		Code    *json.Number    `json:"code"`
		Message *string         `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return envelope{}, fmt.Errorf("not a JSON envelope: %w", err)
	}
	if dec.More() {
		return envelope{}, errors.New("not a JSON envelope: data after the object")
	}
	if raw.Code == nil {
		return envelope{}, errors.New("envelope without an integer code")
	}
	code, err := raw.Code.Int64()
	if err != nil || code != int64(int(code)) {
		return envelope{}, fmt.Errorf("envelope code %q is not an integer", raw.Code.String())
	}
	if raw.Message == nil {
		return envelope{}, errors.New("envelope without a string message")
	}
	e := envelope{Code: int(code), Message: *raw.Message}
	if d := bytes.TrimSpace(raw.Data); len(d) > 0 && !bytes.Equal(d, []byte("null")) {
		e.Data = d
	}
	return e, nil
}

// daemonErrorJSON is the error the daemon puts, JSON-encoded, in an envelope's message.
type daemonErrorJSON struct {
	ErrorType string          `json:"error_type"`
	Message   string          `json:"message"`
	Args      json.RawMessage `json:"args"`
}

func parseErrorJSON(s string) (daemonErrorJSON, bool) {
	var e daemonErrorJSON
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.ErrorType == "" {
		return daemonErrorJSON{}, false
	}
	return e, true
}

// sameNameErrors are the daemon error types Dify raises under their own name
// (base.py _handle_plugin_daemon_error).
var sameNameErrors = []string{
	"PluginDaemonInnerError", "PluginDaemonInternalServerError", "PluginDaemonBadRequestError",
	"PluginDaemonNotFoundError", "PluginUniqueIdentifierError", "PluginNotFoundError",
	"PluginDaemonUnauthorizedError", "PluginPermissionDeniedError",
}

// knownInvokeErrors are the plugin error types inside a PluginInvokeError that Dify turns into
// exceptions of their own; every other type stays a PluginInvokeError.
var knownInvokeErrors = []string{
	"InvokeRateLimitError", "InvokeAuthorizationError", "InvokeBadRequestError",
	"InvokeConnectionError", "InvokeServerUnavailableError", "CredentialsValidateFailedError",
	"EndpointSetupFailedError", "TriggerProviderCredentialValidationError",
	"TriggerPluginInvokeError", "TriggerInvokeError", "EventIgnoreError",
	"PluginLLMPollingUnsupportedError",
}

// mapDaemonError fills e's class from the daemon's error JSON as Dify maps it.
func mapDaemonError(e *difyError, de daemonErrorJSON) {
	e.ErrorType, e.ErrorMessage = de.ErrorType, de.Message
	switch {
	case de.ErrorType == "PluginInvokeError":
		e.Class, e.Message = "PluginInvokeError", de.Message
		if inner, ok := parseErrorJSON(de.Message); ok {
			e.InnerType, e.InnerMessage = inner.ErrorType, inner.Message
			if slices.Contains(knownInvokeErrors, inner.ErrorType) {
				e.Class, e.Message = inner.ErrorType, inner.Message
			}
		}
	case slices.Contains(sameNameErrors, de.ErrorType):
		e.Class, e.Message = de.ErrorType, de.Message
	default:
		e.Class = "Exception"
		e.Message = fmt.Sprintf("got unknown error from plugin daemon: %s, message: %s", de.ErrorType, de.Message)
	}
}

// decodeResponse is Dify's handling of a non-streamed answer: the status, the envelope, the
// error JSON, null data. It returns the envelope's data.
func decodeResponse(status int, body []byte) (json.RawMessage, error) {
	e := &difyError{Status: status, Raw: body}
	if env, err := parseEnvelope(body); err == nil { // for the assertions only, see difyError
		e.Code = env.Code
		if de, ok := parseErrorJSON(env.Message); ok {
			e.ErrorType, e.ErrorMessage = de.ErrorType, de.Message
		}
	}
	if status < 200 || status > 299 {
		if status >= 500 {
			e.Class = "PluginDaemonInternalServerError"
		} else {
			e.Class = "PluginDaemonClientSideError"
		}
		e.Message = fmt.Sprintf("HTTP %d from plugin daemon", status)
		return nil, e
	}
	env, err := parseEnvelope(body)
	if err != nil {
		e.Class, e.Message = "ValidationError", err.Error()
		return nil, e
	}
	e.Code = env.Code
	if env.Code != 0 {
		de, ok := parseErrorJSON(env.Message)
		if !ok {
			e.Class, e.Message = "ValueError", fmt.Sprintf("%s, code: %d", env.Message, env.Code)
			return nil, e
		}
		mapDaemonError(e, de)
		return nil, e
	}
	if env.Data == nil {
		e.Class, e.Message = "ValueError", "got empty data from plugin daemon"
		return nil, e
	}
	return env.Data, nil
}

// parseStreamLine is Dify's handling of one line of a streamed answer. skip is true for a
// blank line; otherwise it returns the chunk or the error Dify raises.
func parseStreamLine(line []byte) (data json.RawMessage, skip bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, true, nil
	}
	if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
		line = bytes.TrimSpace(rest)
	}
	e := &difyError{Raw: line, Status: 200}
	env, perr := parseEnvelope(line)
	if perr != nil {
		e.Class, e.Message = "ValueError", string(line)
		var withError struct {
			Error *string `json:"error"`
		}
		if json.Unmarshal(line, &withError) == nil && withError.Error != nil {
			e.Message = *withError.Error
		}
		return nil, false, e
	}
	e.Code = env.Code
	if env.Code != 0 {
		de, ok := parseErrorJSON(env.Message)
		if env.Code == -500 {
			if !ok {
				e.Class, e.Message = "PluginDaemonInnerError", env.Message
				return nil, false, e
			}
			mapDaemonError(e, de)
			return nil, false, e
		}
		if ok { // for the assertions only: Dify raises a ValueError with the raw message
			e.ErrorType, e.ErrorMessage = de.ErrorType, de.Message
		}
		e.Class, e.Message = "ValueError", fmt.Sprintf("plugin daemon: %s, code: %d", env.Message, env.Code)
		return nil, false, e
	}
	if env.Data == nil {
		e.Class, e.Message = "ValueError", "got empty data from plugin daemon"
		return nil, false, e
	}
	return env.Data, false, nil
}

// formBody is a multipart upload: files by field name and plain form fields.
type formBody struct {
	files  map[string]formFile
	fields map[string]string
}

type formFile struct {
	name string
	data []byte
}

// checkPath refuses what Dify's client refuses before sending: paths longer than 4096
// characters and any `..` segment.
func checkPath(path string) error {
	if len(path) > 4096 {
		return fmt.Errorf("path of %d characters is too long", len(path))
	}
	p := path
	for range 8 {
		u, err := url.PathUnescape(p)
		if err != nil || u == p {
			break
		}
		p = u
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("path %q has a .. segment", path)
		}
	}
	return nil
}

// send makes one request to base/path. body is nil, a formBody, or a value sent as JSON.
func (c *difyClient) send(ctx context.Context, method, path string, query url.Values, body any, headers map[string]string) (*http.Response, error) {
	if err := checkPath(path); err != nil {
		return nil, &difyError{Class: "ValueError", Message: err.Error()}
	}
	u := c.base + "/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case formBody:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, k := range sortedKeys(b.fields) {
			if err := mw.WriteField(k, b.fields[k]); err != nil {
				return nil, err
			}
		}
		for _, k := range sortedKeys(b.files) {
			f := b.files[k]
			h := make(textproto.MIMEHeader)
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, k, f.name))
			h.Set("Content-Type", "application/octet-stream")
			w, err := mw.CreatePart(h)
			if err != nil {
				return nil, err
			}
			if _, err := w.Write(f.data); err != nil {
				return nil, err
			}
		}
		if err := mw.Close(); err != nil {
			return nil, err
		}
		rd, contentType = &buf, mw.FormDataContentType()
	default:
		b2, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd, contentType = bytes.NewReader(b2), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Api-Key", c.key)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &difyError{Class: "PluginDaemonInnerError", Code: -500, Message: "Request to Plugin Daemon Service failed", Err: err}
	}
	return resp, nil
}

// readBody reads a response body, undoing the compression Dify's Accept-Encoding allowed
// (Go's transport only does that itself when it chose the header).
func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	r, err := decompressed(resp)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func decompressed(resp *http.Response) (io.Reader, error) {
	switch enc := strings.ToLower(resp.Header.Get("Content-Encoding")); enc {
	case "", "identity":
		return resp.Body, nil
	case "gzip":
		return gzip.NewReader(resp.Body)
	default:
		return nil, fmt.Errorf("response Content-Encoding %q: the test client only undoes gzip", enc)
	}
}

// call is _request_with_plugin_daemon_response: one non-streamed request decoded into T.
func call[T any](ctx context.Context, c *difyClient, method, path string, query url.Values, body any) (T, error) {
	var zero T
	resp, err := c.send(ctx, method, path, query, body, nil)
	if err != nil {
		return zero, err
	}
	b, err := readBody(resp)
	if err != nil {
		return zero, &difyError{Class: "PluginDaemonInnerError", Code: -500, Message: "Request to Plugin Daemon Service failed", Status: resp.StatusCode, Err: err}
	}
	data, err := decodeResponse(resp.StatusCode, b)
	if err != nil {
		return zero, err
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		return zero, &difyError{Class: "ValidationError", Message: err.Error(), Status: resp.StatusCode, Raw: data}
	}
	return out, nil
}

// stream is _request_with_plugin_daemon_response_stream: a streamed dispatch whose chunks
// are decoded into T and handed to each in order. It stops at the first error, returning it.
func stream[T any](ctx context.Context, c *difyClient, path string, headers map[string]string, body any, each func(T) error) error {
	resp, err := c.send(ctx, http.MethodPost, path, nil, body, headers)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r, err := decompressed(resp)
	if err != nil {
		return err
	}
	br := bufio.NewReader(r)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			data, skip, perr := parseStreamLine(line)
			if perr != nil {
				if de := asDifyError(perr); de != nil {
					de.Status = resp.StatusCode
				}
				return perr
			}
			if !skip {
				var chunk T
				if err := json.Unmarshal(data, &chunk); err != nil {
					return &difyError{Class: "ValidationError", Message: err.Error(), Status: resp.StatusCode, Raw: data}
				}
				if err := each(chunk); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &difyError{Class: "PluginDaemonInnerError", Code: -500, Message: "Request to Plugin Daemon Service failed", Status: resp.StatusCode, Err: rerr}
		}
	}
}

// collect runs stream and returns every chunk.
func collect[T any](ctx context.Context, c *difyClient, path string, headers map[string]string, body any) ([]T, error) {
	var out []T
	err := stream(ctx, c, path, headers, body, func(v T) error { out = append(out, v); return nil })
	return out, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *difyClient) p(rest string) string { return "plugin/" + c.tenant + "/" + rest }

// ---- The calls of api/core/plugin/impl/*.py ----

// decodeResult is PluginDecodeResponse.
type decodeResult struct {
	UniqueIdentifier string          `json:"unique_identifier"`
	Manifest         json.RawMessage `json:"manifest"`
	Verification     json.RawMessage `json:"verification"`
}

// uploadPackage is PluginInstaller.upload_pkg.
func (c *difyClient) uploadPackage(ctx context.Context, pkg []byte, verify bool) (decodeResult, error) {
	return call[decodeResult](ctx, c, http.MethodPost, c.p("management/install/upload/package"), nil, formBody{
		files:  map[string]formFile{"dify_pkg": {name: "plugin.difypkg", data: pkg}},
		fields: map[string]string{"verify_signature": fmt.Sprint(verify)},
	})
}

// bundleDependency is PluginBundleDependency (core/plugin/entities/bundle.py): type is one
// of github, marketplace, package, and value the model of that type. Dify validates value
// against the union of the three models; parseBundleDependencies does what that validation
// needs.
type bundleDependency struct {
	Type        string
	Github      *bundleGithub
	Marketplace *bundleMarketplace
	Package     *bundlePackage
}

// bundleGithub is PluginBundleDependency.Github.
type bundleGithub struct {
	RepoAddress string `json:"repo_address"`
	Repo        string `json:"repo"`
	Release     string `json:"release"`
	Packages    string `json:"packages"`
}

// bundleMarketplace is PluginBundleDependency.Marketplace.
type bundleMarketplace struct {
	Organization string `json:"organization"`
	Plugin       string `json:"plugin"`
	Version      string `json:"version"`
}

// bundlePackage is PluginBundleDependency.Package; the manifest is a PluginDeclaration.
type bundlePackage struct {
	UniqueIdentifier string          `json:"unique_identifier"`
	Manifest         json.RawMessage `json:"manifest"`
}

// uploadBundle is PluginInstaller.upload_bundle: the bundle in the multipart field
// dify_bundle, verify_signature as a form field; the answer is [PluginBundleDependency].
func (c *difyClient) uploadBundle(ctx context.Context, bundle []byte, verify bool) ([]bundleDependency, json.RawMessage, error) {
	raw, err := call[json.RawMessage](ctx, c, http.MethodPost, c.p("management/install/upload/bundle"), nil, formBody{
		files:  map[string]formFile{"dify_bundle": {name: "bundle.difybndl", data: bundle}},
		fields: map[string]string{"verify_signature": fmt.Sprint(verify)},
	})
	if err != nil {
		return nil, nil, err
	}
	deps, err := parseBundleDependencies(raw)
	if err != nil {
		return nil, raw, &difyError{Class: "ValidationError", Message: err.Error(), Raw: raw}
	}
	return deps, raw, nil
}

// parseBundleDependencies validates the list as pydantic does: a known type, and a value
// whose required fields are all present strings (the manifest an object).
func parseBundleDependencies(raw json.RawMessage) ([]bundleDependency, error) {
	var items []struct {
		Type  string                     `json:"type"`
		Value map[string]json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	out := make([]bundleDependency, len(items))
	for i, it := range items {
		need := map[string][]string{
			"github":      {"repo_address", "repo", "release", "packages"},
			"marketplace": {"organization", "plugin", "version"},
			"package":     {"unique_identifier"},
		}[it.Type]
		if need == nil {
			return nil, fmt.Errorf("dependencies[%d].type %q is not github, marketplace or package", i, it.Type)
		}
		for _, k := range need {
			var s string
			if err := json.Unmarshal(it.Value[k], &s); err != nil {
				return nil, fmt.Errorf("dependencies[%d].value.%s: a string is required", i, k)
			}
		}
		b, _ := json.Marshal(it.Value)
		d := bundleDependency{Type: it.Type}
		var err error
		switch it.Type {
		case "github":
			d.Github = &bundleGithub{}
			err = json.Unmarshal(b, d.Github)
		case "marketplace":
			d.Marketplace = &bundleMarketplace{}
			err = json.Unmarshal(b, d.Marketplace)
		default:
			var m map[string]any
			if json.Unmarshal(it.Value["manifest"], &m) != nil || m == nil {
				return nil, fmt.Errorf("dependencies[%d].value.manifest: a PluginDeclaration object is required", i)
			}
			d.Package = &bundlePackage{}
			err = json.Unmarshal(b, d.Package)
		}
		if err != nil {
			return nil, fmt.Errorf("dependencies[%d]: %w", i, err)
		}
		out[i] = d
	}
	return out, nil
}

// installStart is PluginInstallTaskStartResponse.
type installStart struct {
	AllInstalled bool   `json:"all_installed"`
	TaskID       string `json:"task_id"`
}

// installFromIdentifiers is PluginInstaller.install_from_identifiers.
func (c *difyClient) installFromIdentifiers(ctx context.Context, uids []string, source string, metas []map[string]any) (installStart, error) {
	return call[installStart](ctx, c, http.MethodPost, c.p("management/install/identifiers"), nil, map[string]any{
		"plugin_unique_identifiers": uids, "source": source, "metas": metas,
	})
}

// upgradePlugin is PluginInstaller.upgrade_plugin.
func (c *difyClient) upgradePlugin(ctx context.Context, oldUID, newUID, source string, meta map[string]any) (installStart, error) {
	return call[installStart](ctx, c, http.MethodPost, c.p("management/install/upgrade"), nil, map[string]any{
		"original_plugin_unique_identifier": oldUID, "new_plugin_unique_identifier": newUID,
		"source": source, "meta": meta,
	})
}

// installTask is PluginInstallTask; raw keeps the JSON for shape checks.
type installTask struct {
	ID               string `json:"id"`
	Status           string `json:"status"`
	TenantID         string `json:"tenant_id"`
	TotalPlugins     int    `json:"total_plugins"`
	CompletedPlugins int    `json:"completed_plugins"`
	Plugins          []struct {
		PluginUniqueIdentifier string            `json:"plugin_unique_identifier"`
		PluginID               string            `json:"plugin_id"`
		Status                 string            `json:"status"`
		Message                string            `json:"message"`
		Icon                   string            `json:"icon"`
		Labels                 map[string]string `json:"labels"`
		Source                 *string           `json:"source"`
	} `json:"plugins"`
}

// fetchTask is PluginInstaller.fetch_plugin_installation_task; it also returns the raw JSON.
func (c *difyClient) fetchTask(ctx context.Context, id string) (installTask, json.RawMessage, error) {
	raw, err := call[json.RawMessage](ctx, c, http.MethodGet, c.p("management/install/tasks/"+id), nil, nil)
	if err != nil {
		return installTask{}, nil, err
	}
	var t installTask
	if err := json.Unmarshal(raw, &t); err != nil {
		return installTask{}, raw, &difyError{Class: "ValidationError", Message: err.Error(), Raw: raw}
	}
	return t, raw, nil
}

// fetchTasks is PluginInstaller.fetch_plugin_installation_tasks.
func (c *difyClient) fetchTasks(ctx context.Context, page, size int) ([]json.RawMessage, error) {
	return call[[]json.RawMessage](ctx, c, http.MethodGet, c.p("management/install/tasks"), pageQuery(page, size), nil)
}

func pageQuery(page, size int) url.Values {
	return url.Values{"page": {fmt.Sprint(page)}, "page_size": {fmt.Sprint(size)}}
}

// pluginList is the paged answer of management/list.
type pluginList struct {
	List  []json.RawMessage `json:"list"`
	Total int               `json:"total"`
}

// listPlugins is PluginInstaller.list_plugins_with_total (Dify asks for page 1 of 256).
func (c *difyClient) listPlugins(ctx context.Context) (pluginList, error) {
	q := pageQuery(1, 256)
	q.Set("response_type", "paged")
	return call[pluginList](ctx, c, http.MethodGet, c.p("management/list"), q, nil)
}

func uidQuery(uid string) url.Values { return url.Values{"plugin_unique_identifier": {uid}} }

// fetchManifest is PluginInstaller.fetch_plugin_manifest.
func (c *difyClient) fetchManifest(ctx context.Context, uid string) (json.RawMessage, error) {
	return call[json.RawMessage](ctx, c, http.MethodGet, c.p("management/fetch/manifest"), uidQuery(uid), nil)
}

// fetchIdentifier is PluginInstaller.fetch_plugin_by_identifier.
func (c *difyClient) fetchIdentifier(ctx context.Context, uid string) (bool, error) {
	return call[bool](ctx, c, http.MethodGet, c.p("management/fetch/identifier"), uidQuery(uid), nil)
}

// decodeFromIdentifier is PluginInstaller.decode_plugin_from_identifier.
func (c *difyClient) decodeFromIdentifier(ctx context.Context, uid string) (decodeResult, error) {
	return call[decodeResult](ctx, c, http.MethodGet, c.p("management/decode/from_identifier"), uidQuery(uid), nil)
}

// readme is PluginReadmeResponse.
type readme struct {
	Content  string `json:"content"`
	Language string `json:"language"`
}

// fetchReadme is PluginInstaller.fetch_plugin_readme.
func (c *difyClient) fetchReadme(ctx context.Context, uid, language string) (readme, error) {
	q := uidQuery(uid)
	q.Set("tenant_id", c.tenant)
	q.Set("language", language)
	return call[readme](ctx, c, http.MethodGet, c.p("management/fetch/readme"), q, nil)
}

// fetchInstallations is PluginInstaller.fetch_plugin_installation_by_ids.
func (c *difyClient) fetchInstallations(ctx context.Context, pluginIDs []string) ([]json.RawMessage, error) {
	return call[[]json.RawMessage](ctx, c, http.MethodPost, c.p("management/installation/fetch/batch"), nil,
		map[string]any{"plugin_ids": pluginIDs})
}

// missingDependency is MissingPluginDependency.
type missingDependency struct {
	PluginUniqueIdentifier string  `json:"plugin_unique_identifier"`
	CurrentIdentifier      *string `json:"current_identifier"`
}

// fetchMissing is PluginInstaller.fetch_missing_dependencies.
func (c *difyClient) fetchMissing(ctx context.Context, uids []string) ([]missingDependency, error) {
	return call[[]missingDependency](ctx, c, http.MethodPost, c.p("management/installation/missing"), nil,
		map[string]any{"plugin_unique_identifiers": uids})
}

// uninstall is PluginInstaller.uninstall.
func (c *difyClient) uninstall(ctx context.Context, installationID string) (bool, error) {
	return call[bool](ctx, c, http.MethodPost, c.p("management/uninstall"), nil,
		map[string]any{"plugin_installation_id": installationID})
}

// toolProvider is PluginToolProviderEntity.
type toolProvider struct {
	Provider               string          `json:"provider"`
	PluginUniqueIdentifier string          `json:"plugin_unique_identifier"`
	PluginID               string          `json:"plugin_id"`
	Declaration            json.RawMessage `json:"declaration"`
}

// fetchToolProviders is PluginToolManager.fetch_tool_providers.
func (c *difyClient) fetchToolProviders(ctx context.Context) ([]toolProvider, error) {
	return call[[]toolProvider](ctx, c, http.MethodGet, c.p("management/tools"), pageQuery(1, 256), nil)
}

// fetchToolProvider is PluginToolManager.fetch_tool_provider.
func (c *difyClient) fetchToolProvider(ctx context.Context, pluginID, provider string) (toolProvider, error) {
	return call[toolProvider](ctx, c, http.MethodGet, c.p("management/tool"), url.Values{
		"provider": {provider}, "plugin_id": {pluginID},
	}, nil)
}

// checkToolsExistence is PluginToolManager's check of management/tools/check_existence.
func (c *difyClient) checkToolsExistence(ctx context.Context, ids [][2]string) ([]bool, error) {
	list := make([]map[string]string, len(ids))
	for i, id := range ids {
		list[i] = map[string]string{"plugin_id": id[0], "provider_name": id[1]}
	}
	return call[[]bool](ctx, c, http.MethodPost, c.p("management/tools/check_existence"), nil,
		map[string]any{"provider_ids": list})
}

// fetchAsset is PluginAssetManager.fetch_asset: raw bytes, any status but 200 an error.
func (c *difyClient) fetchAsset(ctx context.Context, id string) ([]byte, error) {
	return c.rawGet(ctx, c.p("asset/"+id), nil)
}

// extractAsset is PluginAssetManager.extract_asset.
func (c *difyClient) extractAsset(ctx context.Context, uid, file string) ([]byte, error) {
	return c.rawGet(ctx, c.p("extract-asset/"), url.Values{"plugin_unique_identifier": {uid}, "file_path": {file}})
}

func (c *difyClient) rawGet(ctx context.Context, path string, q url.Values) ([]byte, error) {
	resp, err := c.send(ctx, http.MethodGet, path, q, nil, nil)
	if err != nil {
		return nil, err
	}
	b, err := readBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, &difyError{Class: "ValueError", Message: "can not found asset", Status: resp.StatusCode, Raw: b}
	}
	return b, nil
}

// endpoint is EndpointEntityWithInstance, as far as the tests read it.
type endpoint struct {
	ID       string         `json:"id"`
	HookID   string         `json:"hook_id"`
	Enabled  bool           `json:"enabled"`
	Name     string         `json:"name"`
	PluginID string         `json:"plugin_id"`
	TenantID string         `json:"tenant_id"`
	Settings map[string]any `json:"settings"`
}

// setupEndpoint is PluginEndpointClient.create_endpoint.
func (c *difyClient) setupEndpoint(ctx context.Context, userID, uid, name string, settings map[string]any) (bool, error) {
	return call[bool](ctx, c, http.MethodPost, c.p("endpoint/setup"), nil, map[string]any{
		"user_id": userID, "plugin_unique_identifier": uid, "settings": settings, "name": name,
	})
}

// listEndpoints is PluginEndpointClient.list_endpoints; raw keeps the JSON.
func (c *difyClient) listEndpoints(ctx context.Context, page, size int) ([]json.RawMessage, error) {
	return call[[]json.RawMessage](ctx, c, http.MethodGet, c.p("endpoint/list"), pageQuery(page, size), nil)
}

// listPluginEndpoints is PluginEndpointClient.list_endpoints_for_single_plugin.
func (c *difyClient) listPluginEndpoints(ctx context.Context, pluginID string, page, size int) ([]json.RawMessage, error) {
	q := pageQuery(page, size)
	q.Set("plugin_id", pluginID)
	return call[[]json.RawMessage](ctx, c, http.MethodGet, c.p("endpoint/list/plugin"), q, nil)
}

// endpointAction is enable_endpoint and disable_endpoint (and a bare remove).
func (c *difyClient) endpointAction(ctx context.Context, action, endpointID string) (bool, error) {
	return call[bool](ctx, c, http.MethodPost, c.p("endpoint/"+action), nil, map[string]any{"endpoint_id": endpointID})
}

// deleteEndpoint is PluginEndpointClient.delete_endpoint: remove, where a
// PluginDaemonInternalServerError whose description mentions "record not found" (any case)
// counts as success, so that deleting an endpoint twice is not an error. Every other error is
// raised.
func (c *difyClient) deleteEndpoint(ctx context.Context, endpointID string) (bool, error) {
	ok, err := c.endpointAction(ctx, "remove", endpointID)
	if de := asDifyError(err); de != nil && de.Class == "PluginDaemonInternalServerError" &&
		strings.Contains(strings.ToLower(de.Message), "record not found") {
		return true, nil
	}
	return ok, err
}

// toolMessage is ToolInvokeMessage.
type toolMessage struct {
	Type    string          `json:"type"`
	Message json.RawMessage `json:"message"`
	Meta    json.RawMessage `json:"meta"`
}

// toolInvokeBody is the body of PluginToolManager.invoke.
func toolInvokeBody(userID, provider, tool string, credentials, params map[string]any) map[string]any {
	return map[string]any{
		"user_id": userID, "conversation_id": nil, "app_id": nil, "message_id": nil,
		"data": map[string]any{
			"provider": provider, "tool": tool, "credentials": credentials,
			"credential_type": "api-key", "tool_parameters": params,
		},
	}
}

// invokeTool is PluginToolManager.invoke: pluginID is org/plugin, provider the short name.
func (c *difyClient) invokeTool(ctx context.Context, pluginID, provider, tool string, params map[string]any) ([]toolMessage, error) {
	return collect[toolMessage](ctx, c, c.p("dispatch/tool/invoke"), map[string]string{"X-Plugin-ID": pluginID},
		toolInvokeBody("e2e-user", provider, tool, map[string]any{}, params))
}

// validateToolCredentials is PluginToolManager.validate_provider_credentials: the first
// chunk's result.
func (c *difyClient) validateToolCredentials(ctx context.Context, pluginID, provider string, credentials map[string]any) (bool, error) {
	type result struct {
		Result bool `json:"result"`
	}
	chunks, err := collect[result](ctx, c, c.p("dispatch/tool/validate_credentials"), map[string]string{"X-Plugin-ID": pluginID},
		map[string]any{"user_id": "e2e-user", "data": map[string]any{"provider": provider, "credentials": credentials}})
	if err != nil {
		return false, err
	}
	if len(chunks) == 0 {
		return false, &difyError{Class: "ValueError", Message: "no response from plugin daemon"}
	}
	return chunks[0].Result, nil
}

// texts joins the text messages of a tool answer.
func texts(msgs []toolMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		if m.Type != "text" {
			continue
		}
		var t struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m.Message, &t)
		b.WriteString(t.Text)
	}
	return b.String()
}

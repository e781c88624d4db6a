// Package workflow makes a Dify workflow app a tool of the catalog, through Dify's public app
// API (the "service API" an app's API key opens): GET /parameters describes the app's inputs,
// which become the tool's JSON Schema, and POST /workflows/run runs it, blocking (one JSON
// answer) or streaming (server-sent events workflow_started, node_started, node_finished,
// text_chunk, workflow_finished, error, ping). Results come back as the catalog's messages:
// text chunks and node progress (log messages) while streaming, then a link message per file
// output and the other outputs as a text message of their JSON and a json message, as Dify's
// own workflow-as-tool ends.
package workflow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/plugd/plugd/internal/catalog"
)

// Modes of POST /workflows/run.
const (
	Blocking  = "blocking"
	Streaming = "streaming"
)

// CredentialKey is the credential holding the app's API key.
const CredentialKey = "api_key"

// maxAnswer bounds a blocking answer and one streamed event.
const maxAnswer = 16 << 20

// Config is a workflow provider's non-secret settings (catalog.Provider.Config).
type Config struct {
	// BaseURL is the app API's root, e.g. https://api.dify.ai/v1.
	BaseURL string `json:"base_url"`
	// ResponseMode is blocking (default) or streaming.
	ResponseMode string `json:"response_mode,omitempty"`
}

// Doer sends requests: an *http.Client, or the egress client (address guard at connect time,
// timeouts, response size cap), which the daemon uses.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client talks to Dify app APIs through HTTP (nil: http.DefaultClient).
type Client struct {
	HTTP Doer
}

func (c *Client) hc() Doer {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// Input is one variable of the app's start node, from /parameters' user_input_form.
type Input struct {
	Type      string   `json:"type"` // text-input, paragraph, select, number, checkbox, file, file-list, json_object
	Variable  string   `json:"variable"`
	Label     string   `json:"label"`
	Required  bool     `json:"required"`
	MaxLength int      `json:"max_length,omitempty"`
	Default   any      `json:"default,omitempty"`
	Options   []string `json:"options,omitempty"`
}

// App is what describing an app found.
type App struct {
	Name        string
	Description string
	Inputs      []Input
}

// Describe reads the app's inputs (GET /parameters) and, when the API answers it, its name and
// description (GET /info).
func (c *Client) Describe(ctx context.Context, cfg Config, apiKey string) (App, error) {
	if err := cfg.check(); err != nil {
		return App{}, err
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, cfg, apiKey, "parameters", &raw); err != nil {
		return App{}, err
	}
	inputs, err := ParseParameters(raw)
	if err != nil {
		return App{}, fmt.Errorf("GET /parameters: %w", err)
	}
	app := App{Inputs: inputs}
	var info struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := c.getJSON(ctx, cfg, apiKey, "info", &info); err == nil {
		app.Name, app.Description = info.Name, info.Description
	}
	return app, nil
}

// ParseParameters reads the inputs of an app from the answer of GET /parameters: its
// user_input_form, a list of one-key objects {type: {variable, label, required, ...}}.
func ParseParameters(raw []byte) ([]Input, error) {
	var params struct {
		UserInputForm []map[string]json.RawMessage `json:"user_input_form"`
	}
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fmt.Errorf("not the expected JSON: %w", err)
	}
	var inputs []Input
	seen := map[string]bool{}
	for i, item := range params.UserInputForm {
		if len(item) != 1 {
			return nil, fmt.Errorf("user_input_form[%d] has %d keys, want one (the input's type)", i, len(item))
		}
		for typ, raw := range item {
			var in Input
			if err := json.Unmarshal(raw, &in); err != nil {
				return nil, fmt.Errorf("user_input_form[%d] (%s): %w", i, typ, err)
			}
			in.Type = typ
			if in.Variable == "" {
				return nil, fmt.Errorf("user_input_form[%d] (%s) has no variable", i, typ)
			}
			if seen[in.Variable] {
				return nil, fmt.Errorf("user_input_form[%d]: variable %q appears twice", i, in.Variable)
			}
			seen[in.Variable] = true
			inputs = append(inputs, in)
		}
	}
	return inputs, nil
}

// NewProvider describes the app and returns the provider to add: one tool, named name, whose
// inputs are the app's.
func (c *Client) NewProvider(ctx context.Context, name, label, description string, cfg Config, apiKey string) (catalog.NewProvider, error) {
	app, err := c.Describe(ctx, cfg, apiKey)
	if err != nil {
		return catalog.NewProvider{}, err
	}
	if label == "" {
		label = app.Name
	}
	if description == "" {
		description = app.Description
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return catalog.NewProvider{}, err
	}
	return catalog.NewProvider{
		Kind: catalog.KindWorkflow, Name: name, Label: label, Description: description, Config: conf,
		Credentials: map[string]string{CredentialKey: apiKey},
		Tools: []catalog.Tool{{Name: name, Label: label, Description: description, InputSchema: InputSchema(app.Inputs),
			Messages: []string{"text", "json", "log", "link"}}},
	}, nil
}

// InputSchema is the JSON Schema of an app's inputs, with Dify's variable types mapped as its
// workflow-as-tool maps them to tool parameters.
func InputSchema(inputs []Input) json.RawMessage {
	props := map[string]any{}
	required := []string{}
	for _, in := range inputs {
		s := map[string]any{}
		switch in.Type {
		case "text-input", "paragraph":
			s["type"] = "string"
			if in.MaxLength > 0 {
				s["maxLength"] = in.MaxLength
			}
		case "select":
			s["type"] = "string"
			s["enum"] = in.Options
		case "number":
			s["type"] = "number"
		case "checkbox":
			s["type"] = "boolean"
		case "file":
			s["type"] = "object"
		case "file-list":
			s["type"] = "array"
			s["items"] = map[string]any{"type": "object"}
		case "json_object":
			s["type"] = "object"
		}
		if in.Label != "" {
			s["title"] = in.Label
		}
		if in.Default != nil && in.Default != "" {
			s["default"] = in.Default
		}
		props[in.Variable] = s
		if in.Required {
			required = append(required, in.Variable)
		}
	}
	b, _ := json.Marshal(map[string]any{"type": "object", "properties": props, "required": required})
	return b
}

func (cfg Config) check() error {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("workflow base URL %q: want http(s)://host/v1: %w", cfg.BaseURL, catalog.ErrInvalid)
	}
	switch cfg.ResponseMode {
	case "", Blocking, Streaming:
	default:
		return fmt.Errorf("response mode %q: want blocking or streaming: %w", cfg.ResponseMode, catalog.ErrInvalid)
	}
	return nil
}

func (cfg Config) endpoint(path string) string {
	return strings.TrimRight(cfg.BaseURL, "/") + "/" + path
}

func (c *Client) getJSON(ctx context.Context, cfg Config, apiKey, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.endpoint(path), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := c.hc().Do(req)
	if err != nil {
		return fmt.Errorf("GET /%s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("GET /%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /%s: %w", path, apiError(resp.StatusCode, body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET /%s: the answer is not the expected JSON: %w", path, err)
	}
	return nil
}

// apiError reads Dify's error body {code, message, status}.
func apiError(status int, body []byte) error {
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return fmt.Errorf("Dify answered HTTP %d %s: %s: %w", status, e.Code, e.Message, catalog.ErrCallFailed)
	}
	return fmt.Errorf("Dify answered HTTP %d: %.200s: %w", status, body, catalog.ErrCallFailed)
}

// Caller runs workflow tools.
type Caller struct{ Client *Client }

var _ catalog.Caller = Caller{}

// Call runs the app with the arguments as its inputs.
func (c Caller) Call(ctx context.Context, inv catalog.Invocation) (catalog.Stream, error) {
	var cfg Config
	if err := json.Unmarshal(inv.Provider.Config, &cfg); err != nil {
		return nil, fmt.Errorf("workflow provider %s has an unreadable config: %w", inv.Provider.ID, err)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	key := inv.Credentials[CredentialKey]
	if key == "" {
		return nil, fmt.Errorf("workflow provider %s has no %s credential: %w", inv.Provider.ID, CredentialKey, catalog.ErrInvalid)
	}
	return c.Client.Run(ctx, cfg, key, inv.Arguments, userOf(inv))
}

func userOf(inv catalog.Invocation) string {
	if inv.UserID != "" {
		return inv.UserID
	}
	return "plugd-" + inv.Tenant
}

// Run posts /workflows/run in the config's mode and returns the results as messages.
func (c *Client) Run(ctx context.Context, cfg Config, apiKey string, inputs map[string]any, user string) (catalog.Stream, error) {
	mode := cfg.ResponseMode
	if mode == "" {
		mode = Blocking
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{"inputs": inputs, "response_mode": mode, "user": user})
	if err != nil {
		return nil, fmt.Errorf("encoding the inputs: %w: %w", err, catalog.ErrInvalid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.endpoint("workflows/run"), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc().Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /workflows/run: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("POST /workflows/run: %w", apiError(resp.StatusCode, b))
	}
	if mode == Streaming {
		return &eventStream{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("POST /workflows/run: reading the answer: %w", err)
	}
	if len(raw) > maxAnswer {
		return nil, fmt.Errorf("POST /workflows/run: the answer is larger than %d bytes: %w", maxAnswer, catalog.ErrCallFailed)
	}
	var ans struct {
		WorkflowRunID string   `json:"workflow_run_id"`
		Data          finished `json:"data"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("POST /workflows/run: the answer is not a workflow result: %w", err)
	}
	// A failed run comes through the stream, as in streaming mode.
	msgs, err := ans.Data.messages()
	return &listStream{msgs: msgs, err: err}, nil
}

// finished is the data of a blocking answer and of the workflow_finished event.
type finished struct {
	ID      string         `json:"id"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	Error   *string        `json:"error"`
}

// messages are the final messages of a run: a link message per file among its outputs, then
// the other outputs as text (their JSON) and as json, or the failure. Files are taken out of
// the outputs as Dify's own workflow-as-tool does, so a caller gets each as a link it can fetch
// (with its name and type in meta) rather than a file object buried in the JSON.
func (f finished) messages() ([]catalog.Message, error) {
	if f.Status != "succeeded" {
		msg := ""
		if f.Error != nil {
			msg = *f.Error
		}
		return nil, fmt.Errorf("workflow run %s ended %s: %s: %w", f.ID, f.Status, msg, catalog.ErrCallFailed)
	}
	outputs := map[string]any{}
	var msgs []catalog.Message
	for k, v := range f.Outputs {
		files, ok := outputFiles(v)
		if !ok {
			outputs[k] = v
			continue
		}
		for _, fl := range files {
			msgs = append(msgs, fl.message())
		}
	}
	text, err := json.Marshal(outputs)
	if err != nil {
		return nil, err
	}
	jm, err := catalog.JSONMessage(outputs)
	if err != nil {
		return nil, err
	}
	return append(msgs, catalog.TextMessage(string(text)), jm), nil
}

// fileIdentity marks a file object in a workflow's outputs (Dify's File model serialised).
const fileIdentity = "__dify__file__"

// outputFile is the part of a Dify file object a caller needs to fetch it.
type outputFile struct {
	URL       string `json:"url"`
	RemoteURL string `json:"remote_url"`
	Filename  string `json:"filename"`
	MimeType  string `json:"mime_type"`
	Size      int64  `json:"size"`
}

// outputFiles reports whether v is one file object or a non-empty list of only file objects,
// and returns them.
func outputFiles(v any) ([]outputFile, bool) {
	one := func(x any) (outputFile, bool) {
		m, ok := x.(map[string]any)
		if !ok || m["dify_model_identity"] != fileIdentity {
			return outputFile{}, false
		}
		b, err := json.Marshal(m)
		var f outputFile
		if err != nil || json.Unmarshal(b, &f) != nil {
			return outputFile{}, false
		}
		if f.URL == "" {
			f.URL = f.RemoteURL
		}
		return f, f.URL != ""
	}
	if f, ok := one(v); ok {
		return []outputFile{f}, true
	}
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	files := make([]outputFile, 0, len(list))
	for _, x := range list {
		f, ok := one(x)
		if !ok {
			return nil, false
		}
		files = append(files, f)
	}
	return files, true
}

func (f outputFile) message() catalog.Message {
	b, _ := json.Marshal(map[string]string{"text": f.URL})
	meta, _ := json.Marshal(map[string]any{"filename": f.Filename, "mime_type": f.MimeType, "size": f.Size})
	return catalog.Message{Type: "link", Message: b, Meta: meta}
}

// listStream hands out messages known in advance.
type listStream struct {
	msgs []catalog.Message
	err  error // returned after the messages; nil is io.EOF
}

func (s *listStream) Next() (catalog.Message, error) {
	if len(s.msgs) == 0 {
		if s.err != nil {
			return catalog.Message{}, s.err
		}
		return catalog.Message{}, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func (s *listStream) Close() { s.msgs = nil }

// eventStream reads a streaming run's events as they come.
type eventStream struct {
	body    io.ReadCloser
	r       *bufio.Reader
	pending []catalog.Message
	done    bool
}

// event is one streamed event of Dify's app API.
type event struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	// error events carry these at the top level.
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *eventStream) Next() (catalog.Message, error) {
	for {
		if len(s.pending) > 0 {
			m := s.pending[0]
			s.pending = s.pending[1:]
			return m, nil
		}
		if s.done {
			return catalog.Message{}, io.EOF
		}
		line, err := readLine(s.r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return catalog.Message{}, fmt.Errorf("workflow stream ended before workflow_finished: %w", catalog.ErrCallFailed)
			}
			return catalog.Message{}, fmt.Errorf("reading the workflow stream: %w", err)
		}
		payload, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue // blank separators, event: ping, comments
		}
		payload = strings.TrimSpace(payload)
		if payload == "" {
			continue
		}
		msgs, end, err := ParseEvent([]byte(payload))
		if err != nil {
			return catalog.Message{}, err
		}
		s.pending = append(s.pending, msgs...)
		if end {
			s.done = true
			s.body.Close()
		}
	}
}

func (s *eventStream) Close() { s.body.Close() }

// ParseEvent turns one streamed event into messages; end is true for workflow_finished. An
// error event or a failed run is an error wrapping catalog.ErrCallFailed.
func ParseEvent(payload []byte) (msgs []catalog.Message, end bool, err error) {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, false, fmt.Errorf("workflow stream: an event is not JSON: %.80q", payload)
	}
	switch ev.Event {
	case "text_chunk":
		var d struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, false, fmt.Errorf("workflow stream: text_chunk: %w", err)
		}
		return []catalog.Message{catalog.TextMessage(d.Text)}, false, nil
	case "node_started", "node_finished":
		var d struct {
			ID     string `json:"id"`
			NodeID string `json:"node_id"`
			Type   string `json:"node_type"`
			Title  string `json:"title"`
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return nil, false, fmt.Errorf("workflow stream: %s: %w", ev.Event, err)
		}
		status := "start"
		if ev.Event == "node_finished" {
			status = "success"
			if d.Status != "succeeded" {
				status = "error"
			}
		}
		b, _ := json.Marshal(map[string]any{"id": d.ID, "label": orStr(d.Title, d.NodeID), "parent_id": nil, "error": d.Error,
			"status": status, "data": map[string]string{"node_id": d.NodeID, "node_type": d.Type}, "metadata": map[string]any{}})
		return []catalog.Message{{Type: "log", Message: b}}, false, nil
	case "workflow_finished":
		var f finished
		if err := json.Unmarshal(ev.Data, &f); err != nil {
			return nil, false, fmt.Errorf("workflow stream: workflow_finished: %w", err)
		}
		msgs, err := f.messages()
		return msgs, true, err
	case "error":
		return nil, false, fmt.Errorf("workflow stream error (HTTP %d %s): %s: %w", ev.Status, ev.Code, ev.Message, catalog.ErrCallFailed)
	}
	return nil, false, nil // workflow_started, ping, iteration and agent events: nothing to pass on
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readLine reads one line of at most maxAnswer bytes, without its end.
func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if b.Len() > 0 && errors.Is(err, io.EOF) {
				return b.String(), nil
			}
			return "", err
		}
		b.Write(chunk)
		if b.Len() > maxAnswer {
			return "", fmt.Errorf("a streamed event is larger than %d bytes", maxAnswer)
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}

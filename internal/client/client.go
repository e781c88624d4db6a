// Package client calls a running plugin daemon (plugd serve, or the reference daemon) over
// its Dify-compatible HTTP API, for the CLI's install, list, uninstall and invoke commands.
// It speaks exactly what Dify's API server speaks: the same paths, the X-Api-Key header, the
// {code, message, data} envelope and `data:` event streams, so it works against either daemon.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxBody bounds a non-streamed answer. A full page of the plugin list carries every
// plugin's declaration; 64 MiB is far above that and still protects the CLI from a server
// (or a proxy) that never stops sending.
const maxBody = 64 << 20

// Client talks to one daemon as one tenant. It is safe for concurrent use.
type Client struct {
	base   string
	key    string
	tenant string
	hc     *http.Client
}

// New returns a client of the daemon at baseURL (e.g. http://127.0.0.1:5002) that
// authenticates with key and acts for tenant. hc nil means a client without an overall
// timeout: dispatch streams legitimately run for minutes, so deadlines come from ctx.
func New(baseURL, key, tenant string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: key, tenant: tenant, hc: hc}
}

// APIError is an error answer of the daemon. Management routes answer HTTP 200 with a
// negative Code; authentication and dispatch failures also use a real HTTP status.
type APIError struct {
	HTTPStatus int
	Code       int    // the envelope's code: -400, -401, -403, -404 or -500; 0 when the answer was no envelope
	Type       string // the daemon's error_type, e.g. PluginDaemonBadRequestError or PluginInvokeError
	Message    string
	// PluginType is the plugin's own error class (ValueError, InvokeRateLimitError, ...)
	// when Type is PluginInvokeError and the daemon passed the plugin's error on.
	PluginType string
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	if e.PluginType != "" {
		b.WriteString(e.PluginType)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if b.Len() == 0 {
		fmt.Fprintf(&b, "the daemon answered an error without a message (code %d)", e.Code)
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	return b.String()
}

// Unauthorized reports whether the daemon refused the key.
func (e *APIError) Unauthorized() bool {
	return e.Code == -401 || e.HTTPStatus == http.StatusUnauthorized
}

// envelope is the daemon's answer format.
type envelope struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// errorMessage is what an error envelope's message holds, itself as a JSON string.
type errorMessage struct {
	Message   string `json:"message"`
	ErrorType string `json:"error_type"`
}

// decodeEnvelope turns one answer (a whole body, or one event of a stream) into its data or
// an *APIError.
func decodeEnvelope(status int, body []byte) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Code == nil || string(env.Code) == "null" {
		msg := snippet(body)
		if msg == "" {
			msg = http.StatusText(status)
		}
		if status == http.StatusOK {
			msg = "the answer is not a plugin daemon envelope (is the URL right?): " + msg
		}
		return nil, &APIError{HTTPStatus: status, Message: msg}
	}
	var code int
	if err := json.Unmarshal(env.Code, &code); err != nil {
		// The router's own answers use a string code: {"code":"not_found","message":"route not found"}.
		var s string
		_ = json.Unmarshal(env.Code, &s)
		return nil, &APIError{HTTPStatus: status, Type: s, Message: env.Message}
	}
	if code != 0 {
		e := &APIError{HTTPStatus: status, Code: code}
		e.Type, e.Message, e.PluginType = parseErrorMessage(env.Message)
		return nil, e
	}
	if status < 200 || status > 299 {
		return nil, &APIError{HTTPStatus: status, Message: "success envelope with an error status"}
	}
	if env.Data == nil {
		return json.RawMessage("null"), nil
	}
	return env.Data, nil
}

// parseErrorMessage unwraps an error envelope's message: JSON {message, error_type, args};
// for PluginInvokeError the message is once more the JSON of the plugin's own error. Anything
// that does not parse is kept as plain text.
func parseErrorMessage(raw string) (typ, msg, pluginType string) {
	var outer errorMessage
	if err := json.Unmarshal([]byte(raw), &outer); err != nil || (outer.ErrorType == "" && outer.Message == "") {
		return "", raw, ""
	}
	typ, msg = outer.ErrorType, outer.Message
	if typ == "PluginInvokeError" {
		var inner errorMessage
		if err := json.Unmarshal([]byte(msg), &inner); err == nil && inner.ErrorType != "" {
			return typ, inner.Message, inner.ErrorType
		}
	}
	return typ, msg, ""
}

// snippet is the start of a body that is not an envelope, for error messages.
func snippet(body []byte) string {
	const n = 200
	s := strings.TrimSpace(string(body))
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// tenantURL is the URL of a path under /plugin/{tenant}/.
func (c *Client) tenantURL(path string, query url.Values) string {
	u := c.base + "/plugin/" + url.PathEscape(c.tenant) + "/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

func (c *Client) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Api-Key", c.key)
	return req, nil
}

// call sends a request to a management route and decodes the envelope's data into out.
func (c *Client) call(req *http.Request, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("%s %s: the answer is larger than %d MiB", req.Method, req.URL.Path, maxBody>>20)
	}
	data, err := decodeEnvelope(resp.StatusCode, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.tenantURL(path, query), nil)
	if err != nil {
		return err
	}
	return c.call(req, out)
}

func (c *Client) postJSON(ctx context.Context, path string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.tenantURL(path, nil), bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.call(req, out)
}

// IsNotFound reports whether err is the daemon saying a plugin, task or installation does
// not exist.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Code == -404 || e.HTTPStatus == http.StatusNotFound)
}

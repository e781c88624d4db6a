// Package difyapi is a client for Dify's inner API, the routes under /inner/api through which
// the daemon answers a plugin's calls into Dify (backwards invocations) and has endpoint
// settings encrypted.
//
// Dify answers a unary route with one JSON object {"data": ..., "error": ""} and a streaming
// route with length-prefixed binary frames whose payloads are such objects. Dify reports its
// own failures inside that object with HTTP 200, and a wrong key with HTTP 404, so the client
// reads every answer with suspicion: each failure says which route, what Dify said and, for
// the 404, which setting to check.
package difyapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Defaults of Config, the reference daemon's values.
const (
	DefaultReadTimeout  = 240 * time.Second // DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT
	DefaultWriteTimeout = 5 * time.Second   // DIFY_BACKWARDS_INVOCATION_WRITE_TIMEOUT
	DefaultMaxFrame     = 30 << 20          // RESPONSE_MAX_BUFFER_SIZE
)

// KeyHeader carries the inner API key (Dify's INNER_API_KEY_FOR_PLUGIN).
const KeyHeader = "X-Inner-Api-Key"

var (
	// ErrAuth is Dify refusing the key. Dify answers 404 rather than 401 (it hides the inner
	// API), so a wrong base URL looks the same.
	ErrAuth = errors.New("Dify inner API auth failed")
	// ErrStatus is an HTTP status other than 200 (ErrAuth for 404).
	ErrStatus = errors.New("Dify inner API answered an HTTP error")
	// ErrProtocol is an answer that is not what Dify sends: not JSON, no data, ...
	ErrProtocol = errors.New("unexpected answer from Dify inner API")
	// ErrBadFrame is a stream whose bytes do not follow the frame layout.
	ErrBadFrame = errors.New("bad length-prefixed frame")
	// ErrFrameTooLarge is a frame (or unary answer) larger than Config.MaxFrame.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrTimeout is Config.ReadTimeout or Config.WriteTimeout running out. Errors carrying
	// it also match context.DeadlineExceeded.
	ErrTimeout = errors.New("Dify inner API timed out")
)

// Config says where Dify is and how long to wait for it. Zero durations and sizes mean the
// defaults above.
type Config struct {
	BaseURL string       // DIFY_INNER_API_URL: http(s)://host[:port][/prefix]; "/inner/api/" is appended
	Key     string       // DIFY_INNER_API_KEY, sent as X-Inner-Api-Key
	HTTP    *http.Client // nil: a client of its own; its Timeout, if any, must allow for streams
	// ReadTimeout bounds a whole call, from sending the request to the last byte of the
	// answer. It ends the HTTP request, so Dify sees the connection close and stops working.
	ReadTimeout time.Duration
	// WriteTimeout bounds connecting and handing the request to the connection (for a large
	// body, such as a speech2text file, that is sending it). It does not cover waiting for
	// the answer's headers: Dify sends a unary answer's headers only once the work (an
	// embedding, an LLM-driven node) is done, which may take far longer.
	WriteTimeout time.Duration
	// MaxFrame bounds one stream frame's payload and a unary answer's body, in bytes.
	MaxFrame int
}

// Client calls Dify's inner API. It is safe for concurrent use.
type Client struct {
	base     string // scheme://host[/prefix]/inner/api/
	key      string
	http     *http.Client
	read     time.Duration
	write    time.Duration
	maxFrame int
}

// New checks cfg and returns a client. Nothing is sent until the first call.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case cfg.BaseURL == "":
		return nil, errors.New("difyapi: no base URL (DIFY_INNER_API_URL)")
	case err != nil:
		return nil, fmt.Errorf("difyapi: base URL (DIFY_INNER_API_URL) %q: %w", cfg.BaseURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("difyapi: base URL (DIFY_INNER_API_URL) %q: scheme must be http or https", cfg.BaseURL)
	case u.Host == "":
		return nil, fmt.Errorf("difyapi: base URL (DIFY_INNER_API_URL) %q: no host", cfg.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("difyapi: base URL (DIFY_INNER_API_URL) %q: must not have a query or fragment", cfg.BaseURL)
	case cfg.Key == "":
		return nil, errors.New("difyapi: no inner API key (DIFY_INNER_API_KEY)")
	case cfg.ReadTimeout < 0, cfg.WriteTimeout < 0, cfg.MaxFrame < 0:
		return nil, errors.New("difyapi: negative timeout or MaxFrame")
	}
	c := &Client{
		base:     strings.TrimRight(u.String(), "/") + "/inner/api/",
		key:      cfg.Key,
		http:     cfg.HTTP,
		read:     cmpOr(cfg.ReadTimeout, DefaultReadTimeout),
		write:    cmpOr(cfg.WriteTimeout, DefaultWriteTimeout),
		maxFrame: cmpOr(cfg.MaxFrame, DefaultMaxFrame),
	}
	if c.http == nil {
		// No proxy from the environment: Dify's API is a neighbour (often a container name),
		// and an egress proxy set for marketplace downloads would break these calls, as the
		// reference daemon's client knows too. Idle connections are kept for the bursts of
		// calls one busy plugin makes. WriteTimeout bounds dialing.
		c.http = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 120 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     120 * time.Second,
		}}
	}
	return c, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// envelope is every answer's payload.
type envelope struct {
	Data  json.RawMessage `json:"data"`
	Error *string         `json:"error"`
}

// RemoteError is a failure Dify reported in an answer's "error" field: the call reached Dify
// and Dify could not do it (unknown model, tenant without quota, ...). Message is Dify's text.
type RemoteError struct {
	Path    string
	Message string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("Dify %s failed: %s", e.Path, e.Message) }

// StatusError is an answer with an HTTP status other than 200. Body is the start of the
// answer, cleaned for a log line.
type StatusError struct {
	Path   string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	if e.Status == http.StatusNotFound {
		return fmt.Sprintf("%v (404): check DIFY_INNER_API_KEY (POST /inner/api/%s; Dify also answers 404 when its PLUGIN_DAEMON_KEY is unset or DIFY_INNER_API_URL is wrong): %s",
			ErrAuth, e.Path, e.Body)
	}
	return fmt.Sprintf("Dify inner API %s answered HTTP %d: %s", e.Path, e.Status, e.Body)
}

// Is makes a StatusError match ErrStatus, and ErrAuth for 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrStatus || target == ErrAuth && e.Status == http.StatusNotFound
}

// Unary posts body as JSON to the route path (such as "invoke/text-embedding") and returns
// the answer's data. A non-empty "error", or no data, is an error: a *RemoteError carrying
// Dify's text when Dify gave one.
func (c *Client) Unary(ctx context.Context, path string, body any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.read, c.readTimeoutErr())
	defer cancel()
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxFrame)+1))
	if err != nil {
		return nil, c.failed(ctx, path, "reading the answer", err)
	}
	if len(b) > c.maxFrame {
		return nil, fmt.Errorf("Dify inner API %s: %w: answer larger than %d bytes (RESPONSE_MAX_BUFFER_SIZE)", path, ErrFrameTooLarge, c.maxFrame)
	}
	return decodeEnvelope(path, "answer", b)
}

// Stream posts body as JSON to the route path (such as "invoke/llm") and calls each with the
// data of every frame Dify sends, in order. It returns nil when Dify ends the stream, the
// first failure otherwise (a frame carrying an error is a *RemoteError), or what each
// returned; in every case the request is over when Stream returns.
func (c *Client) Stream(ctx context.Context, path string, body any, each func(json.RawMessage) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, c.read, c.readTimeoutErr())
	defer cancel()
	resp, err := c.post(ctx, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	for n := 1; ; n++ {
		frame, err := ReadFrame(r, c.maxFrame)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return c.failed(ctx, path, fmt.Sprintf("reading frame %d", n), err)
			}
			return fmt.Errorf("Dify inner API %s: frame %d: %w", path, n, err)
		}
		data, err := decodeEnvelope(path, fmt.Sprintf("frame %d", n), frame)
		if err != nil {
			return err
		}
		if err := each(data); err != nil {
			return err
		}
	}
}

// decodeEnvelope returns the data of one {data, error} object.
func decodeEnvelope(path, what string, b []byte) (json.RawMessage, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("Dify inner API %s: %w: %s is not a JSON {data, error} object (%v): %s", path, ErrProtocol, what, err, snippet(b))
	}
	if env.Error != nil && *env.Error != "" {
		return nil, &RemoteError{Path: path, Message: clip(*env.Error, 4096)}
	}
	if len(env.Data) == 0 || bytes.Equal(env.Data, []byte("null")) {
		return nil, fmt.Errorf("Dify inner API %s: %w: %s has no data and no error", path, ErrProtocol, what)
	}
	return env.Data, nil
}

// post sends the request and returns an answer with status 200. ctx bounds the whole call.
func (c *Client) post(ctx context.Context, path string, body any) (*http.Response, error) {
	if path == "" || strings.Contains(path, "..") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("difyapi: bad route %q", path)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("Dify inner API %s: encoding the request: %w", path, err)
	}
	// The write bound lives in a context of its own, ended by a timer that the transport
	// stops once it has handed the whole request to the connection.
	wctx, wcancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(c.write, func() {
		wcancel(fmt.Errorf("%w: could not send the request within %s (DIFY_BACKWARDS_INVOCATION_WRITE_TIMEOUT): %w", ErrTimeout, c.write, context.DeadlineExceeded))
	})
	wctx = httptrace.WithClientTrace(wctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { timer.Stop() },
	})
	req, err := http.NewRequestWithContext(wctx, http.MethodPost, c.base+strings.TrimLeft(path, "/"), bytes.NewReader(payload))
	if err != nil {
		timer.Stop()
		wcancel(nil)
		return nil, fmt.Errorf("difyapi: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(KeyHeader, c.key)
	resp, err := c.http.Do(req)
	timer.Stop()
	if err != nil {
		wcancel(nil)
		return nil, c.failed(wctx, path, "sending the request", err)
	}
	// The answer is read under wctx, so its cancel must outlive this function: tie it to the
	// body, which the caller closes.
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: func() { wcancel(nil) }}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &StatusError{Path: path, Status: resp.StatusCode, Body: snippet(b)}
	}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// failed explains err, which happened while doing what: when ctx has ended, the reason is its
// cause (a timeout of ours or the caller giving up), not the transport's wording of it.
func (c *Client) failed(ctx context.Context, path, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("Dify inner API %s: %s: %w", path, what, context.Cause(ctx))
	}
	return fmt.Errorf("Dify inner API %s: %s: %w", path, what, err)
}

func (c *Client) readTimeoutErr() error {
	return fmt.Errorf("%w: no complete answer within %s (DIFY_BACKWARDS_INVOCATION_READ_TIMEOUT): %w", ErrTimeout, c.read, context.DeadlineExceeded)
}

// snippet renders the start of an answer for an error message: at most 200 characters,
// control characters and invalid UTF-8 escaped, so a binary or HTML answer stays one line.
func snippet(b []byte) string {
	const max = 200
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(empty body)"
	}
	var s strings.Builder
	n := 0
	for len(b) > 0 && n < max {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&s, `\x%02x`, b[0])
		case unicode.IsControl(r):
			fmt.Fprintf(&s, `\x%02x`, r)
		default:
			s.WriteRune(r)
		}
		b = b[size:]
		n++
	}
	if len(b) > 0 {
		s.WriteString("…")
	}
	return s.String()
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

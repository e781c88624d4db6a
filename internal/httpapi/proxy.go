package httpapi

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/wire"
)

// maxEndpointBody is the largest request body the endpoint proxy forwards (the reference's
// 10 MiB, where it silently truncates; here a larger body is refused).
const maxEndpointBody = 10 << 20

var proxyMethods = []string{http.MethodHead, http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch}

// strippedHeaders are removed before the request reaches the plugin: client address traces
// the plugin has no business with, and framing the raw request sets itself.
var strippedHeaders = []string{
	"X-Forwarded-For", "X-Real-Ip", "X-Forwarded", "X-Original-Forwarded-For", "X-Original-Url", "X-Original-Host",
	"Transfer-Encoding", "Content-Length", "Host",
}

// proxy serves /e/{hook_id}/{path...}: the public URL of a plugin endpoint. Anyone with the
// hook id may call it; the request goes to the plugin as a raw HTTP/1.1 request and the
// plugin's answer streams back.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	if !slices.Contains(proxyMethods, r.Method) {
		w.Header().Set("Allow", strings.Join(proxyMethods, ", "))
		s.failStatus(w, r, &apiError{http.StatusMethodNotAllowed, -400, typeBadRequest, "method " + r.Method + " is not allowed on endpoints", nil}, false)
		return
	}
	s.activeDispatch.Add(1)
	defer s.activeDispatch.Add(-1)
	hook := r.PathValue("hook_id")
	e, err := s.cfg.Store.GetEndpointByHook(r.Context(), hook)
	if errors.Is(err, store.ErrNotFound) || err == nil && !e.Enabled {
		s.failStatus(w, r, notFound("endpoint not found"), false)
		return
	}
	if err != nil {
		s.failStatus(w, r, err, false)
		return
	}
	in, err := s.cfg.Store.GetInstallationByPlugin(r.Context(), e.TenantID, e.PluginID)
	if err != nil {
		s.failStatus(w, r, fmt.Errorf("plugin %s of endpoint %s: %w", e.PluginID, e.ID, err), true)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEndpointBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.failStatus(w, r, &apiError{http.StatusRequestEntityTooLarge, -400, typeBadRequest,
				fmt.Sprintf("request body is larger than the endpoint limit of %d bytes", maxEndpointBody), nil}, false)
			return
		}
		s.failStatus(w, r, badRequest("reading the request body: %v", err), false)
		return
	}
	settings := e.Settings
	if !isObject(settings) {
		settings = json.RawMessage("{}")
	}
	if d, err := s.decls.get(r.Context(), in.UniqueIdentifier); err == nil && d.plugin.Endpoint != nil && s.needsSecrets(d.plugin.Endpoint.Settings) {
		stored, err := parseSettings(settings)
		if err == nil {
			stored, err = s.secrets(r.Context(), e.TenantID, e.ID, secretsDecrypt, stored, d.plugin.Endpoint.Settings)
		}
		if err != nil {
			s.failStatus(w, r, fmt.Errorf("endpoint %s: %w", e.ID, err), true)
			return
		}
		settings, _ = json.Marshal(stored)
	}
	data, err := json.Marshal(struct {
		RawHTTPRequest string          `json:"raw_http_request"`
		Settings       json.RawMessage `json:"settings"`
	}{hex.EncodeToString(endpointRequest(r, hook, body)), settings})
	if err != nil {
		s.failStatus(w, r, fmt.Errorf("endpoint %s: settings: %w", e.ID, err), false)
		return
	}

	ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.ExecutionTimeout, errKilledByTimeout)
	defer cancel()
	st, err := s.cfg.Dispatcher.Invoke(ctx, in.UniqueIdentifier, wire.AccessEndpoint, wire.ActionInvokeEndpoint, data,
		runtime.InvokeContext{TenantID: e.TenantID, EndpointID: e.ID})
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) == errKilledByTimeout {
			err = errKilledByTimeout
		}
		s.failStatus(w, r, fmt.Errorf("endpoint %s: %w", e.ID, err), true)
		return
	}
	s.relay(ctx, w, r, st)
}

// endpointChunk is one item of an invoke_endpoint stream: status and headers first, then
// body pieces in hex. Header values may be a string or a list of strings.
type endpointChunk struct {
	Status  *int                       `json:"status"`
	Headers map[string]json.RawMessage `json:"headers"`
	Result  *string                    `json:"result"`
}

// relay writes the plugin's HTTP answer. Status and headers gather until the first body
// piece; a failure before it is an error envelope, a failure after it drops the connection
// so the client cannot mistake a cut body for a whole one.
func (s *Server) relay(ctx context.Context, w http.ResponseWriter, r *http.Request, st Stream) {
	stop := make(chan struct{})
	defer func() {
		st.Close()
		close(stop)
	}()
	results := pump(st, stop)
	rc := http.NewResponseController(w)
	status, started := 0, false
	header := http.Header{}

	abort := func(err error) {
		if !started {
			s.failStatus(w, r, err, false)
			return
		}
		s.log.Warn("endpoint answer cut short", "path", r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	start := func() error {
		if status == 0 {
			status = http.StatusOK
		}
		if status < 200 || status > 999 {
			return fmt.Errorf("plugin answered with HTTP status %d", status)
		}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		started = true
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			if context.Cause(ctx) == errKilledByTimeout {
				abort(errKilledByTimeout)
			}
			return
		case n := <-results:
			if n.err == io.EOF {
				if !started {
					if err := start(); err != nil {
						abort(err)
					}
				}
				return
			}
			if n.err != nil {
				if ctx.Err() != nil {
					if context.Cause(ctx) == errKilledByTimeout {
						abort(errKilledByTimeout)
					}
					return // else the client went away
				}
				abort(n.err)
				return
			}
			var c endpointChunk
			if err := json.Unmarshal(n.m.Data, &c); err != nil {
				abort(fmt.Errorf("plugin sent an unreadable endpoint response item: %w", err))
				return
			}
			if !started {
				if c.Status != nil {
					status = *c.Status
				}
				addHeaders(header, c.Headers)
			}
			if c.Result == nil {
				continue
			}
			piece, err := hex.DecodeString(*c.Result)
			if err != nil {
				abort(fmt.Errorf("plugin sent a response body that is not hex: %w", err))
				return
			}
			if !started {
				if err := start(); err != nil {
					abort(err)
					return
				}
			}
			if len(piece) > 0 {
				if _, err := w.Write(piece); err != nil {
					return
				}
				if rc.Flush() != nil {
					return
				}
			}
		}
	}
}

// addHeaders adds the plugin's headers, every value of each, leaving out what is not a valid
// header and the framing net/http owns.
func addHeaders(dst http.Header, src map[string]json.RawMessage) {
	for k, raw := range src {
		if !validHeaderName(k) {
			continue
		}
		switch http.CanonicalHeaderKey(k) {
		case "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer":
			continue
		}
		var vals []string
		var one string
		if json.Unmarshal(raw, &one) == nil {
			vals = []string{one}
		} else if json.Unmarshal(raw, &vals) != nil {
			continue
		}
		for _, v := range vals {
			if validHeaderValue(v) {
				dst.Add(k, v)
			}
		}
	}
	if cl := dst.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n < 0 || len(dst.Values("Content-Length")) > 1 {
			dst.Del("Content-Length")
		}
	}
}

// endpointRequest builds the raw HTTP/1.1 request the plugin receives: the path below the
// hook, the query as sent, the client's headers without address traces, Host set to the
// original host, Dify-Hook-Id and Dify-Hook-Url added, and the body with its length.
func endpointRequest(r *http.Request, hook string, body []byte) []byte {
	path := "/"
	if esc := r.URL.EscapedPath(); strings.HasPrefix(esc, "/e/") {
		if i := strings.IndexByte(esc[len("/e/"):], '/'); i >= 0 {
			path = esc[len("/e/")+i:]
		}
	}
	host := r.Header.Get("X-Original-Host")
	if host == "" {
		host = r.Host
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	for _, k := range strippedHeaders {
		h.Del(k)
	}
	h.Set("Dify-Hook-Id", hook)
	if r.Header.Get("Dify-Hook-Url") == "" {
		scheme := "http"
		if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
		h.Set("Dify-Hook-Url", scheme+"://"+host+"/e/"+hook+path)
	}
	target := path
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	return rawRequest(r.Method, target, host, h, body)
}

// rawRequest writes a request in HTTP/1.1 form. Anything that could break the framing
// (control characters in the target, invalid header names or values) is escaped or left
// out, so the plugin always receives one well-formed request.
func rawRequest(method, target, host string, h http.Header, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(body))
	if !validToken(method) {
		method = http.MethodGet
	}
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(escapeCTL(target))
	b.WriteString(" HTTP/1.1\r\n")
	if validHeaderValue(host) && !strings.ContainsAny(host, " \t") {
		b.WriteString("Host: " + host + "\r\n")
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ck := http.CanonicalHeaderKey(k)
		if !validHeaderName(k) || ck == "Host" || ck == "Content-Length" || ck == "Transfer-Encoding" {
			continue
		}
		for _, v := range h[k] {
			if validHeaderValue(v) {
				b.WriteString(k + ": " + v + "\r\n")
			}
		}
	}
	if len(body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// escapeCTL percent-encodes bytes that may not appear in a request target.
func escapeCTL(s string) string {
	if s == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// validToken reports whether s is an RFC 9110 token (method and header names).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool { return validToken(s) }

// validHeaderValue reports whether v can be written on one header line.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' || c == 0 || (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

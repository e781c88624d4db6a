package pluginoauth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// privateHeaders are the daemon's own, never the authorization server's: the browser sends
// its cookies and credentials for the daemon's host along with the callback, and the plugin
// (untrusted code) must not get them. Dify forwards them; see docs/compatibility.md. The
// hop-by-hop framing headers are dropped too: the body is passed whole, with its length.
var privateHeaders = []string{"Cookie", "Authorization", "Proxy-Authorization", "X-Api-Key", "Transfer-Encoding", "Content-Length", "Host"}

// RawRequest writes r as the raw HTTP/1.1 request Dify hands to a plugin's get_credentials
// (and that the SDK's deserialize_request reads back into a werkzeug Request): the request
// line "METHOD target HTTP/1.1", "Name: value" lines, an empty line, the body. The target is
// the escaped path (made absolute) and, when there is one, "?" and the query; Host comes first, the other
// headers follow in sorted order with repeated ones joined as a WSGI server joins them;
// Content-Length gives the body's length. Header lines that would break the framing are left
// out. The body is read (at most MaxCallbackBody) and consumed.
func RawRequest(r *http.Request) ([]byte, error) {
	if r == nil {
		return nil, errors.New("no request")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpguts.ValidHeaderFieldName(method) { // a method is a token, as a header name is
		return nil, fmt.Errorf("method %.40q is not an HTTP token", method)
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxCallbackBody+1))
		if err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		if len(b) > MaxCallbackBody {
			return nil, fmt.Errorf("the body is larger than %d bytes", MaxCallbackBody)
		}
		body = b
	}
	target := "/"
	host := r.Host
	if r.URL != nil {
		if p := r.URL.EscapedPath(); p != "" {
			target = p
		}
		if !strings.HasPrefix(target, "/") { // a hand-built URL's relative path
			target = "/" + target
		}
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		if host == "" {
			host = r.URL.Host
		}
	}
	var b bytes.Buffer
	b.Grow(512 + len(body))
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(escapeTarget(target))
	b.WriteString(" HTTP/1.1\r\n")
	if host != "" && httpguts.ValidHostHeader(host) {
		b.WriteString("Host: " + host + "\r\n")
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		if httpguts.ValidHeaderFieldName(k) && !slices.Contains(privateHeaders, http.CanonicalHeaderKey(k)) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		var vals []string
		for _, v := range r.Header[k] {
			if httpguts.ValidHeaderFieldValue(v) {
				vals = append(vals, strings.TrimSpace(v))
			}
		}
		if len(vals) > 0 {
			b.WriteString(http.CanonicalHeaderKey(k) + ": " + strings.Join(vals, ", ") + "\r\n")
		}
	}
	if len(body) > 0 {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), nil
}

// escapeTarget percent-encodes what may not appear in a request target (spaces, control
// bytes, a fragment mark), which a hand-built URL's raw query can hold.
func escapeTarget(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

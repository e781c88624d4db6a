package pluginoauth_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/pluginoauth"
)

// FuzzRawRequest: whatever request the callback route is handed, the plugin receives exactly
// one well-formed HTTP/1.1 request (no header or second request smuggled through a value or
// the target) with the method, every non-private header and the body intact.
func FuzzRawRequest(f *testing.F) {
	f.Add("GET", "/cb", "code=abc&state=xyz", "User-Agent", "Mozilla/5.0", []byte(nil))
	f.Add("POST", "/cb", "", "Content-Type", "application/x-www-form-urlencoded", []byte("code=abc"))
	f.Add("GET", "/a b", "q=1 2#x", "X-Evil", "a\r\nHost: evil", []byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add("PUT", "", "\x00\r\n", "Bad Name", "v", []byte{0})
	f.Fuzz(func(t *testing.T, method, path, query, name, value string, body []byte) {
		if len(body) > 4096 {
			return
		}
		r := &http.Request{Method: method, Host: "plugd.test", URL: &url.URL{Path: path, RawQuery: query}, Header: http.Header{name: {value}}}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		raw, err := pluginoauth.RawRequest(r)
		if err != nil {
			return
		}
		br := bufio.NewReader(bytes.NewReader(raw))
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("not a well-formed request: %v\n%q", err, raw)
		}
		gotBody, err := io.ReadAll(got.Body)
		if err != nil || !bytes.Equal(gotBody, body) {
			t.Fatalf("body %q %v, want %q\n%q", gotBody, err, body, raw)
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Fatalf("bytes after the request: %q\n%q", rest, raw)
		}
		if got.Method != method || got.Host != "plugd.test" {
			t.Fatalf("method %q host %q\n%q", got.Method, got.Host, raw)
		}
		for k, vs := range got.Header {
			if k != "Content-Length" && k != http.CanonicalHeaderKey(name) {
				t.Fatalf("header %s: %q appeared\n%q", k, vs, raw)
			}
		}
		ck := http.CanonicalHeaderKey(name)
		if v := got.Header.Get(ck); v != "" && v != strings.TrimSpace(value) {
			t.Fatalf("header %s: %q, want %q", ck, v, value)
		}
	})
}

// FuzzDecode: the decoders of plugin answers never panic, and what they accept is usable.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"credentials":{"access_token":"a"},"expires_at":-1,"metadata":{}}`))
	f.Add([]byte(`{"credentials":{"a":1},"expires_at":99999999999999999999}`))
	f.Add([]byte(`{"authorization_url":"https://h/p?q=1"}`))
	f.Add([]byte(`{"authorization_url":"http://[::1"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if cr, err := pluginoauth.DecodeCredentials(data); err == nil && (cr.Values == nil || cr.Metadata == nil) {
			t.Fatalf("accepted %q as %+v", data, cr)
		}
		if u, err := pluginoauth.DecodeAuthorizationURL(data); err == nil {
			p, err := url.Parse(u)
			if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
				t.Fatalf("accepted %q as %q", data, u)
			}
		}
	})
}

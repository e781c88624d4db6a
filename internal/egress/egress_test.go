package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeResolver answers from a fixed table and counts look-ups; nothing leaves the machine.
type fakeResolver struct {
	table   map[string][]string
	lookups atomic.Int64
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	list, ok := r.table[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, len(list))
	for i, s := range list {
		out[i] = netip.MustParseAddr(s)
	}
	return out, nil
}

func newResolver() *fakeResolver {
	return &fakeResolver{table: map[string][]string{
		"loopback.test": {"127.0.0.1"},
		"metadata.test": {"169.254.169.254"},
		"mapped.test":   {"::ffff:127.0.0.1"},
		"api.test":      {"127.0.0.1"},
	}}
}

// upstream is a loopback server counting the requests it gets.
func upstream(t *testing.T, h http.HandlerFunc) (*httptest.Server, string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return srv, port, &hits
}

func get(t *testing.T, c *Client, rawURL string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Do(req)
}

func wantBlocked(t *testing.T, err error, addr string) {
	t.Helper()
	var b *BlockedError
	if !errors.As(err, &b) {
		t.Fatalf("want a *BlockedError for %s, got %v", addr, err)
	}
	if b.Addr.String() != addr {
		t.Fatalf("blocked address %s, want %s (%v)", b.Addr, addr, err)
	}
	if !strings.Contains(err.Error(), "PLUGD_EGRESS_ALLOW") {
		t.Errorf("error does not say how to allow: %v", err)
	}
}

func TestRefusesBlockedAddresses(t *testing.T) {
	_, port, hits := upstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") })
	res := newResolver()
	c := New(Settings{}, WithResolver(res))
	for _, tc := range []struct{ url, addr string }{
		{"http://127.0.0.1:" + port + "/", "127.0.0.1"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254"},
		{"http://10.0.0.1/", "10.0.0.1"},
		{"http://[::1]:" + port + "/", "::1"},
		{"http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"},
		{"http://loopback.test:" + port + "/", "127.0.0.1"},
		{"http://metadata.test/", "169.254.169.254"},
		{"http://mapped.test:" + port + "/", "::ffff:127.0.0.1"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			resp, err := get(t, c, tc.url)
			if err == nil {
				resp.Body.Close()
				t.Fatal("request went through")
			}
			wantBlocked(t, err, tc.addr)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server got %d requests", n)
	}
}

// The dialer itself refuses, not only the URL check in Do: a library handed HTTPClient() (an
// MCP or OAuth SDK) is guarded too, and a name is checked after it is resolved.
func TestDialerRefusesWithoutDo(t *testing.T) {
	_, port, hits := upstream(t, func(w http.ResponseWriter, r *http.Request) {})
	c := New(Settings{}, WithResolver(newResolver()))
	for _, u := range []string{"http://127.0.0.1:" + port + "/", "http://loopback.test:" + port + "/"} {
		resp, err := c.HTTPClient().Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: request went through", u)
		}
		wantBlocked(t, err, "127.0.0.1")
	}
	if hits.Load() != 0 {
		t.Fatal("the loopback server was reached")
	}
}

// rebindingResolver answers loopback first and a public (documentation) address afterwards, as
// a rebinding DNS server would in reverse order to pass a check made on a later look-up. The
// client asks once per connection and dials exactly what it checked.
type rebindingResolver struct{ calls atomic.Int64 }

func (r *rebindingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("203.0.113.7")}, nil
}

func TestRebindingNameIsCheckedAtDial(t *testing.T) {
	_, port, hits := upstream(t, func(w http.ResponseWriter, r *http.Request) {})
	res := &rebindingResolver{}
	c := New(Settings{}, WithResolver(res))
	resp, err := get(t, c, "http://rebind.test:"+port+"/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("request went through")
	}
	wantBlocked(t, err, "127.0.0.1")
	if res.calls.Load() != 1 {
		t.Fatalf("resolved %d times for one request; the address dialled must be the one checked", res.calls.Load())
	}
	if hits.Load() != 0 {
		t.Fatal("reached")
	}
}

func TestAllowedBySetting(t *testing.T) {
	_, port, hits := upstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.Host) })
	for _, allow := range []string{"127.0.0.0/8", "127.0.0.1", "api.test", "*.test", "10.0.0.0/8, api.test"} {
		t.Run(allow, func(t *testing.T) {
			a, err := ParseAllow(allow)
			if err != nil {
				t.Fatal(err)
			}
			c := New(Settings{Allow: a}, WithResolver(newResolver()))
			resp, err := get(t, c, "http://api.test:"+port+"/x")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(body) != "ok api.test:"+port {
				t.Fatalf("body %q, err %v", body, err)
			}
		})
	}
	// Allowing one name does not open its address for other names.
	a, _ := ParseAllow("api.test")
	c := New(Settings{Allow: a}, WithResolver(newResolver()))
	before := hits.Load()
	if resp, err := get(t, c, "http://loopback.test:"+port+"/"); err == nil {
		resp.Body.Close()
		t.Fatal("loopback.test went through with only api.test allowed")
	}
	if hits.Load() != before {
		t.Fatal("reached")
	}
}

func TestRedirectsAreChecked(t *testing.T) {
	var target string
	_, port, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/go" {
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		io.WriteString(w, "inner")
	})
	a, _ := ParseAllow("api.test")
	c := New(Settings{Allow: a}, WithResolver(newResolver()))
	for _, to := range []string{
		"http://127.0.0.1:" + port + "/inner",
		"http://loopback.test:" + port + "/inner",
		"http://169.254.169.254/latest/meta-data/",
		"file:///etc/passwd",
	} {
		target = to
		resp, err := get(t, c, "http://api.test:"+port+"/go")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("redirect to %s followed", to)
		}
		if !strings.Contains(err.Error(), "egress: refused") {
			t.Fatalf("redirect to %s: %v", to, err)
		}
	}
	target = "http://api.test:" + port + "/inner"
	resp, err := get(t, c, "http://api.test:"+port+"/go")
	if err != nil {
		t.Fatalf("allowed redirect: %v", err)
	}
	resp.Body.Close()
}

func TestResponseCap(t *testing.T) {
	_, port, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := len(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		w.Write([]byte(strings.Repeat("x", n)))
		w.(http.Flusher).Flush()
	})
	a, _ := ParseAllow("127.0.0.1")
	c := New(Settings{Allow: a, MaxResponseBytes: 10}, WithResolver(newResolver()))
	read := func(q string) (string, error) {
		resp, err := get(t, c, "http://127.0.0.1:"+port+"/?"+q)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, q := range []string{"n=1234567890", "n=1234567890&chunked=1", "n=12"} {
		got, err := read(q)
		if err != nil || len(got) != len(strings.TrimSuffix(strings.TrimPrefix(q, "n="), "&chunked=1")) {
			t.Fatalf("%s: %q %v", q, got, err)
		}
	}
	for _, q := range []string{"n=12345678901", "n=12345678901&chunked=1"} {
		_, err := read(q)
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Limit != 10 {
			t.Fatalf("%s: want *TooLargeError, got %v", q, err)
		}
		// The *http.Client handed to libraries caps too.
		resp, err := c.HTTPClient().Get("http://127.0.0.1:" + port + "/?" + q)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.As(err, &tl) {
			t.Fatalf("%s through HTTPClient: want *TooLargeError, got %v", q, err)
		}
	}
}

func TestReadTimeout(t *testing.T) {
	release := make(chan struct{})
	_, port, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	a, _ := ParseAllow("127.0.0.1")
	c := New(Settings{Allow: a, ReadTimeout: 50 * time.Millisecond})
	resp, err := get(t, c, "http://127.0.0.1:"+port+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a read timeout from a silent upstream, got %v", err)
	}
}

// Through a forward proxy (Dify's SSRF_PROXY_*), the proxy's own loopback address is reachable
// while literal blocked addresses in URLs are still refused.
func TestProxy(t *testing.T) {
	var seen atomic.Value
	proxy, _, _ := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.String())
		io.WriteString(w, "via proxy")
	})
	env := map[string]string{"SSRF_PROXY_HTTP_URL": proxy.URL}
	s, err := SettingsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c := New(s, WithResolver(&fakeResolver{}))
	resp, err := get(t, c, "http://tools.example/api")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "via proxy" || seen.Load() != "http://tools.example/api" {
		t.Fatalf("got %q, proxy saw %v", b, seen.Load())
	}
	if resp, err := get(t, c, "http://10.0.0.1/"); err == nil {
		resp.Body.Close()
		t.Fatal("literal private address sent to the proxy")
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		ip      string
		blocked bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"10.0.0.1", true}, {"172.16.0.1", true},
		{"172.31.255.255", true}, {"192.168.1.1", true}, {"169.254.169.254", true},
		{"100.64.0.1", true}, {"0.0.0.0", true}, {"224.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"fc00::1", true}, {"fd12:3456::1", true}, {"fe80::1", true},
		{"fe80::1%eth0", true}, {"ff02::1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:127.0.0.1", true},
		{"64:ff9b::a9fe:a9fe", true}, {"2002:7f00:1::", true}, {"::127.0.0.1", true}, {"fd00:ec2::254", true},
		{"8.8.8.8", false}, {"172.32.0.1", false}, {"100.128.0.1", false}, {"2606:4700::1111", false},
		{"::ffff:8.8.8.8", false}, {"64:ff9b::808:808", false},
	} {
		got := Classify(netip.MustParseAddr(tc.ip)) != ""
		if got != tc.blocked {
			t.Errorf("%s: blocked=%v, want %v (%q)", tc.ip, got, tc.blocked, Classify(netip.MustParseAddr(tc.ip)))
		}
	}
}

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{
		"PLUGD_EGRESS_ALLOW":               "10.1.0.0/16, intranet.corp",
		"API_TOOL_DEFAULT_CONNECT_TIMEOUT": "3",
		"API_TOOL_DEFAULT_READ_TIMEOUT":    "1.5",
		"PLUGD_EGRESS_MAX_RESPONSE_BYTES":  "1024",
		"SSRF_PROXY_ALL_URL":               "http://ssrf_proxy:3128",
		"SSRF_PROXY_HTTPS_URL":             "http://other:3129",
	}
	s, err := SettingsFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if s.ConnectTimeout != 3*time.Second || s.ReadTimeout != 1500*time.Millisecond || s.MaxResponseBytes != 1024 {
		t.Fatalf("%+v", s)
	}
	if s.HTTPProxy.Host != "ssrf_proxy:3128" || s.HTTPSProxy.Host != "other:3129" {
		t.Fatalf("proxies %v %v", s.HTTPProxy, s.HTTPSProxy)
	}
	if !s.Allow.addr(netip.MustParseAddr("10.1.2.3")) || s.Allow.addr(netip.MustParseAddr("10.2.0.1")) || !s.Allow.host("Intranet.Corp.") {
		t.Fatalf("allow %+v", s.Allow)
	}
	for k, v := range map[string]string{
		"PLUGD_EGRESS_ALLOW":              "10.0.0.0/33",
		"API_TOOL_DEFAULT_READ_TIMEOUT":   "soon",
		"PLUGD_EGRESS_MAX_RESPONSE_BYTES": "big",
		"SSRF_PROXY_HTTP_URL":             "ftp://x",
	} {
		_, err := SettingsFromEnv(func(name string) (string, bool) {
			if name == k {
				return v, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: error %v does not name the setting", k, v, err)
		}
	}
}

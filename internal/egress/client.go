package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults, Dify's where Dify has the setting (API_TOOL_DEFAULT_CONNECT_TIMEOUT,
// API_TOOL_DEFAULT_READ_TIMEOUT).
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultReadTimeout      = 60 * time.Second
	DefaultMaxResponseBytes = 10 << 20
	maxRedirects            = 10
)

// Settings configure a Client. The zero value is usable: defaults, nothing allowed.
type Settings struct {
	Allow            Allow
	ConnectTimeout   time.Duration // TCP (and TLS) connect; DefaultConnectTimeout when 0
	ReadTimeout      time.Duration // longest wait for the headers and between two reads; DefaultReadTimeout when 0
	MaxResponseBytes int64         // reading more of a body is an error; DefaultMaxResponseBytes when 0, no cap when < 0
	// HTTPProxy and HTTPSProxy send requests through a forward proxy (Dify's ssrf_proxy
	// deployment). The proxy's own address is exempt from the guard; the target's address is
	// resolved by the proxy, so the guard then checks only literal addresses in URLs.
	HTTPProxy, HTTPSProxy *url.URL
}

// SettingsFromEnv reads the settings from the environment through lookup (os.LookupEnv):
// PLUGD_EGRESS_ALLOW, API_TOOL_DEFAULT_CONNECT_TIMEOUT, API_TOOL_DEFAULT_READ_TIMEOUT (seconds),
// PLUGD_EGRESS_MAX_RESPONSE_BYTES, SSRF_PROXY_ALL_URL, SSRF_PROXY_HTTP_URL, SSRF_PROXY_HTTPS_URL.
func SettingsFromEnv(lookup func(string) (string, bool)) (Settings, error) {
	var s Settings
	var err error
	if v, ok := lookup("PLUGD_EGRESS_ALLOW"); ok {
		if s.Allow, err = ParseAllow(v); err != nil {
			return Settings{}, fmt.Errorf("PLUGD_EGRESS_ALLOW: %w", err)
		}
	}
	seconds := func(name string, dst *time.Duration) error {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("%s=%q: want a positive number of seconds", name, v)
		}
		*dst = time.Duration(f * float64(time.Second))
		return nil
	}
	if err := seconds("API_TOOL_DEFAULT_CONNECT_TIMEOUT", &s.ConnectTimeout); err != nil {
		return Settings{}, err
	}
	if err := seconds("API_TOOL_DEFAULT_READ_TIMEOUT", &s.ReadTimeout); err != nil {
		return Settings{}, err
	}
	if v, ok := lookup("PLUGD_EGRESS_MAX_RESPONSE_BYTES"); ok && strings.TrimSpace(v) != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n == 0 {
			return Settings{}, fmt.Errorf("PLUGD_EGRESS_MAX_RESPONSE_BYTES=%q: want a byte count (negative: no cap)", v)
		}
		s.MaxResponseBytes = n
	}
	proxy := func(name string) (*url.URL, error) {
		v, ok := lookup(name)
		if !ok || strings.TrimSpace(v) == "" {
			return nil, nil
		}
		u, err := url.Parse(strings.TrimSpace(v))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return nil, fmt.Errorf("%s=%q: want a proxy URL such as http://ssrf_proxy:3128", name, v)
		}
		return u, nil
	}
	all, err := proxy("SSRF_PROXY_ALL_URL")
	if err != nil {
		return Settings{}, err
	}
	s.HTTPProxy, s.HTTPSProxy = all, all
	if u, err := proxy("SSRF_PROXY_HTTP_URL"); err != nil {
		return Settings{}, err
	} else if u != nil {
		s.HTTPProxy = u
	}
	if u, err := proxy("SSRF_PROXY_HTTPS_URL"); err != nil {
		return Settings{}, err
	} else if u != nil {
		s.HTTPSProxy = u
	}
	return s, nil
}

// Resolver looks host names up; *net.Resolver is one. Tests inject a fake one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Client is the guarded HTTP client. Safe for concurrent use.
type Client struct {
	http     *http.Client
	settings Settings
	resolver Resolver
	proxies  map[string]bool // host:port of configured proxies, exempt from the guard
}

// Option changes how a Client is built.
type Option func(*Client)

// WithResolver makes the client resolve names with r instead of the system resolver.
func WithResolver(r Resolver) Option { return func(c *Client) { c.resolver = r } }

// New builds a client with its own connection pool.
func New(s Settings, opts ...Option) *Client {
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = DefaultReadTimeout
	}
	if s.MaxResponseBytes == 0 {
		s.MaxResponseBytes = DefaultMaxResponseBytes
	}
	c := &Client{settings: s, resolver: net.DefaultResolver, proxies: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	for _, p := range []*url.URL{s.HTTPProxy, s.HTTPSProxy} {
		if p != nil {
			c.proxies[proxyAddr(p)] = true
		}
	}
	transport := &http.Transport{
		Proxy:                 c.proxy,
		DialContext:           c.dial,
		TLSHandshakeTimeout:   s.ConnectTimeout,
		ResponseHeaderTimeout: s.ReadTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
	c.http = &http.Client{Transport: &guardedTransport{base: transport, c: c}, CheckRedirect: c.checkRedirect}
	return c
}

// HTTPClient is the guarded *http.Client, for libraries that want one (an MCP or OAuth SDK):
// the same checks, timeouts and response cap as Do.
func (c *Client) HTTPClient() *http.Client { return c.http }

// Do sends req through the guard. The response body is capped at the configured size: reading
// past it returns a *TooLargeError. A refused address is returned as the *BlockedError itself.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, unwrapBlocked(err)
	}
	return resp, nil
}

// guardedTransport checks every request's URL (the first and each redirect) before it is sent
// and caps every response body.
type guardedTransport struct {
	base http.RoundTripper
	c    *Client
}

func (t *guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.c.checkURL(req.Context(), req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if max := t.c.settings.MaxResponseBytes; max > 0 {
		if resp.ContentLength > max {
			resp.Body.Close()
			return nil, &TooLargeError{URL: req.URL.Redacted(), Limit: max, Announced: resp.ContentLength}
		}
		resp.Body = LimitBody(resp.Body, max, req.URL.Redacted())
	}
	return resp, nil
}

// unwrapBlocked returns the *BlockedError or *TooLargeError inside a transport error as the
// error itself, so callers get the clear message instead of "Get ...: dial tcp: ..." around it;
// other errors are kept.
func unwrapBlocked(err error) error {
	var b *BlockedError
	if errors.As(err, &b) {
		return b
	}
	var tl *TooLargeError
	if errors.As(err, &tl) {
		return tl
	}
	return err
}

func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func (c *Client) proxy(req *http.Request) (*url.URL, error) {
	if req.URL.Scheme == "https" {
		return c.settings.HTTPSProxy, nil
	}
	return c.settings.HTTPProxy, nil
}

// checkURL refuses non-HTTP schemes and blocked literal addresses before anything is sent
// (the dialer would refuse them too, except through a proxy, which resolves for itself).
func (c *Client) checkURL(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("egress: refused URL scheme %q in %s: only http and https", u.Scheme, u.Redacted())
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("egress: URL %s has no host", u.Redacted())
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return c.settings.Allow.check(host, ip)
	}
	return nil
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("egress: stopped after %d redirects", maxRedirects)
	}
	return c.checkURL(req.Context(), req.URL)
}

// dial resolves addr itself, refuses blocked addresses, and connects only to addresses it
// checked; the socket's peer is checked once more in Control before the connection is used.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("egress: dial %q: %w", addr, err)
	}
	exempt := c.proxies[addr]
	d := &net.Dialer{Timeout: c.settings.ConnectTimeout, KeepAlive: 30 * time.Second}
	if !exempt {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("egress: connecting to %q: %w", address, err)
			}
			return c.settings.Allow.check(host, ap.Addr())
		}
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = c.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("egress: resolving %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("egress: resolving %s: no addresses", host)
		}
	}
	var firstErr error
	for _, ip := range ips {
		if !exempt {
			if err := c.settings.Allow.check(host, ip); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.WithZone("").String(), port))
		if err == nil {
			return &readTimeoutConn{Conn: conn, timeout: c.settings.ReadTimeout}, nil
		}
		if firstErr == nil || isBlocked(firstErr) && !isBlocked(err) {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func isBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}

// readTimeoutConn gives every read its own deadline: the read timeout bounds how long the
// upstream may stay silent, as Dify's (httpx's) read timeout does, not the whole answer.
type readTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *readTimeoutConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// TooLargeError is a response body longer than the cap.
type TooLargeError struct {
	URL       string
	Limit     int64
	Announced int64 // Content-Length when the server announced it, else 0
}

func (e *TooLargeError) Error() string {
	if e.Announced > 0 {
		return fmt.Sprintf("egress: response from %s is %d bytes, more than the %d allowed (PLUGD_EGRESS_MAX_RESPONSE_BYTES)", e.URL, e.Announced, e.Limit)
	}
	return fmt.Sprintf("egress: response from %s is longer than the %d bytes allowed (PLUGD_EGRESS_MAX_RESPONSE_BYTES)", e.URL, e.Limit)
}

// LimitBody returns body reading at most limit bytes; when body holds more, the read that
// would cross the limit returns a *TooLargeError instead of a shortened answer.
func LimitBody(body io.ReadCloser, limit int64, url string) io.ReadCloser {
	return &limitedBody{rc: body, left: limit, limit: limit, url: url}
}

type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	url   string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.left <= 0 {
		// At the limit: end of body is fine, one more byte is not.
		var one [1]byte
		for {
			n, err := b.rc.Read(one[:])
			if n > 0 {
				return 0, &TooLargeError{URL: b.url, Limit: b.limit}
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

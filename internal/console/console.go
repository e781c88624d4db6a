// Package console is plugd's web console: server-rendered pages over the daemon's own HTTP
// API, served by `plugd serve` under /console/ (docs/console.md). It keeps no state of its own
// but logins: every page reads and writes through the API handler it is given, with the
// server key, so the console can do nothing the API does not allow and shows what a CLI or
// Dify would see. Assets are embedded; nothing is fetched from elsewhere at run time.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Access says who may reach the console.
type Access string

const (
	// AccessLoopback serves the console only to requests from a loopback address that did not
	// come through a proxy (no Forwarded / X-Forwarded-For header): the default.
	AccessLoopback Access = "loopback"
	// AccessOn serves it on every address the daemon listens on.
	AccessOn Access = "on"
	// AccessOff does not serve it at all.
	AccessOff Access = "off"
)

// Config configures the console.
type Config struct {
	Access Access
	// API is the daemon's HTTP API (httpapi.Server); the console calls it in-process with
	// ServerKey.
	API       http.Handler
	ServerKey string
	// Users are the per-user accounts (name -> bcrypt hash), read from the users file; the
	// server key logs in too (with an empty user name).
	Users Users
	// SecureCookies marks the session cookie Secure even on plain HTTP: set it when a
	// TLS-terminating proxy is in front (requests over TLS get Secure anyway).
	SecureCookies bool
	// DefaultTenant is the tenant the console opens on.
	DefaultTenant string
	// Metrics is the daemon's registry: calls, errors and latency per plugin.
	Metrics prometheus.Gatherer
	// OAuthCallbackURL is the redirect URI OAuth clients register (the daemon's
	// /oauth/callback), shown on the OAuth page.
	OAuthCallbackURL string
	// DebugAddr is the remote-debugging server's address ("" when remote debugging is off).
	DebugAddr string
	// SessionTTL bounds a login (default 12 h).
	SessionTTL time.Duration
	Logger     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Console is the web console as an http.Handler for the /console/ prefix.
type Console struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	tmpl     map[string]*template.Template
	sessions *sessions
	limiter  *loginLimiter
	guard    *http.CrossOriginProtection
	// dummyHash is checked when a user name is unknown (see authenticate).
	dummyHash []byte
}

// Prefix is where the console is mounted.
const Prefix = "/console"

// New builds the console.
func New(cfg Config) (*Console, error) {
	if cfg.Access == "" {
		cfg.Access = AccessLoopback
	}
	if cfg.DefaultTenant == "" {
		cfg.DefaultTenant = "default"
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.API == nil {
		return nil, errors.New("console: no API handler")
	}
	c := &Console{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		sessions: newSessions(cfg.Now, cfg.SessionTTL), limiter: newLoginLimiter(cfg.Now),
		guard: http.NewCrossOriginProtection()}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Users) > 0 {
		c.dummyHash = dummyHashFor(cfg.Users)
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// ServeHTTP enforces the access setting, then the cross-origin guard (a browser's
// Sec-Fetch-Site / Origin must match for every POST), then routes.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.reachable(r) {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := c.guard.Check(r); err != nil {
		http.Error(w, "cross-origin request refused: "+err.Error(), http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// reachable applies Access to the request's peer.
func (c *Console) reachable(r *http.Request) bool {
	switch c.cfg.Access {
	case AccessOn:
		return true
	case AccessLoopback:
		if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
			return false
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

func (c *Console) parseTemplates() error {
	funcs := template.FuncMap{
		"bytes":   humanBytes,
		"pathq":   url.PathEscape,
		"query":   url.QueryEscape,
		"json":    func(v any) string { b, _ := json.MarshalIndent(v, "", "  "); return string(b) },
		"rawjson": func(v json.RawMessage) string { return indentJSON(v) },
		"ms":      func(d float64) string { return fmt.Sprintf("%.0f ms", d*1000) },
		"datetime": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	c.tmpl = map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimPrefix(e, "templates/")
		if name == "layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, e)
		if err != nil {
			return fmt.Errorf("console template %s: %w", name, err)
		}
		c.tmpl[name] = t
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string // the current section, for aria-current
	Tenant string
	User   string
	CSRF   string
	Flash  string // a success note
	Error  string // what went wrong, shown above the page
	Data   any
}

func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	t, ok := c.tmpl[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		c.log.Error("console template", "name", name, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// apiError is an API answer that was not a success.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string { return e.Message }

func asAPIError(err error, target **apiError) bool { return errors.As(err, target) }

// call runs one API request in-process and decodes the envelope's data into out (when not
// nil). body is JSON-encoded unless it is an io.Reader.
func (c *Console) call(ctx context.Context, method, path string, body any, out any) error {
	rec, err := c.do(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.buf.Bytes(), &env); err != nil {
		return &apiError{rec.status, fmt.Sprintf("%s %s answered %d: %s", method, path, rec.status, truncate(rec.buf.String(), 300))}
	}
	if env.Code != 0 || rec.status >= 400 {
		return &apiError{rec.status, env.Message}
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("decoding %s %s: %w", method, path, err)
		}
	}
	return nil
}

// do runs one API request in-process into a buffer.
func (c *Console) do(ctx context.Context, method, path string, body any, header http.Header) (*recorder, error) {
	req, err := c.apiRequest(ctx, method, path, body, header)
	if err != nil {
		return nil, err
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.cfg.API.ServeHTTP(rec, req)
	return rec, nil
}

func (c *Console) apiRequest(ctx context.Context, method, path string, body any, header http.Header) (*http.Request, error) {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, ""
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	if req.Body == nil {
		req.Body = http.NoBody // as a server's request has
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ctype != "" && rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("X-Api-Key", c.cfg.ServerKey)
	req.RemoteAddr = "127.0.0.1:0"
	return req, nil
}

// recorder is an in-memory http.ResponseWriter for in-process API calls.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if !r.wrote {
		r.status, r.wrote = s, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.buf.Write(b)
}
func (r *recorder) Flush() {}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func indentJSON(v json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, v, "", "  "); err != nil {
		return string(v)
	}
	return buf.String()
}

func humanBytes(n int64) string {
	if n <= 0 {
		return "—"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Mount serves the console under Prefix and everything else with api.
func Mount(con *Console, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix || strings.HasPrefix(r.URL.Path, Prefix+"/") {
			con.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

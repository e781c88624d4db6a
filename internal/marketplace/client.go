// Package marketplace is a client of the Dify Marketplace (MARKETPLACE_API_URL, default
// https://marketplace.dify.ai): search, a plugin's versions, resolving org/name[:version] to
// a unique identifier, and downloading packages into a cache that is checked again on every
// use. The routes and fields are the ones Dify's API server, its web app and the reference
// daemon's one-shot runner use:
//
//	POST /api/v1/plugins/search/advanced   {page, page_size, query, ...} -> data.plugins[], data.total
//	POST /api/v1/plugins/batch             {plugin_ids: [...]}           -> data.plugins[] (latest_package_identifier)
//	GET  /api/v1/plugins/{org}/{name}/versions?page=&page_size=            -> data.versions[]
//	GET  /api/v1/plugins/download?unique_identifier=ID                     -> the .difypkg bytes
//
// JSON answers are wrapped as {"code": 0, "msg": "", "data": ...}; a non-zero code is an
// error. Nothing here trusts what the Marketplace sends: identifiers are checked against the
// grammar, a downloaded package must hash to the checksum its identifier names, and the
// caller's signature policy runs on every package handed out.
package marketplace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultURL is the public Marketplace, the default of MARKETPLACE_API_URL.
const DefaultURL = "https://marketplace.dify.ai"

// Setting is the name of the setting that points at the Marketplace, for messages.
const Setting = "MARKETPLACE_API_URL"

// ErrNotFound: the Marketplace has no such plugin or version.
var ErrNotFound = errors.New("not found on the Marketplace")

// Error is a failed Marketplace request. Its message names the URL asked, the setting that
// chose it and the plugin concerned, so that a user can tell a typo from an outage.
type Error struct {
	URL string // the request's URL
	ID  string // the plugin or identifier asked for, "" for a search
	Err error
}

func (e *Error) Error() string {
	what := ""
	if e.ID != "" {
		what = " for " + e.ID
	}
	return fmt.Sprintf("marketplace request%s: %s (%s): %v", what, e.URL, Setting, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Client talks to one Marketplace. Safe for concurrent use.
type Client struct {
	base string
	api  *http.Client // JSON calls: bounded end to end
	dl   *http.Client // downloads: bounded per step, not in total (packages are large)
	ua   string
}

// New makes a client of the Marketplace at baseURL. Connection attempts give up after 4 s, so
// that a Marketplace that cannot be reached (refused, or dropped by a firewall) fails in under
// 5 s; JSON calls give up after 30 s; a download may take as long as bytes keep coming.
func New(baseURL, userAgent string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s=%q: want an http(s) URL such as %s", Setting, baseURL, DefaultURL)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 4 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       60 * time.Second,
	}
	if userAgent == "" {
		userAgent = "plugd"
	}
	return &Client{
		base: strings.TrimRight(u.String(), "/"),
		api:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
		dl:   &http.Client{Transport: tr},
		ua:   userAgent,
	}, nil
}

// URL is the Marketplace's base URL.
func (c *Client) URL() string { return c.base }

// Plugin is a Marketplace listing, the fields plugd shows.
type Plugin struct {
	Org                     string            `json:"org"`
	Name                    string            `json:"name"`
	PluginID                string            `json:"plugin_id"`
	Type                    string            `json:"type,omitempty"`
	Category                string            `json:"category,omitempty"`
	LatestVersion           string            `json:"latest_version"`
	LatestPackageIdentifier string            `json:"latest_package_identifier"`
	Label                   map[string]string `json:"label,omitempty"`
	Brief                   map[string]string `json:"brief,omitempty"`
	InstallCount            int64             `json:"install_count"`
	Verification            *struct {
		AuthorizedCategory string `json:"authorized_category"`
	} `json:"verification,omitempty"`
}

// ID is org/name, from plugin_id or else from org and name.
func (p Plugin) ID() string {
	if p.PluginID != "" && strings.Contains(p.PluginID, "/") {
		return p.PluginID
	}
	return p.Org + "/" + p.Name
}

// Text returns the English text of a localized field, else any.
func Text(m map[string]string) string {
	if s := m["en_US"]; s != "" {
		return s
	}
	for _, s := range m {
		return s
	}
	return ""
}

// Version is one published version of a plugin.
type Version struct {
	Version          string `json:"version"`
	UniqueIdentifier string `json:"unique_identifier"`
	Checksum         string `json:"checksum,omitempty"`
	CreatedAt        string `json:"created_at,omitempty"`
	Status           string `json:"status,omitempty"`
}

// SearchResult is a page of search results.
type SearchResult struct {
	Plugins []Plugin `json:"plugins"`
	Total   int      `json:"total"`
}

// Search asks for plugins matching query, most installed first.
func (c *Client) Search(ctx context.Context, query string, page, pageSize int) (SearchResult, error) {
	body := map[string]any{
		"page": max(page, 1), "page_size": min(max(pageSize, 1), 100), "query": query,
		"sort_by": "install_count", "sort_order": "DESC", "type": "plugin",
	}
	var res SearchResult
	err := c.call(ctx, http.MethodPost, "/api/v1/plugins/search/advanced", "", body, &res)
	return res, err
}

// Versions lists a plugin's versions (up to the first 100, newest first as the Marketplace
// orders them).
func (c *Client) Versions(ctx context.Context, org, name string) ([]Version, error) {
	path := "/api/v1/plugins/" + url.PathEscape(org) + "/" + url.PathEscape(name) + "/versions?page=1&page_size=100"
	var res struct {
		Versions []Version `json:"versions"`
	}
	if err := c.call(ctx, http.MethodGet, path, org+"/"+name, nil, &res); err != nil {
		return nil, err
	}
	return res.Versions, nil
}

// Latest returns a plugin's listing with its latest package, through the batch route Dify's
// API server uses.
func (c *Client) Latest(ctx context.Context, org, name string) (Plugin, error) {
	id := org + "/" + name
	var res struct {
		Plugins []Plugin `json:"plugins"`
	}
	if err := c.call(ctx, http.MethodPost, "/api/v1/plugins/batch", id, map[string]any{"plugin_ids": []string{id}}, &res); err != nil {
		return Plugin{}, err
	}
	for _, p := range res.Plugins {
		if p.ID() == id {
			return p, nil
		}
	}
	return Plugin{}, &Error{URL: c.base + "/api/v1/plugins/batch", ID: id, Err: ErrNotFound}
}

// maxJSON bounds a JSON answer; a search page is a few hundred KiB at most.
const maxJSON = 16 << 20

// call sends one JSON request and decodes the envelope's data into out.
func (c *Client) call(ctx context.Context, method, path, id string, body any, out any) error {
	u := c.base + path
	fail := func(err error) error { return &Error{URL: u, ID: id, Err: err} }
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return fail(unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON+1))
	if err != nil {
		return fail(fmt.Errorf("reading the answer: %w", err))
	}
	if len(data) > maxJSON {
		return fail(fmt.Errorf("answer larger than %d bytes", maxJSON))
	}
	return decodeEnvelope(resp.StatusCode, data, out, fail)
}

// decodeEnvelope checks the status and the {code, msg, data} envelope and decodes data.
func decodeEnvelope(status int, data []byte, out any, fail func(error) error) error {
	var env struct {
		Code *int            `json:"code"`
		Msg  string          `json:"msg"`
		Data json.RawMessage `json:"data"`
	}
	jsonErr := json.Unmarshal(data, &env)
	switch {
	case status == http.StatusNotFound && jsonErr == nil && env.Code != nil:
		if env.Msg != "" {
			return fail(fmt.Errorf("%w: %s", ErrNotFound, env.Msg))
		}
		return fail(ErrNotFound)
	case status == http.StatusNotFound:
		// Not the Marketplace's JSON: a wrong URL (or a proxy) as likely as an unknown plugin.
		return fail(fmt.Errorf("%w (HTTP 404 without a Marketplace answer: %s; is %s right?)", ErrNotFound, snippet(data), Setting))
	case status != http.StatusOK:
		msg := strings.TrimSpace(env.Msg)
		if msg == "" {
			msg = snippet(data)
		}
		return fail(fmt.Errorf("HTTP %d: %s", status, msg))
	case jsonErr != nil:
		return fail(fmt.Errorf("the answer is not JSON: %v (%s)", jsonErr, snippet(data)))
	case env.Code != nil && *env.Code != 0:
		msg := env.Msg
		if msg == "" {
			msg = "code " + strconv.Itoa(*env.Code)
		}
		if strings.Contains(strings.ToLower(msg), "not found") {
			return fail(fmt.Errorf("%w: %s", ErrNotFound, msg))
		}
		return fail(fmt.Errorf("the Marketplace answered: %s", msg))
	case len(env.Data) == 0 || string(env.Data) == "null":
		return fail(errors.New("the answer has no data"))
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fail(fmt.Errorf("unexpected answer: %v", err))
	}
	return nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}

// unwrapURLError drops *url.Error's repetition of the method and URL, which Error names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Download writes the package of a unique identifier to w, at most maxSize bytes, calling
// progress (when set) as bytes arrive; total is -1 when the Marketplace does not say.
func (c *Client) Download(ctx context.Context, uid string, w io.Writer, maxSize int64, progress func(done, total int64)) (int64, error) {
	u := c.base + "/api/v1/plugins/download?unique_identifier=" + url.QueryEscape(uid)
	fail := func(err error) error { return &Error{URL: u, ID: uid, Err: err} }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, fail(err)
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.dl.Do(req)
	if err != nil {
		return 0, fail(unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 0, decodeEnvelope(resp.StatusCode, data, &struct{}{}, fail)
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/json") {
		// The Marketplace answers errors as a JSON envelope with status 200.
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if err := decodeEnvelope(resp.StatusCode, data, &struct{}{}, fail); err != nil {
			return 0, err
		}
		return 0, fail(errors.New("the answer is JSON, not a package"))
	}
	if resp.ContentLength > maxSize {
		return 0, fail(fmt.Errorf("package is %d bytes, larger than the %d-byte limit", resp.ContentLength, maxSize))
	}
	pw := &progressWriter{w: w, total: resp.ContentLength, report: progress}
	n, err := io.Copy(pw, io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return n, fail(fmt.Errorf("downloading: %w", err))
	}
	if n > maxSize {
		return n, fail(fmt.Errorf("package is larger than the %d-byte limit", maxSize))
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fail(fmt.Errorf("download ended after %d of %d bytes", n, resp.ContentLength))
	}
	return n, nil
}

type progressWriter struct {
	w      io.Writer
	done   int64
	total  int64
	report func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.report != nil {
		p.report(p.done, p.total)
	}
	return n, err
}

// Ref is what a user names a Marketplace plugin by: org/name, org/name:version or a full
// unique identifier org/name:version@checksum.
type Ref struct {
	Org, Name, Version, Checksum string
}

var refPattern = regexp.MustCompile(`^([a-z0-9_-]{1,64})/([a-z0-9_-]{1,255})(?::([0-9]{1,4}(?:\.[0-9]{1,4}){1,3}(?:-\w{1,16})?))?(?:@([a-f0-9]{32,64}))?$`)

// ParseRef parses org/name[:version[@checksum]].
func ParseRef(s string) (Ref, error) {
	m := refPattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || (m[4] != "" && m[3] == "") {
		return Ref{}, fmt.Errorf("%q is not a Marketplace plugin: want org/name, org/name:version or org/name:version@checksum", s)
	}
	return Ref{Org: m[1], Name: m[2], Version: m[3], Checksum: m[4]}, nil
}

// PluginID is org/name.
func (r Ref) PluginID() string { return r.Org + "/" + r.Name }

func (r Ref) String() string {
	s := r.PluginID()
	if r.Version != "" {
		s += ":" + r.Version
	}
	if r.Checksum != "" {
		s += "@" + r.Checksum
	}
	return s
}

// Resolve turns a reference into a unique identifier: as given when it has a checksum, the
// given version's from the version list, else the latest package.
func (c *Client) Resolve(ctx context.Context, r Ref) (string, error) {
	switch {
	case r.Checksum != "":
		return r.String(), nil
	case r.Version != "":
		versions, err := c.Versions(ctx, r.Org, r.Name)
		if err != nil {
			return "", err
		}
		var have []string
		for _, v := range versions {
			if v.Version == r.Version {
				return checkUID(c, r, v.UniqueIdentifier)
			}
			have = append(have, v.Version)
		}
		u := c.base + "/api/v1/plugins/" + r.Org + "/" + r.Name + "/versions"
		if len(have) == 0 {
			return "", &Error{URL: u, ID: r.String(), Err: ErrNotFound}
		}
		return "", &Error{URL: u, ID: r.String(), Err: fmt.Errorf("%w: version %s is not published (versions: %s)", ErrNotFound, r.Version, strings.Join(have, ", "))}
	}
	p, err := c.Latest(ctx, r.Org, r.Name)
	if err != nil {
		return "", err
	}
	return checkUID(c, r, p.LatestPackageIdentifier)
}

// checkUID refuses an identifier from the Marketplace that is not of the plugin asked for
// (or of the version asked for), so a wrong answer cannot swap in another package.
func checkUID(c *Client, r Ref, uid string) (string, error) {
	got, err := ParseRef(uid)
	if err == nil && (got.Checksum == "" || got.PluginID() != r.PluginID() || (r.Version != "" && got.Version != r.Version)) {
		err = fmt.Errorf("identifier %q is not of %s", uid, r)
	}
	if err != nil {
		return "", &Error{URL: c.base, ID: r.String(), Err: fmt.Errorf("the Marketplace answered a bad identifier: %w", err)}
	}
	return uid, nil
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/plugd/plugd/internal/bundle"
)

// Decoded is what the daemon read from an uploaded package.
type Decoded struct {
	UniqueIdentifier string          `json:"unique_identifier"`
	Manifest         json.RawMessage `json:"manifest"`
	// Verification is nil for a package without a trusted signature.
	Verification *Verification `json:"verification"`
}

// Verification is the category of the key that signed a package.
type Verification struct {
	AuthorizedCategory string `json:"authorized_category"`
}

// Task statuses.
const (
	TaskPending = "pending"
	TaskRunning = "running"
	TaskSuccess = "success"
	TaskFailed  = "failed"
)

// Task is an install task as the daemon reports it.
type Task struct {
	ID               string       `json:"id"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	Status           string       `json:"status"`
	TenantID         string       `json:"tenant_id"`
	TotalPlugins     int          `json:"total_plugins"`
	CompletedPlugins int          `json:"completed_plugins"`
	Plugins          []TaskPlugin `json:"plugins"`
}

// Done reports whether the task has finished, well or not.
func (t Task) Done() bool { return t.Status == TaskSuccess || t.Status == TaskFailed }

// TaskPlugin is one plugin of a task. Phase and Progress are plugd's: what the install is
// doing (e.g. building the Python environment) and its latest output line; the reference
// daemon leaves them empty.
type TaskPlugin struct {
	UniqueIdentifier string          `json:"plugin_unique_identifier"`
	PluginID         string          `json:"plugin_id"`
	Status           string          `json:"status"`
	Message          string          `json:"message"`
	Icon             string          `json:"icon"`
	Labels           json.RawMessage `json:"labels"`
	Source           string          `json:"source"`
	Phase            string          `json:"phase,omitempty"`
	Progress         string          `json:"progress,omitempty"`
}

// PluginItem is one installed plugin of the tenant.
type PluginItem struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	PluginID         string          `json:"plugin_id"`
	TenantID         string          `json:"tenant_id"`
	UniqueIdentifier string          `json:"plugin_unique_identifier"`
	InstallationID   string          `json:"installation_id"`
	Version          string          `json:"version"`
	Source           string          `json:"source"`
	RuntimeType      string          `json:"runtime_type"`
	Checksum         string          `json:"checksum"`
	EndpointsSetups  int             `json:"endpoints_setups"`
	EndpointsActive  int             `json:"endpoints_active"`
	Declaration      json.RawMessage `json:"declaration"`
	Meta             json.RawMessage `json:"meta"`
	// Verification is the signer's category (plugd only; nil from the reference daemon or
	// for an unverified package).
	Verification *Verification `json:"verification,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// UploadPackage sends a .difypkg to the daemon, which checks and stores it but does not
// install it. The file is streamed, never held in memory; progress, when set, is called as
// bytes of the file go out. verify asks the daemon to refuse an unsigned package even when
// it does not force verification itself.
func (c *Client) UploadPackage(ctx context.Context, path string, verify bool, progress func(sent, total int64)) (Decoded, error) {
	var d Decoded
	if err := c.uploadFile(ctx, "management/install/upload/package", "dify_pkg", path, verify, progress, &d); err != nil {
		return Decoded{}, err
	}
	if d.UniqueIdentifier == "" {
		return Decoded{}, fmt.Errorf("uploading %s: the daemon answered without a unique identifier", path)
	}
	return d, nil
}

// BundleDependency is one dependency of an uploaded bundle as the daemon answers it
// ({type, value}): exactly one of Github, Marketplace and Package is set, by Type. A type
// this client does not know leaves all three nil.
type BundleDependency struct {
	Type        string                 `json:"type"`
	Github      *bundle.GithubRef      `json:"-"`
	Marketplace *bundle.MarketplaceRef `json:"-"`
	// Package is a package the bundle held, now uploaded: install it by its identifier.
	Package *Decoded `json:"-"`
}

// UnmarshalJSON reads {type, value} into the field Type names.
func (d *BundleDependency) UnmarshalJSON(b []byte) error {
	var raw struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*d = BundleDependency{Type: raw.Type}
	var target any
	switch bundle.DependencyType(raw.Type) {
	case bundle.Github:
		d.Github = &bundle.GithubRef{}
		target = d.Github
	case bundle.Marketplace:
		d.Marketplace = &bundle.MarketplaceRef{}
		target = d.Marketplace
	case bundle.Package:
		d.Package = &Decoded{}
		target = d.Package
	default:
		return nil
	}
	if err := json.Unmarshal(raw.Value, target); err != nil {
		return fmt.Errorf("%s dependency: %w", raw.Type, err)
	}
	return nil
}

// UploadBundle sends a .difybndl to the daemon (install/upload/bundle), which stores the
// packages it holds and answers every dependency, in the bundle's order. Nothing is
// installed yet. verify and progress are as for UploadPackage.
func (c *Client) UploadBundle(ctx context.Context, path string, verify bool, progress func(sent, total int64)) ([]BundleDependency, error) {
	var deps []BundleDependency
	if err := c.uploadFile(ctx, "management/install/upload/bundle", "dify_bundle", path, verify, progress, &deps); err != nil {
		return nil, err
	}
	for i, d := range deps {
		if d.Package != nil && d.Package.UniqueIdentifier == "" {
			return nil, fmt.Errorf("uploading %s: the daemon answered dependencies[%d] without a unique identifier", path, i)
		}
	}
	return deps, nil
}

// uploadFile posts the file at path as the multipart field, with verify_signature, to a
// tenant route and decodes the answer into out. The file is streamed, never held in memory.
func (c *Client) uploadFile(ctx context.Context, route, field, path string, verify bool, progress func(sent, total int64), out any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file", path)
	}

	// The form is a fixed head (the verify_signature field and the file part's header), the
	// file, and a fixed tail; knowing all three lengths lets the request carry a
	// Content-Length, so the daemon can refuse an oversized upload before reading it.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("verify_signature", strconv.FormatBool(verify)); err != nil {
		return err
	}
	if _, err := mw.CreateFormFile(field, filepath.Base(path)); err != nil {
		return err
	}
	head := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return err
	}
	tail := bytes.Clone(buf.Bytes())

	var file io.Reader = f
	if progress != nil {
		file = &progressReader{r: f, total: st.Size(), progress: progress}
	}
	body := io.MultiReader(bytes.NewReader(head), file, bytes.NewReader(tail))
	req, err := c.newRequest(ctx, http.MethodPost, c.tenantURL(route, nil), body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(head)) + st.Size() + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.call(req, out)
}

type progressReader struct {
	r        io.Reader
	sent     int64
	total    int64
	progress func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		p.progress(p.sent, p.total)
	}
	return n, err
}

// InstallIdentifiers asks the daemon to install uploaded packages for the tenant. source is
// the label stored on the installation ("package", "marketplace", "github"). When every
// plugin id is already installed (in any version) the daemon does nothing and allInstalled
// is true; otherwise taskID names the task to follow with Task.
func (c *Client) InstallIdentifiers(ctx context.Context, uids []string, source string) (allInstalled bool, taskID string, err error) {
	metas := make([]map[string]any, len(uids))
	for i := range metas {
		metas[i] = map[string]any{}
	}
	var out struct {
		AllInstalled bool   `json:"all_installed"`
		TaskID       string `json:"task_id"`
	}
	err = c.postJSON(ctx, "management/install/identifiers", map[string]any{
		"plugin_unique_identifiers": uids,
		"source":                    source,
		"metas":                     metas,
	}, &out)
	if err != nil {
		return false, "", err
	}
	if !out.AllInstalled && out.TaskID == "" {
		return false, "", fmt.Errorf("install: the daemon answered without a task id")
	}
	return out.AllInstalled, out.TaskID, nil
}

// Task reads an install task.
func (c *Client) Task(ctx context.Context, id string) (Task, error) {
	var t Task
	err := c.get(ctx, "management/install/tasks/"+url.PathEscape(id), nil, &t)
	return t, err
}

// listPageSize is the largest page the daemon serves.
const listPageSize = 256

// List returns every plugin installed for the tenant, reading as many pages as needed.
func (c *Client) List(ctx context.Context) ([]PluginItem, error) {
	var all []PluginItem
	seen := map[string]bool{}
	for page := 1; ; page++ {
		var out struct {
			List  []PluginItem `json:"list"`
			Total int          `json:"total"`
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "page_size": {strconv.Itoa(listPageSize)}}
		if err := c.get(ctx, "management/list", q, &out); err != nil {
			return nil, err
		}
		added := 0
		for _, it := range out.List {
			key := it.InstallationID + "\x00" + it.PluginID
			if !seen[key] {
				seen[key] = true
				all = append(all, it)
				added++
			}
		}
		if len(out.List) < listPageSize || len(all) >= out.Total {
			return all, nil
		}
		if added == 0 {
			return nil, fmt.Errorf("listing plugins: page %d repeats earlier pages (the daemon ignores paging?)", page)
		}
	}
}

// Uninstall removes one installation of the tenant. Like the reference, the daemon may
// answer success for an installation that does not exist.
func (c *Client) Uninstall(ctx context.Context, installationID string) error {
	var ok bool
	if err := c.postJSON(ctx, "management/uninstall", map[string]string{"plugin_installation_id": installationID}, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("uninstall %s: the daemon answered false", installationID)
	}
	return nil
}

// ResetResult is what the daemon says after a reset.
type ResetResult struct {
	UniqueIdentifier string `json:"plugin_unique_identifier"`
	Running          bool   `json:"running"` // a runtime of it existed and was reset
}

// Reset clears the failed state of the tenant's installed plugin pluginID (author/name) at
// once: a crash-looping plugin is started again by the next request instead of after its
// back-off.
func (c *Client) Reset(ctx context.Context, pluginID string) (ResetResult, error) {
	var r ResetResult
	err := c.postJSON(ctx, "management/reset", map[string]string{"plugin_id": pluginID}, &r)
	return r, err
}

// DebugKey is a remote-debugging key and when it expires.
type DebugKey struct {
	Key       string    `json:"key"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DebugKey asks the daemon for the tenant's remote-debugging key, renewing it.
func (c *Client) DebugKey(ctx context.Context) (DebugKey, error) {
	var k DebugKey
	err := c.postJSON(ctx, "debugging/key", struct{}{}, &k)
	return k, err
}

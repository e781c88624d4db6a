// Package adopt takes over a running reference deployment (langgenius/dify-plugin-daemon):
// it reads the reference's database and object storage, never writing to either, and imports
// into plugd's store what Dify relies on — uploaded packages and their declarations, every
// tenant's installations (same ids, unique identifiers, source and meta), endpoints (same id and
// hook id, so public /e/ URLs and Dify-encrypted secrets keep working), plugin key-value
// storage and finished install tasks. Running it again imports only what is new or changed,
// so a team can adopt, run both daemons side by side, and adopt once more before switching.
//
// Endpoint secrets need no re-encryption: the reference has Dify encrypt them (inner API
// invoke/encrypt with the tenant's key) and stores the ciphertext; plugd asks the same Dify to
// decrypt the same ciphertext, so they are carried over byte for byte.
package adopt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/install"
	"github.com/plugd/plugd/internal/store"
)

// TargetStore is what adoption needs of plugd's store.
type TargetStore interface {
	GetDeclaration(ctx context.Context, uniqueIdentifier string) (store.Declaration, error)
	GetInstallationByPlugin(ctx context.Context, tenantID, pluginID string) (store.Installation, error)
	ListInstallations(ctx context.Context, tenantID string, p store.Page) ([]store.Installation, int, error)
	Install(ctx context.Context, inst store.Installation, p store.Plugin) (store.Installation, error)
	Upgrade(ctx context.Context, tenantID, oldUID string, newPlugin store.Plugin, source string, meta json.RawMessage) (store.Installation, bool, error)
	GetEndpointByHook(ctx context.Context, hookID string) (store.Endpoint, error)
	ListEndpoints(ctx context.Context, tenantID, pluginID string, p store.Page) ([]store.Endpoint, error)
	CreateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error)
	UpdateEndpoint(ctx context.Context, e store.Endpoint) (store.Endpoint, error)
	GetTask(ctx context.Context, tenantID, id string) (store.Task, error)
	CreateTask(ctx context.Context, t store.Task) (store.Task, error)
}

// KVStore is plugd's plugin key-value storage.
type KVStore interface {
	Get(ctx context.Context, ns backwards.Namespace, key string) ([]byte, error)
	Set(ctx context.Context, ns backwards.Namespace, key string, value []byte, limit int64) error
	StorageUsage(ctx context.Context, ns backwards.Namespace) (int64, error)
}

// Packages stores a package the reference accepted (install.Manager.Adopt).
type Packages interface {
	Adopt(ctx context.Context, r io.Reader) (install.Decoded, error)
}

// Kinds of objects adopted, in the order they are adopted.
const (
	KindPackage      = "package"
	KindInstallation = "installation"
	KindEndpoint     = "endpoint"
	KindKV           = "kv"
	KindTask         = "task"
	KindDebugging    = "debugging"
)

// Kinds lists the kinds in report order.
var Kinds = []string{KindPackage, KindInstallation, KindEndpoint, KindKV, KindTask}

// Counts says what happened to the objects of one kind.
type Counts struct {
	Imported  int `json:"imported"`  // new in plugd (or, with DryRun, would be)
	Updated   int `json:"updated"`   // changed on the reference since an earlier adoption
	Unchanged int `json:"unchanged"` // already in plugd as on the reference
	Failed    int `json:"failed"`    // could not be imported: see Problems
	Skipped   int `json:"skipped"`   // cannot be taken over by design: see Problems
}

// Problem is an object not imported, or worth a look, with why and what to do.
type Problem struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Tenant string `json:"tenant_id,omitempty"`
	// Level: "failed" (makes the run fail), "skipped" (plugd cannot take it over) or "note".
	Level  string `json:"level"`
	Reason string `json:"reason"`
	Action string `json:"action"`
}

// Change is one object updated because it changed on the reference since the last adoption.
type Change struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Tenant string `json:"tenant_id,omitempty"`
	What   string `json:"what"`
}

// Report is the outcome of a run.
type Report struct {
	DryRun   bool               `json:"dry_run"`
	Counts   map[string]*Counts `json:"counts"`
	Problems []Problem          `json:"problems"`
	Changes  []Change           `json:"changes"`
	Duration time.Duration      `json:"duration_ns"`
}

// Failed reports whether any object failed to import.
func (r *Report) Failed() bool {
	for _, c := range r.Counts {
		if c.Failed > 0 {
			return true
		}
	}
	return false
}

// Adopter copies one reference deployment into plugd.
type Adopter struct {
	Source   *Source
	Store    TargetStore
	KV       KVStore
	Packages Packages
	// DryRun reads everything and reports what would be imported, writing nothing.
	DryRun bool
	// Progress, when set, is told how far each kind got (for large storages). It is called
	// from several goroutines.
	Progress func(kind string, done, total int)
	// Workers bounds the installations, endpoints or KV values adopted at once (0: 4). Each is
	// its own transaction in plugd's store, so a few at a time hide the round trips.
	Workers int
}

// kvLimit lets adopted values past any quota: the reference writes a value before it checks
// its quota, so a namespace may hold more than its limit, and refusing part of it would lose
// data. plugd's quota applies again to the plugin's next write.
const kvLimit = 1 << 62

type run struct {
	*Adopter
	mu      sync.Mutex // guards rep, instOK and tenants while items are adopted in parallel
	rep     *Report
	snap    *Snapshot
	pkgOK   map[string]bool // unique identifiers whose package is (or would be) in plugd
	instOK  map[[2]string]bool
	tenants map[string]bool
}

// Run adopts everything once and reports. The error is for failures that stop the whole run
// (the reference cannot be read); per-object failures are in the report.
func (a *Adopter) Run(ctx context.Context) (*Report, error) {
	start := time.Now()
	snap, err := a.Source.Read(ctx)
	if err != nil {
		return nil, err
	}
	r := &run{Adopter: a, snap: snap, pkgOK: map[string]bool{}, instOK: map[[2]string]bool{}, tenants: map[string]bool{},
		rep: &Report{DryRun: a.DryRun, Counts: map[string]*Counts{}, Problems: []Problem{}, Changes: []Change{}}}
	for _, k := range Kinds {
		r.rep.Counts[k] = &Counts{}
	}
	steps := []func(context.Context) error{r.packages, r.installations, r.endpoints, r.kv, r.tasks, r.gone}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return r.rep, err
		}
	}
	r.problem(Problem{Kind: KindDebugging, Level: "skipped",
		Reason: "remote-debugging keys and connections live in the reference's Redis and processes, not in its database",
		Action: "developers ask plugd for a new key (POST /plugin/{tenant}/debugging/key, PLUGIN_REMOTE_INSTALLING_ENABLED=true) and restart their plugin against plugd's debugging port"})
	r.rep.Duration = time.Since(start)
	return r.rep, nil
}

func (r *run) problem(p Problem) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Problems = append(r.rep.Problems, p)
	if c := r.rep.Counts[p.Kind]; c != nil {
		switch p.Level {
		case "failed":
			c.Failed++
		case "skipped":
			c.Skipped++
		}
	}
}

func (r *run) inc(n *int) {
	r.mu.Lock()
	*n++
	r.mu.Unlock()
}

func (r *run) change(c Change) {
	r.mu.Lock()
	r.rep.Changes = append(r.rep.Changes, c)
	r.mu.Unlock()
}

func (r *run) setInst(tenant, pluginID string, ok bool) {
	r.mu.Lock()
	r.instOK[[2]string{tenant, pluginID}] = ok
	r.mu.Unlock()
}

func (r *run) inst(tenant, pluginID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.instOK[[2]string{tenant, pluginID}]
}

// each runs fn for items 0..n-1 on up to Workers goroutines, telling Progress as items finish.
// The first error (one that stops the whole run) cancels the rest.
func (r *run) each(ctx context.Context, kind string, n int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.workers())
	var done atomic.Int64
	for i := range n {
		g.Go(func() error {
			err := fn(gctx, i)
			r.progress(kind, int(done.Add(1)), n)
			return err
		})
	}
	return g.Wait()
}

func (r *run) workers() int {
	if r.Workers > 0 {
		return r.Workers
	}
	return 4
}

func (r *run) progress(kind string, done, total int) {
	if r.Progress != nil {
		r.Progress(kind, done, total)
	}
}

// packages imports every uploaded package (plugin_declarations) and every installed one.
func (r *run) packages(ctx context.Context) error {
	seen := map[string]bool{}
	var uids []string
	for _, d := range r.snap.Declarations {
		if !seen[d.UniqueIdentifier] {
			seen[d.UniqueIdentifier] = true
			uids = append(uids, d.UniqueIdentifier)
		}
	}
	for _, in := range r.snap.Installations {
		if !seen[in.UniqueIdentifier] && r.localInstall(in) {
			seen[in.UniqueIdentifier] = true
			uids = append(uids, in.UniqueIdentifier)
		}
	}
	c := r.rep.Counts[KindPackage]
	for i, uid := range uids {
		r.progress(KindPackage, i, len(uids))
		if r.snap.Serverless[uid] || r.snap.Plugins[uid].InstallType == "remote" {
			continue // reported with its installations
		}
		if _, err := r.Store.GetDeclaration(ctx, uid); err == nil {
			r.pkgOK[uid] = true
			r.inc(&c.Unchanged)
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("plugd store: %w", err)
		}
		key, err := r.packageKey(ctx, uid)
		if err != nil {
			r.problem(Problem{Kind: KindPackage, ID: uid, Level: "failed", Reason: err.Error(),
				Action: "restore the package object in the reference's storage and adopt again, or upload the .difypkg to plugd and install it for the tenants that had it"})
			continue
		}
		if r.DryRun {
			r.pkgOK[uid] = true
			r.inc(&c.Imported)
			continue
		}
		if err := r.importPackage(ctx, uid, key); err != nil {
			r.problem(Problem{Kind: KindPackage, ID: uid, Level: "failed", Reason: err.Error(),
				Action: "check the package with `plugd plugin validate`; installations of it are not adopted"})
			continue
		}
		r.pkgOK[uid] = true
		r.inc(&c.Imported)
	}
	r.progress(KindPackage, len(uids), len(uids))
	return nil
}

// packageKey finds a package's bytes: the upload cache first, then the installed copy (the
// reference keeps both; either may have been cleaned by hand).
func (r *run) packageKey(ctx context.Context, uid string) (string, error) {
	var tried []string
	for _, prefix := range []string{r.Source.S.PackagePath, r.Source.S.InstalledPath} {
		key := prefix + "/" + uid
		tried = append(tried, key)
		if err := blob.ValidKey(key); err != nil {
			return "", fmt.Errorf("package object name: %w", err)
		}
		_, err := r.Source.Blob.Stat(ctx, key)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, blob.ErrNotFound) {
			return "", fmt.Errorf("reading the reference's storage: %w", err)
		}
	}
	return "", fmt.Errorf("package missing from the reference's storage (looked for %s and %s)", tried[0], tried[1])
}

func (r *run) importPackage(ctx context.Context, uid, key string) error {
	rc, err := r.Source.Blob.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("reading %s: %w", key, err)
	}
	defer rc.Close()
	d, err := r.Packages.Adopt(ctx, rc)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if d.UniqueIdentifier != uid {
		return fmt.Errorf("%s: plugd computes the identifier %s for these bytes, the reference recorded %s", key, d.UniqueIdentifier, uid)
	}
	return nil
}

func (r *run) localInstall(in RefInstallation) bool {
	p := r.snap.Plugins[in.UniqueIdentifier]
	return in.RuntimeType != "remote" && in.RuntimeType != "serverless" && p.InstallType != "remote" && p.InstallType != "serverless" && !r.snap.Serverless[in.UniqueIdentifier]
}

func (r *run) installations(ctx context.Context) error {
	c := r.rep.Counts[KindInstallation]
	return r.each(ctx, KindInstallation, len(r.snap.Installations), func(ctx context.Context, i int) error {
		in := r.snap.Installations[i]
		r.mu.Lock()
		r.tenants[in.TenantID] = true
		r.mu.Unlock()
		fail := func(level, reason, action string) {
			r.problem(Problem{Kind: KindInstallation, ID: in.ID, Tenant: in.TenantID, Level: level,
				Reason: in.UniqueIdentifier + ": " + reason, Action: action})
		}
		p := r.snap.Plugins[in.UniqueIdentifier]
		switch {
		case p.InstallType == "serverless" || in.RuntimeType == "serverless" || r.snap.Serverless[in.UniqueIdentifier]:
			fail("skipped", "runs on the reference's serverless runtime, which plugd does not have",
				"install the same package in plugd for this tenant (it then runs as a local process)")
			return nil
		case p.InstallType == "remote" || in.RuntimeType == "remote":
			fail("skipped", "a remote-debugging plugin, alive only while its developer's process is connected to the reference",
				"the developer reconnects to plugd with a key from plugd")
			return nil
		case !r.pkgOK[in.UniqueIdentifier]:
			fail("failed", "its package was not adopted (see the package's entry)", "fix the package, then adopt again")
			return nil
		}
		meta, err := ParseObject(in.Meta, "meta")
		if err != nil {
			fail("failed", err.Error(), "fix the row's meta column on the reference, or install the plugin in plugd by hand")
			return nil
		}
		metaJSON, _ := json.Marshal(meta)
		cur, err := r.Store.GetInstallationByPlugin(ctx, in.TenantID, in.PluginID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			r.setInst(in.TenantID, in.PluginID, true)
			if r.DryRun {
				r.inc(&c.Imported)
				return nil
			}
			_, err := r.Store.Install(ctx, store.Installation{
				ID: in.ID, TenantID: in.TenantID, PluginID: in.PluginID, UniqueIdentifier: in.UniqueIdentifier,
				RuntimeType: "local", Source: in.Source, Meta: metaJSON, CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt,
			}, store.Plugin{UniqueIdentifier: in.UniqueIdentifier, PluginID: in.PluginID, InstallType: "local", Source: p.Source})
			if err != nil {
				r.setInst(in.TenantID, in.PluginID, false)
				fail("failed", err.Error(), "look at the tenant's installations in plugd (plugd list --tenant)")
				return nil
			}
			r.inc(&c.Imported)
		case err != nil:
			return fmt.Errorf("plugd store: %w", err)
		case cur.UniqueIdentifier == in.UniqueIdentifier:
			r.setInst(in.TenantID, in.PluginID, true)
			r.inc(&c.Unchanged)
		default:
			r.setInst(in.TenantID, in.PluginID, true)
			if !r.DryRun {
				if _, _, err := r.Store.Upgrade(ctx, in.TenantID, cur.UniqueIdentifier,
					store.Plugin{UniqueIdentifier: in.UniqueIdentifier, PluginID: in.PluginID, InstallType: "local", Source: p.Source},
					in.Source, metaJSON); err != nil {
					fail("failed", "upgrading plugd's "+cur.UniqueIdentifier+": "+err.Error(), "upgrade it in plugd by hand")
					return nil
				}
			}
			r.inc(&c.Updated)
			r.change(Change{Kind: KindInstallation, ID: in.ID, Tenant: in.TenantID,
				What: fmt.Sprintf("upgraded from %s to %s", cur.UniqueIdentifier, in.UniqueIdentifier)})
		}
		return nil
	})
}

func (r *run) endpoints(ctx context.Context) error {
	c := r.rep.Counts[KindEndpoint]
	installed := map[[2]string]bool{}
	for _, in := range r.snap.Installations {
		installed[[2]string{in.TenantID, in.PluginID}] = true
	}
	return r.each(ctx, KindEndpoint, len(r.snap.Endpoints), func(ctx context.Context, i int) error {
		e := r.snap.Endpoints[i]
		fail := func(level, reason, action string) {
			r.problem(Problem{Kind: KindEndpoint, ID: e.ID, Tenant: e.TenantID, Level: level,
				Reason: "hook " + e.HookID + " (" + e.PluginID + "): " + reason, Action: action})
		}
		settings, err := ParseObject(e.Settings, "settings")
		if err != nil {
			fail("failed", err.Error(), "set the endpoint up again in plugd")
			return nil
		}
		settingsJSON, _ := json.Marshal(settings)
		cur, err := r.Store.GetEndpointByHook(ctx, e.HookID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if !installed[[2]string{e.TenantID, e.PluginID}] {
				fail("skipped", "the tenant uninstalled the plugin; the reference keeps the endpoint but cannot serve it",
					"nothing, unless the plugin is installed again: then set the endpoint up again")
				return nil
			}
			if !r.inst(e.TenantID, e.PluginID) {
				fail("failed", "its installation was not adopted (see the installation's entry)", "fix the installation, then adopt again")
				return nil
			}
			if r.DryRun {
				r.inc(&c.Imported)
				return nil
			}
			_, err := r.Store.CreateEndpoint(ctx, store.Endpoint{
				ID: e.ID, HookID: e.HookID, TenantID: e.TenantID, UserID: e.UserID, PluginID: e.PluginID, Name: e.Name,
				Enabled: e.Enabled, ExpiredAt: e.ExpiredAt, Settings: settingsJSON, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
			})
			if err != nil {
				fail("failed", err.Error(), "look at the endpoint in plugd (GET /plugin/{tenant}/endpoint/list)")
				return nil
			}
			r.inc(&c.Imported)
		case err != nil:
			return fmt.Errorf("plugd store: %w", err)
		case cur.ID != e.ID || cur.TenantID != e.TenantID:
			fail("failed", fmt.Sprintf("plugd has hook id %s already, as endpoint %s of tenant %s", e.HookID, cur.ID, cur.TenantID),
				"remove that endpoint from plugd if it was made there by mistake, then adopt again")
		default:
			var what []string
			if cur.Name != e.Name {
				what = append(what, "name")
			}
			if cur.Enabled != e.Enabled {
				what = append(what, "enabled")
			}
			if !sameJSON(cur.Settings, settingsJSON) {
				what = append(what, "settings")
			}
			if len(what) == 0 {
				r.inc(&c.Unchanged)
				return nil
			}
			if !r.DryRun {
				if _, err := r.Store.UpdateEndpoint(ctx, store.Endpoint{ID: e.ID, TenantID: e.TenantID, Name: e.Name,
					Enabled: e.Enabled, Settings: settingsJSON}); err != nil {
					fail("failed", err.Error(), "update the endpoint in plugd by hand")
					return nil
				}
			}
			r.inc(&c.Updated)
			r.change(Change{Kind: KindEndpoint, ID: e.ID, Tenant: e.TenantID,
				What: fmt.Sprintf("%v changed", what)})
		}
		return nil
	})
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// kv imports every object under the reference's PERSISTENCE_STORAGE_PATH.
func (r *run) kv(ctx context.Context) error {
	c := r.rep.Counts[KindKV]
	prefix := r.Source.S.KVPath + "/"
	keys, err := r.Source.Blob.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing the reference's plugin storage under %s: %w", prefix, err)
	}
	err = r.each(ctx, KindKV, len(keys), func(ctx context.Context, i int) error {
		object := keys[i]
		fail := func(reason, action string) {
			r.problem(Problem{Kind: KindKV, ID: object, Level: "failed", Reason: reason, Action: action})
		}
		o, err := ParseKVObjectKey(r.Source.S.KVPath, object)
		if err != nil {
			fail(err.Error(), "no plugin can read this object on the reference either; remove it there or ignore it")
			return nil
		}
		if err := backwards.ValidateKey(o.Key); err != nil {
			fail(err.Error(), "the plugin must write this key again under a name plugd accepts")
			return nil
		}
		ns := backwards.Namespace{TenantID: o.TenantID, PluginID: o.PluginID}
		value, err := readAll(ctx, r.Source.Blob, object)
		if err != nil {
			fail(err.Error(), "check the reference's storage and adopt again")
			return nil
		}
		cur, err := r.KV.Get(ctx, ns, o.Key)
		switch {
		case err == nil && bytes.Equal(cur, value):
			r.inc(&c.Unchanged)
			return nil
		case err != nil && !errors.Is(err, backwards.ErrKeyNotFound):
			return fmt.Errorf("plugd storage: %w", err)
		}
		if !r.DryRun {
			if err := r.KV.Set(ctx, ns, o.Key, value, kvLimit); err != nil {
				fail(err.Error(), "check plugd's database and adopt again")
				return nil
			}
		}
		if err == nil {
			r.inc(&c.Updated)
			r.change(Change{Kind: KindKV, ID: object, Tenant: o.TenantID, What: "value changed"})
		} else {
			r.inc(&c.Imported)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Quota accounting: plugd counts what it holds; say where the reference counted otherwise.
	if r.DryRun {
		return nil
	}
	for _, st := range r.snap.Storages {
		ns := backwards.Namespace{TenantID: st.TenantID, PluginID: st.PluginID}
		used, err := r.KV.StorageUsage(ctx, ns)
		if err != nil {
			return fmt.Errorf("plugd storage: %w", err)
		}
		if used != st.Size {
			r.problem(Problem{Kind: KindKV, ID: st.PluginID, Tenant: st.TenantID, Level: "note",
				Reason: fmt.Sprintf("the reference counted %d bytes against this plugin's quota, its objects hold %d", st.Size, used),
				Action: "none: plugd counts the bytes it holds"})
		}
	}
	return nil
}

func readAll(ctx context.Context, b blob.Store, key string) ([]byte, error) {
	rc, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// succeededKept is how long the reference keeps a succeeded install task (it deletes it 120 s
// after success, and plugd does the same by default): older ones linger only when the
// reference stopped meanwhile, Dify no longer asks for them, and plugd would delete them at its
// next start. Failed tasks stay until Dify deletes them, so they are always carried over.
const succeededKept = 2 * time.Minute

func (r *run) tasks(ctx context.Context) error {
	c := r.rep.Counts[KindTask]
	expired := 0
	for i, t := range r.snap.Tasks {
		r.progress(KindTask, i, len(r.snap.Tasks))
		switch store.TaskStatus(t.Status) {
		case store.TaskSuccess:
			if time.Since(t.UpdatedAt) > succeededKept {
				expired++
				continue
			}
		case store.TaskFailed:
		default:
			r.problem(Problem{Kind: KindTask, ID: t.ID, Tenant: t.TenantID, Level: "skipped",
				Reason: "still " + t.Status + " on the reference", Action: "adopt again once it has finished"})
			continue
		}
		if _, err := r.Store.GetTask(ctx, t.TenantID, t.ID); err == nil {
			r.inc(&c.Unchanged)
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("plugd store: %w", err)
		}
		plugins, err := ParseTaskPlugins(t.Plugins)
		if err != nil {
			r.problem(Problem{Kind: KindTask, ID: t.ID, Tenant: t.TenantID, Level: "failed", Reason: err.Error(),
				Action: "none needed for the plugins themselves; Dify only shows the task"})
			continue
		}
		if !r.DryRun {
			if _, err := r.Store.CreateTask(ctx, store.Task{ID: t.ID, TenantID: t.TenantID, Status: store.TaskStatus(t.Status),
				TotalPlugins: t.TotalPlugins, CompletedPlugins: t.CompletedPlugins, Plugins: plugins,
				CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}); err != nil {
				r.problem(Problem{Kind: KindTask, ID: t.ID, Tenant: t.TenantID, Level: "failed", Reason: err.Error(), Action: "adopt again"})
				continue
			}
		}
		r.inc(&c.Imported)
	}
	r.progress(KindTask, len(r.snap.Tasks), len(r.snap.Tasks))
	if expired > 0 {
		c.Skipped += expired
		r.problem(Problem{Kind: KindTask, Level: "note",
			Reason: fmt.Sprintf("%d install tasks that succeeded more than %s ago are not carried over: the reference deletes them %s after success, and Dify no longer asks for them", expired, succeededKept, succeededKept),
			Action: "none"})
	}
	return nil
}

// gone notes installations and endpoints plugd has for the reference's tenants that the
// reference no longer has: removed there since an earlier adoption. They are kept; the
// operator decides.
func (r *run) gone(ctx context.Context) error {
	ref := map[[2]string]bool{}
	for _, in := range r.snap.Installations {
		ref[[2]string{in.TenantID, in.PluginID}] = true
	}
	hooks := map[string]bool{}
	for _, e := range r.snap.Endpoints {
		hooks[e.HookID] = true
		r.tenants[e.TenantID] = true
	}
	tenants := make([]string, 0, len(r.tenants))
	for t := range r.tenants {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, t := range tenants {
		for page := 1; ; page++ {
			list, _, err := r.Store.ListInstallations(ctx, t, store.Page{Page: page, Size: 256})
			if err != nil {
				return fmt.Errorf("plugd store: %w", err)
			}
			for _, in := range list {
				if !ref[[2]string{t, in.PluginID}] {
					r.problem(Problem{Kind: KindInstallation, ID: in.ID, Tenant: t, Level: "note",
						Reason: in.UniqueIdentifier + " is installed in plugd but no longer on the reference",
						Action: "uninstall it in plugd if it was uninstalled on the reference on purpose"})
				}
			}
			if len(list) < 256 {
				break
			}
		}
		for page := 1; ; page++ {
			eps, err := r.Store.ListEndpoints(ctx, t, "", store.Page{Page: page, Size: 256})
			if err != nil {
				return fmt.Errorf("plugd store: %w", err)
			}
			for _, e := range eps {
				if !hooks[e.HookID] {
					r.problem(Problem{Kind: KindEndpoint, ID: e.ID, Tenant: t, Level: "note",
						Reason: "hook " + e.HookID + " (" + e.PluginID + ") is set up in plugd but no longer on the reference",
						Action: "remove it in plugd if it was removed on the reference on purpose"})
				}
			}
			if len(eps) < 256 {
				break
			}
		}
	}
	return nil
}

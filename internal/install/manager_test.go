package install

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pkgfile"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/scaffold"
	"github.com/plugd/plugd/internal/signature"
	"github.com/plugd/plugd/internal/store"
	"github.com/plugd/plugd/internal/store/sqlstore"
)

const vectors = "../../testdata/vectors"

// fakePreparer stands in for the Python side: it records calls and can block or fail.
type fakePreparer struct {
	mu       sync.Mutex
	prepared []string
	removed  []string
	envs     map[string]string // uid -> env key
	block    chan struct{}     // when set, Prepare waits on it (or ctx)
	fail     error
	running  atomic.Int32
	peak     atomic.Int32
}

func (f *fakePreparer) Prepare(ctx context.Context, uid string, progress func(pyenv.Progress)) (*Prepared, error) {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if progress != nil {
		progress(pyenv.Progress{Phase: pyenv.PhaseResolving, Line: "resolving " + uid})
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail != nil {
		return nil, f.fail
	}
	id, _ := ParseIdentifier(uid)
	f.mu.Lock()
	f.prepared = append(f.prepared, uid)
	if f.envs == nil {
		f.envs = map[string]string{}
	}
	f.envs[uid] = "env-shared"
	f.mu.Unlock()
	return &Prepared{ID: id, EnvKey: "env-shared"}, nil
}

func (f *fakePreparer) Remove(id Identifier) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id.String())
	delete(f.envs, id.String())
	return nil
}

type fakeRuntimes struct {
	mu       sync.Mutex
	warmed   []string
	released []string
	warmErr  error
}

func (f *fakeRuntimes) Warm(ctx context.Context, p *Prepared) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.warmed = append(f.warmed, p.ID.String())
	return f.warmErr
}

func (f *fakeRuntimes) Release(ctx context.Context, uid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released = append(f.released, uid)
	return nil
}

type env struct {
	store store.Store
	blob  blob.Store
	prep  *fakePreparer
	rt    *fakeRuntimes
	dir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := blob.NewDir(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: db, blob: b, prep: &fakePreparer{}, rt: &fakeRuntimes{}, dir: dir}
}

func (e *env) manager(t *testing.T, mod func(*Config)) *Manager {
	t.Helper()
	cfg := Config{Store: e.store, Blob: e.blob, Workspace: e.prep, Runtimes: e.rt, TempDir: e.dir}
	if mod != nil {
		mod(&cfg)
	}
	m := New(cfg)
	t.Cleanup(m.Close)
	return m
}

// buildPackage scaffolds a tool plugin and packages it; version changes the manifest's.
func buildPackage(t *testing.T, name, version string) []byte {
	t.Helper()
	return buildPackageBy(t, "tester", name, version)
}

// buildPackageBy is buildPackage with the manifest's author.
func buildPackageBy(t *testing.T, author, name, version string) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	err := scaffold.Generate(dir, scaffold.Options{
		Name: name, Author: author, Description: "test plugin", Category: scaffold.Tool,
		Permissions: scaffold.Permissions{}, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(dir, "manifest.yaml")
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("version: 0.0.1"), []byte("version: "+version), 1)
	if err := os.WriteFile(mf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := pkgfile.Collect(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tree.WriteZip(context.Background(), &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func waitTask(t *testing.T, s store.Store, tenant, id string) store.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := s.GetTask(context.Background(), tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status == store.TaskSuccess || task.Status == store.TaskFailed {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task still %s: %+v", task.Status, task)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUploadDecodeAndAssets(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	pkg := buildPackage(t, "alpha", "0.0.1")
	d, err := m.Upload(ctx, "t1", bytes.NewReader(pkg), false)
	if err != nil {
		t.Fatal(err)
	}
	id, err := ParseIdentifier(d.UniqueIdentifier)
	if err != nil || id.PluginID() != "tester/alpha" || id.Version != "0.0.1" {
		t.Fatalf("identifier %q: %v", d.UniqueIdentifier, err)
	}
	if d.Verification != nil {
		t.Errorf("unsigned package verified: %+v", d.Verification)
	}
	var decl manifest.Plugin
	if err := json.Unmarshal(d.Manifest, &decl); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(decl.Icon, ".svg") || len(decl.Icon) != 64+4 {
		t.Errorf("icon not remapped to an asset id: %q", decl.Icon)
	}
	icon, err := m.Asset(ctx, decl.Icon)
	if err != nil || !bytes.Contains(icon, []byte("<svg")) {
		t.Errorf("asset %q: %v %q", decl.Icon, err, icon)
	}
	if _, err := m.Asset(ctx, "../db.sqlite"); err == nil {
		t.Error("asset id with a slash accepted")
	}
	if _, err := m.Asset(ctx, "nosuch.svg"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("missing asset: %v", err)
	}
	again, err := m.Decode(ctx, d.UniqueIdentifier)
	if err != nil || again.UniqueIdentifier != d.UniqueIdentifier || !bytes.Equal(again.Manifest, d.Manifest) {
		t.Errorf("decode: %v %s", err, again.UniqueIdentifier)
	}
	if _, err := m.Upload(ctx, "t1", bytes.NewReader(pkg), false); err != nil {
		t.Errorf("second upload of the same package: %v", err)
	}
	r, err := m.Readme(ctx, d.UniqueIdentifier, "ja_JP")
	if err != nil || r.Language != "en_US" || r.Content == "" {
		t.Errorf("readme fallback: %+v %v", r, err)
	}
	f, err := m.PackageFile(ctx, d.UniqueIdentifier, "icon.svg")
	if err != nil || !bytes.Equal(f, icon) {
		t.Errorf("package file: %v", err)
	}
	for _, bad := range []string{"../manifest.yaml", "/etc/passwd", "a\\b", ""} {
		var ie *InputError
		if _, err := m.PackageFile(ctx, d.UniqueIdentifier, bad); !errors.As(err, &ie) {
			t.Errorf("PackageFile(%q): %v, want an InputError", bad, err)
		}
	}
	if _, err := m.Decode(ctx, "tester/alpha:0.0.1@"+strings.Repeat("0", 64)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("decode of an unknown identifier: %v", err)
	}
}

func TestUploadRejects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	keys, err := signature.LoadTrustedKeys(filepath.Join(vectors, "testkey.public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(vectors, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pkg := buildPackage(t, "beta", "0.0.1")
	tests := []struct {
		name string
		mod  func(*Config)
		body []byte
		want string // in the error; "" means success
	}{
		{"garbage", nil, []byte("not a zip at all"), "dify_pkg"},
		{"truncated", nil, pkg[:len(pkg)/2], "dify_pkg"},
		{"too large", func(c *Config) { c.MaxPackageSize = 1000 }, pkg, "1000-byte limit"},
		{"unsigned when forced", func(c *Config) { c.ForceSignature = true; c.TrustedKeys = keys }, pkg, "not signed"},
		{"signed", func(c *Config) { c.ForceSignature = true; c.TrustedKeys = keys }, read("vec1.signed.difypkg"), ""},
		{"tampered when forced", func(c *Config) { c.ForceSignature = true; c.TrustedKeys = keys }, read("vec1.tampered.difypkg"), "testkey.public.pem"},
		{"tampered, not forced", func(c *Config) { c.TrustedKeys = keys }, read("vec1.tampered.difypkg"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := e.manager(t, tc.mod)
			d, err := m.Upload(ctx, "t1", bytes.NewReader(tc.body), false)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("upload: %v", err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (%T), want an InputError containing %q", err, err, tc.want)
			}
			_ = d
		})
	}
	m := e.manager(t, func(c *Config) { c.TrustedKeys = keys })
	d, err := m.Upload(ctx, "t1", bytes.NewReader(read("vec1.signed.difypkg")), true)
	if err != nil || d.Verification == nil || d.Verification.AuthorizedCategory == "" {
		t.Fatalf("signed upload: %+v %v", d, err)
	}
	var decl manifest.Plugin
	if json.Unmarshal(d.Manifest, &decl) != nil || !decl.Verified {
		t.Error("verified flag not set in the declaration")
	}
}

func TestInstallLifecycle(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	d, err := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "gamma", "0.0.1")), false)
	if err != nil {
		t.Fatal(err)
	}
	uid := d.UniqueIdentifier
	st, err := m.Install(ctx, "t1", []string{uid}, "package", nil)
	if err != nil || st.AllInstalled || st.TaskID == "" {
		t.Fatalf("install: %+v %v", st, err)
	}
	task := waitTask(t, e.store, "t1", st.TaskID)
	if task.Status != store.TaskSuccess || task.CompletedPlugins != 1 || task.Plugins[0].Status != store.TaskSuccess {
		t.Fatalf("task: %+v", task)
	}
	if len(e.rt.warmed) != 1 || e.rt.warmed[0] != uid {
		t.Errorf("warmed %v", e.rt.warmed)
	}
	inst, err := e.store.GetInstallationByPlugin(ctx, "t1", "tester/gamma")
	if err != nil || inst.UniqueIdentifier != uid || inst.Source != "package" {
		t.Fatalf("installation: %+v %v", inst, err)
	}
	// A second request finds everything installed.
	st, err = m.Install(ctx, "t1", []string{uid}, "package", nil)
	if err != nil || !st.AllInstalled {
		t.Errorf("second install: %+v %v", st, err)
	}
	// Another tenant shares the version; uninstalling one keeps it.
	st, err = m.Install(ctx, "t2", []string{uid}, "marketplace", []json.RawMessage{json.RawMessage(`{"x":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, e.store, "t2", st.TaskID)
	if err := m.Uninstall(ctx, "t1", inst.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.rt.released) != 0 {
		t.Errorf("released while t2 still has it: %v", e.rt.released)
	}
	if err := m.Uninstall(ctx, "t1", inst.ID); err != nil {
		t.Errorf("uninstalling twice: %v", err)
	}
	inst2, _ := e.store.GetInstallationByPlugin(ctx, "t2", "tester/gamma")
	if err := m.Uninstall(ctx, "t2", inst2.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.rt.released) != 1 || len(e.prep.removed) != 1 {
		t.Errorf("last uninstall freed: released %v removed %v", e.rt.released, e.prep.removed)
	}
	if _, err := e.store.GetDeclaration(ctx, uid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("declaration kept: %v", err)
	}
	id, _ := ParseIdentifier(uid)
	if _, err := e.blob.Stat(ctx, packageKey(id)); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("package kept: %v", err)
	}
}

func TestInstallInputErrors(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	good := "tester/x:0.0.1@" + strings.Repeat("a", 64)
	for _, tc := range []struct {
		uids   []string
		source string
		want   string
	}{
		{nil, "package", "plugin_unique_identifiers"},
		{[]string{"nope"}, "package", "plugin_unique_identifiers[0]"},
		{[]string{good}, "", "source"},
		{[]string{good}, "package", "never uploaded"},
	} {
		var ie *InputError
		if _, err := m.Install(ctx, "t", tc.uids, tc.source, nil); !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Install(%v, %q) = %v, want an InputError about %q", tc.uids, tc.source, err, tc.want)
		}
	}
	if _, err := m.Install(ctx, "t", []string{"nope"}, "package", nil); !errors.Is(err, ErrIdentifier) {
		t.Errorf("a bad identifier is not ErrIdentifier: %v", err)
	}
}

func TestInstallFailureIsRecorded(t *testing.T) {
	e := newEnv(t)
	e.prep.fail = errors.New("pip: no matching distribution for nosuchpkg==9")
	m := e.manager(t, nil)
	ctx := context.Background()
	d, _ := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "delta", "0.0.1")), false)
	st, err := m.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	if err != nil {
		t.Fatal(err)
	}
	task := waitTask(t, e.store, "t1", st.TaskID)
	if task.Status != store.TaskFailed || !strings.Contains(task.Plugins[0].Message, "no matching distribution for nosuchpkg==9") {
		t.Fatalf("task: %+v", task)
	}
	if _, err := e.store.GetInstallationByPlugin(ctx, "t1", "tester/delta"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("failed install left an installation: %v", err)
	}
	// A plugin that prepares but does not start fails too, and is stopped again.
	e.prep.fail = nil
	e.rt.warmErr = errors.New("no heartbeat before the start timeout")
	st, _ = m.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	task = waitTask(t, e.store, "t1", st.TaskID)
	if task.Status != store.TaskFailed || !strings.Contains(task.Plugins[0].Message, "did not start: no heartbeat") {
		t.Fatalf("task: %+v", task)
	}
	// Each failed job stopped the plugin and removed its folder; its environment stays for
	// the environment collection, as at uninstall. The package stays: it is the upload's, and
	// installing again needs it.
	if len(e.rt.released) != 2 {
		t.Errorf("a plugin whose install failed was not released: %v", e.rt.released)
	}
	if len(e.prep.removed) != 2 {
		t.Errorf("failed installs left their folder (removed %v)", e.prep.removed)
	}
	if _, err := e.store.GetDeclaration(ctx, d.UniqueIdentifier); err != nil {
		t.Errorf("the uploaded declaration went with the failed install: %v", err)
	}
}

func TestDeleteTaskCancelsWork(t *testing.T) {
	e := newEnv(t)
	e.prep.block = make(chan struct{})
	m := e.manager(t, nil)
	ctx := context.Background()
	d, _ := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "eps", "0.0.1")), false)
	st, _ := m.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	deadline := time.Now().Add(5 * time.Second)
	for e.prep.running.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	task, _ := e.store.GetTask(ctx, "t1", st.TaskID)
	if task.Status != store.TaskRunning || task.Plugins[0].Phase == "" {
		t.Errorf("running task shows no progress: %+v", task)
	}
	if err := m.DeleteTask(ctx, "t1", st.TaskID); err != nil {
		t.Fatal(err)
	}
	if e.prep.running.Load() != 0 {
		t.Error("job still running after its task was deleted")
	}
	if _, err := e.store.GetTask(ctx, "t1", st.TaskID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("task kept: %v", err)
	}
	if err := m.DeleteTask(ctx, "other-tenant", st.TaskID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting another tenant's task: %v", err)
	}
}

func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.prep.block = make(chan struct{})
	ctx := context.Background()
	first := New(Config{Store: e.store, Blob: e.blob, Workspace: e.prep, Runtimes: e.rt, TempDir: e.dir})
	d, _ := first.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "zeta", "0.0.1")), false)
	st, _ := first.Install(ctx, "t1", []string{d.UniqueIdentifier}, "package", nil)
	for e.prep.running.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	first.Close() // the daemon stops mid-install
	task, _ := e.store.GetTask(ctx, "t1", st.TaskID)
	if task.Status != store.TaskRunning {
		t.Fatalf("after shutdown the task is %s, want it left running for the next start", task.Status)
	}
	e.prep.block = nil
	second := e.manager(t, nil)
	n, err := second.Resume(ctx)
	if err != nil || n != 1 {
		t.Fatalf("resume: %d %v", n, err)
	}
	if task := waitTask(t, e.store, "t1", st.TaskID); task.Status != store.TaskSuccess {
		t.Fatalf("resumed task: %+v", task)
	}
}

func TestUpgradeSwitchesAfterWarm(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, nil)
	ctx := context.Background()
	v1, _ := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "eta", "0.0.1")), false)
	v2, _ := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, "eta", "0.0.2")), false)
	st, _ := m.Install(ctx, "t1", []string{v1.UniqueIdentifier}, "package", nil)
	waitTask(t, e.store, "t1", st.TaskID)

	if _, err := m.Upgrade(ctx, "t1", v2.UniqueIdentifier, v1.UniqueIdentifier, "package", nil); err == nil {
		t.Error("upgrade from a version that is not installed accepted")
	}
	st, err := m.Upgrade(ctx, "t1", v1.UniqueIdentifier, v2.UniqueIdentifier, "package", nil)
	if err != nil || st.AllInstalled {
		t.Fatalf("upgrade: %+v %v", st, err)
	}
	if task := waitTask(t, e.store, "t1", st.TaskID); task.Status != store.TaskSuccess {
		t.Fatalf("upgrade task: %+v", task)
	}
	inst, _ := e.store.GetInstallationByPlugin(ctx, "t1", "tester/eta")
	if inst.UniqueIdentifier != v2.UniqueIdentifier {
		t.Errorf("installation still on %s", inst.UniqueIdentifier)
	}
	if got := strings.Join(e.rt.warmed, " "); got != v1.UniqueIdentifier+" "+v2.UniqueIdentifier {
		t.Errorf("warmed %q", got)
	}
	if len(e.rt.released) != 1 || e.rt.released[0] != v1.UniqueIdentifier {
		t.Errorf("old version not released: %v", e.rt.released)
	}
}

func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t)
	e.prep.block = make(chan struct{})
	m := e.manager(t, func(c *Config) { c.Concurrency = 1 })
	ctx := context.Background()
	var uids []string
	for _, n := range []string{"p1", "p2", "p3"} {
		d, _ := m.Upload(ctx, "t1", bytes.NewReader(buildPackage(t, n, "0.0.1")), false)
		uids = append(uids, d.UniqueIdentifier)
	}
	st, _ := m.Install(ctx, "t1", uids, "package", nil)
	time.Sleep(50 * time.Millisecond)
	close(e.prep.block)
	task := waitTask(t, e.store, "t1", st.TaskID)
	if task.Status != store.TaskSuccess || task.CompletedPlugins != 3 {
		t.Fatalf("task %+v", task)
	}
	if p := e.prep.peak.Load(); p != 1 {
		t.Errorf("%d jobs ran at once, limit 1", p)
	}
}

func TestParseIdentifier(t *testing.T) {
	good := []string{
		"langgenius/openai:0.0.1@" + strings.Repeat("a", 64),
		"a/b:1.2.3.4-beta@" + strings.Repeat("0", 32),
		"noauthor:1.0@" + strings.Repeat("f", 40),
	}
	for _, s := range good {
		id, err := ParseIdentifier(s)
		if err != nil || id.String() != s {
			t.Errorf("ParseIdentifier(%q) = %+v, %v", s, id, err)
		}
	}
	bad := []string{"", "a/b", "a/b:1@xyz", "A/b:1.0@" + strings.Repeat("a", 64), "a/b:1.0@" + strings.Repeat("a", 65), "../x:1.0@" + strings.Repeat("a", 64)}
	for _, s := range bad {
		if _, err := ParseIdentifier(s); !errors.Is(err, ErrIdentifier) {
			t.Errorf("ParseIdentifier(%q) accepted", s)
		}
	}
}

func FuzzParseIdentifier(f *testing.F) {
	f.Add("langgenius/openai:0.0.1@" + strings.Repeat("a", 64))
	f.Add("x:1.0@" + strings.Repeat("0", 32))
	f.Add("a/b:1.2.3.4-rc1@" + strings.Repeat("f", 40))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentifier(s)
		if err != nil {
			return
		}
		if id.String() != s {
			t.Fatalf("round trip %q -> %q", s, id.String())
		}
		// The folder name must stay one level below the author folder.
		if strings.Contains(id.dirName(), "..") || strings.Count(id.dirName(), "/") != 1 {
			t.Fatalf("unsafe folder %q", id.dirName())
		}
	})
}

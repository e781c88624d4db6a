package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/plugd/plugd/internal/store"
)

// This file is the conformance suite of store.Store: every implementation runs it through
// runConformance with a factory of fresh, empty, migrated stores.

type storeFactory func(t *testing.T) store.Store

func runConformance(t *testing.T, open storeFactory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Declarations", testDeclarations},
		{"InstallRefCounting", testInstallRefCounting},
		{"InstallationQueries", testInstallationQueries},
		{"Upgrade", testUpgrade},
		{"ConcurrentInstalls", testConcurrentInstalls},
		{"Tasks", testTasks},
		{"TaskRowLock", testTaskRowLock},
		{"Endpoints", testEndpoints},
		{"TimesAndJSON", testTimesAndJSON},
		{"BadInput", testBadInput},
		{"DebugKeys", testDebugKeys},
		{"StorageRoundTrip", testStorageRoundTrip},
		{"StorageIsolation", testStorageIsolation},
		{"StorageBadInput", testStorageBadInput},
		{"StorageQuota", testStorageQuota},
		{"StorageFullValue", testStorageFullValue},
		{"StorageConcurrent", testStorageConcurrent},
		{"StorageServe", testStorageServe},
		{"ToolProviders", testToolProviders},
		{"ToolPreferences", testToolPreferences},
		{"ToolChangeLog", testToolChangeLog},
		{"MCPTokens", testMCPTokens},
		{"MCPToolSets", testMCPToolSets},
		{"OAuthClients", testOAuthClients},
		{"OAuthFlows", testOAuthFlows},
		{"OAuthCredentials", testOAuthCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer guard(t)
			tc.fn(t, open(t))
		})
	}
}

// ---- helpers ------------------------------------------------------------------------------------

func ctxT(t *testing.T) context.Context { return t.Context() }

// mustFailure carries an unexpected error from must to guard, which fails the test with it.
type mustFailure struct {
	err   error
	where string
}

// must returns v, or stops the test (through guard, deferred by the test) when err is set.
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(mustFailure{err, fmt.Sprintf("%s:%d", filepath.Base(file), line)})
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(mustFailure{err, fmt.Sprintf("%s:%d", filepath.Base(file), line)})
	}
	return a, b
}

// guard turns a must failure into a test failure; deferred first thing by every test using must.
func guard(t *testing.T) {
	if r := recover(); r != nil {
		if f, ok := r.(mustFailure); ok {
			t.Fatalf("%s: %v", f.where, f.err)
		}
		panic(r)
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err wraps target and names every one of words.
func wantErr(t *testing.T, err, target error, words ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("got %v, want it to wrap %v", err, target)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not name %q", err, w)
		}
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func uidOf(pluginID, version string) string {
	return pluginID + ":" + version + "@" + strings.Repeat("c", 8)
}

func install(t *testing.T, s store.Store, tenant, pluginID, version string) store.Installation {
	t.Helper()
	uid := uidOf(pluginID, version)
	return must(s.Install(ctxT(t), store.Installation{TenantID: tenant, PluginID: pluginID, UniqueIdentifier: uid,
		RuntimeType: "local", Source: "package", Meta: json.RawMessage(`{}`)},
		store.Plugin{UniqueIdentifier: uid, PluginID: pluginID, InstallType: "local", Source: "package"}))
}

func refers(t *testing.T, s store.Store, uid string) int {
	t.Helper()
	p, err := s.GetPlugin(ctxT(t), uid)
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	ok(t, err)
	return p.Refers
}

func isV7(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.Version() == 7
}

// ---- tests --------------------------------------------------------------------------------------

func testDeclarations(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	uid := uidOf("acme/weather", "0.1.0")
	before := time.Now()
	decl := json.RawMessage(`{"name": "weather",  "version":"0.1.0"}`)
	ok(t, s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: uid, PluginID: "acme/weather", Declaration: decl}))
	got := must(s.GetDeclaration(ctx, uid))
	equal(t, "declaration bytes", string(got.Declaration), string(decl))
	equal(t, "verification", string(got.Verification), "null")
	if got.CreatedAt.Location() != time.UTC || got.CreatedAt.Before(before.Add(-time.Millisecond)) || got.CreatedAt.After(time.Now()) {
		t.Fatalf("created_at %v is not a UTC time of the put", got.CreatedAt)
	}

	// A second put of the same identifier keeps the first row.
	ok(t, s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: uid, PluginID: "acme/weather", Declaration: json.RawMessage(`{"other":1}`),
		Verification: json.RawMessage(`{"authorized_category":"langgenius"}`)}))
	equal(t, "after second put", must(s.GetDeclaration(ctx, uid)), got)

	signed := uidOf("acme/signed", "1.0.0")
	ok(t, s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: signed, PluginID: "acme/signed", Declaration: decl,
		Verification: json.RawMessage(`{"authorized_category":"partner"}`)}))
	equal(t, "verification", string(must(s.GetDeclaration(ctx, signed)).Verification), `{"authorized_category":"partner"}`)

	_, err := s.GetDeclaration(ctx, "nobody/none:1@x")
	wantErr(t, err, store.ErrNotFound, "nobody/none:1@x")

	// In use by an installed plugin: kept, and the caller is told.
	inst := install(t, s, "t1", "acme/weather", "0.1.0")
	wantErr(t, s.DeleteDeclaration(ctx, uid), store.ErrConflict, uid)
	must(s.GetDeclaration(ctx, uid))
	_, _ = must2(s.Uninstall(ctx, "t1", inst.ID))
	ok(t, s.DeleteDeclaration(ctx, uid))
	_, err = s.GetDeclaration(ctx, uid)
	wantErr(t, err, store.ErrNotFound, uid)
	wantErr(t, s.DeleteDeclaration(ctx, uid), store.ErrNotFound, uid)
	must(s.GetDeclaration(ctx, signed)) // untouched
}

func testInstallRefCounting(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	v1, v2 := uidOf("acme/tool", "1.0.0"), uidOf("acme/tool", "2.0.0")
	a := install(t, s, "tenant-a", "acme/tool", "1.0.0")
	if !isV7(a.ID) {
		t.Fatalf("installation id %q is not a UUIDv7", a.ID)
	}
	p := must(s.GetPlugin(ctx, v1))
	equal(t, "plugin", []any{p.UniqueIdentifier, p.PluginID, p.Refers, p.InstallType, p.Source}, []any{v1, "acme/tool", 1, "local", "package"})
	b := install(t, s, "tenant-b", "acme/tool", "1.0.0")
	equal(t, "refers after two tenants", refers(t, s, v1), 2)
	equal(t, "count", must(s.CountInstallations(ctx, v1)), 2)

	// One version of a plugin per tenant: a second version, or the same again, is a conflict
	// and changes nothing.
	_, err := s.Install(ctx, store.Installation{TenantID: "tenant-a", PluginID: "acme/tool", UniqueIdentifier: v2, RuntimeType: "local"},
		store.Plugin{UniqueIdentifier: v2, PluginID: "acme/tool", InstallType: "local"})
	wantErr(t, err, store.ErrConflict, "tenant-a", "acme/tool")
	_, err = s.Install(ctx, store.Installation{TenantID: "tenant-a", PluginID: "acme/tool", UniqueIdentifier: v1, RuntimeType: "local"},
		store.Plugin{UniqueIdentifier: v1, PluginID: "acme/tool", InstallType: "local"})
	wantErr(t, err, store.ErrConflict)
	_, err = s.GetPlugin(ctx, v2)
	wantErr(t, err, store.ErrNotFound, v2)
	equal(t, "refers after conflicts", refers(t, s, v1), 2)
	// A given installation id that is taken is a conflict too.
	_, err = s.Install(ctx, store.Installation{ID: a.ID, TenantID: "tenant-c", PluginID: "acme/tool", UniqueIdentifier: v1, RuntimeType: "local"},
		store.Plugin{UniqueIdentifier: v1, PluginID: "acme/tool", InstallType: "local"})
	wantErr(t, err, store.ErrConflict, a.ID)
	equal(t, "refers after id conflict", refers(t, s, v1), 2)

	equal(t, "plugins", len(must(s.ListPlugins(ctx))), 1)

	gone, last := must2(s.Uninstall(ctx, "tenant-a", a.ID))
	equal(t, "uninstalled installation", gone, a)
	equal(t, "lastRef of the first", last, false)
	equal(t, "refers after one uninstall", refers(t, s, v1), 1)

	_, _, err = s.Uninstall(ctx, "tenant-a", a.ID)
	wantErr(t, err, store.ErrNotFound, a.ID, "tenant-a")
	_, _, err = s.Uninstall(ctx, "tenant-a", b.ID) // another tenant's installation
	wantErr(t, err, store.ErrNotFound, b.ID)
	equal(t, "refers after failed uninstalls", refers(t, s, v1), 1)

	_, last = must2(s.Uninstall(ctx, "tenant-b", b.ID))
	equal(t, "lastRef of the second", last, true)
	_, err = s.GetPlugin(ctx, v1)
	wantErr(t, err, store.ErrNotFound, v1)
	equal(t, "plugins", len(must(s.ListPlugins(ctx))), 0)
	equal(t, "count", must(s.CountInstallations(ctx, v1)), 0)

	// After the last reference is gone the identifier installs afresh.
	install(t, s, "tenant-a", "acme/tool", "1.0.0")
	equal(t, "refers after reinstall", refers(t, s, v1), 1)
}

func testInstallationQueries(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var want []store.Installation
	// Inserted out of order: listing goes by created_at.
	for _, i := range []int{3, 0, 4, 1, 2} {
		pid := fmt.Sprintf("acme/p%d", i)
		uid := uidOf(pid, "1.0.0")
		in := must(s.Install(ctx, store.Installation{TenantID: "t1", PluginID: pid, UniqueIdentifier: uid, RuntimeType: "local",
			Source: "marketplace", Meta: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), CreatedAt: base.Add(time.Duration(i) * time.Minute)},
			store.Plugin{InstallType: "local"}))
		equal(t, "updated_at defaults to created_at", in.UpdatedAt, in.CreatedAt)
		want = append(want, in)
	}
	byIndex := func(idx ...int) []store.Installation {
		var out []store.Installation
		for _, i := range idx {
			for _, in := range want {
				if in.PluginID == fmt.Sprintf("acme/p%d", i) {
					out = append(out, in)
				}
			}
		}
		return out
	}
	other := install(t, s, "t2", "acme/p1", "1.0.0")

	equal(t, "get", must(s.GetInstallation(ctx, "t1", want[0].ID)), want[0])
	_, err := s.GetInstallation(ctx, "t2", want[0].ID)
	wantErr(t, err, store.ErrNotFound, want[0].ID, "t2")
	equal(t, "by plugin", must(s.GetInstallationByPlugin(ctx, "t2", "acme/p1")), other)
	_, err = s.GetInstallationByPlugin(ctx, "t2", "acme/p2")
	wantErr(t, err, store.ErrNotFound, "acme/p2", "t2")

	pages := []struct {
		page       store.Page
		want       []int
		total      int
		wantsError bool
	}{
		// Newest first, as the reference lists them to Dify.
		{store.Page{Page: 1, Size: 2}, []int{4, 3}, 5, false},
		{store.Page{Page: 2, Size: 2}, []int{2, 1}, 5, false},
		{store.Page{Page: 3, Size: 2}, []int{0}, 5, false},
		{store.Page{Page: 4, Size: 2}, nil, 5, false},
		{store.Page{Page: 0, Size: 10}, []int{4, 3, 2, 1, 0}, 5, false},
		{store.Page{}, []int{4, 3, 2, 1, 0}, 5, false},
		{store.Page{Page: 1, Size: -1}, nil, 0, true},
	}
	for _, pc := range pages {
		got, total, err := s.ListInstallations(ctx, "t1", pc.page)
		if pc.wantsError {
			wantErr(t, err, nil, "size")
			continue
		}
		ok(t, err)
		equal(t, fmt.Sprintf("page %+v", pc.page), got, byIndex(pc.want...))
		equal(t, fmt.Sprintf("total of page %+v", pc.page), total, pc.total)
	}
	got, total, err := s.ListInstallations(ctx, "nobody", store.Page{Page: 1, Size: 10})
	ok(t, err)
	equal(t, "empty tenant", []any{len(got), total}, []any{0, 0})

	equal(t, "by plugins", must(s.InstallationsByPlugins(ctx, "t1", []string{"acme/p3", "acme/p1", "acme/none"})), byIndex(1, 3))
	equal(t, "by no plugins", len(must(s.InstallationsByPlugins(ctx, "t1", nil))), 0)
	equal(t, "by plugins of t2", must(s.InstallationsByPlugins(ctx, "t2", []string{"acme/p1", "acme/p3"})), []store.Installation{other})
	many := make([]string, 1200) // more than one IN chunk
	for i := range many {
		many[i] = fmt.Sprintf("acme/p%d", i)
	}
	equal(t, "by many plugins", must(s.InstallationsByPlugins(ctx, "t1", many)), byIndex(0, 1, 2, 3, 4))

	equal(t, "count p1", must(s.CountInstallations(ctx, uidOf("acme/p1", "1.0.0"))), 2)
	equal(t, "count none", must(s.CountInstallations(ctx, "x/y:1@z")), 0)
	equal(t, "plugins", len(must(s.ListPlugins(ctx))), 5)
}

func testUpgrade(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	v1, v2 := uidOf("acme/up", "1.0.0"), uidOf("acme/up", "2.0.0")
	a := install(t, s, "ta", "acme/up", "1.0.0")
	install(t, s, "tb", "acme/up", "1.0.0")

	got, last, err := s.Upgrade(ctx, "ta", v1, store.Plugin{UniqueIdentifier: v2, InstallType: "local", Source: "marketplace"},
		"marketplace", json.RawMessage(`{"from":"1.0.0"}`))
	ok(t, err)
	equal(t, "lastRef", last, false)
	equal(t, "same installation", got.ID, a.ID)
	equal(t, "moved", []any{got.UniqueIdentifier, got.PluginID, got.Source, string(got.Meta)}, []any{v2, "acme/up", "marketplace", `{"from":"1.0.0"}`})
	if !got.UpdatedAt.After(a.UpdatedAt) && !got.UpdatedAt.Equal(a.UpdatedAt) {
		t.Fatalf("updated_at went back: %v < %v", got.UpdatedAt, a.UpdatedAt)
	}
	equal(t, "stored as returned", must(s.GetInstallation(ctx, "ta", a.ID)), got)
	equal(t, "refers", []int{refers(t, s, v1), refers(t, s, v2)}, []int{1, 1})
	equal(t, "new plugin row", must(s.GetPlugin(ctx, v2)).Source, "marketplace")

	// Empty source and meta keep the installation's.
	gotB, last, err := s.Upgrade(ctx, "tb", v1, store.Plugin{UniqueIdentifier: v2}, "", nil)
	ok(t, err)
	equal(t, "lastRef of the last", last, true)
	equal(t, "kept", []any{gotB.Source, string(gotB.Meta), gotB.RuntimeType}, []any{"package", `{}`, "local"})
	_, err = s.GetPlugin(ctx, v1)
	wantErr(t, err, store.ErrNotFound)
	equal(t, "refers v2", refers(t, s, v2), 2)

	_, _, err = s.Upgrade(ctx, "ta", v1, store.Plugin{UniqueIdentifier: v2}, "", nil)
	wantErr(t, err, store.ErrNotFound, v1, "ta")

	// Another plugin id is not an upgrade.
	_, _, err = s.Upgrade(ctx, "ta", v2, store.Plugin{UniqueIdentifier: uidOf("acme/other", "1.0.0"), PluginID: "acme/other"}, "", nil)
	wantErr(t, err, nil, "acme/other", "acme/up")
	equal(t, "unchanged", must(s.GetInstallation(ctx, "ta", a.ID)), got)

	// To the same identifier: only source and meta change.
	same, last, err := s.Upgrade(ctx, "ta", v2, store.Plugin{UniqueIdentifier: v2}, "github", nil)
	ok(t, err)
	equal(t, "same uid", []any{same.UniqueIdentifier, same.Source, last, refers(t, s, v2)}, []any{v2, "github", false, 2})

	// And back down (a downgrade is an upgrade too).
	_, last, err = s.Upgrade(ctx, "ta", v2, store.Plugin{UniqueIdentifier: v1, InstallType: "remote"}, "", nil)
	ok(t, err)
	equal(t, "down", []any{last, refers(t, s, v1), refers(t, s, v2), must(s.GetInstallation(ctx, "ta", a.ID)).RuntimeType},
		[]any{false, 1, 1, "remote"})
}

// testConcurrentInstalls has many tenants install and then uninstall one identifier at once:
// the count must come out exact and exactly one uninstall must see the last reference.
func testConcurrentInstalls(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 20
	uid := uidOf("acme/busy", "1.0.0")
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			in, err := s.Install(ctx, store.Installation{TenantID: fmt.Sprintf("t%02d", i), PluginID: "acme/busy", UniqueIdentifier: uid, RuntimeType: "local"},
				store.Plugin{InstallType: "local"})
			ids[i] = in.ID
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	equal(t, "refers", refers(t, s, uid), n)

	var lasts sync.Map
	errs = make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, last, err := s.Uninstall(ctx, fmt.Sprintf("t%02d", i), ids[i])
			lasts.Store(i, last)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	count := 0
	lasts.Range(func(_, v any) bool {
		if v.(bool) {
			count++
		}
		return true
	})
	equal(t, "uninstalls that saw the last reference", count, 1)
	equal(t, "refers", refers(t, s, uid), 0)
}

func sampleTaskPlugins() []store.TaskPlugin {
	return []store.TaskPlugin{
		{UniqueIdentifier: uidOf("acme/a", "1.0.0"), PluginID: "acme/a", Status: store.TaskPending, Icon: "icon.svg",
			Labels: json.RawMessage(`{"en_US":"A"}`), Source: "marketplace", Meta: json.RawMessage(`{"k":[1,2]}`)},
		{UniqueIdentifier: uidOf("acme/b", "2.0.0"), PluginID: "acme/b", Status: store.TaskRunning, Message: "building",
			IconDark: "dark.svg", Labels: json.RawMessage(`{"en_US":"B"}`), Phase: "environment", Progress: "Collecting requests",
			Upgrade: uidOf("acme/b", "1.0.0")},
	}
}

func testTasks(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	task := must(s.CreateTask(ctx, store.Task{TenantID: "t1", TotalPlugins: 2, Plugins: sampleTaskPlugins()}))
	if !isV7(task.ID) {
		t.Fatalf("task id %q is not a UUIDv7", task.ID)
	}
	equal(t, "default status", task.Status, store.TaskPending)
	equal(t, "get", must(s.GetTask(ctx, "t1", task.ID)), task)
	equal(t, "plugins", task.Plugins, sampleTaskPlugins())
	_, err := s.GetTask(ctx, "t2", task.ID)
	wantErr(t, err, store.ErrNotFound, task.ID, "t2")
	_, err = s.CreateTask(ctx, store.Task{ID: task.ID, TenantID: "t1"})
	wantErr(t, err, store.ErrConflict, task.ID)

	empty := must(s.CreateTask(ctx, store.Task{TenantID: "t1", Status: store.TaskSuccess, CreatedAt: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}))
	equal(t, "no plugins", must(s.GetTask(ctx, "t1", empty.ID)).Plugins, []store.TaskPlugin{})

	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	var olds []store.Task
	for i := range 3 {
		olds = append(olds, must(s.CreateTask(ctx, store.Task{TenantID: "t1", Status: store.TaskFailed, CreatedAt: base.Add(time.Duration(i) * time.Hour)})))
	}
	other := must(s.CreateTask(ctx, store.Task{TenantID: "t2", Status: store.TaskRunning}))

	ids := func(ts []store.Task) []string {
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		return out
	}
	equal(t, "newest first", ids(must(s.ListTasks(ctx, "t1", store.Page{Page: 1, Size: 3}))), []string{task.ID, olds[2].ID, olds[1].ID})
	equal(t, "page 2", ids(must(s.ListTasks(ctx, "t1", store.Page{Page: 2, Size: 3}))), []string{olds[0].ID, empty.ID})
	equal(t, "all", len(must(s.ListTasks(ctx, "t1", store.Page{}))), 5)
	_, err = s.ListTasks(ctx, "t1", store.Page{Page: -1, Size: 2})
	wantErr(t, err, nil, "page")

	equal(t, "pending or running", ids(must(s.TasksWithStatus(ctx, store.TaskPending, store.TaskRunning))), []string{task.ID, other.ID})
	equal(t, "no statuses", len(must(s.TasksWithStatus(ctx))), 0)

	// UpdateTask: fn's changes land, except to the identity.
	upd := must(s.UpdateTask(ctx, task.ID, func(x *store.Task) error {
		x.Status = store.TaskRunning
		x.CompletedPlugins = 1
		x.Plugins[0].Status = store.TaskSuccess
		x.Plugins[1].Progress = "Installing wheels"
		x.ID, x.TenantID, x.CreatedAt = "hijack", "t9", time.Time{}
		return nil
	}))
	equal(t, "identity kept", []any{upd.ID, upd.TenantID, upd.CreatedAt}, []any{task.ID, "t1", task.CreatedAt})
	if upd.UpdatedAt.Before(task.UpdatedAt) {
		t.Fatalf("updated_at went back: %v < %v", upd.UpdatedAt, task.UpdatedAt)
	}
	equal(t, "stored as returned", must(s.GetTask(ctx, "t1", task.ID)), upd)
	equal(t, "changes", []any{upd.Status, upd.CompletedPlugins, upd.Plugins[0].Status, upd.Plugins[1].Progress},
		[]any{store.TaskRunning, 1, store.TaskSuccess, "Installing wheels"})

	boom := errors.New("boom")
	_, err = s.UpdateTask(ctx, task.ID, func(x *store.Task) error {
		x.Status = store.TaskFailed
		return boom
	})
	wantErr(t, err, boom, task.ID)
	equal(t, "aborted update", must(s.GetTask(ctx, "t1", task.ID)), upd)
	_, err = s.UpdateTask(ctx, "no-such-task", func(*store.Task) error { return nil })
	wantErr(t, err, store.ErrNotFound, "no-such-task")

	wantErr(t, s.DeleteTask(ctx, "t2", task.ID), store.ErrNotFound, task.ID) // another tenant's
	ok(t, s.DeleteTask(ctx, "t1", task.ID))
	wantErr(t, s.DeleteTask(ctx, "t1", task.ID), store.ErrNotFound, task.ID)
	ok(t, s.DeleteTasks(ctx, "t1"))
	ok(t, s.DeleteTasks(ctx, "t1")) // none left is fine
	equal(t, "t1 after delete", len(must(s.ListTasks(ctx, "t1", store.Page{}))), 0)
	equal(t, "t2 untouched", ids(must(s.ListTasks(ctx, "t2", store.Page{}))), []string{other.ID})
}

// testTaskRowLock has 50 goroutines each add one to a task's counter and one entry to its
// plugins: a lost update would show as a smaller count.
func testTaskRowLock(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 50
	task := must(s.CreateTask(ctx, store.Task{TenantID: "t1", TotalPlugins: n, Status: store.TaskRunning}))
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateTask(ctx, task.ID, func(x *store.Task) error {
				x.CompletedPlugins++
				x.Plugins = append(x.Plugins, store.TaskPlugin{PluginID: fmt.Sprintf("acme/p%d", i), Status: store.TaskSuccess, Labels: json.RawMessage(`{}`)})
				if x.CompletedPlugins == x.TotalPlugins {
					x.Status = store.TaskSuccess
				}
				return nil
			})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	got := must(s.GetTask(ctx, "t1", task.ID))
	equal(t, "after concurrent updates", []any{got.CompletedPlugins, len(got.Plugins), got.Status}, []any{n, n, store.TaskSuccess})
}

var hookPattern = regexp.MustCompile(`^[a-z0-9]{16}$`)

func testEndpoints(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	counters := func(tenant, pid string) []int {
		t.Helper()
		in := must(s.GetInstallationByPlugin(ctx, tenant, pid))
		return []int{in.EndpointsSetups, in.EndpointsActive}
	}
	expires := time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)

	_, err := s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", PluginID: "acme/ep", Enabled: true})
	wantErr(t, err, store.ErrNotFound, "acme/ep", "t1")

	install(t, s, "t1", "acme/ep", "1.0.0")
	install(t, s, "t1", "acme/quiet", "1.0.0")
	e1 := must(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", UserID: "u1", PluginID: "acme/ep", Name: "first", Enabled: true,
		ExpiredAt: expires, Settings: json.RawMessage(`{"api_key":"[__HIDDEN__]"}`)}))
	if !hookPattern.MatchString(e1.HookID) {
		t.Fatalf("generated hook id %q is not 16 of [a-z0-9]", e1.HookID)
	}
	if !isV7(e1.ID) {
		t.Fatalf("endpoint id %q is not a UUIDv7", e1.ID)
	}
	e2 := must(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", UserID: "u1", PluginID: "acme/ep", HookID: "myhook", Enabled: false}))
	equal(t, "defaults", []any{e2.Name, string(e2.Settings), e2.ExpiredAt.IsZero()}, []any{"default", "null", true})
	equal(t, "counters after create", counters("t1", "acme/ep"), []int{2, 1})

	_, err = s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", PluginID: "acme/ep", HookID: "myhook", Enabled: true})
	wantErr(t, err, store.ErrConflict, "myhook")
	_, err = s.CreateEndpoint(ctx, store.Endpoint{ID: e1.ID, TenantID: "t1", PluginID: "acme/ep", Enabled: true})
	wantErr(t, err, store.ErrConflict, e1.ID)
	equal(t, "counters after conflicts", counters("t1", "acme/ep"), []int{2, 1})

	equal(t, "get", must(s.GetEndpoint(ctx, "t1", e1.ID)), e1)
	equal(t, "get by hook", must(s.GetEndpointByHook(ctx, "myhook")), e2)
	_, err = s.GetEndpoint(ctx, "t2", e1.ID)
	wantErr(t, err, store.ErrNotFound, e1.ID, "t2")
	_, err = s.GetEndpointByHook(ctx, "nohook")
	wantErr(t, err, store.ErrNotFound, "nohook")

	e3 := must(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", PluginID: "acme/quiet", Enabled: true}))
	// Newest first, as the reference lists them to Dify.
	equal(t, "list all", must(s.ListEndpoints(ctx, "t1", "", store.Page{})), []store.Endpoint{e3, e2, e1})
	equal(t, "list of a plugin", must(s.ListEndpoints(ctx, "t1", "acme/ep", store.Page{Page: 1, Size: 10})), []store.Endpoint{e2, e1})
	equal(t, "page 2", must(s.ListEndpoints(ctx, "t1", "", store.Page{Page: 2, Size: 2})), []store.Endpoint{e1})
	equal(t, "other tenant", len(must(s.ListEndpoints(ctx, "t2", "", store.Page{}))), 0)

	// Enabling moves the active counter; an update that keeps the flag does not.
	u2 := must(s.UpdateEndpoint(ctx, store.Endpoint{ID: e2.ID, TenantID: "t1", Name: "renamed", Enabled: true, Settings: json.RawMessage(`{"x":1}`)}))
	equal(t, "updated", []any{u2.Name, string(u2.Settings), u2.Enabled, u2.HookID, u2.CreatedAt}, []any{"renamed", `{"x":1}`, true, "myhook", e2.CreatedAt})
	equal(t, "stored as returned", must(s.GetEndpoint(ctx, "t1", e2.ID)), u2)
	equal(t, "counters after enable", counters("t1", "acme/ep"), []int{2, 2})
	u2 = must(s.UpdateEndpoint(ctx, store.Endpoint{ID: e2.ID, TenantID: "t1", Enabled: true}))
	equal(t, "empty name and settings kept", []any{u2.Name, string(u2.Settings)}, []any{"renamed", `{"x":1}`})
	equal(t, "counters after same flag", counters("t1", "acme/ep"), []int{2, 2})
	must(s.UpdateEndpoint(ctx, store.Endpoint{ID: e1.ID, TenantID: "t1", Enabled: false}))
	equal(t, "counters after disable", counters("t1", "acme/ep"), []int{2, 1})
	_, err = s.UpdateEndpoint(ctx, store.Endpoint{ID: e1.ID, TenantID: "t2", Enabled: true})
	wantErr(t, err, store.ErrNotFound, e1.ID, "t2")
	_, err = s.UpdateEndpoint(ctx, store.Endpoint{ID: "nope", TenantID: "t1", Enabled: true})
	wantErr(t, err, store.ErrNotFound, "nope")
	equal(t, "counters after failed updates", counters("t1", "acme/ep"), []int{2, 1})

	ok(t, s.DeleteEndpoint(ctx, "t1", e1.ID)) // disabled one
	equal(t, "counters after deleting a disabled one", counters("t1", "acme/ep"), []int{1, 1})
	wantErr(t, s.DeleteEndpoint(ctx, "t1", e1.ID), store.ErrNotFound, e1.ID)
	wantErr(t, s.DeleteEndpoint(ctx, "t2", e2.ID), store.ErrNotFound, e2.ID)
	equal(t, "quiet counters", counters("t1", "acme/quiet"), []int{1, 1})

	// Endpoints outlive an uninstall; a reinstall counts them again, and changes made while
	// uninstalled are fine.
	in := must(s.GetInstallationByPlugin(ctx, "t1", "acme/ep"))
	_, _ = must2(s.Uninstall(ctx, "t1", in.ID))
	equal(t, "endpoint kept", must(s.GetEndpoint(ctx, "t1", e2.ID)).ID, e2.ID)
	must(s.UpdateEndpoint(ctx, store.Endpoint{ID: e2.ID, TenantID: "t1", Enabled: false}))
	_, err = s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t1", PluginID: "acme/ep", Enabled: true})
	wantErr(t, err, store.ErrNotFound)
	install(t, s, "t1", "acme/ep", "2.0.0")
	equal(t, "counters after reinstall", counters("t1", "acme/ep"), []int{1, 0})
	must(s.UpdateEndpoint(ctx, store.Endpoint{ID: e2.ID, TenantID: "t1", Enabled: true}))
	equal(t, "counters after enabling", counters("t1", "acme/ep"), []int{1, 1})
	ok(t, s.DeleteEndpoint(ctx, "t1", e2.ID))
	equal(t, "counters after deleting the last", counters("t1", "acme/ep"), []int{0, 0})
}

func testTimesAndJSON(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	shanghai := time.FixedZone("UTC+8", 8*3600)
	// Nanoseconds and a zone go in; UTC microseconds come out, the same instant.
	early := time.Date(2025, 5, 6, 10, 0, 0, 123456789, shanghai) // 02:00:00.123456789Z
	late := time.Date(2025, 5, 6, 3, 0, 0, 999, time.UTC)
	a := must(s.CreateTask(ctx, store.Task{TenantID: "tz", CreatedAt: early}))
	b := must(s.CreateTask(ctx, store.Task{TenantID: "tz", CreatedAt: late}))
	wantEarly := time.Date(2025, 5, 6, 2, 0, 0, 123456000, time.UTC)
	got := must(s.GetTask(ctx, "tz", a.ID))
	equal(t, "created_at", got.CreatedAt, wantEarly)
	equal(t, "returned as stored", a.CreatedAt, wantEarly)
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("location %v, want UTC", got.CreatedAt.Location())
	}
	list := must(s.ListTasks(ctx, "tz", store.Page{}))
	equal(t, "ordered by instant, not by local text", []string{list[0].ID, list[1].ID}, []string{b.ID, a.ID})

	// Times of every kind of row.
	meta := json.RawMessage("{\"k\": \"\u00fc\u00e9 <>&\\u0000\",\n \"n\": [1, 2.50, 1e3],  \"nested\": {\"null\": null}}")
	uid := uidOf("acme/tz", "1.0.0")
	in := must(s.Install(ctx, store.Installation{TenantID: "tz", PluginID: "acme/tz", UniqueIdentifier: uid, RuntimeType: "remote",
		Meta: meta, CreatedAt: early, UpdatedAt: late}, store.Plugin{CreatedAt: early}))
	got2 := must(s.GetInstallation(ctx, "tz", in.ID))
	equal(t, "installation times", []time.Time{got2.CreatedAt, got2.UpdatedAt}, []time.Time{wantEarly, late.Truncate(time.Microsecond)})
	equal(t, "meta bytes", string(got2.Meta), string(meta))
	equal(t, "plugin created_at", must(s.GetPlugin(ctx, uid)).CreatedAt, wantEarly)

	expires := time.Date(2050, 1, 1, 0, 0, 0, 5000, shanghai)
	e := must(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "tz", PluginID: "acme/tz", Enabled: true, ExpiredAt: expires, Settings: meta}))
	gotE := must(s.GetEndpoint(ctx, "tz", e.ID))
	equal(t, "expired_at", gotE.ExpiredAt, expires.UTC())
	equal(t, "settings bytes", string(gotE.Settings), string(meta))

	ok(t, s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: uid, PluginID: "acme/tz", Declaration: meta, Verification: meta, CreatedAt: early}))
	d := must(s.GetDeclaration(ctx, uid))
	equal(t, "declaration", []any{string(d.Declaration), string(d.Verification), d.CreatedAt}, []any{string(meta), string(meta), wantEarly})

	// Task plugins keep their JSON fields.
	tp := []store.TaskPlugin{{PluginID: "acme/tz", Labels: meta, Meta: json.RawMessage(`[1,{"a":"b"}]`)}}
	task := must(s.CreateTask(ctx, store.Task{TenantID: "tz", Plugins: tp}))
	gotT := must(s.GetTask(ctx, "tz", task.ID))
	var wantLabels, gotLabels any
	ok(t, json.Unmarshal(meta, &wantLabels))
	ok(t, json.Unmarshal(gotT.Plugins[0].Labels, &gotLabels))
	equal(t, "labels", gotLabels, wantLabels)
	equal(t, "task meta", string(gotT.Plugins[0].Meta), `[1,{"a":"b"}]`)
}

func testBadInput(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	bad := json.RawMessage(`{"unterminated": `)
	cases := []struct {
		name  string
		err   error
		words []string
	}{
		{"declaration JSON", s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: "a/b:1@c", PluginID: "a/b", Declaration: bad}), []string{"declaration", "JSON", "a/b:1@c"}},
		{"empty declaration", s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: "a/b:1@c", PluginID: "a/b"}), []string{"declaration is empty"}},
		{"verification JSON", s.PutDeclaration(ctx, store.Declaration{UniqueIdentifier: "a/b:1@c", PluginID: "a/b", Declaration: json.RawMessage(`{}`), Verification: bad}), []string{"verification"}},
		{"declaration without id", s.PutDeclaration(ctx, store.Declaration{PluginID: "a/b", Declaration: json.RawMessage(`{}`)}), []string{"unique identifier is empty"}},
		{"install meta", second(s.Install(ctx, store.Installation{TenantID: "t", PluginID: "a/b", UniqueIdentifier: "a/b:1@c", RuntimeType: "local", Meta: bad}, store.Plugin{})), []string{"meta", "JSON"}},
		{"install without tenant", second(s.Install(ctx, store.Installation{PluginID: "a/b", UniqueIdentifier: "a/b:1@c", RuntimeType: "local"}, store.Plugin{})), []string{"tenant id is empty"}},
		{"install without runtime", second(s.Install(ctx, store.Installation{TenantID: "t", PluginID: "a/b", UniqueIdentifier: "a/b:1@c"}, store.Plugin{})), []string{"runtime type is empty"}},
		{"install mismatch", second(s.Install(ctx, store.Installation{TenantID: "t", PluginID: "a/b", UniqueIdentifier: "a/b:1@c", RuntimeType: "local"},
			store.Plugin{UniqueIdentifier: "a/b:2@d"})), []string{"a/b:1@c", "a/b:2@d"}},
		{"upgrade meta", third(s.Upgrade(ctx, "t", "a/b:1@c", store.Plugin{UniqueIdentifier: "a/b:2@c"}, "", bad)), []string{"meta"}},
		{"task without tenant", second(s.CreateTask(ctx, store.Task{})), []string{"tenant id is empty"}},
		{"task plugin JSON", second(s.CreateTask(ctx, store.Task{TenantID: "t", Plugins: []store.TaskPlugin{{Labels: bad}}})), []string{"plugins"}},
		{"endpoint settings", second(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t", PluginID: "a/b", Settings: bad})), []string{"settings", "JSON"}},
		{"endpoint without plugin", second(s.CreateEndpoint(ctx, store.Endpoint{TenantID: "t"})), []string{"plugin id is empty"}},
		{"endpoint update settings", second(s.UpdateEndpoint(ctx, store.Endpoint{ID: "x", TenantID: "t", Settings: bad})), []string{"settings"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, c.err, nil, c.words...)
			if errors.Is(c.err, store.ErrNotFound) || errors.Is(c.err, store.ErrConflict) {
				t.Fatalf("bad input reported as %v", c.err)
			}
		})
	}
	equal(t, "nothing written", len(must(s.ListPlugins(ctx))), 0)
	equal(t, "no tasks", len(must(s.ListTasks(ctx, "t", store.Page{}))), 0)
}

func second[A any](_ A, err error) error { return err }

func third[A, B any](_ A, _ B, err error) error { return err }

func testDebugKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	k1, exp1, err := s.DebugKey(ctx, "t1", time.Hour)
	ok(t, err)
	if len(k1) != 36 || time.Until(exp1) < 59*time.Minute {
		t.Fatalf("key %q expires %v", k1, exp1)
	}
	k2, exp2, err := s.DebugKey(ctx, "t1", 2*time.Hour)
	ok(t, err)
	equal(t, "renewed key", k2, k1)
	if !exp2.After(exp1) {
		t.Errorf("renewal did not extend: %v then %v", exp1, exp2)
	}
	other, _, err := s.DebugKey(ctx, "t2", time.Hour)
	ok(t, err)
	if other == k1 {
		t.Fatal("two tenants share a key")
	}
	equal(t, "tenant of t1's key", must(s.ResolveDebugKey(ctx, k1)), "t1")
	equal(t, "tenant of t2's key", must(s.ResolveDebugKey(ctx, other)), "t2")
	_, err = s.ResolveDebugKey(ctx, "no-such-key")
	wantErr(t, err, store.ErrNotFound)

	// An expired key resolves to nothing, and asking again gives a new one.
	k3, _, err := s.DebugKey(ctx, "t3", -time.Second)
	ok(t, err)
	_, err = s.ResolveDebugKey(ctx, k3)
	wantErr(t, err, store.ErrNotFound, "expired")
	k4, _, err := s.DebugKey(ctx, "t3", time.Hour)
	ok(t, err)
	if k4 == k3 {
		t.Error("an expired key was renewed instead of replaced")
	}
	equal(t, "tenant of the new key", must(s.ResolveDebugKey(ctx, k4)), "t3")
	_, _, err = s.DebugKey(ctx, "", time.Hour)
	if err == nil {
		t.Error("a key for an empty tenant")
	}
	remote := store.Plugin{UniqueIdentifier: uidOf("a/remote", "0.0.1"), PluginID: "a/remote", InstallType: "remote"}
	inst, err := s.Install(ctx, store.Installation{TenantID: "t1", PluginID: "a/remote", UniqueIdentifier: remote.UniqueIdentifier, RuntimeType: "remote", Source: "remote"}, remote)
	ok(t, err)
	install(t, s, "t1", "a/local", "0.0.1")
	got := must(s.InstallationsOfType(ctx, "remote"))
	if len(got) != 1 || got[0].ID != inst.ID {
		t.Errorf("remote installations: %+v", got)
	}
}

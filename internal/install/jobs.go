package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/store"
)

// MaxPluginsPerTask bounds install/identifiers, as the reference does.
const MaxPluginsPerTask = 64

// maxMessage bounds a task item's message; longer ones lose their middle.
const maxMessage = 1024

// job is one plugin of one task being worked on.
type job struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func jobKey(taskID, uid string) string { return taskID + "\x00" + uid }

// Install starts installing the plugins for the tenant. When the tenant already has every
// plugin id installed (in any version) nothing happens and AllInstalled is true, as the
// reference answers; otherwise a task is created and its id returned at once.
func (m *Manager) Install(ctx context.Context, tenantID string, uids []string, source string, metas []json.RawMessage) (Started, error) {
	if len(uids) == 0 || len(uids) > MaxPluginsPerTask {
		return Started{}, inputErr("plugin_unique_identifiers", "give 1 to %d identifiers, not %d", MaxPluginsPerTask, len(uids))
	}
	if source == "" {
		return Started{}, inputErr("source", "is required (marketplace, github, package or remote)")
	}
	if len(metas) != 0 && len(metas) != len(uids) {
		return Started{}, inputErr("metas", "has %d items for %d identifiers", len(metas), len(uids))
	}
	seen := map[string]bool{}
	items := make([]store.TaskPlugin, 0, len(uids))
	allInstalled := true
	for i, uid := range uids {
		field := fmt.Sprintf("plugin_unique_identifiers[%d]", i)
		id, err := ParseIdentifier(uid)
		if err != nil {
			return Started{}, &InputError{Field: field, Err: err}
		}
		if seen[id.PluginID()] {
			return Started{}, inputErr(field, "plugin %s is listed twice", id.PluginID())
		}
		seen[id.PluginID()] = true
		decl, err := m.cfg.Store.GetDeclaration(ctx, uid)
		if errors.Is(err, store.ErrNotFound) {
			return Started{}, inputErr(field, "package %s was never uploaded (upload it first)", uid)
		} else if err != nil {
			return Started{}, err
		}
		if _, err := m.cfg.Store.GetInstallationByPlugin(ctx, tenantID, id.PluginID()); errors.Is(err, store.ErrNotFound) {
			allInstalled = false
		} else if err != nil {
			return Started{}, err
		}
		item := newTaskItem(uid, id, decl, source)
		if len(metas) != 0 {
			item.Meta = metas[i]
		}
		items = append(items, item)
	}
	if allInstalled {
		return Started{AllInstalled: true}, nil
	}
	t, err := m.cfg.Store.CreateTask(ctx, store.Task{
		TenantID: tenantID, Status: store.TaskPending, TotalPlugins: len(items), Plugins: items,
	})
	if err != nil {
		return Started{}, fmt.Errorf("creating the install task: %w", err)
	}
	m.startTask(t)
	return Started{TaskID: t.ID}, nil
}

func newTaskItem(uid string, id Identifier, decl store.Declaration, source string) store.TaskPlugin {
	item := store.TaskPlugin{
		UniqueIdentifier: uid, PluginID: id.PluginID(), Status: store.TaskPending, Source: source,
		Labels: json.RawMessage("{}"),
	}
	var p manifest.Plugin
	if json.Unmarshal(decl.Declaration, &p) == nil {
		item.Icon, item.IconDark = p.Icon, p.IconDark
		if b, err := json.Marshal(p.Label); err == nil {
			item.Labels = b
		}
	}
	return item
}

// Upgrade moves the tenant's installation from oldUID to newUID. When newUID already runs
// here (another tenant installed it) the switch is immediate; otherwise a task prepares and
// starts the new version first, and the old one serves until the switch.
func (m *Manager) Upgrade(ctx context.Context, tenantID, oldUID, newUID, source string, meta json.RawMessage) (Started, error) {
	oldID, err := ParseIdentifier(oldUID)
	if err != nil {
		return Started{}, &InputError{Field: "original_plugin_unique_identifier", Err: err}
	}
	newID, err := ParseIdentifier(newUID)
	if err != nil {
		return Started{}, &InputError{Field: "new_plugin_unique_identifier", Err: err}
	}
	switch {
	case oldID.PluginID() != newID.PluginID():
		return Started{}, inputErr("new_plugin_unique_identifier", "is plugin %s, not %s", newID.PluginID(), oldID.PluginID())
	case oldUID == newUID:
		return Started{}, inputErr("new_plugin_unique_identifier", "is the version already installed")
	case source == "":
		return Started{}, inputErr("source", "is required")
	}
	inst, err := m.cfg.Store.GetInstallationByPlugin(ctx, tenantID, oldID.PluginID())
	if err != nil {
		return Started{}, err
	}
	if inst.UniqueIdentifier != oldUID {
		return Started{}, inputErr("original_plugin_unique_identifier", "the tenant has %s installed, not %s", inst.UniqueIdentifier, oldUID)
	}
	decl, err := m.cfg.Store.GetDeclaration(ctx, newUID)
	if errors.Is(err, store.ErrNotFound) {
		return Started{}, inputErr("new_plugin_unique_identifier", "package %s was never uploaded (upload it first)", newUID)
	} else if err != nil {
		return Started{}, err
	}
	if p, err := m.cfg.Store.GetPlugin(ctx, newUID); err == nil {
		if err := m.switchVersion(ctx, tenantID, oldUID, p, source, meta); err != nil {
			return Started{}, err
		}
		return Started{AllInstalled: true}, nil
	}
	item := newTaskItem(newUID, newID, decl, source)
	item.Upgrade, item.Meta = oldUID, meta
	t, err := m.cfg.Store.CreateTask(ctx, store.Task{
		TenantID: tenantID, Status: store.TaskPending, TotalPlugins: 1, Plugins: []store.TaskPlugin{item},
	})
	if err != nil {
		return Started{}, fmt.Errorf("creating the upgrade task: %w", err)
	}
	m.startTask(t)
	return Started{TaskID: t.ID}, nil
}

func (m *Manager) switchVersion(ctx context.Context, tenantID, oldUID string, p store.Plugin, source string, meta json.RawMessage) error {
	_, lastRef, err := m.cfg.Store.Upgrade(ctx, tenantID, oldUID, p, source, meta)
	if err != nil {
		return err
	}
	if lastRef {
		m.collect(ctx, oldUID)
	}
	return nil
}

// Uninstall removes the tenant's installation. The last installation of a version frees it.
func (m *Manager) Uninstall(ctx context.Context, tenantID, installationID string) error {
	if installationID == "" {
		return inputErr("plugin_installation_id", "is required")
	}
	inst, lastRef, err := m.cfg.Store.Uninstall(ctx, tenantID, installationID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // already gone: the reference answers true as well
	} else if err != nil {
		return err
	}
	if lastRef {
		m.collect(ctx, inst.UniqueIdentifier)
	}
	return nil
}

// collect frees what an identifier no installation uses any more held: its processes, its
// folder, its package and its declaration. Its Python environment stays: reinstalling the
// plugin, or another with the same dependencies, then needs no build; unused environments are
// removed by age and size (pyenv.Builder.Collect, `plugd gc`). Failures are logged: the
// uninstall itself has happened.
func (m *Manager) collect(ctx context.Context, uid string) {
	ctx = context.WithoutCancel(ctx)
	id, err := ParseIdentifier(uid)
	if err != nil {
		return
	}
	if m.cfg.Runtimes != nil {
		if err := m.cfg.Runtimes.Release(ctx, uid); err != nil {
			m.log.Warn("stopping an uninstalled plugin", "plugin", uid, "err", err)
		}
	}
	if err := m.cfg.Workspace.Remove(id); err != nil {
		m.log.Warn("removing an uninstalled plugin's folder", "plugin", uid, "err", err)
	}
	// Another tenant may have installed the same package meanwhile; the store keeps a
	// declaration that a plugin row uses, and then the package must stay as well.
	if _, err := m.cfg.Store.GetPlugin(ctx, uid); err == nil {
		return
	}
	if err := m.cfg.Store.DeleteDeclaration(ctx, uid); err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("removing a declaration", "plugin", uid, "err", err)
		return
	}
	if err := m.cfg.Blob.Delete(ctx, packageKey(id)); err != nil {
		m.log.Warn("removing a package", "plugin", uid, "err", err)
	}
	if m.cfg.Peers != nil {
		m.cfg.Peers.Released(uid)
	}
	m.log.Info("plugin removed", "plugin", uid)
}

// startTask runs a job for every unfinished plugin of the task, once this node holds the
// task's claim (always, on one node). It reports whether it started the task.
func (m *Manager) startTask(t store.Task) bool {
	var todo []store.TaskPlugin
	for _, item := range t.Plugins {
		if item.Status != store.TaskSuccess && item.Status != store.TaskFailed {
			todo = append(todo, item)
		}
	}
	fence, lost, ok := m.claimTask(t, len(todo))
	if !ok {
		return false
	}
	for _, item := range todo {
		m.startJob(t.TenantID, t.ID, item, fence, lost)
	}
	return true
}

func (m *Manager) startJob(tenantID, taskID string, item store.TaskPlugin, fence int64, lost <-chan struct{}) {
	life, stop := context.WithCancelCause(m.ctx)
	ctx, cancel := context.WithTimeout(life, m.cfg.Timeout)
	j := &job{cancel: cancel, done: make(chan struct{})}
	key := jobKey(taskID, item.UniqueIdentifier)
	m.mu.Lock()
	if _, dup := m.jobs[key]; dup {
		m.mu.Unlock()
		cancel()
		stop(nil)
		m.jobDone(taskID)
		return
	}
	started := m.goTrackedLocked(func() {
		defer close(j.done)
		defer m.jobDone(taskID)
		defer stop(nil)
		defer cancel()
		defer func() {
			m.mu.Lock()
			delete(m.jobs, key)
			m.mu.Unlock()
		}()
		if lost != nil {
			go func() {
				select {
				case <-lost:
					stop(errLeaseLost)
				case <-ctx.Done():
				}
			}()
		}
		m.runJob(ctx, tenantID, taskID, item, fence)
	})
	if started {
		m.jobs[key] = j
	} else {
		cancel() // closing: the task stays unfinished and the next Resume takes it up
		stop(nil)
	}
	m.mu.Unlock()
	if !started {
		m.jobDone(taskID)
	}
}

// runJob installs (or upgrades to) one plugin and records the outcome on its task.
func (m *Manager) runJob(ctx context.Context, tenantID, taskID string, item store.TaskPlugin, fence int64) {
	select {
	case m.sem <- struct{}{}:
		defer func() { <-m.sem }()
	case <-ctx.Done():
		m.finishItem(taskID, item.UniqueIdentifier, fence, m.jobError(ctx, ctx.Err()))
		return
	}
	m.updateItem(taskID, item.UniqueIdentifier, fence, func(p *store.TaskPlugin) {
		p.Status, p.Phase, p.Message = store.TaskRunning, "preparing", ""
	})

	var (
		mu       sync.Mutex
		last     pyenv.Progress
		lastSent time.Time
	)
	progress := func(p pyenv.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Line == "" && p.Phase == last.Phase {
			return
		}
		phaseChanged := p.Phase != last.Phase
		last = p
		// Every phase change is written; output lines at most twice a second.
		if !phaseChanged && time.Since(lastSent) < 500*time.Millisecond {
			return
		}
		lastSent = time.Now()
		m.updateItem(taskID, item.UniqueIdentifier, fence, func(t *store.TaskPlugin) {
			t.Phase, t.Progress = string(p.Phase), truncateMiddle(p.Line, 200)
		})
	}
	prepared, err := m.cfg.Workspace.Prepare(ctx, item.UniqueIdentifier, progress)
	if err != nil {
		m.discardIfUnused(ctx, item.UniqueIdentifier)
		m.finishItem(taskID, item.UniqueIdentifier, fence, m.jobError(ctx, err))
		return
	}
	m.updateItem(taskID, item.UniqueIdentifier, fence, func(t *store.TaskPlugin) { t.Phase, t.Progress = "starting", "" })
	if m.cfg.Runtimes != nil {
		if err := m.cfg.Runtimes.Warm(ctx, prepared); err != nil {
			m.discardIfUnused(ctx, item.UniqueIdentifier)
			m.finishItem(taskID, item.UniqueIdentifier, fence, m.jobError(ctx, fmt.Errorf("the plugin did not start: %w", err)))
			return
		}
	}
	id, _ := ParseIdentifier(item.UniqueIdentifier)
	plugin := store.Plugin{UniqueIdentifier: item.UniqueIdentifier, PluginID: id.PluginID(), InstallType: "local", Source: item.Source}
	if item.Upgrade != "" {
		err = m.switchVersion(ctx, tenantID, item.Upgrade, plugin, item.Source, item.Meta)
	} else {
		_, err = m.cfg.Store.Install(ctx, store.Installation{
			TenantID: tenantID, PluginID: id.PluginID(), UniqueIdentifier: item.UniqueIdentifier,
			RuntimeType: "local", Source: item.Source, Meta: item.Meta,
		}, plugin)
		if errors.Is(err, store.ErrConflict) {
			// Installed meanwhile: by this very job before a restart (success), or in
			// another version (the caller wanted upgrade).
			inst, gerr := m.cfg.Store.GetInstallationByPlugin(ctx, tenantID, id.PluginID())
			if gerr == nil && inst.UniqueIdentifier == item.UniqueIdentifier {
				err = nil
			} else if gerr == nil {
				err = fmt.Errorf("the tenant already has %s installed; upgrade it instead", inst.UniqueIdentifier)
			}
		}
	}
	if err != nil {
		m.discardIfUnused(ctx, item.UniqueIdentifier)
		m.finishItem(taskID, item.UniqueIdentifier, fence, m.jobError(ctx, err))
		return
	}
	m.finishItem(taskID, item.UniqueIdentifier, fence, nil)
}

// discardIfUnused undoes what a failed job made on this machine, unless some tenant has the
// plugin installed: its processes and its extracted folder. Its environment stays, as at
// uninstall, for the environment collection (pyenv.Builder.Collect). The uploaded package and its declaration stay: they are the upload's, and
// installing again needs them. A job cut short by shutdown keeps everything: the next start
// resumes it.
func (m *Manager) discardIfUnused(ctx context.Context, uid string) {
	if m.ctx.Err() != nil || m.jobsFor(uid) > 1 {
		return // shutting down, or another task is installing the same package now
	}
	ctx = context.WithoutCancel(ctx)
	if _, err := m.cfg.Store.GetPlugin(ctx, uid); !errors.Is(err, store.ErrNotFound) {
		return
	}
	if m.cfg.Runtimes != nil {
		if err := m.cfg.Runtimes.Release(ctx, uid); err != nil {
			m.log.Warn("stopping a plugin whose install failed", "plugin", uid, "err", err)
		}
	}
	id, err := ParseIdentifier(uid)
	if err != nil {
		return
	}
	if err := m.cfg.Workspace.Remove(id); err != nil {
		m.log.Warn("removing the folder of a plugin whose install failed", "plugin", uid, "err", err)
	}
}

// jobsFor counts the running jobs of uid, in every task.
func (m *Manager) jobsFor(uid string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for key := range m.jobs {
		if strings.HasSuffix(key, "\x00"+uid) {
			n++
		}
	}
	return n
}

// jobError explains why a job ended: its own error, or the timeout or shutdown that ended it.
func (m *Manager) jobError(ctx context.Context, err error) error {
	switch {
	case errors.Is(context.Cause(ctx), errLeaseLost):
		return errLeaseLost
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("install timed out after %s (PLUGIN_INSTALL_TIMEOUT): %w", m.cfg.Timeout, err)
	case m.ctx.Err() != nil:
		return errShutdown
	}
	return err
}

// errShutdown marks a job cut short by the daemon stopping: its task stays running so the
// next start resumes it.
var errShutdown = errors.New("daemon shutting down")

func (m *Manager) updateItem(taskID, uid string, fence int64, fn func(*store.TaskPlugin)) {
	_, err := m.cfg.Store.UpdateTask(context.Background(), taskID, func(t *store.Task) error {
		for i := range t.Plugins {
			if t.Plugins[i].UniqueIdentifier == uid {
				if err := fenceItem(&t.Plugins[i], fence); err != nil {
					return err
				}
				fn(&t.Plugins[i])
				if t.Status == store.TaskPending {
					t.Status = store.TaskRunning
				}
				return nil
			}
		}
		return fmt.Errorf("%s is no longer in the task: %w", uid, store.ErrNotFound)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, errFenced) {
		m.log.Warn("updating an install task", "task", taskID, "plugin", uid, "err", err)
	}
}

// finishItem records a plugin's outcome and, when it was the last, the task's.
func (m *Manager) finishItem(taskID, uid string, fence int64, jobErr error) {
	if errors.Is(jobErr, errShutdown) || errors.Is(jobErr, errLeaseLost) {
		return
	}
	var succeeded bool
	t, err := m.cfg.Store.UpdateTask(context.Background(), taskID, func(t *store.Task) error {
		for i := range t.Plugins {
			p := &t.Plugins[i]
			if p.UniqueIdentifier != uid {
				continue
			}
			if err := fenceItem(p, fence); err != nil {
				return err
			}
			p.Progress = ""
			if jobErr != nil {
				p.Status, p.Message = store.TaskFailed, truncateMiddle(jobErr.Error(), maxMessage)
			} else {
				p.Status, p.Message, p.Phase = store.TaskSuccess, "", "done"
			}
		}
		done, failed := 0, 0
		for _, p := range t.Plugins {
			switch p.Status {
			case store.TaskSuccess:
				done++
			case store.TaskFailed:
				done++
				failed++
			}
		}
		t.CompletedPlugins = done
		switch {
		case done < len(t.Plugins):
			t.Status = store.TaskRunning
		case failed > 0:
			t.Status = store.TaskFailed
		default:
			t.Status = store.TaskSuccess
			succeeded = true
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, errFenced) {
			m.log.Warn("install result not recorded: another node owns the task now", "task", taskID, "plugin", uid)
		} else if !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("recording an install result", "task", taskID, "plugin", uid, "err", err)
		}
		return
	}
	if jobErr != nil {
		m.log.Warn("install failed", "task", taskID, "plugin", uid, "err", jobErr)
	} else {
		m.log.Info("installed", "task", taskID, "plugin", uid)
	}
	if succeeded {
		m.forgetLater(t)
	}
}

// forgetLater deletes a succeeded task after KeepSucceeded, as the reference does, so the
// list Dify polls holds what still needs attention.
func (m *Manager) forgetLater(t store.Task) {
	m.goTracked(func() {
		select {
		case <-time.After(m.cfg.KeepSucceeded):
			_ = m.cfg.Store.DeleteTask(context.Background(), t.TenantID, t.ID)
		case <-m.ctx.Done():
		}
	})
}

// DeleteTask cancels the task's running work and deletes it.
func (m *Manager) DeleteTask(ctx context.Context, tenantID, taskID string) error {
	t, err := m.cfg.Store.GetTask(ctx, tenantID, taskID)
	if err != nil {
		return err
	}
	for _, p := range t.Plugins {
		m.cancelJob(taskID, p.UniqueIdentifier)
	}
	if m.cfg.Peers != nil {
		m.cfg.Peers.TaskDeleted(taskID)
	}
	return m.cfg.Store.DeleteTask(ctx, tenantID, taskID)
}

// DeleteTasks deletes all of the tenant's tasks, cancelling their work.
func (m *Manager) DeleteTasks(ctx context.Context, tenantID string) error {
	for {
		tasks, err := m.cfg.Store.ListTasks(ctx, tenantID, store.Page{Page: 1, Size: 256})
		if err != nil {
			return err
		}
		if len(tasks) == 0 {
			return nil
		}
		for _, t := range tasks {
			if err := m.DeleteTask(ctx, tenantID, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
}

// DeleteTaskItem removes one plugin from a task, cancelling its work; the task goes too when
// nothing else in it is left to do or see.
func (m *Manager) DeleteTaskItem(ctx context.Context, tenantID, taskID, uid string) error {
	if _, err := m.cfg.Store.GetTask(ctx, tenantID, taskID); err != nil {
		return err
	}
	m.cancelJob(taskID, uid)
	empty := false
	_, err := m.cfg.Store.UpdateTask(ctx, taskID, func(t *store.Task) error {
		kept := t.Plugins[:0]
		for _, p := range t.Plugins {
			if p.UniqueIdentifier != uid {
				kept = append(kept, p)
			}
		}
		t.Plugins = kept
		t.TotalPlugins = len(kept)
		empty = true
		for _, p := range kept {
			if p.Status != store.TaskSuccess {
				empty = false
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if empty {
		return m.cfg.Store.DeleteTask(ctx, tenantID, taskID)
	}
	return nil
}

func (m *Manager) cancelJob(taskID, uid string) {
	m.mu.Lock()
	j := m.jobs[jobKey(taskID, uid)]
	m.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
}

// Resume takes up the tasks a previous run left pending or running: their jobs are
// idempotent, so they run again from the start (reusing what was already built). Succeeded
// tasks older than KeepSucceeded are deleted.
func (m *Manager) Resume(ctx context.Context) (resumed int, err error) {
	tasks, err := m.cfg.Store.TasksWithStatus(ctx, store.TaskPending, store.TaskRunning)
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		if m.resumeTask(t, "resumed after a daemon restart") {
			resumed++
		}
	}
	old, err := m.cfg.Store.TasksWithStatus(ctx, store.TaskSuccess)
	if err == nil {
		for _, t := range old {
			if time.Since(t.UpdatedAt) > m.cfg.KeepSucceeded {
				_ = m.cfg.Store.DeleteTask(ctx, t.TenantID, t.ID)
			} else {
				m.forgetLater(t)
			}
		}
	}
	return resumed, nil
}

// resumeTask claims an unfinished task (on a cluster) and runs its unfinished items again,
// noting why on each.
func (m *Manager) resumeTask(t store.Task, why string) bool {
	var todo []store.TaskPlugin
	for _, p := range t.Plugins {
		if p.Status == store.TaskRunning || p.Status == store.TaskPending {
			todo = append(todo, p)
		}
	}
	fence, lost, ok := m.claimTask(t, len(todo))
	if !ok {
		return false
	}
	for _, p := range todo {
		m.updateItem(t.ID, p.UniqueIdentifier, fence, func(tp *store.TaskPlugin) {
			tp.Status, tp.Progress = store.TaskPending, why
		})
	}
	for _, p := range todo {
		m.startJob(t.TenantID, t.ID, p, fence, lost)
	}
	return true
}

func truncateMiddle(s string, n int) string {
	if len(s) <= n {
		return s
	}
	half := (n - 5) / 2
	return s[:half] + " ... " + s[len(s)-half:]
}

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestartAfterKill: a daemon killed with SIGKILL (a crash, the OOM killer) comes back on
// the same data folder with its installations, starts plugins again on demand, and leaves no
// plugin process of the dead daemon behind. The second half kills it in the middle of a call.
func TestRestartAfterKill(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	uid := installAndWait(ctx, t, c, pk.V1)
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "before", "mode": "text"}); err != nil || texts(msgs) != "before" {
		t.Fatalf("invoke before the kill: %v, %+v", err, msgs)
	}

	oldPID := d.pid()
	d.kill()
	checkOrphans(t, d, oldPID, "right after kill -9 of an idle daemon")
	d.restart()
	checkListed(t, c, uid, "0.0.1")
	reportReadiness(t, d, uid, "after the restart, before any call")
	// Plugins start on their first call after a restart, not at boot.
	for _, p := range descendants(d.pid()) {
		if strings.Contains(p.Cmdline, " -m main") {
			t.Errorf("after the restart a plugin runs before any call: pid %d %s", p.PID, p.Cmdline)
		}
	}
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after restart", "mode": "text"}); err != nil || texts(msgs) != "after restart" {
		t.Fatalf("invoke after the restart: %v, %+v", err, msgs)
	}
	checkOrphans(t, d, d.pid(), "after the restarted daemon answered a call")

	// Kill in the middle of a 30 s call.
	done := make(chan error, 1)
	go func() {
		_, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "30", "mode": "sleep"})
		done <- err
	}()
	time.Sleep(time.Second)
	oldPID = d.pid()
	d.kill()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("the call in progress at kill -9 succeeded")
		} else {
			t.Logf("the call in progress at kill -9 ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the call in progress did not end within 30 s of the daemon's death")
	}
	checkOrphans(t, d, oldPID, "right after kill -9 in the middle of a call")
	d.restart()
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after the crash", "mode": "text"}); err != nil || texts(msgs) != "after the crash" {
		t.Fatalf("invoke after the mid-call kill: %v, %+v", err, msgs)
	}
	checkOrphans(t, d, d.pid(), "after the daemon restarted from a mid-call kill answered a call")
}

// TestKillMidInstall kills the daemon while it builds a fresh environment for an install;
// after the restart the task must end, success (resumed) or failed with a reason, never stay
// running.
func TestKillMidInstall(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	tenant := newTenant()
	c := d.client(tenant)
	ctx := context.Background()
	if _, err := c.uploadPackage(ctx, pk.Six.Data, false); err != nil {
		t.Fatalf("upload: %v", err)
	}
	st, err := c.installFromIdentifiers(ctx, []string{pk.Six.UID}, "package", []map[string]any{{}})
	if err != nil || st.TaskID == "" {
		t.Fatalf("install: %+v, %v", st, err)
	}

	// Wait for the task to run; its environment (with six) has never been built in this run.
	status := ""
	deadline := time.Now().Add(5 * time.Minute)
	for status != "running" && status != "success" && status != "failed" {
		if time.Now().After(deadline) {
			t.Fatalf("the install task stayed %q for 5 minutes", status)
		}
		task, _, err := c.fetchTask(ctx, st.TaskID)
		if err != nil {
			t.Fatalf("install task: %v", err)
		}
		status = task.Status
		time.Sleep(50 * time.Millisecond)
	}
	if status != "running" {
		t.Logf("the install task was already %s when first seen running; killing the daemon anyway", status)
	} else {
		// Kill while the environment's packages are installed (uv or pip running under the
		// daemon) if that can be seen within 15 s, else now.
		end := time.Now().Add(15 * time.Second)
		for builder := ""; builder == "" && time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for _, p := range descendants(d.pid()) {
				args := strings.Fields(p.Cmdline)
				installing := strings.Contains(p.Cmdline, " pip install ") || strings.Contains(p.Cmdline, " sync ")
				if len(args) > 1 && installing && (filepath.Base(args[0]) == "uv" || strings.Contains(p.Cmdline, " -m pip ")) {
					builder = p.Cmdline
					t.Logf("killing the daemon while it runs %.200s", builder)
				}
			}
		}
	}
	oldPID := d.pid()
	d.kill()
	checkOrphans(t, d, oldPID, "right after kill -9 during an install")
	d.restart()

	task := waitTask(ctx, t, c, st.TaskID, installDeadline)
	switch task.Status {
	case "success":
		checkListed(t, c, pk.Six.UID, "0.0.1")
		if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "resumed", "mode": "text"}); err != nil || texts(msgs) != "resumed" {
			t.Errorf("invoke after the resumed install: %v, %+v", err, msgs)
		}
	case "failed":
		if len(task.Plugins) != 1 || strings.TrimSpace(task.Plugins[0].Message) == "" {
			t.Errorf("the install task failed without a reason: %+v", task.Plugins)
		}
		t.Logf("the interrupted install failed: %q", task.Plugins[0].Message)
		// A failed install must not block a new one.
		installAndWait(ctx, t, c, pk.Six)
	}
	checkOrphans(t, d, d.pid(), "after the install interrupted by kill -9 ended")
}

// checkOrphans reports the processes working in the daemon's data folder (or the run's
// environments) that the daemon running now, if any, did not start: what a dead daemon left
// behind. It never fails the test: whether a plugin may outlive its daemon is the lead's call.
func checkOrphans(t *testing.T, d *daemon, deadPID int, when string) {
	t.Helper()
	ancestor := 0
	if d.cmd != nil {
		ancestor = d.pid()
	}
	stray := strayProcesses(d.opts.DataDir, ancestor)
	if ancestor == 0 {
		// No daemon runs: give processes dying with their parent a moment (Pdeathsig is
		// delivered at once, but the exit takes a few milliseconds).
		end := time.Now().Add(3 * time.Second)
		for len(stray) > 0 && time.Now().Before(end) {
			time.Sleep(100 * time.Millisecond)
			stray = strayProcesses(d.opts.DataDir, 0)
		}
	}
	for _, p := range stray {
		report(t, "%s: pid %d (parent %d, old daemon %d) outlived or escaped its daemon: %s (cwd %s)",
			when, p.PID, p.PPID, deadPID, p.Cmdline, p.Cwd)
	}
	if len(stray) == 0 {
		t.Logf("%s: no stray process", when)
	}
}

// reportReadiness logs what /health/ready says of uid.
func reportReadiness(t *testing.T, d *daemon, uid, when string) {
	t.Helper()
	status, _, body := d.rawRequest(t, http.MethodGet, "/health/ready", nil, nil)
	var ready struct {
		Plugins []struct {
			UniqueIdentifier string `json:"unique_identifier"`
			State            string `json:"state"`
			PID              int    `json:"pid"`
		} `json:"plugins"`
	}
	_ = json.Unmarshal(body, &ready)
	for _, p := range ready.Plugins {
		if p.UniqueIdentifier == uid {
			t.Logf("%s: /health/ready HTTP %d, plugin state %q pid %d", when, status, p.State, p.PID)
			return
		}
	}
	t.Logf("%s: /health/ready HTTP %d: %.500s", when, status, body)
}

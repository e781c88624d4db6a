package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const hostileID = "plugd/e2ehostile"

// hostilePackage packages testdata/plugins/e2ehostile, a plugin written with the real SDK
// that attacks its host and reports what it got.
func hostilePackage(t *testing.T) testPackage {
	t.Helper()
	bin := binary(t)
	dir := filepath.Join(t.TempDir(), "e2ehostile")
	if err := copyTree(filepath.Join("testdata", "plugins", "e2ehostile"), dir); err != nil {
		t.Fatal(err)
	}
	p, err := packageDir(bin, dir, filepath.Join(t.TempDir(), "e2ehostile.difypkg"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// attackReport is what the hostile tool answers.
type attackReport struct {
	UID       int               `json:"uid"`
	PID       int               `json:"pid"`
	Read      map[string]string `json:"read"`
	List      map[string]string `json:"list"`
	Proc      json.RawMessage   `json:"proc"`
	Forked    int               `json:"forked"`
	ForkError string            `json:"fork_error"`
}

func attack(ctx context.Context, t *testing.T, c *difyClient, targets map[string]any) attackReport {
	t.Helper()
	b, _ := json.Marshal(targets)
	msgs, err := c.invokeTool(ctx, hostileID, "e2ehostile", "attack", map[string]any{"targets": string(b)})
	if err != nil {
		t.Fatalf("attack: %v", err)
	}
	for _, m := range msgs {
		if m.Type == "json" {
			var w struct {
				JSON attackReport `json:"json_object"`
			}
			if err := json.Unmarshal(m.Message, &w); err != nil {
				t.Fatalf("attack report %s: %v", m.Message, err)
			}
			return w.JSON
		}
	}
	t.Fatalf("attack answered no JSON message: %+v", msgs)
	return attackReport{}
}

// TestHostilePluginIsConfined runs a hostile plugin under a real `plugd serve` with its
// default isolation and checks every answer of its attempts: the daemon's environ, the
// database file, another plugin's working folder and /root are out of reach, and forking stops
// at the process limit.
func TestHostilePluginIsConfined(t *testing.T) {
	pythonTools(t)
	pk := packages(t)
	hostile := hostilePackage(t)
	const maxProcs = 40
	secret := "e2e-secret-" + randomHex(8)
	d := startDaemon(t, daemonOptions{Env: map[string]string{
		"PLUGD_PLUGIN_MAX_PROCESSES": strconv.Itoa(maxProcs),
		"AWS_SECRET_KEY":             secret, // a secret in the daemon's environment
	}})
	log := d.logText(t)
	if !strings.Contains(log, "plugin isolation: ") || strings.Contains(log, "plugin isolation: off") || strings.Contains(log, "plugin isolation: refused") {
		t.Fatalf("the daemon's log does not say that plugins are isolated:\n%s", log)
	}
	ctx := context.Background()
	c := d.client(newTenant())
	installAndWait(ctx, t, c, pk.V1)
	installAndWait(ctx, t, c, hostile)

	// Another plugin's working folder, with something in it.
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "x", "mode": "text"}); err != nil || texts(msgs) != "x" {
		t.Fatalf("invoke e2etool: %v %+v", err, msgs)
	}
	other := filepath.Join(d.opts.DataDir, "plugins", "plugd", "e2etool", "home")
	otherFile := filepath.Join(other, "private.txt")
	if err := os.WriteFile(otherFile, []byte("e2etool's own"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(d.opts.DataDir, "plugd.db")
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the database file is not where the test looks: %v", err)
	}
	rootFile := hostRootFile(t)
	environ := "/proc/" + strconv.Itoa(d.pid()) + "/environ"
	if b, err := os.ReadFile(environ); err != nil || !strings.Contains(string(b), secret) {
		t.Fatalf("the test cannot read the daemon's environ itself: %v", err)
	}

	r := attack(ctx, t, c, map[string]any{
		"read":  []string{environ, db, otherFile, rootFile, filepath.Join(d.opts.DataDir, "server.key"), "/etc/shadow"},
		"list":  []string{other, filepath.Dir(other), "/root", filepath.Join(d.opts.DataDir), "/proc/" + strconv.Itoa(d.pid())},
		"forks": 3 * maxProcs,
	})
	t.Logf("report: uid %d pid %d proc %s forked %d (%s)", r.UID, r.PID, r.Proc, r.Forked, r.ForkError)
	for p, got := range r.Read {
		t.Logf("read %s: %.80s", p, got)
		if !strings.HasPrefix(got, "error ") {
			t.Errorf("the plugin read %s: %.80q", p, got)
		}
		if strings.Contains(got, secret) {
			t.Errorf("the plugin got the daemon's secret from %s", p)
		}
	}
	if len(r.Read) != 6 || len(r.List) != 5 {
		t.Errorf("the report misses attempts: %+v", r)
	}
	for p, got := range r.List {
		t.Logf("list %s: %.200s", p, got)
		switch {
		case strings.HasPrefix(got, "error "):
		case p == "/root" && !strings.Contains(got, filepath.Base(rootFile)):
			// Only the skeleton of bound folders (the interpreter's prefix may live in /root).
		case p == d.opts.DataDir && !strings.Contains(got, "plugd.db") && !strings.Contains(got, "server.key"):
			// Likewise: the empty folders on the way to its code, environment and own folder.
		default:
			t.Errorf("the plugin listed %s: %.200q", p, got)
		}
	}
	// By default (PLUGD_ZYGOTE on, the daemon root) the plugin is forked from a confined
	// zygote: it shares the zygote's PID namespace, where the daemon is not either.
	plog, _ := os.ReadFile(filepath.Join(d.opts.DataDir, "plugins", "plugd", "e2ehostile", "logs", "plugin.log"))
	forked := strings.Contains(string(plog), "forked from a zygote")
	t.Logf("forked from a confined zygote: %v", forked)
	if os.Geteuid() == 0 && (!forked || !strings.Contains(log, "zygotes confined")) {
		t.Errorf("as root, with default settings, the plugin was not forked from a confined zygote:\n%s", plog)
	}
	if forked && !strings.Contains(string(plog), "from a confined zygote") {
		t.Errorf("forked from an unconfined zygote:\n%s", plog)
	}
	if !forked && r.PID != 1 || forked && r.PID <= 2 {
		t.Errorf("the plugin is pid %d in its PID namespace, want 1 or, forked from a zygote, above 2", r.PID)
	}
	if forked {
		// The zygote's PID namespace holds its reaper (1), the zygote and the plugins forked
		// from it: all of other uids, whose environ and working folder it may not read.
		var pids []int
		if err := json.Unmarshal(r.Proc, &pids); err != nil || len(pids) < 3 {
			t.Fatalf("the plugin's /proc: %s (%v)", r.Proc, err)
		}
		var reads, lists []string
		for _, p := range pids {
			if p != r.PID {
				reads = append(reads, "/proc/"+strconv.Itoa(p)+"/environ")
				lists = append(lists, "/proc/"+strconv.Itoa(p)+"/cwd")
			}
		}
		r2 := attack(ctx, t, c, map[string]any{"read": reads, "list": lists})
		for _, m := range []map[string]string{r2.Read, r2.List} {
			for p, got := range m {
				t.Logf("%s: %.80s", p, got)
				if !strings.HasPrefix(got, "error ") {
					t.Errorf("the plugin read %s of a process of its zygote's namespace: %.80q", p, got)
				}
			}
		}
		if len(r2.Read) != len(reads) || len(r2.List) != len(lists) {
			t.Errorf("the report misses attempts: %+v", r2)
		}
	}
	if os.Geteuid() == 0 && (r.UID == 0 || r.UID < 200000) {
		t.Errorf("the plugin runs as uid %d, want one of its own from PLUGD_SANDBOX_UID_BASE", r.UID)
	}
	if r.Forked >= maxProcs || !strings.Contains(r.ForkError, "EAGAIN") {
		t.Errorf("forked %d processes with a limit of %d (error %q)", r.Forked, maxProcs, r.ForkError)
	}
	if r.Forked == 0 {
		t.Errorf("not a single fork succeeded: the limit is too tight to tell anything")
	}
	// The plugin still works after its attack.
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "after", "mode": "text"}); err != nil || texts(msgs) != "after" {
		t.Fatalf("invoke e2etool after the attack: %v %+v", err, msgs)
	}
}

// hostRootFile returns a regular file in /root that the test process can read, creating one
// (removed at the end) when there is none.
func hostRootFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join("/root", ".plugd-e2e-"+randomHex(6))
	if err := os.WriteFile(p, []byte("root's own"), 0o600); err != nil {
		t.Skipf("cannot write a file in /root to test with: %v", err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// TestCrashLoopBacksOff makes a plugin crash at every start until it is failed, then checks
// that it answers again once the back-off is over, without a restart of the daemon, and that
// `plugd reset` ends a second loop's back-off at once.
func TestCrashLoopBacksOff(t *testing.T) {
	pythonTools(t)
	hostile := hostilePackage(t)
	d := startDaemon(t, daemonOptions{Env: map[string]string{
		"PLUGD_RESTART_BACKOFF":        "20ms",
		"PLUGD_CRASH_LOOP_BACKOFF":     "3s",
		"PLUGD_CRASH_LOOP_BACKOFF_MAX": "1h",
	}})
	ctx := context.Background()
	tenant := newTenant()
	c := d.client(tenant)
	uid := installAndWait(ctx, t, c, hostile)
	ok := func() error {
		b, _ := json.Marshal(map[string]any{})
		_, err := c.invokeTool(ctx, hostileID, "e2ehostile", "attack", map[string]any{"targets": string(b)})
		return err
	}
	if err := ok(); err != nil {
		t.Fatal(err)
	}
	crash := filepath.Join(d.opts.DataDir, "plugins", "plugd", "e2ehostile", "home", "crash")

	loop := func(what string) time.Time {
		t.Helper()
		if err := os.WriteFile(crash, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// Stop the running process: kill it, as a crash would; every start after exits.
		d.killPlugin(t, uid)
		deadline := time.Now().Add(60 * time.Second)
		for {
			err := ok()
			if err != nil && strings.Contains(err.Error(), "crash-looping") {
				t.Logf("%s: %.300v", what, err)
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the plugin did not become failed: last error %v", what, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	failedAt := loop("first loop")
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	// Right after, it still refuses: the back-off holds.
	if err := ok(); err == nil || !strings.Contains(err.Error(), "crash-looping") {
		t.Errorf("within the back-off: %v, want the crash-loop error", err)
	}
	for {
		err := ok()
		if err == nil {
			t.Logf("answers again %s after it was failed (back-off 3 s)", time.Since(failedAt).Round(10*time.Millisecond))
			break
		}
		if time.Since(failedAt) > 60*time.Second {
			t.Fatalf("still failing 60 s after a 3 s back-off: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A second loop waits 6 s; `plugd reset` ends it at once.
	loop("second loop")
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "reset", hostileID, "--json", "--url", d.base, "--key", d.key, "--tenant", tenant).CombinedOutput()
	if err != nil {
		t.Fatalf("plugd reset: %v\n%s", err, out)
	}
	var res struct {
		UID     string `json:"plugin_unique_identifier"`
		Running bool   `json:"running"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.UID != uid || !res.Running {
		t.Errorf("plugd reset --json printed %s", out)
	}
	if err := ok(); err != nil {
		t.Errorf("right after plugd reset: %v", err)
	}
	status, _, body := d.rawRequest(t, http.MethodPost, "/plugin/"+tenant+"/management/reset",
		map[string]string{"X-Api-Key": d.key, "Content-Type": "application/json"}, []byte(`{"plugin_id":"nobody/nothing"}`))
	if status != http.StatusNotFound && !strings.Contains(string(body), "not installed") {
		t.Errorf("reset of a plugin that is not installed: HTTP %d %s", status, body)
	}
}

// logText is what the daemon's current process has logged so far.
func (d *daemon) logText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(d.logs[len(d.logs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// killPlugin SIGKILLs the daemon's plugin processes working in a folder of uid.
func (d *daemon) killPlugin(t *testing.T, uid string) {
	t.Helper()
	name := strings.SplitN(strings.TrimPrefix(uid, "plugd/"), ":", 2)[0]
	for _, p := range descendants(d.pid()) {
		cwd, _ := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/cwd")
		plugin := strings.Contains(p.Cmdline, " -m main") || strings.Contains(p.Cmdline, "# plugd zygote") // forked from one
		if plugin && strings.Contains(cwd, name) {
			if proc, err := os.FindProcess(p.PID); err == nil {
				proc.Kill()
			}
		}
	}
}

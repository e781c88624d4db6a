package e2e

// The tests of this package start real `plugd serve` processes. What they need:
//
//   PLUGD_TEST_PYTHON311   a Python 3.11 that plugin environments are built from
//   PLUGD_TEST_UV          the uv binary
//       (scripts/test.sh sets both through scripts/test-deps.sh). When PLUGD_TEST_PYTHON311 is
//       unset the tests fail, unless PLUGD_SKIP_PYTHON=1, which skips them.
//   PLUGD_TEST_POSTGRES_DSN                     postgres://user:pass@host:port/db?sslmode=...
//       runs the flow on PostgreSQL in a fresh database (scripts/postgres.sh starts one).
//   PLUGD_TEST_MYSQL_DSN                        mysql://user:pass@host:port/
//       runs `plugd migrate` and the flow on MySQL/MariaDB (scripts/mariadb.sh starts one).
//   PLUGD_TEST_S3_ENDPOINT, PLUGD_TEST_S3_ACCESS_KEY, PLUGD_TEST_S3_SECRET_KEY,
//   PLUGD_TEST_S3_BUCKET                        runs the flow on S3-compatible storage.
//       Without them those tests skip, or fail when PLUGD_TEST_REQUIRE_SERVICES=1.
//
// The plugd binary is built once per run (go build ./cmd/plugd) and packages the test
// plugin with `plugd plugin package`. Building a plugin's Python environment is the slow
// part of an install, so every daemon of a run shares one environment folder: each data
// folder's python/ is a symbolic link to the run's folder (plugd keeps environments in
// <data-dir>/python and has no setting of its own for them).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	runDir    string // this run's scratch folder: the binary, packages, the shared python folder
	sharedPy  string // <runDir>/python, linked from every data folder
	buildOnce sync.Once
	plugdBin  string
	buildErr  error
	pkgOnce   sync.Once
	pkgs      testPackages
	pkgErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plugd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runDir = dir
	sharedPy = filepath.Join(runDir, "python")
	code := m.Run()
	os.RemoveAll(runDir)
	os.Exit(code)
}

// pythonTools returns the interpreter and uv of the run, skipping or failing the test when
// they are not configured.
func pythonTools(t testing.TB) (python, uv string) {
	t.Helper()
	python, uv = os.Getenv("PLUGD_TEST_PYTHON311"), os.Getenv("PLUGD_TEST_UV")
	if python == "" || uv == "" {
		if os.Getenv("PLUGD_SKIP_PYTHON") == "1" {
			t.Skip("PLUGD_SKIP_PYTHON=1")
		}
		t.Fatal("PLUGD_TEST_PYTHON311 and PLUGD_TEST_UV must be set: run the tests through scripts/test.sh (or set PLUGD_SKIP_PYTHON=1)")
	}
	return python, uv
}

// binary builds cmd/plugd once per run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			buildErr = err
			return
		}
		plugdBin = filepath.Join(runDir, "plugd")
		cmd := exec.Command("go", "build", "-o", plugdBin, "./cmd/plugd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/plugd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return plugdBin
}

// testPackage is one packaged variant of the test plugin.
type testPackage struct {
	Path string
	UID  string // as `plugd plugin checksum` computes it
	Data []byte
}

// testPackages are the variants: v1 (0.0.1), v2 (0.0.2, for upgrades) and six (0.0.1 with
// an extra requirement, so its environment is built afresh).
type testPackages struct {
	V1, V2, Six testPackage
}

// packages builds the variants once per run.
func packages(t testing.TB) testPackages {
	t.Helper()
	bin := binary(t)
	pkgOnce.Do(func() {
		build := func(name string, edit func(dir string) error) testPackage {
			if pkgErr != nil {
				return testPackage{}
			}
			var p testPackage
			p, pkgErr = packagePlugin(bin, name, edit)
			return p
		}
		pkgs.V1 = build("v1", nil)
		pkgs.V2 = build("v2", func(dir string) error { return setVersion(dir, "0.0.2") })
		pkgs.Six = build("six", func(dir string) error {
			return appendFile(filepath.Join(dir, "requirements.txt"), "six\n")
		})
	})
	if pkgErr != nil {
		t.Fatal(pkgErr)
	}
	return pkgs
}

// packagePlugin copies the test plugin to a scratch folder, lets edit change it, packages it
// with plugd and asks plugd for its unique identifier.
func packagePlugin(bin, name string, edit func(dir string) error) (testPackage, error) {
	dir := filepath.Join(runDir, "src-"+name, "e2etool")
	if err := copyTree(filepath.Join("testdata", "plugins", "e2etool"), dir); err != nil {
		return testPackage{}, err
	}
	if edit != nil {
		if err := edit(dir); err != nil {
			return testPackage{}, err
		}
	}
	return packageDir(bin, dir, filepath.Join(runDir, "e2etool-"+name+".difypkg"))
}

// packageDir runs `plugd plugin package DIR -o out` and `plugd plugin checksum out --json`.
func packageDir(bin, dir, out string) (testPackage, error) {
	if b, err := exec.Command(bin, "plugin", "package", dir, "-o", out).CombinedOutput(); err != nil {
		return testPackage{}, fmt.Errorf("plugd plugin package %s: %v\n%s", dir, err, b)
	}
	b, err := exec.Command(bin, "plugin", "checksum", out, "--json").Output()
	if err != nil {
		return testPackage{}, fmt.Errorf("plugd plugin checksum %s: %v", out, err)
	}
	var sum struct {
		UniqueIdentifier string `json:"unique_identifier"`
	}
	if err := json.Unmarshal(b, &sum); err != nil || sum.UniqueIdentifier == "" {
		return testPackage{}, fmt.Errorf("plugd plugin checksum --json printed %q", b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return testPackage{}, err
	}
	return testPackage{Path: out, UID: sum.UniqueIdentifier, Data: data}, nil
}

var topVersion = regexp.MustCompile(`(?m)^version: .*$`)

// setVersion rewrites the plugin's version (the top-level key, not meta.version).
func setVersion(dir, version string) error {
	return editFile(filepath.Join(dir, "manifest.yaml"), func(s string) string {
		return topVersion.ReplaceAllString(s, "version: "+version)
	})
}

func editFile(path string, f func(string) string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := f(string(b))
	if s == string(b) {
		return fmt.Errorf("%s: the edit changed nothing", path)
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// daemonOptions configure a daemon.
type daemonOptions struct {
	// DataDir is reused across restarts; empty makes a fresh one.
	DataDir string
	// Env adds or overrides environment variables (DB_*, storage, limits).
	Env map[string]string
	// PrivatePython gives the daemon its own environment folder instead of the run's.
	PrivatePython bool
}

// daemon is one `plugd serve` process, and the settings to start it again.
type daemon struct {
	t       testing.TB
	opts    daemonOptions
	port    int
	key     string
	base    string
	home    string
	logs    []string // one file per process started, its stderr and stdout
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	started int
}

// startDaemon starts plugd serve and waits until GET /health/check answers 200. The process
// is stopped when the test ends; if the test failed, the daemon's log is printed.
func startDaemon(t testing.TB, opts daemonOptions) *daemon {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	d := &daemon{t: t, opts: opts, port: freePort(t), key: randomHex(16), home: t.TempDir()}
	d.base = "http://127.0.0.1:" + strconv.Itoa(d.port)
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			d.dumpLogs()
		}
	})
	d.start()
	return d
}

// environ is the daemon's whole environment: nothing of the developer's shell leaks in
// except the path, the locale and proxy settings (environments download from PyPI).
func (d *daemon) environ() []string {
	python, uv := pythonTools(d.t)
	env := map[string]string{
		"PATH":                      os.Getenv("PATH"),
		"HOME":                      d.home,
		"XDG_CONFIG_HOME":           filepath.Join(d.home, ".config"),
		"XDG_DATA_HOME":             filepath.Join(d.home, ".local", "share"),
		"TMPDIR":                    os.TempDir(),
		"LANG":                      "C.UTF-8",
		"SERVER_HOST":               "127.0.0.1",
		"SERVER_PORT":               strconv.Itoa(d.port),
		"SERVER_KEY":                d.key,
		"FORCE_VERIFYING_SIGNATURE": "false",
		"PYTHON_INTERPRETER_PATH":   python,
		"UV_PATH":                   uv,
		"LOG_LEVEL":                 "DEBUG",
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
		"PIP_MIRROR_URL", "PIP_EXTRA_INDEX_URL", "SSL_CERT_FILE"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	for k, v := range d.opts.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// start runs one process on the daemon's data folder and port.
func (d *daemon) start() {
	t := d.t
	t.Helper()
	bin := binary(t)
	if err := os.MkdirAll(d.opts.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if !d.opts.PrivatePython {
		if err := os.MkdirAll(sharedPy, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(d.opts.DataDir, "python")
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(sharedPy, link); err != nil {
				t.Fatal(err)
			}
		}
	}
	d.started++
	logPath := filepath.Join(filepath.Dir(d.opts.DataDir), fmt.Sprintf("daemon-%s-%d.log", filepath.Base(d.opts.DataDir), d.started))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.logs = append(d.logs, logPath)
	cmd := exec.Command(bin, "serve", "--data-dir", d.opts.DataDir)
	cmd.Env = d.environ()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = d.home
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting plugd serve: %v", err)
	}
	d.cmd = cmd
	d.exited = make(chan struct{})
	go func(exited chan struct{}) {
		d.waitErr = cmd.Wait()
		logf.Close()
		close(exited)
	}(d.exited)

	// A cold start migrates the database and may create it; a minute is far more than it needs.
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-d.exited:
			d.dumpLogs()
			t.Fatalf("plugd serve exited before answering /health/check: %v", d.waitErr)
		default:
		}
		resp, err := hc.Get(d.base + "/health/check")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var h struct {
					Status string `json:"status"`
				}
				if err := json.Unmarshal(b, &h); err != nil || h.Status != "ok" {
					t.Errorf("/health/check: %s, want JSON with status \"ok\"", b)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			d.dumpLogs()
			t.Fatalf("plugd serve did not answer /health/check within a minute (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pid is the running process's id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// kill ends the process with SIGKILL, as a crash or the OOM killer would, and waits for it.
func (d *daemon) kill() {
	d.t.Helper()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	d.cmd = nil
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) and then ends whatever it left
// running in its data folder, so one test's plugins cannot disturb the next.
func (d *daemon) stop() {
	if d.cmd != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			d.t.Logf("plugd serve (pid %d) did not stop within 30 s of SIGTERM; killing it", d.cmd.Process.Pid)
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		d.cmd = nil
	}
	for _, p := range strayProcesses(d.opts.DataDir, 0) {
		d.t.Logf("after the daemon stopped, pid %d (%s, cwd %s) was still running; killing it", p.PID, p.Cmdline, p.Cwd)
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
}

// restart starts a new process on the same data folder and port (after kill or stop).
func (d *daemon) restart() {
	d.t.Helper()
	if d.cmd != nil {
		d.stop()
	}
	d.start()
}

// dumpLogs prints the end of every log of the daemon to the test log.
func (d *daemon) dumpLogs() {
	for _, p := range d.logs {
		b, err := os.ReadFile(p)
		if err != nil {
			d.t.Logf("log %s: %v", p, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 200 {
			lines = append([]string{fmt.Sprintf("... %d earlier lines", len(lines)-200)}, lines[len(lines)-200:]...)
		}
		d.t.Logf("==== %s ====\n%s", filepath.Base(p), strings.Join(lines, "\n"))
	}
}

// client is a Dify client of tenant on this daemon.
func (d *daemon) client(tenant string) *difyClient {
	return newDifyClient(d.base, d.key, tenant)
}

// rawRequest sends a request as is and returns the status, headers and body.
func (d *daemon) rawRequest(t testing.TB, method, path string, headers map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// newTenant returns a tenant id shaped like Dify's (a UUID).
func newTenant() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// waitTask polls an install task until it is success or failed, checking the shape of every
// answer. The deadline is a guard against a hung daemon, not a speed requirement.
func waitTask(ctx context.Context, t testing.TB, c *difyClient, id string, deadline time.Duration) installTask {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	seen := ""
	for {
		task, raw, err := c.fetchTask(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("install task %s: no end within %v (last status %q)", id, deadline, seen)
			}
			t.Fatalf("fetching install task %s: %v", id, err)
		}
		checkTaskShape(t, raw)
		if task.Status != seen {
			t.Logf("install task %s: %s", id, task.Status)
			seen = task.Status
		}
		switch task.Status {
		case "success", "failed":
			return task
		case "pending", "running":
		default:
			t.Fatalf("install task %s: status %q is none of pending, running, success, failed", id, task.Status)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("install task %s: still %s after %v", id, task.Status, deadline)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// installDeadline bounds one install: an environment built from an empty cache downloads
// the SDK and its dependencies from PyPI.
const installDeadline = 10 * time.Minute

// installAndWait uploads pkg, installs it and waits for the task's success.
func installAndWait(ctx context.Context, t testing.TB, c *difyClient, pkg testPackage) string {
	t.Helper()
	dec, err := c.uploadPackage(ctx, pkg.Data, false)
	if err != nil {
		t.Fatalf("upload %s: %v", filepath.Base(pkg.Path), err)
	}
	if dec.UniqueIdentifier != pkg.UID {
		t.Fatalf("upload: unique_identifier %q, want %q (plugd plugin checksum)", dec.UniqueIdentifier, pkg.UID)
	}
	st, err := c.installFromIdentifiers(ctx, []string{pkg.UID}, "package", []map[string]any{{}})
	if err != nil {
		t.Fatalf("install/identifiers: %v", err)
	}
	if st.AllInstalled {
		return pkg.UID
	}
	task := waitTask(ctx, t, c, st.TaskID, installDeadline)
	if task.Status != "success" {
		t.Fatalf("install task ended %s: %+v", task.Status, task.Plugins)
	}
	return pkg.UID
}

// process is a process found in /proc.
type process struct {
	PID, PPID int
	Cwd       string
	Cmdline   string
}

// strayProcesses lists the processes working in dir or the run's python folder (their
// working folder, or an argument, lies inside) that do not descend from the process
// ancestor (0: any process counts) and are not this test process.
func strayProcesses(dir string, ancestor int) []process {
	roots := []string{dir, sharedPy}
	for i, r := range roots {
		if real, err := filepath.EvalSymlinks(r); err == nil {
			roots[i] = real
		}
	}
	inside := func(p string) bool {
		for _, r := range roots {
			if p == r || strings.HasPrefix(p, r+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	all := listProcesses()
	parent := make(map[int]int, len(all))
	for _, p := range all {
		parent[p.PID] = p.PPID
	}
	descends := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == ancestor {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	var out []process
	self := os.Getpid()
	for _, p := range all {
		if p.PID == self || (ancestor != 0 && descends(p.PID)) {
			continue
		}
		hit := inside(p.Cwd)
		for _, arg := range strings.Split(p.Cmdline, " ") {
			if !hit && filepath.IsAbs(arg) && inside(arg) {
				hit = true
			}
		}
		if hit {
			out = append(out, p)
		}
	}
	return out
}

// descendants lists the processes that descend from ancestor.
func descendants(ancestor int) []process {
	all := listProcesses()
	parent := make(map[int]int, len(all))
	for _, p := range all {
		parent[p.PID] = p.PPID
	}
	var out []process
	for _, p := range all {
		for pid, i := p.PPID, 0; i < 64 && pid > 1; pid, i = parent[pid], i+1 {
			if pid == ancestor {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func listProcesses() []process {
	entries, _ := os.ReadDir("/proc")
	var out []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, process{PID: pid, PPID: ppid, Cwd: cwd,
			Cmdline: strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))})
	}
	return out
}

// report logs a finding the lead must read (grep the test output for E2E-REPORT).
func report(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Logf("E2E-REPORT: "+format, args...)
}

// findDirs lists the folders under root whose name starts with prefix.
func findDirs(root, prefix string) []string {
	var out []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), prefix) {
			out = append(out, path)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// metricLines returns the lines of /metrics for the metric name.
func metricLines(t testing.TB, d *daemon, name string) []string {
	t.Helper()
	status, _, body := d.rawRequest(t, http.MethodGet, "/metrics", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d: %.300s", status, body)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			out = append(out, line)
		}
	}
	return out
}

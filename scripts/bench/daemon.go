//go:build ignore

// daemon measures a real `plugd serve` process from the outside, through the HTTP API Dify
// uses, with the end-to-end tests' plugin (internal/e2e/testdata/plugins/e2etool), and prints
// the tables of docs/benchmarks.md ("The daemon"). scripts/bench-daemon.sh runs it with the
// interpreters of scripts/test-deps.sh.
//
//	go run scripts/bench/daemon.go [-sections ready,load,rss] [-duration 10s] [-plugins 100]
//
// Sections:
//
//	ready  upload-to-ready time (upload + install task success) of the plugin: on a daemon
//	       whose environment folder is empty (the first install ever: downloads from PyPI),
//	       for a plugin needing one new package (a fresh environment, warm download cache),
//	       and on a second daemon whose environments exist (the environment is reused).
//	load   tool/invoke (text mode) at concurrency 1, 16 and 64 for -duration each: calls/s,
//	       p50 and p99 latency, the daemon's peak RSS and the plugin process's RSS.
//	cold   with -cold copies of the plugin installed (one shared environment), the daemon is
//	       restarted and each plugin called once: the first call's latency (process start to
//	       answer, through the HTTP API), p50/p90/max, with and without zygotes
//	       (PLUGD_ZYGOTE). Then uninstall + upload + install of one of them again, whose
//	       environment was kept (reinstall).
//	mcp    MCP tools/call of the plugin's tool through plugd's MCP server (official Go SDK
//	       client, streamable HTTP, one session per worker) beside tool/invoke at the same
//	       concurrency levels, and tools/list of a tenant with 1,000 tools (an imported
//	       OpenAPI description of 1,000 operations): the first list of a new session (server
//	       built) and later lists.
//	rss    the daemon's RSS (VmRSS) just after start with nothing installed, and after a
//	       restart with -plugins copies of the plugin installed under different names (one
//	       shared environment, none started since none was called).
//
// Progress goes to stderr, the tables to stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"syscall"
	"time"
)

var (
	sections = flag.String("sections", "ready,load,rss", "sections to run, comma-separated")
	duration = flag.Duration("duration", 10*time.Second, "load: time per concurrency level")
	levels   = flag.String("concurrency", "1,16,64", "load: concurrency levels")
	nPlugins = flag.Int("plugins", 100, "rss: plugins installed")
	nCold    = flag.Int("cold", 20, "cold: plugins installed")
	python   = flag.String("python", os.Getenv("PLUGD_TEST_PYTHON311"), "interpreter environments are built from (PLUGD_TEST_PYTHON311)")
	uv       = flag.String("uv", os.Getenv("PLUGD_TEST_UV"), "the uv binary (PLUGD_TEST_UV)")
	keep     = flag.Bool("keep", false, "keep the scratch folder (printed at the end)")
)

var (
	work   string // scratch folder
	bin    string // the plugd binary
	pyDir  string // the environment folder shared by the daemons of one section
	tenant = "4f1c9a6e-0b7d-4c1e-9f57-3b2a1d0e8c11"
)

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench-daemon: ")
	if *python == "" || *uv == "" {
		log.Fatal("set PLUGD_TEST_PYTHON311 and PLUGD_TEST_UV (scripts/test-deps.sh) or -python and -uv")
	}
	var err error
	work, err = os.MkdirTemp("", "plugd-bench-daemon-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if *keep {
			log.Printf("scratch folder kept: %s", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	bin = filepath.Join(work, "plugd")
	run("go", "build", "-o", bin, "./cmd/plugd")
	pyDir = filepath.Join(work, "python")

	want := strings.Split(*sections, ",")
	if slices.Contains(want, "ready") {
		sectionReady()
	}
	if slices.Contains(want, "load") {
		sectionLoad()
	}
	if slices.Contains(want, "cold") {
		sectionCold()
	}
	if slices.Contains(want, "rss") {
		sectionRSS()
	}
	if slices.Contains(want, "mcp") {
		sectionMCP()
	}
}

func run(name string, args ...string) []byte {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// pkg is a packaged copy of the test plugin.
type pkg struct {
	data []byte
	uid  string
}

var topLine = func(key string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + key + `: .*$`) }

// makePackage copies the test plugin, renames it, optionally adds a requirement, packages it.
func makePackage(name, extraRequirement string) pkg {
	dir := filepath.Join(work, "src", name)
	src := filepath.Join("internal", "e2e", "testdata", "plugins", "e2etool")
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "manifest.yaml" {
			b = topLine("name").ReplaceAll(b, []byte("name: "+name))
		}
		if rel == "requirements.txt" && extraRequirement != "" {
			b = append(b, []byte(extraRequirement+"\n")...)
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		log.Fatal(err)
	}
	out := filepath.Join(work, "pkg", name+".difypkg")
	os.MkdirAll(filepath.Dir(out), 0o755)
	run(bin, "plugin", "package", dir, "-o", out)
	var sum struct {
		UniqueIdentifier string `json:"unique_identifier"`
	}
	if err := json.Unmarshal(run(bin, "plugin", "checksum", out, "--json"), &sum); err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		log.Fatal(err)
	}
	return pkg{data: data, uid: sum.UniqueIdentifier}
}

// daemon is one plugd serve process.
type daemon struct {
	dataDir string
	port    int
	key     string
	env     map[string]string
	cmd     *exec.Cmd
	exited  chan struct{}
	hc      *http.Client
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newDaemon(name string, env map[string]string) *daemon {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	d := &daemon{dataDir: filepath.Join(work, name), port: port, key: randomHex(16), env: env}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	tr.Proxy = nil
	d.hc = &http.Client{Transport: tr}
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(pyDir, 0o755)
	if err := os.Symlink(pyDir, filepath.Join(d.dataDir, "python")); err != nil {
		log.Fatal(err)
	}
	d.start()
	return d
}

func (d *daemon) start() {
	home := filepath.Join(d.dataDir, "..", filepath.Base(d.dataDir)+"-home")
	os.MkdirAll(home, 0o700)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"TMPDIR=" + os.TempDir(), "LANG=C.UTF-8", "SERVER_HOST=127.0.0.1", "SERVER_PORT=" + strconv.Itoa(d.port),
		"SERVER_KEY=" + d.key, "FORCE_VERIFYING_SIGNATURE=false", "PYTHON_INTERPRETER_PATH=" + *python,
		"UV_PATH=" + *uv, "LOG_LEVEL=WARN",
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_MIRROR_URL", "SSL_CERT_FILE"} {
		if v := os.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range d.env {
		env = append(env, k+"="+v)
	}
	logf, err := os.OpenFile(d.dataDir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	d.cmd = exec.Command(bin, "serve", "--data-dir", d.dataDir)
	d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = env, logf, logf
	if err := d.cmd.Start(); err != nil {
		log.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); logf.Close(); close(d.exited) }()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			log.Fatalf("plugd serve exited; see %s.log", d.dataDir)
		default:
		}
		if resp, err := d.hc.Get(d.url("health/check")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("plugd serve did not answer /health/check; see %s.log", d.dataDir)
}

func (d *daemon) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemon) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d/%s", d.port, path) }

// waitReady waits until /health/ready answers 200 (boot reconciliation done).
func (d *daemon) waitReady() {
	for i := 0; i < 600; i++ {
		if resp, err := d.hc.Get(d.url("health/ready")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatal("/health/ready never answered 200")
}

// call makes a non-streamed request and returns the envelope's data.
func (d *daemon) call(method, path, contentType string, body io.Reader) json.RawMessage {
	req, _ := http.NewRequest(method, d.url("plugin/"+tenant+"/"+path), body)
	req.Header.Set("X-Api-Key", d.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		log.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || resp.StatusCode != 200 || env.Code != 0 {
		log.Fatalf("%s %s: HTTP %d %.500s", method, path, resp.StatusCode, b)
	}
	return env.Data
}

func (d *daemon) callJSON(path string, v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return d.call(http.MethodPost, path, "application/json", bytes.NewReader(b))
}

func (d *daemon) upload(p pkg) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("dify_pkg", "plugin.difypkg")
	w.Write(p.data)
	mw.WriteField("verify_signature", "false")
	mw.Close()
	d.call(http.MethodPost, "management/install/upload/package", mw.FormDataContentType(), &buf)
}

// install installs uids as one task and waits for it.
func (d *daemon) install(uids []string) {
	metas := make([]map[string]any, len(uids))
	for i := range metas {
		metas[i] = map[string]any{}
	}
	var st struct {
		AllInstalled bool   `json:"all_installed"`
		TaskID       string `json:"task_id"`
	}
	json.Unmarshal(d.callJSON("management/install/identifiers", map[string]any{
		"plugin_unique_identifiers": uids, "source": "package", "metas": metas,
	}), &st)
	if st.AllInstalled {
		return
	}
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		var task struct {
			Status  string `json:"status"`
			Plugins []struct {
				Message string `json:"message"`
			} `json:"plugins"`
		}
		json.Unmarshal(d.call(http.MethodGet, "management/install/tasks/"+st.TaskID, "", nil), &task)
		switch task.Status {
		case "success":
			return
		case "failed":
			log.Fatalf("install task failed: %+v", task.Plugins)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatal("install task did not end within 30 minutes")
}

// invoke calls the echo tool in text mode and reads the whole stream.
func (d *daemon) invoke(pluginID, text string) error {
	body, _ := json.Marshal(map[string]any{
		"user_id": "bench", "conversation_id": nil, "app_id": nil, "message_id": nil,
		"data": map[string]any{"provider": "e2etool", "tool": "echo", "credentials": map[string]any{},
			"credential_type": "api-key", "tool_parameters": map[string]any{"text": text, "mode": "text"}},
	})
	req, _ := http.NewRequest(http.MethodPost, d.url("plugin/"+tenant+"/dispatch/tool/invoke"), bytes.NewReader(body))
	req.Header.Set("X-Api-Key", d.key)
	req.Header.Set("X-Plugin-ID", pluginID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	got := false
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		line = bytes.TrimSpace(bytes.TrimPrefix(line, []byte("data:")))
		var env struct {
			Code int `json:"code"`
			Data struct {
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"data"`
		}
		if err := json.Unmarshal(line, &env); err != nil || env.Code != 0 {
			return fmt.Errorf("bad line %.200q", line)
		}
		got = got || env.Data.Message.Text == text
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if !got {
		return errors.New("the text did not come back")
	}
	return nil
}

// rss is VmRSS of pid in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// smapsPss is the proportional set size of pid in bytes: shared pages (a zygote's, inherited
// copy-on-write) divided among the processes sharing them.
func smapsPss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// children lists the descendants of pid.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if f := strings.Fields(string(stat[i+1:])); len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	for p := range parent {
		for q, n := parent[p], 0; q > 1 && n < 32; q, n = parent[q], n+1 {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func sectionReady() {
	log.Print("ready: packaging")
	v1 := makePackage("e2etool", "")
	six := makePackage("e2etool-six", "six")
	pyDir = filepath.Join(work, "python-ready")
	type row struct {
		what string
		took time.Duration
	}
	var rows []row
	measure := func(d *daemon, p pkg) time.Duration {
		start := time.Now()
		d.upload(p)
		d.install([]string{p.uid})
		return time.Since(start)
	}
	log.Print("ready: first install on an empty environment folder (downloads from PyPI)")
	a := newDaemon("ready-a", nil)
	rows = append(rows, row{"first install, empty environment folder and download cache", measure(a, v1)})
	log.Print("ready: a plugin with one more requirement")
	rows = append(rows, row{"new environment (one more requirement), warm download cache", measure(a, six)})
	a.stop()
	log.Print("ready: the same plugin on a second daemon sharing the environments")
	b := newDaemon("ready-b", nil)
	rows = append(rows, row{"environment already built (second daemon, same folder)", measure(b, v1)})
	b.stop()
	fmt.Printf("\n### Upload to ready (load %s)\n\n| install | upload + task success |\n|---|---|\n", loadavg())
	for _, r := range rows {
		fmt.Printf("| %s | %.1f s |\n", r.what, r.took.Seconds())
	}
}

func sectionLoad() {
	v1 := makePackage("e2etool", "")
	pyDir = filepath.Join(work, "python-load")
	d := newDaemon("load", nil)
	defer d.stop()
	log.Print("load: installing")
	d.upload(v1)
	d.install([]string{v1.uid})
	for i := 0; i < 50; i++ { // warm-up
		if err := d.invoke("plugd/e2etool", "warm"); err != nil {
			log.Fatalf("warm-up: %v", err)
		}
	}
	fmt.Printf("\n### tool/invoke through the daemon (text mode, %v per level, load %s before)\n\n", *duration, loadavg())
	fmt.Println("| concurrency | calls/s | p50 | p99 | errors | daemon RSS (peak) | plugin RSS (peak) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad concurrency %q", s)
		}
		log.Printf("load: concurrency %d", n)
		var (
			mu        sync.Mutex
			lat       []time.Duration
			errs      atomic.Int64
			firstErr  atomic.Value
			peakD     atomic.Int64
			peakP     atomic.Int64
			stop      = make(chan struct{})
			wg        sync.WaitGroup
			samplerWG sync.WaitGroup
		)
		samplerWG.Add(1)
		go func() {
			defer samplerWG.Done()
			pid := d.cmd.Process.Pid
			for {
				if r := rss(pid); r > peakD.Load() {
					peakD.Store(r)
				}
				var sum int64
				for _, c := range children(pid) {
					sum += rss(c)
				}
				if sum > peakP.Load() {
					peakP.Store(sum)
				}
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		end := start.Add(*duration)
		for w := 0; w < n; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				var mine []time.Duration
				for i := 0; time.Now().Before(end); i++ {
					t0 := time.Now()
					if err := d.invoke("plugd/e2etool", fmt.Sprintf("w%d-%d", w, i)); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}(w)
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(stop)
		samplerWG.Wait()
		slices.Sort(lat)
		pct := func(p float64) string {
			if len(lat) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f ms", float64(lat[int(p*float64(len(lat)-1))].Microseconds())/1000)
		}
		fmt.Printf("| %d | %.0f | %s | %s | %d | %s | %s |\n", n, float64(len(lat))/elapsed.Seconds(), pct(0.5), pct(0.99),
			errs.Load(), mib(peakD.Load()), mib(peakP.Load()))
		if e := firstErr.Load(); e != nil {
			log.Printf("load: first error at concurrency %d: %v", n, e)
		}
	}
}

func sectionRSS() {
	pyDir = filepath.Join(work, "python-rss")
	// A short idle stop keeps the processes the installs start (each install starts its plugin
	// once) from piling up: a hundred Python processes would take gigabytes.
	d := newDaemon("rss", map[string]string{"PLUGD_IDLE_STOP": "5"})
	time.Sleep(2 * time.Second)
	idle := rss(d.cmd.Process.Pid)
	log.Printf("rss: idle daemon %s; packaging %d plugins", mib(idle), *nPlugins)
	var uids []string
	start := time.Now()
	for i := 0; i < *nPlugins; i++ {
		p := makePackage(fmt.Sprintf("e2etool-%03d", i), "")
		d.upload(p)
		uids = append(uids, p.uid)
	}
	log.Printf("rss: packaged and uploaded in %v; installing", time.Since(start).Round(time.Second))
	start = time.Now()
	for i := 0; i < len(uids); i += 50 { // at most 64 identifiers per task
		d.install(uids[i:min(i+50, len(uids))])
	}
	installTook := time.Since(start)
	afterInstall := rss(d.cmd.Process.Pid)
	d.stop()
	d.start()
	d.waitReady()
	time.Sleep(2 * time.Second)
	pid := d.cmd.Process.Pid
	restarted := rss(pid)
	kids := children(pid)
	var plist struct {
		Total int `json:"total"`
	}
	json.Unmarshal(d.call(http.MethodGet, "management/list?page=1&page_size=256", "", nil), &plist)
	d.stop()
	fmt.Printf("\n### Daemon memory (load %s)\n\n| state | daemon VmRSS |\n|---|---|\n", loadavg())
	fmt.Printf("| just started, nothing installed | %s |\n", mib(idle))
	fmt.Printf("| right after installing %d plugins (tasks of 50; installs took %.0f s) | %s |\n", *nPlugins, installTook.Seconds(), mib(afterInstall))
	fmt.Printf("| restarted with %d installed (listed: %d), none started (%d child processes) | %s |\n", *nPlugins, plist.Total, len(kids), mib(restarted))
}

func pct(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func sectionCold() {
	pyDir = filepath.Join(work, "python-cold")
	var pkgs []pkg
	for i := 0; i < *nCold; i++ {
		pkgs = append(pkgs, makePackage(fmt.Sprintf("e2etool-c%02d", i), ""))
	}
	d := newDaemon("cold", nil)
	log.Printf("cold: installing %d plugins", *nCold)
	var uids []string
	for _, p := range pkgs {
		d.upload(p)
		uids = append(uids, p.uid)
	}
	d.install(uids)
	d.stop()
	fmt.Printf("\n### First call after a restart, %d plugins installed (one environment; load %s)\n\n", *nCold, loadavg())
	fmt.Println("| zygote | first call p50 | p90 | max | later call p50 | processes | their PSS (RSS) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	var reinstalls, labels []string
	// Each with isolation off and required; the last row is the default configuration
	// (confined zygotes when the daemon is root, docs/runtime.md).
	for _, conf := range []struct{ zygote, isolation string }{{"false", "off"}, {"true", "off"}, {"false", "required"}, {"true", "required"}} {
		zygote := conf.zygote + ", isolation " + conf.isolation
		d.env = map[string]string{"PLUGD_ZYGOTE": conf.zygote, "PLUGD_ISOLATION": conf.isolation}
		d.start()
		d.waitReady()
		var first, later []time.Duration
		for i := range pkgs {
			id := fmt.Sprintf("plugd/e2etool-c%02d", i)
			t0 := time.Now()
			if err := d.invoke(id, "cold"); err != nil {
				log.Fatalf("cold: %s: %v", id, err)
			}
			first = append(first, time.Since(t0))
			t0 = time.Now()
			if err := d.invoke(id, "warm"); err != nil {
				log.Fatalf("cold: %s: %v", id, err)
			}
			later = append(later, time.Since(t0))
		}
		ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
		kids := children(d.cmd.Process.Pid)
		var pss, rssSum int64
		for _, k := range kids {
			pss += smapsPss(k)
			rssSum += rss(k)
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %d | %s (%s) |\n", zygote, ms(pct(first, 0.5)), ms(pct(first, 0.9)), ms(pct(first, 1)), ms(pct(later, 0.5)),
			len(kids), mib(pss), mib(rssSum))
		reinstalls = append(reinstalls, reinstall(d, pkgs[0]))
		labels = append(labels, "zygote "+zygote)
		d.stop()
	}
	fmt.Printf("\n| reinstall (uninstall, then upload + install task success; environment kept), 5 times | p50 | max |\n|---|---|---|\n")
	for i, r := range reinstalls {
		fmt.Printf("| %s | %s |\n", labels[i], r)
	}
}

// reinstall uninstalls p and installs it again (its environment was kept), 5 times, and
// returns the p50 and max as two table cells.
func reinstall(d *daemon, p pkg) string {
	var list struct {
		List []struct {
			PluginUniqueIdentifier string `json:"plugin_unique_identifier"`
			InstallationID         string `json:"installation_id"`
		} `json:"list"`
	}
	json.Unmarshal(d.call(http.MethodGet, "management/list?page=1&page_size=256", "", nil), &list)
	var iid string
	for _, it := range list.List {
		if it.PluginUniqueIdentifier == p.uid {
			iid = it.InstallationID
		}
	}
	if iid == "" {
		log.Fatalf("reinstall: %s not listed", p.uid)
	}
	var took []time.Duration
	for i := 0; i < 5; i++ {
		d.callJSON("management/uninstall", map[string]any{"plugin_installation_id": iid})
		start := time.Now()
		d.upload(p)
		d.install([]string{p.uid})
		took = append(took, time.Since(start))
		json.Unmarshal(d.call(http.MethodGet, "management/list?page=1&page_size=256", "", nil), &list)
		for _, it := range list.List {
			if it.PluginUniqueIdentifier == p.uid {
				iid = it.InstallationID
			}
		}
	}
	return fmt.Sprintf("%.2f s | %.2f s", pct(took, 0.5).Seconds(), pct(took, 1).Seconds())
}

// tools calls the tool catalog's REST API (/tools/{tenant}/...) and returns the envelope's data.
func (d *daemon) tools(method, path string, v any) json.RawMessage {
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(method, d.url("tools/"+tenant+"/"+path), bytes.NewReader(b))
	req.Header.Set("X-Api-Key", d.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.hc.Do(req)
	if err != nil {
		log.Fatalf("%s tools/%s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode/100 != 2 {
		log.Fatalf("%s tools/%s: HTTP %d %.500s", method, path, resp.StatusCode, body)
	}
	return env.Data
}

type bearerRT struct {
	token string
	next  http.RoundTripper
}

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// level runs call from n workers for -duration and reports calls/s, p50, p99 and errors.
func level(n int, call func(w, i int) error) (float64, time.Duration, time.Duration, int64, string) {
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(*duration)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; time.Now().Before(end); i++ {
				t0 := time.Now()
				if err := call(w, i); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	first, _ := firstErr.Load().(string)
	if len(lat) == 0 {
		return 0, 0, 0, errs.Load(), first
	}
	return float64(len(lat)) / elapsed.Seconds(), pct(lat, 0.5), pct(lat, 0.99), errs.Load(), first
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func sectionMCP() {
	v1 := makePackage("e2etool", "")
	pyDir = filepath.Join(work, "python-mcp")
	d := newDaemon("mcp", nil)
	defer d.stop()
	log.Print("mcp: installing")
	d.upload(v1)
	d.install([]string{v1.uid})
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal(d.tools(http.MethodPost, "mcp/tokens", map[string]any{"name": "bench"}), &tok)
	endpoint := d.url("mcp/" + tenant)
	hc := &http.Client{Transport: bearerRT{tok.Token, d.hc.Transport}}
	ctx := context.Background()
	connect := func() *mcp.ClientSession {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
		if err != nil {
			log.Fatalf("mcp: connect: %v", err)
		}
		return cs
	}
	callMCP := func(cs *mcp.ClientSession, text string) error {
		r, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "e2etool__echo", Arguments: map[string]any{"text": text, "mode": "text"}})
		if err != nil {
			return err
		}
		if r.IsError || len(r.Content) != 1 || r.Content[0].(*mcp.TextContent).Text != text {
			return fmt.Errorf("unexpected result %+v", r)
		}
		return nil
	}
	warm := connect()
	for i := 0; i < 50; i++ {
		if err := d.invoke("plugd/e2etool", "warm"); err != nil {
			log.Fatalf("warm-up: %v", err)
		}
		if err := callMCP(warm, "warm"); err != nil {
			log.Fatalf("warm-up (mcp): %v", err)
		}
	}
	warm.Close()
	fmt.Printf("\n### MCP tools/call beside tool/invoke (text mode, %v per level and route, load %s before)\n\n", *duration, loadavg())
	fmt.Println("| concurrency | route | calls/s | p50 | p99 | errors |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad concurrency %q", s)
		}
		log.Printf("mcp: concurrency %d", n)
		rate, p50, p99, errs, first := level(n, func(w, i int) error { return d.invoke("plugd/e2etool", fmt.Sprintf("w%d-%d", w, i)) })
		fmt.Printf("| %d | `tool/invoke` | %.0f | %s | %s | %d |\n", n, rate, ms(p50), ms(p99), errs)
		if first != "" {
			log.Printf("tool/invoke: first error: %s", first)
		}
		sessions := make([]*mcp.ClientSession, n)
		for w := range sessions {
			sessions[w] = connect()
		}
		rate, p50, p99, errs, first = level(n, func(w, i int) error { return callMCP(sessions[w], fmt.Sprintf("w%d-%d", w, i)) })
		fmt.Printf("| %d | MCP `tools/call` | %.0f | %s | %s | %d |\n", n, rate, ms(p50), ms(p99), errs)
		if first != "" {
			log.Printf("mcp: first error: %s", first)
		}
		for _, cs := range sessions {
			cs.Close()
		}
	}

	// 1,000 tools: an OpenAPI description of 1,000 operations, imported as one provider.
	paths := map[string]any{}
	for i := 0; i < 999; i++ {
		paths[fmt.Sprintf("/items%d/{id}", i)] = map[string]any{"get": map[string]any{
			"operationId": fmt.Sprintf("getItem%d", i), "summary": fmt.Sprintf("Reads item kind %d", i),
			"parameters": []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}},
				map[string]any{"name": "verbose", "in": "query", "schema": map[string]any{"type": "boolean"}}},
			"responses": map[string]any{"200": map[string]any{"description": "ok"}},
		}}
	}
	doc, _ := json.Marshal(map[string]any{"openapi": "3.0.3", "info": map[string]any{"title": "bench", "version": "1"},
		"servers": []any{map[string]any{"url": "http://127.0.0.1:9/"}}, "paths": paths})
	d.tools(http.MethodPost, "import/openapi", map[string]any{"name": "bench", "schema": string(doc)})
	list := func(cs *mcp.ClientSession) int {
		n := 0
		for _, err := range cs.Tools(ctx, nil) {
			if err != nil {
				log.Fatalf("mcp: tools/list: %v", err)
			}
			n++
		}
		return n
	}
	// The daemon picks the import up from the change log (polled every 250 ms).
	probe := connect()
	for deadline := time.Now().Add(time.Minute); list(probe) < 1000; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			log.Fatal("mcp: the imported tools did not appear within a minute")
		}
	}
	probe.Close()
	var firsts, laters []time.Duration
	var count int
	for i := 0; i < 5; i++ {
		// A token of its own makes no difference; a fresh tenant would: the first session of a
		// tenant builds its server (catalog list + 1,000 registrations). Measure both.
		t0 := time.Now()
		cs := connect()
		count = list(cs)
		firsts = append(firsts, time.Since(t0))
		for j := 0; j < 20; j++ {
			t1 := time.Now()
			list(cs)
			laters = append(laters, time.Since(t1))
		}
		cs.Close()
	}
	// After a restart the tenant has no server yet: the first session builds it.
	var builds []time.Duration
	for i := 0; i < 3; i++ {
		d.stop()
		d.start()
		t0 := time.Now()
		cs := connect()
		list(cs)
		builds = append(builds, time.Since(t0))
		cs.Close()
	}
	slices.Sort(builds)
	slices.Sort(firsts)
	slices.Sort(laters)
	fmt.Printf("\n### MCP tools/list with %d tools (load %s)\n\n", count, loadavg())
	fmt.Println("| what | p50 | max |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| first session after a restart: server built (catalog list + registrations), initialize, tools/list (3 runs) | %s | %s |\n", ms(pct(builds, 0.5)), ms(builds[len(builds)-1]))
	fmt.Printf("| new session: initialize + tools/list (server already built) | %s | %s |\n", ms(pct(firsts, 0.5)), ms(firsts[len(firsts)-1]))
	fmt.Printf("| tools/list on an open session | %s | %s |\n", ms(pct(laters, 0.5)), ms(laters[len(laters)-1]))
}

//go:build ignore

// runtime measures the local runtime end to end against the real dify-plugin SDK and prints
// the tables of docs/benchmarks.md ("Running plugins"). scripts/bench-runtime.sh runs it with
// the interpreters of scripts/test-deps.sh.
//
//	go run scripts/bench/runtime.go [-sections echo,start,env,llm] [-calls 10000] ...
//
// Sections:
//
//	echo   a trivial tool called -calls times at concurrency 1, 16 and 64: through
//	       runtime.Local, through runtime.Pool (at most 2 instances), and through a bare
//	       stdio loop with no runtime (the floor); p50, p99, calls/s.
//	start  spawn to first heartbeat, through the runtime and bare, against
//	       `python -c 'import dify_plugin'` and `python -c pass`.
//	env    pyenv: first build (empty and warm download cache), a second plugin with the same
//	       dependencies; the reference daemon's way (a fresh venv per plugin with uv).
//	llm    -llm-callers callers streaming chat completions through the oaistream plugin from
//	       a fake OpenAI server on loopback (400 chunks 10 ms apart), for each instance count
//	       of -llm-instances, and through a bare stdio loop.
//
// Progress goes to stderr, the tables to stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pyenv"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/runtime/benchkit"
	"github.com/plugd/plugd/internal/wire"
)

var (
	sections     = flag.String("sections", "echo,start,env,llm", "sections to run, comma-separated")
	calls        = flag.Int("calls", 10000, "echo: calls per concurrency level")
	starts       = flag.Int("starts", 7, "start: starts measured per way (median and min reported)")
	llmCalls     = flag.Int("llm-calls", 300, "llm: timed calls per configuration (after a warm-up of 2 rounds)")
	llmCallers   = flag.Int("llm-callers", 100, "llm: concurrent callers")
	llmInstances = flag.String("llm-instances", "1,2,3", "llm: maximum instances of the pool, one run each")
	python       = flag.String("python", os.Getenv("PLUGD_TEST_PYTHON_SDK07"), "interpreter with dify_plugin installed (PLUGD_TEST_PYTHON_SDK07)")
	basePython   = flag.String("base-python", os.Getenv("PLUGD_TEST_PYTHON311"), "env: interpreter environments are built from (PLUGD_TEST_PYTHON311)")
	uv           = flag.String("uv", os.Getenv("PLUGD_TEST_UV"), "env: the uv binary (PLUGD_TEST_UV)")
	coldEnv      = flag.Bool("cold-env", true, "env: also build once with an empty download cache (needs PyPI)")
	llmBare      = flag.Bool("llm-bare", true, "llm: also run the bare stdio loop (the floor)")
	maxWorkerRow = flag.Bool("llm-max-worker", true, "llm: also run one instance with the SDK's MAX_WORKER raised to 4000")
	cpuProfile   = flag.String("cpuprofile", "", "write a CPU profile of the benchmark process (the daemon side) to this file")
	fakeServer   = flag.Bool("fake-openai", false, "internal: serve the fake OpenAI server, print its URL, exit when stdin closes")
)

var work string // a temporary folder for everything

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if *fakeServer {
		serveFake()
		return
	}
	if *python == "" {
		log.Fatal("no SDK interpreter: set PLUGD_TEST_PYTHON_SDK07 (scripts/test-deps.sh) or -python")
	}
	var err error
	if work, err = os.MkdirTemp("", "plugd-bench-"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	fmt.Printf("Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine())
	for _, s := range strings.Split(*sections, ",") {
		log.Printf("section %s, load average %s", s, benchkit.LoadAvg())
		switch strings.TrimSpace(s) {
		case "echo":
			echo()
		case "start":
			coldStart()
		case "env":
			envBuild()
		case "llm":
			llm()
		default:
			log.Fatalf("unknown section %q", s)
		}
	}
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			kb, _ := strconv.Atoi(f[1])
			mem = fmt.Sprintf(", %d GiB RAM", (kb+1<<19)>>20)
		}
	}
	pyv, _ := exec.Command(*python, "-c", "import sys, importlib.metadata as m; print(sys.version.split()[0], m.version('dify_plugin'))").Output()
	v := strings.Fields(string(pyv))
	sdk := ""
	if len(v) == 2 {
		sdk = fmt.Sprintf(", Python %s with dify_plugin %s", v[0], v[1])
	}
	return fmt.Sprintf("%d × %s%s, %s/%s, %s%s", goruntime.NumCPU(), cpu, mem, goruntime.GOOS, goruntime.GOARCH, goruntime.Version(), sdk)
}

// plugin copies testdata plugin name into the work folder (so Python's caches stay out of
// the source tree) and returns its runtime configuration.
func plugin(name string) runtime.LocalConfig {
	src := filepath.Join("internal", "runtime", "testdata", "plugins", name)
	dir, err := os.MkdirTemp(work, name+"-")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		log.Fatalf("%v (run from the repository's root)", err)
	}
	m, problems := manifest.Load(os.DirFS(dir))
	if m == nil || len(problems) > 0 {
		log.Fatalf("plugin %s: %v", name, problems)
	}
	cfg := runtime.FromManifest(m, dir, *python)
	cfg.DataDir = dir + ".data"
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.HeartbeatTimeout = 2 * time.Minute
	return cfg
}

// bareEnv is the environment the runtime gives a plugin (runtime.pluginEnv), for the bare
// driver.
func bareEnv(cfg runtime.LocalConfig) []string {
	home, tmp := filepath.Join(cfg.DataDir, "home"), filepath.Join(cfg.DataDir, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			log.Fatal(err)
		}
	}
	return []string{
		"PATH=" + filepath.Dir(cfg.Python) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home, "TMPDIR=" + tmp, "LANG=C.UTF-8", "HEARTBEAT_INTERVAL=10", "INSTALL_METHOD=local",
	}
}

func startBare(cfg runtime.LocalConfig) *benchkit.Stdio {
	p, err := benchkit.StartStdio(cfg.Python, cfg.Dir, cfg.Entrypoint, bareEnv(cfg))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := p.WaitReady(ctx); err != nil {
		log.Fatal(err)
	}
	return p
}

// requestLine returns a function making the request line of p for a session id.
func requestLine(p wire.Payload) func(id string) []byte {
	const mark = "SESSION-ID-MARK"
	env, err := wire.NewRequest(mark, "u-1", p)
	if err != nil {
		log.Fatal(err)
	}
	line, err := json.Marshal(env)
	if err != nil {
		log.Fatal(err)
	}
	before, after, _ := strings.Cut(string(line), mark)
	return func(id string) []byte { return []byte(before + id + after) }
}

// invoker is what Local and Pool have in common.
type invoker interface {
	InvokePayload(context.Context, wire.Payload, runtime.InvokeContext) (*runtime.Stream, error)
}

// drain reads a stream to its end and returns the number of items.
func drain(s *runtime.Stream) (int, error) {
	n := 0
	for {
		_, err := s.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func mustOK(what string, r benchkit.Result) benchkit.Result {
	if r.Errors > 0 {
		log.Fatalf("%s: %v", what, r)
	}
	log.Printf("%s: %v (load %s)", what, r, benchkit.LoadAvg())
	return r
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

// --- echo -------------------------------------------------------------------------------

func echo() {
	ctx := context.Background()
	params, _ := json.Marshal(map[string]any{"text": "hi"})
	req := wire.InvokeTool{Provider: "crasher", Tool: "echo", ToolParameters: params}
	levels := []int{1, 16, 64}
	type row struct {
		way     string
		results []benchkit.Result
		load    string
	}
	var rows []row

	viaRuntime := func(way string, inv invoker, stop func()) {
		defer stop()
		call := func(ctx context.Context) error {
			s, err := inv.InvokePayload(ctx, req, runtime.InvokeContext{UserID: "u-1", TenantID: "t-1"})
			if err != nil {
				return err
			}
			if n, err := drain(s); err != nil || n != 1 {
				return fmt.Errorf("%d items, %v", n, err)
			}
			return nil
		}
		mustOK(way+" warm-up", benchkit.Run(ctx, 500, 16, call))
		r := row{way: way}
		for _, c := range levels {
			r.results = append(r.results, mustOK(fmt.Sprintf("%s, concurrency %d", way, c), benchkit.Run(ctx, *calls, c, call)))
		}
		r.load = benchkit.LoadAvg()
		rows = append(rows, r)
	}

	// The floor first, then the runtime, then the pool.
	{
		cfg := plugin("crasher")
		p := startBare(cfg)
		line := requestLine(req)
		call := func(ctx context.Context) error {
			id := wire.NewSessionID()
			if n, err := p.Call(ctx, id, line(id)); err != nil || n != 1 {
				return fmt.Errorf("%d items, %v", n, err)
			}
			return nil
		}
		mustOK("bare warm-up", benchkit.Run(ctx, 500, 16, call))
		r := row{way: "bare stdio loop (floor)"}
		for _, c := range levels {
			r.results = append(r.results, mustOK(fmt.Sprintf("bare, concurrency %d", c), benchkit.Run(ctx, *calls, c, call)))
		}
		r.load = benchkit.LoadAvg()
		rows = append(rows, r)
		p.Close()
	}
	{
		l := runtime.NewLocal(plugin("crasher"))
		if err := l.Start(ctx); err != nil {
			log.Fatal(err)
		}
		viaRuntime("runtime.Local", l, func() { l.Close(ctx) })
	}
	{
		p := runtime.NewPool(runtime.PoolConfig{LocalConfig: plugin("crasher"), MaxInstances: 2})
		if err := p.Start(ctx); err != nil {
			log.Fatal(err)
		}
		viaRuntime("runtime.Pool, at most 2 instances", p, func() { p.Close(ctx) })
	}

	fmt.Printf("### Invocation overhead: a trivial tool, %d calls per concurrency level\n\n", *calls)
	fmt.Println("The `echo` tool of the `crasher` test plugin (one text item back). Each way runs its own plugin")
	fmt.Println("process, warmed up with 500 calls. Latency is per call, from the request to the end of its stream.")
	fmt.Println()
	fmt.Println("| way | concurrency | calls/s | p50 ms | p99 ms | load after |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		for i, res := range r.results {
			load := ""
			if i == len(r.results)-1 {
				load = r.load
			}
			fmt.Printf("| %s | %d | %.0f | %s | %s | %s |\n", r.way, levels[i], res.PerSecond(), ms(res.Percentile(50)), ms(res.Percentile(99)), load)
		}
	}
	fmt.Println()
}

// --- cold start -------------------------------------------------------------------------

func coldStart() {
	ctx := context.Background()
	cfg := plugin("crasher")
	env := bareEnv(cfg)
	// timeCmd is spawn to the first line of output: code ends by printing one, and the
	// interpreter's exit after it is not counted.
	timeCmd := func(code string) time.Duration {
		cmd := exec.Command(*python, "-c", code+"; print('done', flush=True)")
		cmd.Env, cmd.Dir = env, cfg.Dir
		out, err := cmd.StdoutPipe()
		if err != nil {
			log.Fatal(err)
		}
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
		first := make([]byte, 1)
		_, rerr := io.ReadFull(out, first)
		d := time.Since(t0)
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil || rerr != nil {
			log.Fatalf("python -c %q: %v %v", code, err, rerr)
		}
		return d
	}
	type way struct {
		name string
		run  func() time.Duration
	}
	l := runtime.NewLocal(cfg)
	defer l.Close(ctx)
	ways := []way{
		{"`python -c pass`: the interpreter alone", func() time.Duration { return timeCmd("pass") }},
		{"`python -c 'import dify_plugin'`: spawn to the SDK imported", func() time.Duration { return timeCmd("import dify_plugin") }},
		{"bare: spawn to first heartbeat, no runtime", func() time.Duration {
			p, err := benchkit.StartStdio(cfg.Python, cfg.Dir, cfg.Entrypoint, env)
			if err != nil {
				log.Fatal(err)
			}
			defer p.Close()
			d, err := p.WaitReady(ctx)
			if err != nil {
				log.Fatal(err)
			}
			return d
		}},
		{"runtime.Local: `Start` (spawn to first heartbeat)", func() time.Duration {
			t0 := time.Now()
			if err := l.Start(ctx); err != nil {
				log.Fatal(err)
			}
			d := time.Since(t0)
			if err := l.Stop(ctx); err != nil {
				log.Fatal(err)
			}
			return d
		}},
	}
	// One start of the plugin first: Python compiles its .pyc files then, once per plugin.
	ways[2].run()
	results := make([][]time.Duration, len(ways))
	for range *starts { // interleaved, so that a burst of load hits every way alike
		for i, w := range ways {
			results[i] = append(results[i], w.run())
		}
	}
	fmt.Printf("### Cold start: %d starts each, interleaved\n\n", *starts)
	fmt.Println("The `crasher` test plugin (three tools), its .pyc files compiled by an earlier start. Times are from")
	fmt.Println("spawn to the first line the process prints: the heartbeat for the plugin, a marker after the import")
	fmt.Println("for `python -c`.")
	fmt.Println()
	fmt.Println("| what | median | min |")
	fmt.Println("| --- | ---: | ---: |")
	for i, w := range ways {
		d := results[i]
		slices.Sort(d)
		log.Printf("%s: %v", w.name, d)
		fmt.Printf("| %s | %s ms | %s ms |\n", w.name, ms(d[len(d)/2]), ms(d[0]))
	}
	fmt.Printf("\nLoad average after: %s.\n\n", benchkit.LoadAvg())
}

// --- environment build ------------------------------------------------------------------

func envBuild() {
	if *basePython == "" || *uv == "" {
		log.Print("env: skipped, set PLUGD_TEST_PYTHON311 and PLUGD_TEST_UV (or -base-python, -uv)")
		return
	}
	ctx := context.Background()
	a, b := plugin("crasher"), plugin("llm") // the same requirements.txt
	ra, _ := os.ReadFile(filepath.Join(a.Dir, "requirements.txt"))
	rb, _ := os.ReadFile(filepath.Join(b.Dir, "requirements.txt"))
	if string(ra) != string(rb) {
		log.Fatal("env: the two plugins' requirements differ")
	}
	cache := filepath.Join(work, "cache") // shared download cache
	settings := pyenv.Settings{Python: *basePython, UV: *uv, Installer: pyenv.InstallerUV, CacheDir: cache}
	type row struct{ what, figure string }
	var rows []row
	timeEnsure := func(what string, bld *pyenv.Builder, dir string) *pyenv.Env {
		t0 := time.Now()
		env, err := bld.Ensure(ctx, dir, nil)
		d := time.Since(t0)
		if err != nil {
			log.Fatalf("%s: %v", what, err)
		}
		log.Printf("%s: %s (%s, dify_plugin %s)", what, d, env.Key[:12], env.SDKVersion)
		rows = append(rows, row{what, fmt.Sprintf("%.2f s", d.Seconds())})
		return env
	}
	if *coldEnv {
		timeEnsure("pyenv, first build, empty download cache (from PyPI)", pyenv.NewBuilder(filepath.Join(work, "env-cold"), settings), a.Dir)
	} else {
		// Fill the cache without timing it.
		if _, err := pyenv.NewBuilder(filepath.Join(work, "env-fill"), settings).Ensure(ctx, a.Dir, nil); err != nil {
			log.Fatal(err)
		}
	}
	data := filepath.Join(work, "env-warm")
	first := timeEnsure("pyenv, first build, warm download cache", pyenv.NewBuilder(data, settings), a.Dir)
	dists, _ := filepath.Glob(filepath.Join(first.Dir, "lib", "python*", "site-packages", "*.dist-info"))
	timeEnsure("pyenv, a second plugin with the same dependencies (a new Builder, as after a restart)", pyenv.NewBuilder(data, settings), b.Dir)
	bld := pyenv.NewBuilder(data, settings)
	bld.Ensure(ctx, a.Dir, nil)
	timeEnsure("pyenv, the same, on a Builder that has identified the interpreter already", bld, b.Dir)

	// The reference daemon: a fresh virtual environment in every plugin's folder, filled by uv
	// from the shared cache; uv compiles no bytecode unless asked.
	refVenv := func(i int, compile bool) string {
		venv := filepath.Join(work, fmt.Sprintf("ref-venv-%d", i))
		uvEnv := append(os.Environ(), "UV_CACHE_DIR="+filepath.Join(cache, "uv"), "VIRTUAL_ENV="+venv)
		install := []string{"pip", "install", "--quiet", "-r", filepath.Join(b.Dir, "requirements.txt")}
		what := fmt.Sprintf("reference's way: `uv venv` + `uv pip install -r requirements.txt`, warm cache, plugin %d", i)
		if compile {
			install = append(install, "--compile-bytecode")
			what = "the same with `--compile-bytecode` (as pyenv does)"
		}
		t0 := time.Now()
		for _, args := range [][]string{{"venv", "--quiet", "--python", *basePython, venv}, install} {
			cmd := exec.Command(*uv, args...)
			cmd.Env = uvEnv
			if out, err := cmd.CombinedOutput(); err != nil {
				log.Fatalf("uv %v: %v: %s", args, err, out)
			}
		}
		d := time.Since(t0)
		log.Printf("%s: %s", what, d)
		rows = append(rows, row{what, fmt.Sprintf("%.2f s", d.Seconds())})
		return filepath.Join(venv, "bin", "python")
	}
	refPython := refVenv(1, false)
	refVenv(2, false)
	refVenv(3, true)

	// What skipping the bytecode costs later: the first start of a plugin compiles what it
	// imports.
	firstStarts := func(what, py string) {
		cfg := plugin("crasher")
		cfg.Python = py
		var d [2]time.Duration
		for i := range d {
			p, err := benchkit.StartStdio(cfg.Python, cfg.Dir, cfg.Entrypoint, bareEnv(cfg))
			if err != nil {
				log.Fatal(err)
			}
			if d[i], err = p.WaitReady(ctx); err != nil {
				log.Fatal(err)
			}
			p.Close()
		}
		log.Printf("%s: first start %s, second %s", what, d[0], d[1])
		rows = append(rows, row{what + ": first plugin start (spawn to heartbeat), then the second",
			fmt.Sprintf("%.2f s, %.2f s", d[0].Seconds(), d[1].Seconds())})
	}
	firstStarts("pyenv's environment", first.Python)
	firstStarts("the reference's venv (no bytecode)", refPython)

	fmt.Println("### Environment build")
	fmt.Println()
	fmt.Printf("Both plugins' requirements.txt: `%s` (%d packages installed, dify_plugin %s).\n",
		strings.TrimSpace(string(ra)), len(dists), first.SDKVersion)
	fmt.Println()
	fmt.Println("| what | wall time |")
	fmt.Println("| --- | ---: |")
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r.what, r.figure)
	}
	fmt.Printf("\nLoad average after: %s.\n\n", benchkit.LoadAvg())
}

// --- streamed LLM -----------------------------------------------------------------------

// serveFake is the fake OpenAI server, in a process of its own so that its CPU is not
// counted as the daemon's.
func serveFake() {
	fake := &benchkit.FakeOpenAI{}
	if err := fake.Start(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(fake.URL())
	io.Copy(io.Discard, os.Stdin)
	fake.Close()
}

// startFake runs this program again as the fake server and returns its URL and pid.
func startFake() (url string, pid int, stop func()) {
	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(exe, "-fake-openai")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	var b [256]byte
	n, err := out.Read(b[:])
	if err != nil {
		log.Fatal(err)
	}
	return strings.TrimSpace(string(b[:n])), cmd.Process.Pid, func() { in.Close(); cmd.Wait() }
}

func llm() {
	ctx := context.Background()
	url, fakePID, stopFake := startFake()
	defer stopFake()
	stream := true
	req := wire.InvokeLLM{
		ModelBase: wire.ModelBase{
			Provider: "oaistream", ModelType: wire.ModelLLM, Model: "fake-gpt",
			Credentials: wire.Object(fmt.Sprintf(`{"endpoint_url":%q,"mode":"chat"}`, url)),
		},
		PromptMessages:  wire.Array(`[{"role":"user","content":"hi"}]`),
		ModelParameters: wire.Object(`{}`),
		Stop:            json.RawMessage("null"),
		Tools:           json.RawMessage("null"),
		Stream:          &stream,
	}
	const chunks = 401 // 400 content chunks and the final one with the usage
	type row struct {
		way                    string
		res                    benchkit.Result
		plugin, daemon, server time.Duration
		instances, load        string
	}
	var rows []row
	measure := func(way string, call func(context.Context) error, pluginCPU func() time.Duration, instances func() string) {
		mustOK(way+" warm-up", benchkit.Run(ctx, 2**llmCallers, *llmCallers, call))
		cpu0, self0, fake0 := pluginCPU(), benchkit.ProcCPU(0), benchkit.ProcCPU(fakePID)
		res := mustOK(way, benchkit.Run(ctx, *llmCalls, *llmCallers, call))
		rows = append(rows, row{way, res, pluginCPU() - cpu0, benchkit.ProcCPU(0) - self0, benchkit.ProcCPU(fakePID) - fake0,
			instances(), benchkit.LoadAvg()})
	}

	if *llmBare {
		cfg := plugin("oaistream")
		p := startBare(cfg)
		line := requestLine(req)
		measure("bare stdio loop, one process", func(ctx context.Context) error {
			id := wire.NewSessionID()
			if n, err := p.Call(ctx, id, line(id)); err != nil || n != chunks {
				return fmt.Errorf("%d chunks, %v", n, err)
			}
			return nil
		}, func() time.Duration { return benchkit.ProcCPU(p.PID()) }, func() string { return "1" })
		p.Close()
	}
	type config struct {
		way string
		max int
		env []string
	}
	var configs []config
	for _, f := range strings.Split(*llmInstances, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			log.Fatalf("-llm-instances: %q", f)
		}
		way := "runtime.Local (a Pool of one)"
		if n > 1 {
			way = fmt.Sprintf("runtime.Pool, at most %d instances", n)
		}
		configs = append(configs, config{way, n, nil})
		if n == 1 && *maxWorkerRow {
			configs = append(configs, config{"runtime.Local, `MAX_WORKER=4000` (SDK default 1000)", 1, []string{"MAX_WORKER=4000"}})
		}
	}
	for _, c := range configs {
		cfg := plugin("oaistream")
		cfg.Env = c.env
		p := runtime.NewPool(runtime.PoolConfig{LocalConfig: cfg, MaxInstances: c.max})
		way := c.way
		measure(way, func(ctx context.Context) error {
			s, err := p.InvokePayload(ctx, req, runtime.InvokeContext{UserID: "u-1", TenantID: "t-1"})
			if err != nil {
				return err
			}
			if n, err := drain(s); err != nil || n != chunks {
				return fmt.Errorf("%d chunks, %v", n, err)
			}
			return nil
		}, func() time.Duration {
			var sum time.Duration
			for _, st := range p.Status() {
				if st.PID != 0 {
					sum += benchkit.ProcCPU(st.PID)
				}
			}
			return sum
		}, func() string {
			ready := 0
			for _, st := range p.Status() {
				if st.State == runtime.StateReady {
					ready++
				}
			}
			return strconv.Itoa(ready)
		})
		if err := p.Close(ctx); err != nil && !errors.Is(err, context.Canceled) {
			log.Print(err)
		}
	}

	fmt.Printf("### Streamed LLM: %d concurrent callers, 400 chunks 10 ms apart per call (ceiling %.0f calls/s)\n\n",
		*llmCallers, float64(*llmCallers)/4)
	fmt.Println("The `oaistream` test plugin: the SDK's own `OAICompatLargeLanguageModel`, unchanged, streaming from")
	fmt.Println("a fake OpenAI server on loopback (Go, a process of its own). Each way is warmed up with two rounds")
	fmt.Printf("of calls, then %d calls are timed. CPU is per call, in seconds: the plugin processes', the\n", *llmCalls)
	fmt.Println("daemon's (the runtime and the callers: the benchmark process) and the fake server's; \"cores\" is their")
	fmt.Println("sum times calls/s, the CPU the whole setup kept busy.")
	fmt.Println()
	fmt.Println("| way | instances | calls/s | p50 s | p99 s | CPU: plugin | daemon | fake server | cores | load after |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		n := float64(r.res.Calls)
		total := (r.plugin + r.daemon + r.server).Seconds() / n
		fmt.Printf("| %s | %s | %.1f | %.2f | %.2f | %.3f | %.3f | %.3f | %.2f | %s |\n", r.way, r.instances, r.res.PerSecond(),
			r.res.Percentile(50).Seconds(), r.res.Percentile(99).Seconds(),
			r.plugin.Seconds()/n, r.daemon.Seconds()/n, r.server.Seconds()/n, total*r.res.PerSecond(), r.load)
	}
	fmt.Println()
}

//go:build unix

package runtime

// Benchmarks against the real SDK. They run only with -bench; scripts/bench-runtime.sh runs
// the end-to-end harness (scripts/bench/runtime.go) that docs/benchmarks.md quotes.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/runtime/benchkit"
	"github.com/plugd/plugd/internal/wire"
)

// reportLoad adds the load run's figures to the benchmark's output.
func reportLoad(b *testing.B, r benchkit.Result) {
	b.Helper()
	if r.Errors > 0 {
		b.Fatalf("%d of %d calls failed, first: %v", r.Errors, r.Calls, r.FirstErr)
	}
	b.ReportMetric(r.PerSecond(), "calls/s")
	b.ReportMetric(float64(r.Percentile(50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.Percentile(99).Microseconds()), "p99-µs")
}

// BenchmarkInvokeEcho measures one trivial tool call through the runtime on a ready plugin:
// request line out, text item and end back, at the given concurrency.
func BenchmarkInvokeEcho(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			cfg := testConfig(b, "crasher")
			cfg.Logger = slog.New(slog.DiscardHandler)
			l := start(b, cfg)
			ctx := testCtx(b, 10*time.Minute)
			if err := l.Start(ctx); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			r := benchkit.Run(ctx, b.N, conc, func(ctx context.Context) error {
				s, err := tool(ctx, l, "echo", map[string]any{"text": "hi"})
				if err != nil {
					return err
				}
				items, err := collect(s)
				if err == nil && len(items) != 1 {
					err = fmt.Errorf("%d items", len(items))
				}
				return err
			})
			b.StopTimer()
			reportLoad(b, r)
		})
	}
}

// BenchmarkRemoteInvokeEcho is BenchmarkInvokeEcho over remote debugging: the same plugin
// run with INSTALL_METHOD=remote, dialling a loopback TCP listener, served by a Remote.
func BenchmarkRemoteInvokeEcho(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			p := startRemote(b, "crasher", RemoteConfig{Logger: slog.New(slog.DiscardHandler)})
			ctx := testCtx(b, 10*time.Minute)
			b.ResetTimer()
			r := benchkit.Run(ctx, b.N, conc, func(ctx context.Context) error {
				items, err := p.call(ctx, "echo", map[string]any{"text": "hi"})
				if err == nil && len(items) != 1 {
					err = fmt.Errorf("%d items", len(items))
				}
				return err
			})
			b.StopTimer()
			reportLoad(b, r)
		})
	}
}

// BenchmarkPoolInvokeEcho is BenchmarkInvokeEcho through a Pool of at most two instances
// (scaling up at the default 8 requests in flight).
func BenchmarkPoolInvokeEcho(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			cfg := testConfig(b, "crasher")
			cfg.Logger = slog.New(slog.DiscardHandler)
			p := NewPool(PoolConfig{LocalConfig: cfg, MaxInstances: 2})
			b.Cleanup(func() { p.Close(context.Background()) })
			ctx := testCtx(b, 10*time.Minute)
			if err := p.Start(ctx); err != nil {
				b.Fatal(err)
			}
			params, _ := json.Marshal(map[string]any{"text": "hi"})
			req := wire.InvokeTool{Provider: "crasher", Tool: "echo", ToolParameters: params}
			call := func(ctx context.Context) error {
				s, err := p.InvokePayload(ctx, req, InvokeContext{UserID: "u-1", TenantID: "t-1"})
				if err != nil {
					return err
				}
				items, err := collect(s)
				if err == nil && len(items) != 1 {
					err = fmt.Errorf("%d items", len(items))
				}
				return err
			}
			benchkit.Run(ctx, 500, conc, call) // lets the pool scale up
			b.ResetTimer()
			r := benchkit.Run(ctx, b.N, conc, call)
			b.StopTimer()
			reportLoad(b, r)
			b.ReportMetric(float64(len(p.Status())), "instances")
		})
	}
}

// BenchmarkStdioEcho is BenchmarkInvokeEcho's floor: the same plugin and request driven by a
// bare stdio loop (benchkit.Stdio), no runtime.
func BenchmarkStdioEcho(b *testing.B) {
	for _, conc := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			cfg := testConfig(b, "crasher").withDefaults()
			ctx := testCtx(b, 10*time.Minute)
			p := startStdio(b, &cfg)
			req, err := json.Marshal(map[string]any{"text": "hi"})
			if err != nil {
				b.Fatal(err)
			}
			line := requestLine(b, wire.InvokeTool{Provider: "crasher", Tool: "echo", ToolParameters: req})
			b.ResetTimer()
			r := benchkit.Run(ctx, b.N, conc, func(ctx context.Context) error {
				id := wire.NewSessionID()
				n, err := p.Call(ctx, id, line(id))
				if err == nil && n != 1 {
					err = fmt.Errorf("%d items", n)
				}
				return err
			})
			b.StopTimer()
			reportLoad(b, r)
		})
	}
}

// startStdio starts the plugin of cfg under a bare benchkit.Stdio driver, with the
// environment the runtime would give it, and waits for its first heartbeat.
func startStdio(b *testing.B, cfg *LocalConfig) *benchkit.Stdio {
	b.Helper()
	home, tmp := cfg.DataDir+"/home", cfg.DataDir+"/tmp"
	for _, d := range []string{home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			b.Fatal(err)
		}
	}
	env, err := pluginEnv(cfg, home, tmp)
	if err != nil {
		b.Fatal(err)
	}
	p, err := benchkit.StartStdio(cfg.Python, cfg.Dir, cfg.Entrypoint, env)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	if _, err := p.WaitReady(testCtx(b, time.Minute)); err != nil {
		b.Fatal(err)
	}
	return p
}

// requestLine returns a function making the request line of p for a session id.
func requestLine(b *testing.B, p wire.Payload) func(id string) []byte {
	b.Helper()
	const mark = "SESSION-ID-MARK"
	env, err := wire.NewRequest(mark, "u-1", p)
	if err != nil {
		b.Fatal(err)
	}
	line, err := json.Marshal(env)
	if err != nil {
		b.Fatal(err)
	}
	before, after, _ := cut(string(line), mark)
	return func(id string) []byte { return []byte(before + id + after) }
}

func cut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// BenchmarkColdStart measures spawn to first heartbeat of a tool plugin through the runtime
// (Start on a stopped Local). Compare with BenchmarkImportSDK.
func BenchmarkColdStart(b *testing.B) {
	cfg := testConfig(b, "crasher")
	cfg.Logger = slog.New(slog.DiscardHandler)
	l := start(b, cfg)
	ctx := testCtx(b, 10*time.Minute)
	if err := l.Start(ctx); err != nil { // compile the plugin's .pyc files once
		b.Fatal(err)
	}
	if err := l.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := l.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := l.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkColdStartZygote is BenchmarkColdStart with the plugin forked from a zygote
// that has already imported the SDK (the zygote's own start is not counted).
func BenchmarkColdStartZygote(b *testing.B) {
	cfg := testConfig(b, "crasher")
	cfg.Logger = slog.New(slog.DiscardHandler)
	withZygotes(b, &cfg, "")
	l := start(b, cfg)
	ctx := testCtx(b, 10*time.Minute)
	if err := l.Start(ctx); err != nil { // starts the zygote
		b.Fatal(err)
	}
	if err := l.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := l.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := l.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkImportSDK is `python -c 'import dify_plugin'`, from spawn to the import done (a
// line printed after it; the interpreter's exit is not counted): the SDK's own start-up cost,
// which BenchmarkColdStart cannot go below.
func BenchmarkImportSDK(b *testing.B) {
	py := sdkPython(b)
	for range b.N {
		cmd := exec.Command(py, "-c", "import dify_plugin; print('imported', flush=True)")
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		_, rerr := io.ReadFull(out, make([]byte, 1))
		b.StopTimer()
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil || rerr != nil {
			b.Fatal(err, rerr)
		}
		b.StartTimer()
	}
}

// llmRequest is a streamed chat completion of the oaistream plugin against base.
func llmRequest(base string) wire.InvokeLLM {
	stream := true
	return wire.InvokeLLM{
		ModelBase: wire.ModelBase{
			Provider: "oaistream", ModelType: wire.ModelLLM, Model: "fake-gpt",
			Credentials: wire.Object(fmt.Sprintf(`{"endpoint_url":%q,"mode":"chat"}`, base)),
		},
		PromptMessages:  wire.Array(`[{"role":"user","content":"hi"}]`),
		ModelParameters: wire.Object(`{}`),
		Stop:            json.RawMessage("null"),
		Tools:           json.RawMessage("null"),
		Stream:          &stream,
	}
}

// BenchmarkLLMStream: 100 callers each streaming a chat completion through the oaistream
// plugin (the SDK's OAICompatLargeLanguageModel) from a fake OpenAI server that sends 400
// chunks 10 ms apart, through a Pool of at most the given number of instances. One op is 100
// calls; the ceiling is 25 calls/s. A first round of 100 calls, not timed, lets the pool
// scale up and the plugin warm up.
func BenchmarkLLMStream(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			fake := &benchkit.FakeOpenAI{}
			if err := fake.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { fake.Close() })
			cfg := testConfig(b, "oaistream")
			cfg.Logger = slog.New(slog.DiscardHandler)
			cfg.HeartbeatTimeout = 2 * time.Minute
			p := NewPool(PoolConfig{LocalConfig: cfg, MaxInstances: n})
			b.Cleanup(func() { p.Close(context.Background()) })
			ctx := testCtx(b, 30*time.Minute)
			req := llmRequest(fake.URL())
			call := func(ctx context.Context) error {
				s, err := p.InvokePayload(ctx, req, InvokeContext{UserID: "u-1", TenantID: "t-1"})
				if err != nil {
					return err
				}
				n := 0
				for {
					_, err := s.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
					n++
				}
				if n != llmChunks {
					return fmt.Errorf("%d chunks, want %d", n, llmChunks)
				}
				return nil
			}
			if r := benchkit.Run(ctx, llmCallers, llmCallers, call); r.Errors > 0 {
				b.Fatalf("warm-up: %v", r)
			}
			b.ResetTimer()
			cpu0, self0 := poolCPU(p), benchkit.ProcCPU(0)
			r := benchkit.Run(ctx, llmCallers*b.N, llmCallers, call)
			b.StopTimer()
			reportLoad(b, r)
			reportCPU(b, r, poolCPU(p)-cpu0, benchkit.ProcCPU(0)-self0)
			b.ReportMetric(float64(len(p.Status())), "instances")
		})
	}
}

// llmCallers is the number of concurrent callers of the streamed-LLM benchmarks.
const llmCallers = 100

// poolCPU is the CPU time used so far by the pool's running processes.
func poolCPU(p *Pool) time.Duration {
	var sum time.Duration
	for _, st := range p.Status() {
		if st.PID != 0 {
			sum += benchkit.ProcCPU(st.PID)
		}
	}
	return sum
}

// llmChunks is what one call of the oaistream plugin streams: 400 content chunks and the
// final one with the usage.
const llmChunks = 401

// reportCPU reports CPU seconds per call of the plugin and of this process (the runtime, the
// callers and the fake server).
func reportCPU(b *testing.B, r benchkit.Result, plugin, self time.Duration) {
	if r.Calls == 0 {
		return
	}
	b.ReportMetric(plugin.Seconds()/float64(r.Calls), "plugin-cpu-s/call")
	b.ReportMetric(self.Seconds()/float64(r.Calls), "go-cpu-s/call")
}

// BenchmarkStdioLLMStream is BenchmarkLLMStream's floor: the same plugin and load driven by a
// bare stdio loop, no runtime.
func BenchmarkStdioLLMStream(b *testing.B) {
	fake := &benchkit.FakeOpenAI{}
	if err := fake.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fake.Close() })
	cfg := testConfig(b, "oaistream").withDefaults()
	ctx := testCtx(b, 30*time.Minute)
	p := startStdio(b, &cfg)
	line := requestLine(b, llmRequest(fake.URL()))
	b.ResetTimer()
	cpu0, self0 := benchkit.ProcCPU(p.PID()), benchkit.ProcCPU(0)
	r := benchkit.Run(ctx, llmCallers*b.N, llmCallers, func(ctx context.Context) error {
		id := wire.NewSessionID()
		n, err := p.Call(ctx, id, line(id))
		if err == nil && n != llmChunks {
			err = fmt.Errorf("%d chunks, want %d", n, llmChunks)
		}
		return err
	})
	b.StopTimer()
	reportLoad(b, r)
	reportCPU(b, r, benchkit.ProcCPU(p.PID())-cpu0, benchkit.ProcCPU(0)-self0)
}

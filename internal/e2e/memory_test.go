package e2e

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// processRSS is the resident memory of pid in bytes (Linux).
func processRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the daemon's memory: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestMemoryReturnedAfterLargeMessage is issue 16's measure: a real plugin sends one 50 MiB
// message through a real daemon to a caller, and the daemon's resident memory must be back
// under twice its idle figure within 30 s (the criterion, not a speed target). The
// figures are logged for docs/benchmarks.md.
func TestMemoryReturnedAfterLargeMessage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	pythonTools(t)
	pk := packages(t)
	d := startDaemon(t, daemonOptions{})
	c := d.client(newTenant())
	ctx := context.Background()
	installAndWait(ctx, t, c, pk.V1)
	// Warm: the plugin runs and one ordinary call went through.
	if msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": "warm", "mode": "text"}); err != nil || texts(msgs) != "warm" {
		t.Fatalf("warm-up call: %q %v", texts(msgs), err)
	}
	time.Sleep(3 * time.Second) // let start-up garbage settle
	idle := processRSS(t, d.pid())

	const size = 50 << 20
	sampleDone := make(chan int64)
	stopSampling := make(chan struct{})
	go func() { // the peak, sampled while the call runs
		var peak int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				sampleDone <- peak
				return
			case <-tick.C:
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid())); err == nil {
					for line := range strings.SplitSeq(string(b), "\n") {
						if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
							kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
							peak = max(peak, kb<<10)
						}
					}
				}
			}
		}
	}()
	start := time.Now()
	msgs, err := c.invokeTool(ctx, pluginID, providerName, toolName, map[string]any{"text": strconv.Itoa(size), "mode": "big"})
	took := time.Since(start)
	close(stopSampling)
	peak := <-sampleDone
	if err != nil {
		t.Fatalf("the 50 MiB call: %v", err)
	}
	if n := len(texts(msgs)); n != size {
		t.Fatalf("received %d bytes of text, want %d", n, size)
	}
	msgs = nil
	after := processRSS(t, d.pid())
	const mb = 1 << 20
	var back time.Duration
	for back = 0; back <= 30*time.Second; back += time.Second {
		if after = processRSS(t, d.pid()); after < 2*idle {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("daemon RSS: idle %.1f MB, peak during the 50 MiB call %.1f MB (call took %v), %.1f MB after %v",
		float64(idle)/mb, float64(peak)/mb, took.Round(time.Millisecond), float64(after)/mb, back)
	if after >= 2*idle {
		t.Errorf("daemon RSS %.1f MB 30 s after a 50 MiB message; idle was %.1f MB, the bound is twice that", float64(after)/mb, float64(idle)/mb)
	}
}

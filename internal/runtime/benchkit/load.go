package benchkit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one load run measured.
type Result struct {
	Calls       int // calls made (successful or not)
	Concurrency int
	Elapsed     time.Duration
	Latencies   []time.Duration // of successful calls, sorted
	Errors      int
	FirstErr    error
}

// PerSecond is successful calls per second of wall time.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile returns the p-th percentile (0 < p <= 100) of the latencies, nearest rank.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies))*p/100+0.999999) - 1
	return r.Latencies[min(max(i, 0), len(r.Latencies)-1)]
}

func (r Result) String() string {
	s := fmt.Sprintf("%d calls at concurrency %d in %s: %.0f calls/s, p50 %s, p99 %s",
		r.Calls, r.Concurrency, r.Elapsed.Round(time.Millisecond), r.PerSecond(),
		Round(r.Percentile(50)), Round(r.Percentile(99)))
	if r.Errors > 0 {
		s += fmt.Sprintf(", %d errors (first: %v)", r.Errors, r.FirstErr)
	}
	return s
}

// Round rounds a latency to three significant figures or so, for printing.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Run makes n calls from conc goroutines, each taking the next call as soon as its previous
// one ended (a closed loop), and times each. It stops early when ctx ends.
func Run(ctx context.Context, n, conc int, call func(ctx context.Context) error) Result {
	lat := make([]time.Duration, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var mu sync.Mutex
	res := Result{Concurrency: conc}
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c0 := time.Now()
				err := call(ctx)
				lat[i] = time.Since(c0)
				if err != nil {
					mu.Lock()
					res.Errors++
					if res.FirstErr == nil {
						res.FirstErr = err
					}
					mu.Unlock()
					continue
				}
				ok[i] = true
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(t0)
	for i, d := range lat {
		if ok[i] {
			res.Latencies = append(res.Latencies, d)
		}
	}
	res.Calls = len(res.Latencies) + res.Errors
	slices.Sort(res.Latencies)
	return res
}

// ProcCPU is the CPU time (user and system) a process has used so far, from /proc; pid 0 is
// this process. It is 0 where /proc is missing.
func ProcCPU(pid int) time.Duration {
	p := "self"
	if pid != 0 {
		p = strconv.Itoa(pid)
	}
	b, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may contain spaces: count fields after it.
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+1:]
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// LoadAvg is the 1-minute load average, "" where /proc is missing.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

//go:build !linux

package runtime

import (
	"errors"
	"log/slog"
)

// Memory limits and RSS need Linux (cgroups, prlimit, /proc). Elsewhere the limit is logged
// as not enforced and RSS reads as 0.

type limiter struct {
	bytes int64
	mode  string
}

func newLimiter(cfg *LocalConfig, logger *slog.Logger) *limiter {
	if cfg.MemoryLimit > 0 {
		logger.Warn("memory limit not enforced on this system", "limit", cfg.MemoryLimit)
	}
	return &limiter{}
}

func (l *limiter) started(pid int, inCgroup, shimmed bool) error { return nil }
func (l *limiter) shimLimit() string                             { return "" }
func (l *limiter) dataRlimit() uint64                            { return 0 }
func (l *limiter) oomKilled() bool                               { return false }
func (l *limiter) release()                                      {}

func readRSS(pid int) int64 { return 0 }

// ackNow is TCP_QUICKACK, which only Linux has (see sys_linux.go).
func ackNow(conn any) func() { return nil }

// pluginCgroup: cgroups are Linux only; the limits are rlimits alone (or nothing).
type pluginCgroup struct{}

type cgroupLimits struct {
	pids       uint64
	cpuPercent int
}

func joinPluginCgroup(plugin string, pid int, lim cgroupLimits) (*pluginCgroup, error) {
	return nil, errors.New("no cgroups on this system")
}

func (cg *pluginCgroup) String() string { return "" }
func (cg *pluginCgroup) release()       {}

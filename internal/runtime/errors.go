package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/plugd/plugd/internal/wire"
)

var (
	// ErrStartTimeout: the plugin sent no heartbeat within LocalConfig.StartTimeout of being
	// spawned, so it was killed.
	ErrStartTimeout = errors.New("no heartbeat before the start timeout")
	// ErrHeartbeatTimeout: a ready plugin went silent for LocalConfig.HeartbeatTimeout, so it
	// was killed.
	ErrHeartbeatTimeout = errors.New("no heartbeat within the heartbeat timeout")
	// ErrStdinBlocked: the plugin stopped reading its stdin, so a request could not be written
	// for LocalConfig.HeartbeatTimeout; it was killed.
	ErrStdinBlocked = errors.New("plugin stopped reading its stdin")
	// ErrStopped: the daemon stopped the plugin (Stop or the idle timer) while it had work.
	ErrStopped = errors.New("stopped by the daemon")
	// ErrMemoryLimit: the plugin reached its memory limit (resource.memory).
	ErrMemoryLimit = errors.New("memory limit reached")
	// ErrCrashLoop: the plugin crashed LocalConfig.CrashLoopCount times within
	// LocalConfig.CrashLoopWindow; requests fail at once until Reset.
	ErrCrashLoop = errors.New("plugin is crash-looping")
	// ErrClosed: the runtime was closed; it starts nothing any more.
	ErrClosed = errors.New("runtime closed")
	// ErrSpawn: the process could not be started at all (no interpreter, no plugin folder).
	// It is not retried: trying again cannot help.
	ErrSpawn = errors.New("cannot start the plugin process")
)

// ExitError describes a plugin process that ended, with everything an operator needs to see
// why: the exit status, why the daemon killed it if it did, and the end of its stderr, where
// Python writes its traceback. Every in-flight request of the process fails with it, and it
// matches wire.ErrPluginExited and, when set, Reason.
type ExitError struct {
	Plugin string
	PID    int
	Status string // as os.ProcessState says it: "exit status 3", "signal: killed"
	// Reason is nil when the process ended on its own, else an error matching one of
	// ErrStartTimeout, ErrHeartbeatTimeout, ErrStdinBlocked, ErrStopped, ErrMemoryLimit.
	Reason      error
	Ready       bool   // whether it had sent its first heartbeat
	MemoryLimit int64  // bytes, when enforced
	Enforcement string // how the limit was enforced: "cgroup", "rlimit" or "" (not at all)
	Stderr      string // the last lines of its stderr
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s: ", e.Plugin)
	switch {
	case errors.Is(e.Reason, ErrMemoryLimit) && e.Enforcement == "cgroup":
		fmt.Fprintf(&b, "memory limit of %s (resource.memory, enforced by a cgroup) exceeded: process %d killed by the OOM killer (%s)",
			formatBytes(e.MemoryLimit), e.PID, e.Status)
	case errors.Is(e.Reason, ErrMemoryLimit):
		fmt.Fprintf(&b, "memory limit of %s (resource.memory, enforced by RLIMIT_DATA) reached: process %d ended (%s)",
			formatBytes(e.MemoryLimit), e.PID, e.Status)
	case errors.Is(e.Reason, ErrStopped):
		fmt.Fprintf(&b, "stopped by the daemon; process %d ended (%s)", e.PID, e.Status)
	case e.Reason != nil:
		fmt.Fprintf(&b, "%v; process %d killed (%s)", e.Reason, e.PID, e.Status)
	case !e.Ready:
		fmt.Fprintf(&b, "process %d exited before it was ready (%s)", e.PID, e.Status)
	default:
		fmt.Fprintf(&b, "process %d exited (%s)", e.PID, e.Status)
	}
	if e.Stderr != "" {
		b.WriteString("; stderr:\n")
		b.WriteString(e.Stderr)
	}
	return b.String()
}

// Unwrap lets errors.Is match wire.ErrPluginExited and the reason.
func (e *ExitError) Unwrap() []error {
	if e.Reason == nil {
		return []error{wire.ErrPluginExited}
	}
	return []error{wire.ErrPluginExited, e.Reason}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plugd/plugd/internal/backwards"
	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/wire"
)

// Backwards answers a plugin's calls into Dify. It calls emit once per result item (a JSON
// object) and returns an error for the plugin to raise. *backwards.Local is one; the runtime
// only needs this much of it.
type Backwards interface {
	Invoke(ctx context.Context, c backwards.Caller, inv wire.Invocation, emit func(json.RawMessage) error) error
}

// LocalConfig configures a Local. PluginID, Dir and Python are required; every other zero
// value means the default given beside it.
type LocalConfig struct {
	PluginID string // author/name: in errors and logs, and the key of plugin storage
	Dir      string // the plugin's folder, its working directory
	Python   string // the interpreter, normally <venv>/bin/python
	// Entrypoint is the module run with python -m (manifest meta.runner.entrypoint). Default "main".
	Entrypoint string
	// DataDir is a folder the runtime owns for this plugin: home/ is its HOME, tmp/ its TMPDIR
	// and logs/ its log files. Default: a folder under the system's temporary folder.
	DataDir string
	// Env is added to the plugin's environment as KEY=VALUE entries: proxies, CA bundles and
	// SDK settings (MAX_REQUEST_TIMEOUT, MAX_INVOCATION_TIMEOUT, ...). Nothing else of the
	// daemon's environment reaches the plugin (see pluginEnv).
	Env []string

	// MemoryLimit in bytes, 0 for none. FromManifest takes it from resource.memory.
	MemoryLimit int64
	// CgroupParent is a cgroup v2 folder in which to make one child cgroup per plugin process.
	// Default: the daemon's own cgroup when memory is delegated to its children; without one
	// the limit is an rlimit (see docs/runtime.md).
	CgroupParent string

	// Zygotes, when set, forks the plugin from a zygote of its environment that has already
	// imported the SDK, instead of starting a new interpreter (see zygote.py and
	// docs/runtime.md); any failure there falls back to the plain spawn, logged.
	Zygotes *Zygotes
	// Isolation confines each process (see Isolation); nil runs it as the daemon's user,
	// seeing what the daemon sees.
	Isolation *Isolation

	// Permissions is the manifest's resource.permission, checked on backwards invocations.
	Permissions *manifest.Permission
	// Backwards answers backwards invocations; nil answers each with an error.
	Backwards Backwards
	Logger    *slog.Logger // default slog.Default()
	// LogMaxBytes caps plugin.log; it rotates once, to plugin.log.1. Default 10 MiB.
	LogMaxBytes int64

	StartTimeout     time.Duration // spawn to first heartbeat; default 120 s, as the reference
	HeartbeatTimeout time.Duration // silence that gets a ready plugin killed; default 120 s
	StopGrace        time.Duration // SIGTERM to SIGKILL; default 5 s
	IdleStop         time.Duration // stop after this long with no request in flight; 0 never

	RestartBackoff    time.Duration // first delay before a restart; default 1 s, doubling
	RestartBackoffMax time.Duration // default 30 s
	CrashLoopCount    int           // this many crashes ...; default 5
	CrashLoopWindow   time.Duration // ... within this window mean failed; default 60 s
	// CrashLoopBackoff is how long a crash-looping plugin stays failed before the next
	// request may start it again; it doubles for every loop in a row (a process that stayed
	// up for CrashLoopWindow ends the row), up to CrashLoopBackoffMax. Defaults 1 min, 30 min.
	CrashLoopBackoff    time.Duration
	CrashLoopBackoffMax time.Duration

	// SessionBuffer bounds what one request may hold unread (wire.Options.SessionBuffer).
	SessionBuffer int
	// Bounds bound the memory the plugin's messages take: the longest line, the bytes queued
	// for callers per process and across the daemon (wire.Bounds). Zero: only SessionBuffer.
	Bounds wire.Bounds
}

// MinMemoryLimit is the smallest limit FromManifest sets. The reference never enforced
// resource.memory, so manifests in the wild declare anything, down to 1 MiB; an SDK plugin
// needs about 50 MiB just to start.
const MinMemoryLimit = 128 << 20

// FromManifest fills the fields a plugin's declaration decides: id, entrypoint, memory limit
// (raised to MinMemoryLimit) and permissions.
func FromManifest(m *manifest.Plugin, dir, python string) LocalConfig {
	cfg := LocalConfig{
		PluginID:    m.Author + "/" + m.Name,
		Dir:         dir,
		Python:      python,
		Entrypoint:  m.Meta.Runner.Entrypoint,
		Permissions: m.Resource.Permission,
	}
	if m.Resource.Memory > 0 {
		cfg.MemoryLimit = max(m.Resource.Memory, MinMemoryLimit)
	}
	return cfg
}

func (c LocalConfig) withDefaults() LocalConfig {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&c.StartTimeout, 120*time.Second)
	set(&c.HeartbeatTimeout, 120*time.Second)
	set(&c.StopGrace, 5*time.Second)
	set(&c.RestartBackoff, time.Second)
	set(&c.RestartBackoffMax, 30*time.Second)
	set(&c.CrashLoopWindow, 60*time.Second)
	set(&c.CrashLoopBackoff, time.Minute)
	set(&c.CrashLoopBackoffMax, 30*time.Minute)
	if c.CrashLoopCount <= 0 {
		c.CrashLoopCount = 5
	}
	if c.Entrypoint == "" {
		c.Entrypoint = "main"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = 10 << 20
	}
	if c.DataDir == "" {
		c.DataDir = filepath.Join(os.TempDir(), "plugd-"+escapeName(c.PluginID))
	}
	// The plugin runs in Dir, with PATH and HOME built from these: relative paths would
	// point somewhere else there. A bare interpreter name is looked up once, here.
	if c.Python != "" && !strings.ContainsRune(c.Python, filepath.Separator) {
		if p, err := exec.LookPath(c.Python); err == nil {
			c.Python = p
		}
	}
	for _, p := range []*string{&c.Python, &c.Dir, &c.DataDir} {
		if *p != "" {
			if abs, err := filepath.Abs(*p); err == nil {
				*p = abs
			}
		}
	}
	return c
}

func (c *LocalConfig) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"PluginID", c.PluginID}, {"Dir", c.Dir}, {"Python", c.Python}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("runtime: LocalConfig needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// escapeName makes an id one safe path element: letters, digits and '-' stay, other bytes
// become %XX.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

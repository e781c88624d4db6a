package runtime

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/sandbox"
)

// Isolation is how a Local confines its processes (internal/sandbox, docs/runtime.md). Each
// process then runs in its own mount, PID and IPC namespaces, sees only the system folders,
// its interpreter, its code (read-only), its HOME and TMPDIR and a private /tmp, runs as a
// uid of its own (ModeUID, the daemon being root) or in a user namespace (ModeUserNS), with
// no capability, and is PID 1 of its PID namespace, so its /proc shows nothing of the daemon.
type Isolation struct {
	Mode sandbox.Mode
	// UIDs gives each plugin its uid in ModeUID.
	UIDs *sandbox.Allocator
	// Limits hold for every process: Processes (RLIMIT_NPROC, counted per uid, so for all of
	// a plugin's instances together), OpenFiles, CPU. Data is set from the memory limit.
	Limits sandbox.Limits
	// CPUPercent is a CPU quota per plugin (all its instances) in percent of one core, through
	// a cgroup (v2 delegated, or v1); 0 for none.
	CPUPercent int
	// Self is the binary that runs the sandbox init; default this one (/proc/self/exe). The
	// binary must call sandbox.MaybeRunInit first thing.
	Self string
	// Root is the empty folder each init mounts its new root on; default under os.TempDir().
	Root string
	// Refused, when set, fails every start with it: isolation was required and none works
	// on this host.
	Refused error
}

// Confines reports whether processes run confined (a sandbox mode in force, not refused).
func (iso *Isolation) Confines() bool { return iso.confines() }

func (iso *Isolation) confines() bool {
	return iso != nil && iso.Refused == nil && iso.Mode != "" && iso.Mode != sandbox.ModeNone
}

// String is the isolation in force, for logs.
func (iso *Isolation) String() string {
	if !iso.confines() {
		return "none"
	}
	return fmt.Sprintf("%s (pids %d, open files %d)", iso.Mode, iso.Limits.Processes, iso.Limits.OpenFiles)
}

// spec is the sandbox of one process of cfg. dataLimit is RLIMIT_DATA in bytes, 0 for none.
func (iso *Isolation) spec(cfg *LocalConfig, env []string, home, tmp string, dataLimit uint64) (sandbox.Spec, error) {
	s := sandbox.Spec{
		Mode: iso.Mode, Path: cfg.Python, Args: []string{cfg.Python, "-m", cfg.Entrypoint},
		Dir: cfg.Dir, Env: env, Self: iso.Self, Root: iso.Root, Limits: iso.Limits,
		ReadOnly: append([]string{cfg.Dir}, sandbox.PythonPaths(cfg.Python)...),
		Writable: []string{home, tmp},
	}
	s.Limits.Data = dataLimit
	if iso.Mode == sandbox.ModeUID {
		if iso.UIDs == nil {
			return s, fmt.Errorf("runtime: Isolation in mode uid needs UIDs")
		}
		uid, err := iso.UIDs.UID(cfg.PluginID)
		if err != nil {
			return s, err
		}
		s.UID, s.GID = uid, uid
		for _, d := range []string{home, tmp} {
			if err := chownTree(d, uid); err != nil {
				return s, fmt.Errorf("giving %s to uid %d: %w", d, uid, err)
			}
		}
	}
	return s, nil
}

// chownTree gives dir and what it holds to uid, when dir is not its already (a plugin that
// ran before isolation, or under another uid).
func chownTree(dir string, uid int) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if owner(st) == uid {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
}

// isolationText is the isolation of one process for plugin.log.
func isolationText(s sandbox.Spec) string {
	var b strings.Builder
	b.WriteString(string(s.Mode))
	if s.Mode == sandbox.ModeUID {
		b.WriteString(" " + strconv.Itoa(s.UID))
	}
	fmt.Fprintf(&b, ", pids %d, open files %d", s.Limits.Processes, s.Limits.OpenFiles)
	if s.Limits.CPU > 0 {
		fmt.Fprintf(&b, ", cpu %d s", s.Limits.CPU)
	}
	return b.String()
}

// ChooseIsolation turns a PLUGD_ISOLATION setting into the Isolation to use, completing
// base (limits, uids, root), and says in words what is in force, for the startup log:
//
//   - required: the confinement this host allows (sandbox.Preferred, probed); where it does
//     not start, every plugin start fails with the reason (Isolation.Refused);
//   - auto: the same, but plugins run unconfined where it does not start;
//   - uid, userns: that mode, refused when it does not start;
//   - off: unconfined.
func ChooseIsolation(setting string, base Isolation) (*Isolation, string) {
	iso := base
	switch setting {
	case "off", "none", "":
		iso.Mode = sandbox.ModeNone
		return &iso, "off: plugins run as the daemon's user and see what it sees (PLUGD_ISOLATION=off)"
	case "uid", "userns":
		iso.Mode = sandbox.Mode(setting)
	default:
		iso.Mode = sandbox.Preferred()
	}
	if err := sandbox.Probe(iso.Mode, iso.Self); err != nil {
		if setting == "auto" {
			iso.Mode = sandbox.ModeNone
			return &iso, fmt.Sprintf("none: no sandbox starts here (%v); plugins run unconfined (PLUGD_ISOLATION=auto)", err)
		}
		iso.Refused = fmt.Errorf("plugin isolation is required (PLUGD_ISOLATION=%s) and none is possible here: %w; set PLUGD_ISOLATION=off to run plugins unconfined", orRequired(setting), err)
		return &iso, "refused: " + iso.Refused.Error()
	}
	how := "each plugin in user, mount, PID and IPC namespaces of its own (the daemon's uid, no capability)"
	if iso.Mode == sandbox.ModeUID {
		how = "each plugin as a uid of its own, in mount, PID and IPC namespaces of its own, no capability"
	}
	return &iso, fmt.Sprintf("%s: %s; private root with its code read-only; limits: pids %d, open files %d, cpu time %s, cpu quota %s",
		iso.Mode, how, iso.Limits.Processes, iso.Limits.OpenFiles, cpuText(iso.Limits.CPU), quotaText(iso.CPUPercent))
}

func orRequired(s string) string {
	if s == "" {
		return "required"
	}
	return s
}

func quotaText(percent int) string {
	if percent == 0 {
		return "none"
	}
	return strconv.Itoa(percent) + " % of a core (cgroup)"
}

func cpuText(sec uint64) string {
	if sec == 0 {
		return "none"
	}
	return strconv.FormatUint(sec, 10) + " s"
}

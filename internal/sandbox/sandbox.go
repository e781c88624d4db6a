// Package sandbox confines one untrusted process (a plugin, an MCP stdio server, a
// fork-server) without Docker. A Spec says what the process may see and use; Command turns it
// into an *exec.Cmd that starts this very binary again as a small init (like runc's init) in
// new mount, PID and IPC namespaces. The init builds a root file system on a tmpfs from bind
// mounts, pivots into it, sets resource limits, drops every privilege and finally execs the
// program. Nothing is shelled out; every step is a system call of golang.org/x/sys/unix.
//
// The steps, in the order the init runs them (each is a function of its own in init_linux.go,
// so that a fork-server can reuse them):
//
//  1. namespaces (parent side, clone flags): mount, PID, IPC; and a user namespace when the
//     daemon is not root (ModeUserNS);
//  2. mounts (buildRoot): a tmpfs root; read-only binds of the system folders, the
//     interpreter and the code; read-write binds of the working folders; a private /tmp, a
//     minimal /dev, a /proc of the new PID namespace, a synthetic /etc/passwd; pivot_root and
//     the old root detached; the tmpfs made read-only;
//  3. limits (setLimits): RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_DATA, RLIMIT_CPU;
//  4. privileges (dropPrivileges): the capability bounding set emptied, supplementary groups
//     cleared, setgid/setuid to the process's own ids (ModeUID), no capabilities left,
//     PR_SET_NO_NEW_PRIVS, the parent-death signal set again;
//  5. exec of the program, which is PID 1 of its PID namespace.
//
// Call MaybeRunInit first thing in main (and in TestMain of packages whose tests start
// sandboxed processes): it runs the init when the binary was started as one and never returns
// then.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Mode is how a process is confined.
type Mode string

const (
	// ModeNone: no confinement; the process runs as the daemon's user, seeing what it sees.
	ModeNone Mode = "none"
	// ModeUID: the daemon is root. The process runs as a uid and gid of its own (Spec.UID)
	// in new mount, PID and IPC namespaces. RLIMIT_NPROC holds, since it counts per uid.
	ModeUID Mode = "uid"
	// ModeUserNS: the daemon is not root. A user namespace maps the daemon's own uid; inside
	// it the init may mount, then gives up every capability. The process is the daemon's user
	// for the kernel, so the private mount view is what keeps it from the daemon's files.
	ModeUserNS Mode = "userns"
)

// initArg is argv[1] of an init; specEnv carries the Spec to it.
const (
	initArg = "__plugd_sandbox_init"
	specEnv = "PLUGD_SANDBOX_SPEC"
)

// Limits are resource limits set before the program starts; zero means unchanged.
type Limits struct {
	// Processes is RLIMIT_NPROC: tasks (processes and threads) of the process's uid. It holds
	// in ModeUID, where the uid is the plugin's alone, and in ModeUserNS, where it is counted
	// per user namespace.
	Processes uint64 `json:"nproc,omitempty"`
	OpenFiles uint64 `json:"nofile,omitempty"` // RLIMIT_NOFILE
	Data      uint64 `json:"data,omitempty"`   // RLIMIT_DATA, bytes
	CPU       uint64 `json:"cpu,omitempty"`    // RLIMIT_CPU, seconds of CPU time in all
}

// Spec is one confined process: the program, what it sees and its limits.
type Spec struct {
	Mode Mode `json:"mode"`
	// Path, Args, Dir and Env are the program's: Args[0] included, Env complete.
	Path string   `json:"path"`
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
	// UID and GID the program runs as in ModeUID (see Allocator); ignored otherwise.
	UID int `json:"uid"`
	GID int `json:"gid"`
	// ReadOnly paths are bound read-only at the same path: the code, the interpreter's
	// environment and its base installation. Writable paths likewise, read-write: the
	// process's own working folders. Missing paths are skipped.
	ReadOnly []string `json:"ro,omitempty"`
	Writable []string `json:"rw,omitempty"`
	// TmpSize caps the private tmpfs at /tmp, in bytes. Default 64 MiB.
	TmpSize int64  `json:"tmp_size,omitempty"`
	Limits  Limits `json:"limits"`
	// Root is an empty folder on which the init mounts the new root inside its mount
	// namespace; nothing is ever written to it outside. Default: <os.TempDir()>/plugd-sandbox-root.
	Root string `json:"root,omitempty"`
	// Self is the binary started as the init. Default: /proc/self/exe, this very binary.
	Self string `json:"-"`
	// Nest, in ModeUID, makes the process the root of a user namespace of its own, for a
	// fork-server (a zygote) that confines its children itself: see Nest.
	Nest *Nest `json:"nest,omitempty"`
}

// Nest is the user namespace of a fork-server started in ModeUID. Inside it the process is
// uid and gid 0, which is the host's Spec.UID and Spec.GID (an unprivileged id of the
// sandbox range); the host ids [Base, Base+Count) are mapped to themselves, so that it can
// give each child one of them (setuid in the namespace). It keeps NestCaps, effective in that
// namespace only (the host's files and processes are out of their reach: no host uid but
// its own and the range is mapped, and its mounts are its own mount namespace's), so a child
// can make a mount namespace of its own, bind its folders in, pivot into them and drop to its
// uid; PR_SET_NO_NEW_PRIVS is set as for any sandboxed process, and no other capability can
// be regained.
type Nest struct {
	Base  int `json:"base"`
	Count int `json:"count"`
}

// NestCaps are the capabilities a Nest's process keeps, in its user namespace only.
var NestCaps = []uintptr{capSysAdmin, capSetuid, capSetgid, capSysChroot, capSetpcap}

// Capability numbers of Linux (linux/capability.h), here so that Spec builds everywhere.
const (
	capSetgid    = 6
	capSetuid    = 7
	capSetpcap   = 8
	capSysChroot = 18
	capSysAdmin  = 21
)

// NestRoot is an empty folder of a Nest's view: a child mounts its own root there, in a
// mount namespace of its own, before it pivots into it.
const NestRoot = "/.plugd-child"

// View is every path of the host a process of s sees besides its private /tmp, /proc and
// /dev: the system folders, the part of /etc it needs and its ReadOnly and Writable paths.
// A Nest's child binds the part of it it shares with its fork-server from there.
func (s *Spec) View() []string {
	v := append(append([]string{}, SystemReadOnly...), SystemEtc...)
	v = append(v, "/etc/passwd", "/etc/group")
	return append(append(v, s.ReadOnly...), s.Writable...)
}

// SystemReadOnly are the host folders a Python program needs, bound read-only: the
// interpreter's libraries and tools. Symbolic links among them (/bin -> usr/bin on merged-/usr
// systems) are recreated as links.
var SystemReadOnly = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// SystemEtc is the part of /etc a program needs to resolve names and verify TLS; the
// rest (passwd, shadow, the daemon's configuration) stays out of sight.
var SystemEtc = []string{
	"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/crypto-policies",
	"/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
	"/etc/localtime", "/etc/timezone", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/alternatives", "/etc/mime.types", "/etc/os-release", "/etc/protocols", "/etc/services",
}

func (s *Spec) withDefaults() error {
	if s.TmpSize <= 0 {
		s.TmpSize = 64 << 20
	}
	if s.Root == "" {
		s.Root = filepath.Join(os.TempDir(), "plugd-sandbox-root")
	}
	if s.Self == "" {
		// The running binary itself, even when its file was replaced or removed since (an
		// upgrade in place): the init must be this version of the code.
		s.Self = "/proc/self/exe"
	}
	if s.Path == "" || len(s.Args) == 0 {
		return errors.New("sandbox: Spec needs Path and Args")
	}
	for _, p := range append(append([]string{s.Path, s.Dir, s.Root}, s.ReadOnly...), s.Writable...) {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("sandbox: path %q is not absolute", p)
		}
	}
	return nil
}

func decodeSpec(v string) (*Spec, error) {
	var s Spec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("sandbox init: reading the spec: %w", err)
	}
	return &s, nil
}

// PythonPaths returns the folders an interpreter needs besides the system's: for a virtual
// environment (a pyvenv.cfg beside or above its bin folder) the environment and its base
// installation's prefix (sys.base_prefix, which may be anywhere: /root/.pyenv/versions/3.11.7),
// for a plain interpreter its prefix. Symbolic links are given both as written and resolved.
func PythonPaths(python string) []string {
	var out []string
	add := func(p string) {
		if p == "" || p == "/" {
			return
		}
		for _, q := range []string{p, resolved(p)} {
			if q != "" && !containsPath(out, q) {
				out = append(out, q)
			}
		}
	}
	bin := filepath.Dir(python)
	venv := filepath.Dir(bin)
	if cfg, err := os.ReadFile(filepath.Join(venv, "pyvenv.cfg")); err == nil {
		add(venv)
		for line := range strings.SplitSeq(string(cfg), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == "home" {
				home := strings.TrimSpace(v)
				add(filepath.Dir(home))
				add(filepath.Dir(filepath.Dir(resolved(filepath.Join(home, "python3")))))
			}
		}
	} else {
		add(venv)
	}
	// The interpreter binary itself may be a link into yet another prefix.
	if r := resolved(python); r != "" {
		add(filepath.Dir(filepath.Dir(r)))
	}
	return out
}

func resolved(p string) string {
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	return r
}

// containsPath reports whether p is one of paths or lies under one of them.
func containsPath(paths []string, p string) bool {
	for _, q := range paths {
		if p == q || strings.HasPrefix(p, strings.TrimSuffix(q, "/")+"/") {
			return true
		}
	}
	return false
}

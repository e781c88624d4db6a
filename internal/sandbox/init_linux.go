//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// probeEnv makes an init stop after the privileges are dropped, with exit status 0: Probe.
const probeEnv = "PLUGD_SANDBOX_PROBE"

// probeOK is what a probing init prints once it is confined: a binary that exits 0 without
// running the init (one that does not call MaybeRunInit) does not pass for a sandbox.
const probeOK = "plugd sandbox: confined\n"

// MaybeRunInit runs the sandbox init when this process was started as one (by Command) and
// never returns then; otherwise it returns at once. Call it first thing in main.
func MaybeRunInit() {
	if len(os.Args) < 2 || os.Args[1] != initArg {
		return
	}
	// Capabilities, the no-new-privileges bit and the parent-death signal belong to a
	// thread: everything below, the exec included, must run on this one.
	goruntime.LockOSThread()
	err := runInit()
	fmt.Fprintf(os.Stderr, "plugd sandbox init: %v\n", err)
	os.Exit(126)
}

func runInit() error {
	spec, err := decodeSpec(os.Getenv(specEnv))
	if err != nil {
		return err
	}
	if err := buildRoot(spec); err != nil {
		return fmt.Errorf("building the file system view: %w", err)
	}
	if err := setLimits(spec.Limits); err != nil {
		return fmt.Errorf("setting limits: %w", err)
	}
	if err := dropPrivileges(spec); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	if os.Getenv(probeEnv) != "" {
		os.Stdout.WriteString(probeOK)
		os.Exit(0)
	}
	if err := unix.Chdir(spec.Dir); err != nil {
		return fmt.Errorf("entering %s: %w", spec.Dir, err)
	}
	err = unix.Exec(spec.Path, spec.Args, spec.Env)
	return fmt.Errorf("exec %s: %w", spec.Path, err)
}

// buildRoot makes the process's whole file system: a tmpfs root holding only what spec
// lets it see, then pivots into it and detaches the old root, which is unreachable from then
// on (no path leads there, and no capability is left to mount it again).
func buildRoot(s *Spec) error {
	// Nothing mounted here may propagate back to the host's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := s.Root
	m := mounter{root: root}
	if s.Nest != nil {
		// A Nest's init is the host's root, unmapped in its user namespace: it may look
		// up root's files (/root/.pyenv) but not create any (EOVERFLOW). It opens every
		// source first, then creates as uid 0 of its namespace.
		if err := m.openSources(append(append(append(append([]string{}, SystemReadOnly...), SystemEtc...), s.ReadOnly...), s.Writable...)); err != nil {
			return err
		}
	}
	rootOpts := "mode=0755,size=16m"
	if s.Nest != nil {
		rootOpts += ",uid=0,gid=0" // of the namespace
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, rootOpts); err != nil {
		return fmt.Errorf("mounting the root tmpfs on %s: %w", root, err)
	}
	if s.Nest != nil {
		// The path to root may pass folders only the host's root may enter: from here on
		// it is reached through a descriptor.
		fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the new root: %w", err)
		}
		root = fmt.Sprintf("/proc/self/fd/%d", fd)
		m.root = root
		if _, err := unix.SetfsuidRetUid(0); err != nil {
			return fmt.Errorf("setfsuid: %w", err)
		}
		if _, err := unix.SetfsgidRetGid(0); err != nil {
			return fmt.Errorf("setfsgid: %w", err)
		}
	}
	// A private /tmp first: skeleton folders of binds under /tmp (the test set-ups keep
	// everything there) are then made in it, not in a bound folder.
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", filepath.Join(root, "tmp"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=1777,size=%d", s.TmpSize)); err != nil {
		return fmt.Errorf("mounting /tmp: %w", err)
	}
	for _, p := range SystemReadOnly {
		if err := m.bind(p, false, true); err != nil {
			return err
		}
	}
	for _, p := range SystemEtc {
		if err := m.bind(p, false, false); err != nil {
			return err
		}
	}
	for _, p := range s.ReadOnly {
		if err := m.bind(p, false, false); err != nil {
			return err
		}
	}
	for _, p := range s.Writable {
		if err := m.bind(p, true, false); err != nil {
			return err
		}
	}
	if err := m.dev(); err != nil {
		return fmt.Errorf("making /dev: %w", err)
	}
	if err := m.proc(); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := m.passwd(s); err != nil {
		return fmt.Errorf("writing /etc/passwd: %w", err)
	}
	if s.Nest != nil {
		if err := os.Mkdir(filepath.Join(root, NestRoot), 0o755); err != nil {
			return err
		}
	}
	return pivot(root)
}

type mounter struct {
	root  string
	bound []string // host paths bound or linked so far
	// sources, for a Nest's init, are the host paths it opened before taking its
	// namespace's uid: bind reads and mounts them through their descriptors.
	sources map[string]source
}

type source struct {
	lst, st os.FileInfo // st nil for a dangling link
	dest    string      // of a symbolic link
	fd      int         // O_PATH, following links
}

// openSources opens paths (those that exist) for bind.
func (m *mounter) openSources(paths []string) error {
	m.sources = map[string]source{}
	for _, p := range paths {
		p = filepath.Clean(p)
		lst, err := os.Lstat(p)
		if err != nil {
			continue
		}
		src := source{lst: lst, fd: -1}
		if lst.Mode()&os.ModeSymlink != 0 {
			if src.dest, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if st, err := os.Stat(p); err == nil {
			src.st = st
			if src.fd, err = unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0); err != nil {
				return fmt.Errorf("opening %s: %w", p, err)
			}
		}
		m.sources[p] = src
	}
	return nil
}

// bind makes host path p visible at the same path, read-only unless rw. A missing path is
// skipped. With links, a symbolic link is recreated as one (/bin -> usr/bin).
func (m *mounter) bind(p string, rw, links bool) error {
	p = filepath.Clean(p)
	if containsPath(m.bound, p) {
		return nil // already visible through a folder bound before
	}
	lst, err := os.Lstat(p)
	src, opened := m.sources[p]
	if m.sources != nil {
		lst, err = src.lst, nil
		if !opened {
			return nil
		}
	}
	if err != nil {
		return nil
	}
	target := filepath.Join(m.root, p)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("skeleton of %s: %w", p, err)
	}
	if links && lst.Mode()&os.ModeSymlink != 0 {
		dest, err := src.dest, error(nil)
		if !opened {
			dest, err = os.Readlink(p)
		}
		if err != nil {
			return err
		}
		m.bound = append(m.bound, p)
		return os.Symlink(dest, target)
	}
	st, err := os.Stat(p)
	from := p
	if opened {
		st, err, from = src.st, nil, fmt.Sprintf("/proc/self/fd/%d", src.fd)
		if st == nil {
			return nil
		}
	}
	if err != nil {
		return nil // a dangling link
	}
	if st.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("mount point for %s: %w", p, err)
	}
	if err := unix.Mount(from, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding %s: %w", p, err)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if !rw {
		flags |= unix.MS_RDONLY
	}
	if err := remount(target, flags); err != nil {
		return fmt.Errorf("making %s %s: %w", p, map[bool]string{true: "nosuid", false: "read-only"}[rw], err)
	}
	m.bound = append(m.bound, p)
	return nil
}

// remount changes a bind mount's flags, keeping those the kernel locks in a user namespace
// (noexec and the atime flags of the source).
func remount(target string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
}

// dev makes a minimal /dev: the harmless character devices bound from the host, the usual
// links, and a /dev/shm of its own (Python's multiprocessing needs one).
func (m *mounter) dev() error {
	dev := filepath.Join(m.root, "dev")
	if err := os.Mkdir(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=1m"); err != nil {
		return err
	}
	for _, name := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		target := filepath.Join(dev, name)
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o666)
		if err != nil {
			return err
		}
		f.Close()
		if err := unix.Mount("/dev/"+name, target, "", unix.MS_BIND, ""); err != nil {
			if name == "tty" {
				os.Remove(target)
				continue
			}
			return fmt.Errorf("binding /dev/%s: %w", name, err)
		}
	}
	for name, dest := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(dest, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o1777); err != nil {
		return err
	}
	return unix.Mount("tmpfs", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=64m")
}

// proc mounts the /proc of the new PID namespace: the process sees itself and its
// children, never the daemon (whose environ holds its secrets) nor other plugins.
func (m *mounter) proc() error {
	target := filepath.Join(m.root, "proc")
	if err := os.Mkdir(target, 0o555); err != nil {
		return err
	}
	return unix.Mount("proc", target, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// passwd writes an /etc/passwd and /etc/group that name the process's own user and nothing
// of the host's: some libraries look the current user up (getpass.getuser, ~ expansion).
func (m *mounter) passwd(s *Spec) error {
	uid, gid := os.Getuid(), os.Getgid()
	if s.Mode == ModeUID {
		uid, gid = s.UID, s.GID
	}
	if s.Nest != nil {
		uid, gid = 0, 0 // root of its user namespace
	}
	home := "/nonexistent"
	for _, kv := range s.Env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	etc := filepath.Join(m.root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	u, g := strconv.Itoa(uid), strconv.Itoa(gid)
	passwd := "root:x:0:0:root:/root:/usr/sbin/nologin\n"
	group := "root:x:0:\n"
	if uid != 0 {
		passwd += "plugin:x:" + u + ":" + g + ":plugin:" + home + ":/usr/sbin/nologin\n"
		group += "plugin:x:" + g + ":\n"
	}
	passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	group += "nogroup:x:65534:\n"
	if err := os.WriteFile(filepath.Join(etc, "passwd"), []byte(passwd), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(etc, "group"), []byte(group), 0o644)
}

// pivot makes root the root of the mount namespace and detaches the old one; the new root
// tmpfs is then made read-only.
func pivot(root string) error {
	old := filepath.Join(root, ".oldroot")
	if err := os.Mkdir(old, 0o700); err != nil {
		return err
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.Unmount("/.oldroot", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := os.Remove("/.oldroot"); err != nil {
		return err
	}
	return remount("/", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV)
}

// setLimits sets the resource limits, soft and hard alike: a plugin may not raise them.
func setLimits(l Limits) error {
	for _, r := range []struct {
		res int
		v   uint64
	}{{unix.RLIMIT_NPROC, l.Processes}, {unix.RLIMIT_NOFILE, l.OpenFiles}, {unix.RLIMIT_DATA, l.Data}, {unix.RLIMIT_CPU, l.CPU}} {
		if r.v == 0 {
			continue
		}
		if err := unix.Setrlimit(r.res, &unix.Rlimit{Cur: r.v, Max: r.v}); err != nil {
			return fmt.Errorf("rlimit %d = %d: %w", r.res, r.v, err)
		}
	}
	return nil
}

// Securebits: with these, uid 0 gains no capability at exec, for good.
const (
	secbitNoRoot       = 1 << 0
	secbitNoRootLocked = 1 << 1
)

// dropPrivileges leaves the process with no capability it could use, no way to gain one
// (no-new-privileges: setuid binaries and file capabilities stop working) and, in ModeUID,
// its own uid and gid with no supplementary group.
func dropPrivileges(s *Spec) error {
	if s.Nest != nil {
		return dropToNest()
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("emptying the capability bounding set: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, secbitNoRoot|secbitNoRootLocked, 0, 0, 0); err != nil {
		return fmt.Errorf("securebits: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	if s.Mode == ModeUID {
		// syscall's versions change every thread of the process, not only this one.
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
		if err := syscall.Setresgid(s.GID, s.GID, s.GID); err != nil {
			return fmt.Errorf("setgid %d: %w", s.GID, err)
		}
		if err := syscall.Setresuid(s.UID, s.UID, s.UID); err != nil {
			return fmt.Errorf("setuid %d: %w", s.UID, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var none [2]unix.CapUserData
	if err := unix.Capset(&hdr, &none[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	// A change of credentials clears the parent-death signal: set it again, so the program
	// dies with the daemon.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	return nil
}

// dropToNest is dropPrivileges of a Nest's init: it becomes uid and gid 0 of its user
// namespace (Spec.UID and GID on the host) with NestCaps alone, in that namespace, and
// no-new-privileges; the exec, as root of the namespace, keeps NestCaps and gains nothing.
func dropToNest() error {
	keep := map[int]bool{}
	var mask uint64
	for _, c := range NestCaps {
		keep[int(c)] = true
		mask |= 1 << c
	}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("emptying the capability bounding set: %w", err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("setgid 0 in the user namespace: %w", err)
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("setuid 0 in the user namespace: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: uint32(mask), Permitted: uint32(mask)}, {Effective: uint32(mask >> 32), Permitted: uint32(mask >> 32)}}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	return nil
}

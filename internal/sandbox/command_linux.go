//go:build linux

package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Command returns the command that starts the program confined by spec: this binary as an
// init in new namespaces. The caller sets Stdin, Stdout, Stderr and may add to SysProcAttr
// (Setpgid, Pdeathsig, a cgroup). ModeNone returns the program itself, unconfined.
func Command(spec Spec) (*exec.Cmd, error) {
	if spec.Mode == ModeNone || spec.Mode == "" {
		c := exec.Command(spec.Path, spec.Args[1:]...)
		c.Args, c.Dir, c.Env = spec.Args, spec.Dir, spec.Env
		return c, nil
	}
	if err := spec.withDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(spec.Root, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: the mount point of the new root: %w", err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	c := exec.Command(spec.Self, initArg)
	c.Env = []string{specEnv + "=" + string(b)}
	c.Dir = "/"
	attr := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC}
	switch spec.Mode {
	case ModeUID:
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("sandbox: mode %q needs the daemon to run as root", spec.Mode)
		}
		if n := spec.Nest; n != nil {
			// The init starts as the host's root, unmapped in the new namespace but with
			// every capability there; it becomes uid 0 inside (spec.UID outside) before the
			// exec, keeping NestCaps only (dropPrivileges).
			attr.Cloneflags |= unix.CLONE_NEWUSER
			attr.UidMappings = nestMap(spec.UID, n)
			attr.GidMappings = nestMap(spec.GID, n)
			attr.GidMappingsEnableSetgroups = true // a child clears its groups
			// Unmapped, the init counts as no root of the namespace at its exec: what it
			// needs there comes as ambient capabilities (as in ModeUserNS). It keeps host
			// root's ownership of root's files for the binds (/root/.pyenv).
			attr.AmbientCaps = NestCaps
		}
	case ModeUserNS:
		// The init keeps the daemon's uid and gid, mapped to themselves, and gets
		// CAP_SYS_ADMIN (to mount) and CAP_SETPCAP (to empty its bounding set) as ambient
		// capabilities for the exec; it drops both before it execs the program.
		uid, gid := os.Geteuid(), os.Getegid()
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
		attr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_SETPCAP}
	default:
		return nil, fmt.Errorf("sandbox: unknown mode %q", spec.Mode)
	}
	c.SysProcAttr = attr
	return c, nil
}

// nestMap maps 0 to id and the range of n, less id, to itself.
func nestMap(id int, n *Nest) []syscall.SysProcIDMap {
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: id, Size: 1}}
	add := func(from, to int) {
		if to > from {
			m = append(m, syscall.SysProcIDMap{ContainerID: from, HostID: from, Size: to - from})
		}
	}
	if id >= n.Base && id < n.Base+n.Count {
		add(n.Base, id)
		add(id+1, n.Base+n.Count)
	} else {
		add(n.Base, n.Base+n.Count)
	}
	return m
}

// Preferred is the confinement this process can offer: ModeUID as root, else ModeUserNS.
func Preferred() Mode {
	if os.Geteuid() == 0 {
		return ModeUID
	}
	return ModeUserNS
}

// Probe starts an init in mode that builds its root and drops its privileges, then exits
// instead of running a program: nil means processes can be confined so here. self is the
// binary run as the init ("" for this one).
func Probe(mode Mode, self string) error {
	spec := Spec{Mode: mode, Path: "/", Args: []string{"probe"}, Dir: "/", UID: 65534, GID: 65534, Self: self}
	c, err := Command(spec)
	if err != nil {
		return err
	}
	c.Env = append(c.Env, probeEnv+"=1")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("sandbox: a %s sandbox does not start here: %w: %s", mode, err, strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), probeOK) {
		return fmt.Errorf("sandbox: %s does not run the sandbox init (it must call sandbox.MaybeRunInit first thing)", c.Path)
	}
	return nil
}

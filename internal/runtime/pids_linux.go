//go:build linux

package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pidsCgroup holds one plugin's processes under pids.max, on top of RLIMIT_NPROC: the cgroup
// counts every task of the plugin whatever its uid, and a fork past the limit fails with
// EAGAIN. It is per plugin and shared by its instances, as the rlimit is (one uid). With
// cgroup v2 it needs a delegated cgroup with the pids controller enabled for children; with
// cgroup v1 (or a hybrid host, as the test machine) the daemon's own pids cgroup, writable
// (root in a container, typically).
type pidsCgroup struct {
	dir string
}

// joinPidsCgroup puts pid into the plugin's pids cgroup, made on first use with pids.max =
// limit. It returns nil and the reason when no pids cgroup is usable.
func joinPidsCgroup(plugin string, pid int, limit uint64) (*pidsCgroup, error) {
	parent, err := pidsParent()
	if err != nil {
		return nil, err
	}
	// Named by plugin only: a daemon killed with SIGKILL leaves its (empty) cgroups behind,
	// and the next one reuses them rather than leaving one more per restart. Two daemons on
	// one host running the same plugin share its budget.
	dir := filepath.Join(parent, "plugd-"+escapeName(plugin))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatUint(limit, 10)), 0); err != nil {
		os.Remove(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return &pidsCgroup{dir: dir}, nil
}

// pidsParent is the cgroup under which plugd makes the plugins' pids cgroups: the daemon's
// own, v2 when the pids controller is delegated there, else v1's.
func pidsParent() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	var st unix.Statfs_t
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var dir string
		switch {
		case f[0] == "0" && f[1] == "":
			dir = filepath.Join("/sys/fs/cgroup", f[2])
			if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
				continue
			}
			ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
			if err != nil || !strings.Contains(" "+strings.TrimSpace(string(ctl))+" ", " pids ") {
				continue
			}
		case strings.Contains(","+f[1]+",", ",pids,"):
			dir = filepath.Join("/sys/fs/cgroup/pids", f[2])
			if unix.Statfs(dir, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
				continue
			}
		default:
			continue
		}
		if unix.Access(dir, unix.W_OK) == nil {
			return dir, nil
		}
	}
	return "", errors.New("no writable pids cgroup (v2 with pids delegated, or v1)")
}

// release removes the cgroup once the plugin's last process has left it; while another
// instance runs, the kernel refuses and the cgroup stays. The last tasks of a PID namespace
// leave a moment after its init is reaped, so it tries for a second, in the background.
func (p *pidsCgroup) release() {
	if p == nil {
		return
	}
	go func() {
		for range 20 {
			if err := os.Remove(p.dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if b, err := os.ReadFile(filepath.Join(p.dir, "cgroup.procs")); err == nil && len(b) > 0 {
				return // another instance of the plugin lives in it
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

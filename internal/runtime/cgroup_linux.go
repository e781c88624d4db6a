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

// pluginCgroup holds one plugin's processes under cgroup limits, on top of the rlimits:
//
//   - pids.max: counts every task of the plugin whatever its uid; a fork past it fails with
//     EAGAIN;
//   - a CPU quota (cpu.max in v2, cpu.cfs_quota_us in v1): a rate, which RLIMIT_CPU (a
//     total) is not.
//
// It is per plugin and shared by its instances, as the rlimit is (one uid). With cgroup v2 it
// needs the daemon's own cgroup delegated with the controllers enabled for children; with
// cgroup v1 (or a hybrid host, as the test machine) each controller's hierarchy, writable
// (root in a container, typically).
type pluginCgroup struct {
	dirs []string // one per v1 hierarchy used, or the one v2 folder
}

// cgroupLimits are the limits a pluginCgroup enforces; zero means none.
type cgroupLimits struct {
	pids       uint64
	cpuPercent int // of one core: 150 is one and a half
}

const cpuPeriod = 100000 // µs, the kernel's default CFS period

// joinPluginCgroup puts pid into the plugin's cgroups, made on first use. It returns nil and
// the reason when none is usable; a controller that is missing is left out.
func joinPluginCgroup(plugin string, pid int, lim cgroupLimits) (*pluginCgroup, error) {
	// Named by plugin only: a daemon killed with SIGKILL leaves its (empty) cgroups behind,
	// and the next one reuses them rather than leaving one more per restart. Two daemons on
	// one host running the same plugin share its budget.
	name := "plugd-" + escapeName(plugin)
	files := map[string]map[string]string{} // controller -> file -> value
	if lim.pids > 0 {
		files["pids"] = map[string]string{"pids.max": strconv.FormatUint(lim.pids, 10)}
	}
	if lim.cpuPercent > 0 {
		quota := strconv.Itoa(lim.cpuPercent * cpuPeriod / 100)
		files["cpu"] = map[string]string{"cpu.max": quota + " " + strconv.Itoa(cpuPeriod),
			"cpu.cfs_period_us": strconv.Itoa(cpuPeriod), "cpu.cfs_quota_us": quota}
	}
	if len(files) == 0 {
		return nil, nil
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	var cg pluginCgroup
	var errs []error
	join := func(parent string, controller string, v2 bool) {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			errs = append(errs, err)
			return
		}
		for file, value := range files[controller] {
			if strings.HasPrefix(file, "cpu.cfs") == v2 && controller == "cpu" {
				continue // cpu.max is v2's, cpu.cfs_* v1's
			}
			if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
				errs = append(errs, err)
				os.Remove(dir)
				return
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			errs = append(errs, err)
			os.Remove(dir)
			return
		}
		cg.dirs = append(cg.dirs, dir)
	}
	var st unix.Statfs_t
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			// cgroup v2: one folder for every controller enabled for the daemon's children.
			parent := filepath.Join("/sys/fs/cgroup", f[2])
			if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC || unix.Access(parent, unix.W_OK) != nil {
				continue
			}
			ctl, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
			enabled := " " + strings.TrimSpace(string(ctl)) + " "
			var want []string
			for c := range files {
				if strings.Contains(enabled, " "+c+" ") {
					want = append(want, c)
				}
			}
			if len(want) == 0 {
				continue
			}
			merged := map[string]string{}
			for _, c := range want {
				for k, v := range files[c] {
					if !strings.HasPrefix(k, "cpu.cfs") { // v1's
						merged[k] = v
					}
				}
			}
			files["v2"] = merged
			join(parent, "v2", true)
			return cg.orErr(errs)
		}
		for _, c := range strings.Split(f[1], ",") {
			if _, ok := files[c]; !ok {
				continue
			}
			parent := filepath.Join("/sys/fs/cgroup", c, f[2])
			if unix.Statfs(parent, &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC || unix.Access(parent, unix.W_OK) != nil {
				continue
			}
			join(parent, c, false)
		}
	}
	return cg.orErr(errs)
}

func (cg *pluginCgroup) orErr(errs []error) (*pluginCgroup, error) {
	if len(cg.dirs) == 0 {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no writable cgroup with the pids or cpu controller (v2 delegated, or v1)"))
		}
		return nil, errors.Join(errs...)
	}
	return cg, nil
}

// String lists the cgroup folders, for plugin.log.
func (cg *pluginCgroup) String() string { return strings.Join(cg.dirs, ", ") }

// release removes the cgroups once the plugin's last process has left them; while another
// instance runs, the kernel refuses and they stay. The last tasks of a PID namespace leave a
// moment after its init is reaped, so it tries for a second, in the background.
func (cg *pluginCgroup) release() {
	if cg == nil {
		return
	}
	go func() {
		for _, dir := range cg.dirs {
			for range 20 {
				if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil && len(b) > 0 {
					break // another instance of the plugin lives in it
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
}

//go:build linux

package runtime

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCgroupMechanics checks the cgroup steps against a folder that looks like a delegated
// cgroup v2 parent: the child folder, memory.max, the pid in cgroup.procs (a plain folder
// refuses CLONE_INTO_CGROUP, so this also takes the fallback), and the cleanup. Hosts with a
// real delegated memory controller exercise the kernel side in TestMemoryLimit.
func TestCgroupMechanics(t *testing.T) {
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("cpu memory pids\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLocal(LocalConfig{
		PluginID: "me/cg", Dir: t.TempDir(), Python: fakePython(t, "exec sleep 30"), DataDir: t.TempDir(),
		MemoryLimit: 300 << 20, CgroupParent: parent, StartTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	defer l.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	l.Start(ctx) // never ready: the fake sends no heartbeat
	st := l.Status()
	if st.State != StateStarting || st.PID == 0 {
		t.Fatalf("status %+v", st)
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, "plugd-me%2Fcg-*"))
	if len(dirs) != 1 {
		t.Fatalf("child cgroups: %v", dirs)
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dirs[0], name))
		return strings.TrimSpace(string(b))
	}
	if read("memory.max") != strconv.Itoa(300<<20) || read("cgroup.procs") != strconv.Itoa(st.PID) ||
		read("memory.swap.max") != "0" || read("memory.oom.group") != "1" {
		t.Errorf("memory.max %q, cgroup.procs %q (pid %d), swap %q, oom.group %q",
			read("memory.max"), read("cgroup.procs"), st.PID, read("memory.swap.max"), read("memory.oom.group"))
	}
	var lim unix.Rlimit
	if err := unix.Prlimit(st.PID, unix.RLIMIT_DATA, nil, &lim); err != nil || lim.Cur != unix.RLIM_INFINITY {
		t.Errorf("with a cgroup no rlimit should be set: %+v, %v", lim, err)
	}
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if read("cgroup.kill") != "1" {
		t.Errorf("cgroup.kill not written on the way out")
	}
}

func TestRlimitFallback(t *testing.T) {
	l := NewLocal(LocalConfig{
		PluginID: "me/rl", Dir: t.TempDir(), Python: fakePython(t, "exec sleep 30"), DataDir: t.TempDir(),
		MemoryLimit: 300 << 20, CgroupParent: filepath.Join(t.TempDir(), "not-a-cgroup"),
		Logger: slog.New(slog.DiscardHandler),
	})
	defer l.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	l.Start(ctx)
	var lim unix.Rlimit
	if err := unix.Prlimit(l.Status().PID, unix.RLIMIT_DATA, nil, &lim); err != nil {
		t.Fatal(err)
	}
	if want := uint64(300<<20 + rlimitHeadroom); lim.Cur != want || lim.Max != want {
		t.Errorf("RLIMIT_DATA %+v, want %d", lim, want)
	}
}

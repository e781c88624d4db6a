//go:build linux

package runtime

import (
	"context"
	"log/slog"
	"net"
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

// TestAckNow: on a TCP connection ackNow sets TCP_QUICKACK (the kernel reports it set right
// after); on a Unix socket it fails quietly; on a connection without a socket it is nil.
func TestAckNow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ack := ackNow(server)
	if ack == nil {
		t.Fatal("no ackNow for a TCP connection")
	}
	raw, _ := server.(*net.TCPConn).SyscallConn()
	quick := func() (v int) {
		raw.Control(func(fd uintptr) { v, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK) })
		return v
	}
	raw.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0) })
	if quick() != 0 {
		t.Skip("TCP_QUICKACK cannot be cleared here")
	}
	ack()
	if quick() != 1 {
		t.Error("TCP_QUICKACK not set")
	}

	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	if ack := ackNow(a); ack != nil {
		ack() // EOPNOTSUPP, ignored
		ack()
	}
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if ackNow(p) != nil {
		t.Error("ackNow for a net.Pipe")
	}
}

func socketPair() (net.Conn, net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}

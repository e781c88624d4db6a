//go:build linux

package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}

// confined runs a shell script in a sandbox and returns its output.
func confined(t *testing.T, spec Spec, script string) (string, error) {
	t.Helper()
	spec.Path, spec.Args = "/bin/sh", []string{"sh", "-c", script}
	if spec.Dir == "" {
		spec.Dir = "/"
	}
	spec.Env = append(spec.Env, "PATH=/usr/bin:/bin")
	spec.Root = filepath.Join(t.TempDir(), "root")
	c, err := Command(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CombinedOutput()
	return string(out), err
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ModeUID needs root")
	}
}

func TestUIDModeHidesTheHost(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	code := filepath.Join(dir, "code")
	work := filepath.Join(dir, "work")
	secret := filepath.Join(dir, "secret")
	for _, d := range []string{code, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(work, 61000, 61000)
	os.WriteFile(filepath.Join(code, "main.py"), []byte("print(1)"), 0o644)
	os.WriteFile(secret, []byte("s3cr3t"), 0o644)
	out, err := confined(t, Spec{Mode: ModeUID, UID: 61000, GID: 61000, ReadOnly: []string{code}, Writable: []string{work},
		Limits: Limits{Processes: 50, OpenFiles: 64}},
		`exec 2>/dev/null; id -u; id -g; cat `+code+`/main.py; echo; (echo x > `+code+`/w) && echo code-writable;
		 echo ok > `+work+`/f && echo work-writable; cat `+secret+` 2>/dev/null || echo no-secret;
		 ls /proc | grep -c '^[0-9]'; echo $$; ls /root 2>/dev/null | wc -l; ulimit -n; grep 'Max processes' /proc/self/limits | awk '{print $3}';
		 cat /etc/shadow 2>/dev/null || echo no-shadow; echo x > /tmp/t && echo tmp-writable; (echo y > /z) || echo root-ro`)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []string{"61000", "61000", "print(1)", "work-writable", "no-secret", "", "1", "0", "64", "50", "no-shadow", "tmp-writable", "root-ro"}
	got := strings.Split(strings.TrimSpace(out), "\n")
	t.Logf("%q", got)
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if want[i] != "" && got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
}

// TestUserNSMode runs ModeUserNS as an unprivileged daemon would: as root, the test runs a
// copy of its own binary as nobody, which confines a shell and checks what it sees.
func TestUserNSMode(t *testing.T) {
	if os.Getenv("SANDBOX_TEST_AS_NOBODY") == "" {
		needRoot(t)
		dir := t.TempDir()
		os.Chmod(dir, 0o1777)
		os.Chmod(filepath.Dir(dir), 0o755)
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "sandbox.test")
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		c := exec.Command(bin, "-test.run=^TestUserNSMode$", "-test.v")
		c.Env = []string{"SANDBOX_TEST_AS_NOBODY=1", "TMPDIR=" + dir}
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := c.CombinedOutput()
		t.Logf("as nobody:\n%s", out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "SKIP") {
			t.Skip("user namespaces are not available to unprivileged users here")
		}
		return
	}
	if err := Probe(ModeUserNS, ""); err != nil {
		t.Skipf("SKIP: %v", err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	work := filepath.Join(dir, "work")
	os.WriteFile(secret, []byte("s3cr3t"), 0o644)
	os.Mkdir(work, 0o755)
	out, err := confined(t, Spec{Mode: ModeUserNS, Writable: []string{work}, Limits: Limits{Processes: 20}},
		`exec 2>/dev/null; id -u; cat `+secret+` || echo no-secret; echo ok > `+work+`/f && echo work-writable;
		 ls /proc | grep -c '^[0-9]'; (echo y > /z) || echo root-ro; grep CapEff /proc/self/status | awk '{print $2}';
		 (n=0; while [ $n -lt 40 ]; do sleep 5 & n=$((n+1)); echo $n > /tmp/n; done); echo forks;
		 cat /tmp/n`)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	t.Logf("%q", got)
	want := []string{"65534", "no-secret", "work-writable", "", "root-ro", "0000000000000000"}
	if len(got) < len(want)+2 {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if want[i] != "" && got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(got[len(want)+1])); n >= 20 || n == 0 {
		t.Errorf("%d processes running under a limit of 20", n)
	}
}

// BenchmarkStart measures what the sandbox adds to starting a process: /bin/true plain, and
// confined in ModeUID (the init re-exec, the mounts, the pivot, the privilege drop).
func BenchmarkStart(b *testing.B) {
	root := filepath.Join(b.TempDir(), "root")
	for _, mode := range []Mode{ModeNone, ModeUID} {
		b.Run(string(mode), func(b *testing.B) {
			if mode == ModeUID && os.Geteuid() != 0 {
				b.Skip("ModeUID needs root")
			}
			for b.Loop() {
				c, err := Command(Spec{Mode: mode, Path: "/bin/true", Args: []string{"true"}, Dir: "/", UID: 61000, GID: 61000, Root: root})
				if err != nil {
					b.Fatal(err)
				}
				if out, err := c.CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, out)
				}
			}
		})
	}
}

func TestProbe(t *testing.T) {
	if err := Probe(Preferred(), ""); err != nil {
		t.Skipf("no sandbox here: %v", err)
	}
	// A binary that exits 0 without running the init is no sandbox.
	if err := Probe(Preferred(), "/bin/true"); err == nil || !strings.Contains(err.Error(), "MaybeRunInit") {
		t.Errorf("probing with /bin/true as the init: %v", err)
	}
}

// A Nest's process is root of a user namespace that maps 0 to its uid and the range, less
// that uid, to itself; it has NestCaps there and nothing else, no-new-privileges, and the
// empty folder its children build their roots on.
func TestNestMode(t *testing.T) {
	needRoot(t)
	if m := nestMap(300005, &Nest{Base: 300000, Count: 10}); len(m) != 3 || m[0].HostID != 300005 || m[0].ContainerID != 0 ||
		m[1].HostID != 300000 || m[1].Size != 5 || m[2].HostID != 300006 || m[2].Size != 4 {
		t.Fatalf("nestMap: %+v", m)
	}
	out, err := confined(t, Spec{Mode: ModeUID, UID: 300005, GID: 300005, Nest: &Nest{Base: 300000, Count: 10}},
		`cat /proc/self/uid_map; grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs):' /proc/self/status; ls -d /.plugd-child; ls /root 2>&1 | head -1`)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Log(out)
	var mask uint64
	for _, c := range NestCaps {
		mask |= 1 << c
	}
	caps := strconv.FormatUint(mask, 16)
	for _, want := range []string{"0     300005          1", "300000     300000          5", "300006     300006          4",
		"Uid:\t0\t0\t0\t0", "NoNewPrivs:\t1", "/.plugd-child"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for _, k := range []string{"CapEff", "CapBnd"} {
		if !strings.Contains(out, k+":\t"+strings.Repeat("0", 16-len(caps))+caps) {
			t.Errorf("%s is not NestCaps (%s):\n%s", k, caps, out)
		}
	}
}

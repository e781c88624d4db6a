# plugd zygote: one Python process per (environment, interpreter) that has already imported
# the dify_plugin SDK and its heavy dependencies (gevent, pydantic, httpx, yaml, ...), and forks
# a plugin process on demand, so that a plugin starts without paying for those imports.
#
# The daemon (internal/runtime/zygote_linux.go) starts it as `python -c <this file>` with a
# SOCK_SEQPACKET control socket on fd 3 and nothing else of its own: stdin is /dev/null, stderr
# goes to the daemon's log. Everything a plugin needs arrives with the request that forks it,
# by file descriptor, so the child never opens a path: its stdin, stdout and stderr, its
# working directory (an O_DIRECTORY fd, entered with fchdir) and its end of a "sync" socket.
# That is what lets a child be confined after fork (its own uid, a mount namespace that shows
# only its own folders) without needing anything outside its view.
#
# A confined zygote (plugin isolation in force, docs/runtime.md "Zygotes and isolation") runs
# in the sandbox of internal/sandbox as root of a user namespace of its own, with CAP_SYS_ADMIN,
# CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT and CAP_SETPCAP in that namespace only; its view is the
# system folders and the interpreter, read-only. It is PID 1 of its PID namespace; since the
# SDK exits when getppid() is 1, that PID 1 forks once and stays a mere reaper, and the zygote
# proper is its child. Each child confines itself before it tells the daemon so (confine):
# a mount namespace of its own whose root holds the zygote's view, its plugin's code
# (read-only), HOME and TMPDIR (read-write: mount trees the daemon cloned with open_tree and
# sends as descriptors), a private /tmp and /dev/shm and a /proc; then the plugin's rlimits,
# an empty capability bounding set, no groups, the plugin's own uid and gid (which leaves no
# capability), no-new-privileges.
#
# Messages are one JSON object per datagram.
#   daemon -> zygote  {"op":"spawn","id":N,"env":["K=V",...],"module":"main","confine":{...}}
#                     with SCM_RIGHTS [stdin, stdout, stderr, sync, cwd] or, for a confined
#                     zygote, [stdin, stdout, stderr, sync, mount trees...]: a descriptor
#                     of a folder of the daemon's view would let it walk out of its own
#                     with "..", a detached mount tree does not
#   zygote -> daemon  {"op":"ready","pid":P}                        once, after the preload
#                     {"op":"spawned","id":N,"pid":P}              the child exists
#                     {"op":"failed","id":N,"error":"..."}         it does not
#                     {"op":"exit","pid":P,"status":S}             raw waitpid status
#
# The child, in order: its own process group; SIGKILL when the zygote dies (PR_SET_PDEATHSIG,
# as the daemon sets for the zygote, so a dead daemon takes every plugin with it); the control
# socket and its siblings' descriptors closed; stdio and working directory from the fds; then
# (confined) it confines itself; it writes "c" on its sync socket and waits for one byte "g" on
# it, which the daemon writes once it has put the child in its memory and pids cgroups or set
# its rlimit; only then the plugin's exact environment replaces the
# zygote's and the entry module runs as `python -m` would run it.
import json
import os
import select
import signal
import socket
import stat
import sys

# Captured before the SDK's gevent monkey-patching replaces them with cooperative versions:
# the zygote is a plain blocking loop and never runs gevent's hub.
_fork, _waitpid, _select = os.fork, os.waitpid, select.select
ctl = socket.socket(fileno=3)
zygote_pid = 0  # set by main, after the reaper's fork


def send(msg):
    ctl.send(json.dumps(msg).encode())


def preload():
    # Importing the SDK runs gevent.monkey.patch_all(); plugin processes would do the same
    # first thing, so the children inherit exactly the state a plugin expects.
    import ctypes  # noqa: F401  (the child needs it for prctl)

    os.close(os.pidfd_open(os.getpid()))  # Python 3.9+ on Linux 5.3+, or no zygote at all

    for name in os.environ.get("PLUGD_ZYGOTE_PRELOAD", "dify_plugin").split(","):
        if name:
            __import__(name)


def set_pdeathsig():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
        os._exit(126)
    if os.getppid() != zygote_pid:  # the zygote died before the prctl
        os._exit(126)


def reap_as_init():
    # PID 1 of a confined zygote's PID namespace: fork the zygote proper and reap what ends,
    # orphans included, until it ends; the namespace ends with this process.
    if os.getpid() != 1:
        return
    pid = _fork()
    if pid == 0:
        return
    ctl.close()
    while True:
        try:
            p, status = _waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if p == pid:
            os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# Linux constants the child needs, from <sys/mount.h>, <linux/prctl.h>, <sched.h>.
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
CLONE_NEWNS, MNT_DETACH, AT_FDCWD, MOVE_MOUNT_F_EMPTY_PATH = 0x20000, 2, -100, 4
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
SYS_MOVE_MOUNT = 429  # the same on every architecture (syscalls from 424 on are shared)
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}


def confine(c, trees):
    # Runs as root of the zygote's user namespace, before any of the plugin's code. Any
    # failure raises: the child exits without its "c", and the daemon starts the plugin the
    # plain sandboxed way instead.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc, what):
        if rc != 0:
            e = ctypes.get_errno()
            raise OSError(e, "%s: %s" % (what, os.strerror(e)))

    def mount(src, target, fstype, flags, data, what):
        enc = lambda v: v.encode() if isinstance(v, str) else v
        check(libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), what)

    root = c["root"]
    at = lambda p: os.path.join(root, p.lstrip("/"))
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE, None, "making mounts private")
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m", "the root tmpfs")
    # A private /tmp first: what is bound under /tmp (test set-ups keep everything there)
    # gets its skeleton in it.
    os.makedirs(at("/tmp"), 0o1777, exist_ok=True)
    mount("tmpfs", at("/tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=%d" % c["tmp_size"], "/tmp")
    bound = []
    for p in c["view"]:  # what the zygote sees of the host, bound from its view
        if any(p == q or p.startswith(q.rstrip("/") + "/") for q in bound):
            continue
        try:
            st = os.lstat(p)
        except OSError:
            continue
        t = at(p)
        os.makedirs(os.path.dirname(t), exist_ok=True)
        bound.append(p)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(p), t)  # /bin -> usr/bin
            continue
        if stat.S_ISDIR(st.st_mode):
            os.makedirs(t, exist_ok=True)
        else:
            open(t, "a").close()
        mount(p, t, None, MS_BIND | MS_REC, None, "binding " + p)
    for m, fd in zip(c["mounts"], trees):  # the plugin's own folders, cloned by the daemon
        t = at(m)
        os.makedirs(t, exist_ok=True)
        check(libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, t.encode(), MOVE_MOUNT_F_EMPTY_PATH), "mounting " + m)
        os.close(fd)
    for d, mode in (("/dev", 0o755), ("/proc", 0o555)):
        os.makedirs(at(d), mode, exist_ok=True)
    mount("/dev", at("/dev"), None, MS_BIND | MS_REC, None, "binding /dev")
    mount("tmpfs", at("/dev/shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m", "/dev/shm")
    mount("proc", at("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None, "/proc")
    os.chdir(root)
    check(libc.syscall(SYS_PIVOT_ROOT[os.uname().machine], b".", b"."), "pivot_root")
    check(libc.umount2(b".", MNT_DETACH), "detaching the zygote's root")
    os.chdir("/")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None, "read-only root")

    import resource

    lim = c["limits"]
    for res, key in ((resource.RLIMIT_NPROC, "nproc"), (resource.RLIMIT_NOFILE, "nofile"),
                     (resource.RLIMIT_DATA, "data"), (resource.RLIMIT_CPU, "cpu")):
        if lim.get(key):
            resource.setrlimit(res, (lim[key], lim[key]))
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            check(-1, "emptying the capability bounding set")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    os.setgroups([])
    os.setresgid(c["gid"], c["gid"], c["gid"])
    os.setresuid(c["uid"], c["uid"], c["uid"])  # from root of the namespace: no capability left
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    set_pdeathsig()  # a change of credentials cleared it
    with open("/proc/self/status") as f:
        caps = [l.split()[1] for l in f if l.startswith(("CapPrm", "CapEff", "CapBnd", "CapAmb"))]
    if any(int(v, 16) for v in caps):
        raise OSError("capabilities left after the drop: %s" % caps)
    os.chdir(c["dir"])


def child(msg, fds, others):
    code = 1
    try:
        os.setpgid(0, 0)
        set_pdeathsig()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctl.close()
        for fd in others:
            os.close(fd)
        stdin, stdout, stderr, sync = fds[:4]
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        for fd in (stdin, stdout, stderr):
            if fd > 2:
                os.close(fd)
        if "confine" in msg:
            confine(msg["confine"], fds[4:])
        else:
            os.fchdir(fds[4])
            os.close(fds[4])
        os.write(sync, b"c")
        if os.read(sync, 1) != b"g":  # the daemon gave up on this child
            os._exit(125)
        os.close(sync)

        os.environ.clear()
        for kv in msg["env"]:
            k, _, v = kv.partition("=")
            os.environ[k] = v
        # Module state computed from the zygote's environment during the preload: the
        # temporary folder is cached by tempfile on first use.
        import tempfile

        tempfile.tempdir = None
        try:
            import gevent

            gevent.reinit()
        except ImportError:
            pass
        import runpy

        sys.path[0] = os.getcwd()  # what `python -m` puts first
        sys.argv = [msg["module"]]
        runpy.run_module(msg["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        # Interpreter finalisation belongs to the zygote's image, not the plugin's: the child
        # flushes what it wrote and leaves.
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass
        os._exit(code & 0xFF)


def spawn(msg, fds, children):
    want = 4 + (len(msg["confine"]["mounts"]) if "confine" in msg else 1)
    if len(fds) != want:
        for fd in fds:
            os.close(fd)
        send({"op": "failed", "id": msg.get("id"), "error": "expected %d descriptors, got %d" % (want, len(fds))})
        return
    try:
        pid = _fork()
    except OSError as e:  # out of memory or pids: this start fails, the zygote and its children go on
        for fd in fds:
            os.close(fd)
        send({"op": "failed", "id": msg.get("id"), "error": "fork: %s" % e})
        return
    if pid == 0:
        child(msg, fds, list(children))
    try:
        os.setpgid(pid, pid)  # also from this side: the daemon may signal the group at once
    except OSError:
        pass
    for fd in fds:
        os.close(fd)
    # Until the pidfd exists the child cannot be reaped by anyone else: it is ours.
    children[os.pidfd_open(pid)] = pid
    send({"op": "spawned", "id": msg.get("id"), "pid": pid})


def main():
    global zygote_pid
    reap_as_init()
    zygote_pid = os.getpid()
    try:
        preload()
    except BaseException as e:
        import traceback

        traceback.print_exc()
        send({"op": "failed", "id": 0, "error": "preload: %s: %s" % (type(e).__name__, e)})
        os._exit(1)
    send({"op": "ready", "pid": zygote_pid})
    children = {}  # pidfd -> pid
    while True:
        ready, _, _ = _select([ctl] + list(children), [], [])
        for r in ready:
            if r is ctl:
                try:
                    data, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 16)
                except InterruptedError:
                    continue
                if not data:
                    os._exit(0)  # the daemon closed its end: nothing more to do
                msg = json.loads(data)
                if msg.get("op") == "spawn":
                    spawn(msg, fds, children)
                else:
                    for fd in fds:
                        os.close(fd)
                continue
            pid = children.pop(r)
            os.close(r)
            _, status = _waitpid(pid, 0)
            send({"op": "exit", "pid": pid, "status": status})


main()

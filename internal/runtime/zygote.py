# plugd zygote: one Python process per (environment, interpreter) that has already imported
# the dify_plugin SDK and its heavy dependencies (gevent, pydantic, httpx, yaml, ...), and forks
# a plugin process on demand, so that a plugin starts without paying for those imports.
#
# The daemon (internal/runtime/zygote_linux.go) starts it as `python -c <this file>` with a
# SOCK_SEQPACKET control socket on fd 3 and nothing else of its own: stdin is /dev/null, stderr
# goes to the daemon's log. Everything a plugin needs arrives with the request that forks it,
# by file descriptor, so the child never opens a path: its stdin, stdout and stderr, its
# working directory (an O_DIRECTORY fd, entered with fchdir) and the read end of a "go" pipe.
# That is what lets a child be confined after fork (its own uid, a mount namespace that shows
# only its own folders) without needing anything outside its view.
#
# Messages are one JSON object per datagram.
#   daemon -> zygote  {"op":"spawn","id":N,"env":["K=V",...],"module":"main"}
#                     with SCM_RIGHTS [stdin, stdout, stderr, cwd, go]
#   zygote -> daemon  {"op":"ready","pid":P}                        once, after the preload
#                     {"op":"spawned","id":N,"pid":P}              the child exists
#                     {"op":"failed","id":N,"error":"..."}         it does not
#                     {"op":"exit","pid":P,"status":S}             raw waitpid status
#
# The child, in order: its own process group; SIGKILL when the zygote dies (PR_SET_PDEATHSIG,
# as the daemon sets for the zygote, so a dead daemon takes every plugin with it); the control
# socket and its siblings' descriptors closed; stdio and working directory from the fds; then
# it waits for one byte on the go pipe, which the daemon writes once it has put the child in
# its memory cgroup or set its rlimit; only then the plugin's exact environment replaces the
# zygote's and the entry module runs as `python -m` would run it.
import json
import os
import select
import signal
import socket
import sys

# Captured before the SDK's gevent monkey-patching replaces them with cooperative versions:
# the zygote is a plain blocking loop and never runs gevent's hub.
_fork, _waitpid, _select = os.fork, os.waitpid, select.select
ctl = socket.socket(fileno=3)
zygote_pid = os.getpid()


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


def child(msg, fds, others):
    code = 1
    try:
        os.setpgid(0, 0)
        set_pdeathsig()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        ctl.close()
        for fd in others:
            os.close(fd)
        stdin, stdout, stderr, cwd, go = fds
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(fd, target)
        for fd in (stdin, stdout, stderr):
            if fd > 2:
                os.close(fd)
        os.fchdir(cwd)
        os.close(cwd)
        if os.read(go, 1) != b"g":  # the daemon gave up on this child
            os._exit(125)
        os.close(go)

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
    if len(fds) != 5:
        for fd in fds:
            os.close(fd)
        send({"op": "failed", "id": msg.get("id"), "error": "expected 5 descriptors, got %d" % len(fds)})
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
                    data, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 8)
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

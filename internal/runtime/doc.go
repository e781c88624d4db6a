// Package runtime runs plugins. Local runs one plugin written with the dify-plugin Python SDK
// as a supervised local process: `python -m <entrypoint>` in the plugin's folder, speaking the
// wire protocol on its stdin and stdout. Remote serves one over a TCP connection the plugin
// opened itself. Both hand out the same Stream.
//
// # Lifecycle
//
//	from        event                                       to
//	stopped     first request, or Start                     starting
//	starting    first heartbeat                             ready
//	starting    exit, or no heartbeat within StartTimeout   restarting
//	ready       exit, silent or not reading for             restarting
//	            HeartbeatTimeout
//	restarting  back-off over                               starting
//	starting,   either of the two above, for the            failed
//	ready       CrashLoopCount-th time within CrashLoopWindow
//	any         Stop, idle timer                            stopped (failed stays failed)
//	failed      CrashLoopBackoff over (doubling per loop),  stopped
//	            or Reset
//
// In words:
//
//   - Lazy start: nothing runs until the first request (or Start). Requests that arrive while
//     the plugin starts wait for it, within their own deadline; a start that fails is their error.
//   - Ready is the first heartbeat, as in the reference. A process that exits before it fails
//     its waiting requests at once, with its stderr, rather than after the start timeout.
//   - A crash (any exit the daemon did not ask for) fails every request in flight at once with an
//     *ExitError: exit status, reason, the end of stderr. The reference leaves them hanging
//     until its 600 s request timeout. The plugin is started again after a back-off that
//     doubles from RestartBackoff up to RestartBackoffMax; CrashLoopCount crashes within
//     CrashLoopWindow make the runtime failed, and requests then fail at once with
//     ErrCrashLoop and the last crash's error until the crash-loop back-off is over (then the
//     next request starts it again) or Reset.
//   - Stop sends SIGTERM to the plugin's process group and SIGKILL after StopGrace; the idle
//     timer (IdleStop) does the same once no request has been in flight for that long.
//
// A busy plugin can run as several processes: Pool routes each request to the least-loaded of
// up to MaxInstances Locals, starts another when all are busy and stops idle extras. One SDK
// process uses at most one core (see Pool).
//
// Remote serves a plugin that runs elsewhere and dialled the daemon (remote debugging): once
// its registration has been read, the TCP connection carries the stdio protocol, so requests,
// results and backwards invocations are those of a Local. It has no process to supervise: it
// is ready until the connection ends (EOF, an error, HeartbeatTimeout of silence, Close), and
// then every request in flight fails at once with ErrDisconnected, as does every later one.
//
// Each instance is one process with one wire.Conn; a goroutine per process (instance.watch)
// owns its timers and signals, and Local's mutex owns the state above. Nothing is global.
//
// # Requests
//
// Invoke opens a session for one request and returns a Stream of its results. The plugin's
// backwards invocations (its calls into Dify) are answered inside the Stream by the configured
// Backwards handler, each in its own goroutine so that results keep flowing meanwhile; the
// caller only sees result items. The caller's context is the request's deadline and its
// cancellation abandons the request.
//
// Backpressure: results wait in the session's queue (wire.Options.SessionBuffer, 64 MiB by
// default) until the caller reads them; a caller that falls further behind fails alone with
// wire.ErrSessionOverrun, and other requests of the plugin are not slowed. LocalConfig.Bounds
// adds a budget per process and one shared across the daemon; past them the plugin is held
// back (its stdout is not read) rather than anything being dropped. At most 16 backwards
// invocations of one request run at once; beyond that the reading of its results waits.
//
// # Isolation
//
// The plugin gets an allow-listed environment and never the daemon's (see pluginEnv), its own
// HOME and TMPDIR, its own process group, and a memory limit from resource.memory: a cgroup v2
// when one is delegated to the daemon, else RLIMIT_DATA. docs/runtime.md says what happens at
// the limit and why those choices. With LocalConfig.Isolation each process also runs in a
// sandbox (internal/sandbox): its own uid or user namespace, a private root showing only the
// system, its interpreter, its code read-only and its own folders, its own PID namespace, no
// capability, and limits on processes and open files.
//
// # Logs
//
// The plugin's stderr, its log events and anything else it prints on stdout go, one line
// each, to <DataDir>/logs/plugin.log (rotated once, to plugin.log.1, at LogMaxBytes) and to the
// Logger, with long lines cut.
package runtime

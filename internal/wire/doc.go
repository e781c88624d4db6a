// Package wire speaks the line protocol between the daemon and a plugin written with the
// dify-plugin Python SDK: over a local plugin's stdin/stdout and over a remote-debugging TCP
// connection alike (both carry the same JSON lines once a remote plugin has registered).
//
// The package has three layers, each usable alone:
//
//   - Message types (envelope.go, request.go, blob.go): the daemon-to-plugin envelope, every
//     request type and action the SDK routes, backwards-invocation answers, the plugin's events
//     and session messages. Free-form parts stay json.RawMessage so the daemon forwards the
//     bytes it was given; numbers and key order are never re-encoded.
//   - Framing (lines.go): LineReader reads plugin lines up to an optional bound, with memory
//     proportional to the line, skipping blank lines; ParseEvent classifies one line and never fails on junk.
//   - Multiplexing (conn.go): Conn runs many concurrent sessions over one stream, routes each
//     plugin line to its session, hands everything else to the runtime, and fails every open
//     session at once when the stream ends, so no caller waits for a dead plugin.
//
// BlobAssembler (blob.go) turns a tool's blob_chunk messages back into whole files for callers
// that want them; callers that forward chunks (the HTTP API) simply do not use it.
//
// # Backpressure
//
// The protocol has no flow control, so the choice is where a slow consumer's cost lands.
// Conn never blocks its reader on a session consumer: each session queues what it has not yet
// taken up to Options.SessionBuffer bytes, and a session whose consumer falls further behind
// fails alone with ErrSessionOverrun (after its consumer has drained what was queued, so the
// error marks exactly where data stopped). Blocking the reader instead would let one slow HTTP
// client stall every other session of the same plugin and delay its heartbeats until the
// runtime declares a healthy plugin dead; and the plugin, unable to write its stdout, would
// stall too. A single item larger than the bound is still accepted when the session's queue
// is empty (the line is in memory already), so a consumer that keeps up never fails.
//
// Per-session queues alone do not bound a Conn: many sessions each just under the bound add
// up. Options.Bounds adds budgets for the whole Conn (ConnBuffer) and across Conns (Shared):
// when one is spent the reader does wait, since dropping or failing would lose data the caller
// asked for; Conn.Backpressured tells the runtime that the silence is the daemon's doing, so no
// heartbeat timeout fires meanwhile. MaxLine bounds one line (LineReader).
//
// Options.OnEvent, by contrast, is called on the reader goroutine and does block it: logs and
// heartbeats are never dropped, and the runtime that receives them must handle them quickly.
//
// Writes to the plugin are whole lines serialized by one lock. A context is honoured while a
// writer waits for its turn, never in the middle of a line, because a half-written line would
// corrupt the stream for every session; a plugin that stops reading its stdin is the runtime's
// to kill, which fails the blocked write and breaks the Conn.
package wire

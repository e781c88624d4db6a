// Package debugging is the remote-debugging TCP server: a plugin author runs a plugin on their
// own machine with INSTALL_METHOD=remote, the dify-plugin SDK dials this server, registers
// (handshake with a debug key, the manifest, its provider declarations, its _assets/ files,
// then end), and from then on the connection carries the ordinary plugin protocol. This
// package handles a connection up to the end of its registration and hands it over
// (AttachFunc); serving requests over it is the runtime's job.
//
// # Why it differs from the reference daemon
//
// The reference answers every mistake with "handshake failed, invalid key" or "invalid
// handshake message" and nothing more, which the SDK prints as a JSON parse error; authors lose
// hours to it (daemon#376). Here every refusal is one plain-text line that says what was wrong,
// at which message, and what to do (the SDK only prints what it gets, and must get text, not
// JSON), and the connection is closed right after it.
//
// The server also has to survive what arrives on an open port before anyone is authenticated:
//
//   - The handshake must be the first message and its line may not exceed handshakeMaxLine, so
//     an unauthenticated connection costs one 64 KiB read buffer. Only after a valid key does
//     a line get to MaxLine (declarations of plugins with many models are megabytes long).
//   - At most MaxPending connections are registering at once. Further ones wait in the
//     kernel's accept queue rather than being refused: the SDK would only retry in 5 s, and a
//     legitimate plugin queued behind a burst gets in as soon as a slot frees.
//   - Lines are read with wire.LineReader's bound, so a 100 MiB line is refused after MaxLine
//     bytes, never buffered whole; assets count against MaxAssets, file names included, so
//     a stream of empty chunks with fresh names cannot grow the map without bound either.
//   - Heartbeat (or any event) lines are ignored while registering: after a reconnect the
//     SDK's heartbeat thread keeps writing and can interleave with the re-registration.
//
// Keys are secrets: they are never logged or echoed in full, only as 1234…cdef.
package debugging

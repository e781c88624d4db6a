package wire

import "errors"

var (
	// ErrPluginExited fails every session still open when the plugin's stream ends: the process
	// exited, the TCP peer went away, a read or write failed, or the Conn was closed. The
	// underlying cause is wrapped alongside it (the read or write error, ErrClosed,
	// ErrLineTooLong); a plain end of output is not io.EOF, which only ever means that a
	// session ended normally.
	ErrPluginExited = errors.New("wire: plugin stream ended")

	// ErrClosed is the cause given to sessions when the daemon closed the Conn itself.
	ErrClosed = errors.New("wire: connection closed by the daemon")

	// ErrSessionOverrun ends a session whose consumer fell further behind than
	// Options.SessionBuffer allows. Other sessions of the plugin are not affected.
	ErrSessionOverrun = errors.New("wire: session consumer too slow, buffer overrun")

	// ErrSessionClosed is returned by Next after the caller closed the session.
	ErrSessionClosed = errors.New("wire: session closed")

	// ErrDuplicateSession means Open was given the id of a session still in flight.
	ErrDuplicateSession = errors.New("wire: session id already in use")

	// ErrLineTooLong is returned when a plugin line exceeds a configured maximum. There is no
	// maximum unless one is set.
	ErrLineTooLong = errors.New("wire: plugin line too long")

	// ErrMalformed marks a message that does not have the shape the protocol requires.
	ErrMalformed = errors.New("wire: malformed message")

	// ErrBlobTooLarge means a reassembled blob would exceed the assembler's bound.
	ErrBlobTooLarge = errors.New("wire: blob too large")
)

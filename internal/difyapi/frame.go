package difyapi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame layout of Dify's streaming answers, all integers little-endian:
//
//	byte 0       magic 0x0f
//	byte 1       reserved (0)
//	bytes 2-3    header length, uint16, always 10
//	bytes 4-7    payload length, uint32       } the 10-byte header
//	bytes 8-13   reserved (0)                 }
//	then the payload: one JSON {"data", "error"} object
const (
	FrameMagic     = 0x0f
	frameHeaderLen = 10
	framePrefixLen = 4 + frameHeaderLen
)

// ReadFrame reads one frame from r and returns its payload. At a clean end of the stream
// (no byte of a new frame) it returns io.EOF. A frame cut short is an error wrapping both
// ErrBadFrame and io.ErrUnexpectedEOF; a payload longer than max (DefaultMaxFrame when
// max <= 0) is refused with ErrFrameTooLarge before anything is allocated for it.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var prefix [framePrefixLen]byte
	n, err := io.ReadFull(r, prefix[:4])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%w: %w: stream ends %d bytes into a frame's 4-byte prefix", ErrBadFrame, io.ErrUnexpectedEOF, n)
	case err != nil:
		return nil, err
	}
	if prefix[0] != FrameMagic {
		return nil, fmt.Errorf("%w: byte 0x%02x where the 0x0f magic should start a frame (first bytes %q; a Dify too old to send length-prefixed streams answers with text)",
			ErrBadFrame, prefix[0], peek(prefix[:4], r))
	}
	if hl := binary.LittleEndian.Uint16(prefix[2:4]); hl != frameHeaderLen {
		return nil, fmt.Errorf("%w: header length %d, want %d", ErrBadFrame, hl, frameHeaderLen)
	}
	if n, err := io.ReadFull(r, prefix[4:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w: stream ends %d bytes into a frame's %d-byte header", ErrBadFrame, io.ErrUnexpectedEOF, n, frameHeaderLen)
		}
		return nil, err
	}
	size := binary.LittleEndian.Uint32(prefix[4:8])
	if uint64(size) > uint64(max) {
		return nil, fmt.Errorf("%w: frame claims %d bytes, the limit is %d (RESPONSE_MAX_BUFFER_SIZE)", ErrFrameTooLarge, size, max)
	}
	var payload []byte
	if size <= 64<<10 {
		payload = make([]byte, size)
		n, err = io.ReadFull(r, payload)
	} else {
		// A large claim is believed only as far as bytes arrive: memory grows with the data,
		// not with what the header says.
		payload, err = io.ReadAll(io.LimitReader(r, int64(size)))
		n = len(payload)
		if err == nil && n < int(size) {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %w: stream ends %d bytes into a %d-byte payload", ErrBadFrame, io.ErrUnexpectedEOF, n, size)
		}
		return nil, err
	}
	return payload, nil
}

// peek returns the bytes already read plus what r has buffered, up to 16, for an error
// message about what came instead of a frame.
func peek(got []byte, r *bufio.Reader) []byte {
	more, _ := r.Peek(min(r.Buffered(), 12))
	return append(append([]byte{}, got...), more...)
}

// AppendFrame appends payload to dst framed as Dify frames stream answers. plugd reads
// frames and never sends them; this is for fakes of Dify in tests.
func AppendFrame(dst, payload []byte) []byte {
	var prefix [framePrefixLen]byte
	prefix[0] = FrameMagic
	binary.LittleEndian.PutUint16(prefix[2:4], frameHeaderLen)
	binary.LittleEndian.PutUint32(prefix[4:8], uint32(len(payload)))
	return append(append(dst, prefix[:]...), payload...)
}

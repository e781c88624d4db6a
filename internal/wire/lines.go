package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// readBufSize is the bufio buffer of a LineReader: most protocol lines fit in one piece.
const readBufSize = 64 << 10

// LineReader reads the plugin's newline-delimited lines. Unlike bufio.Scanner it has no
// length cap (the SDK sends LLM chunks, model schemas and JSON results as one line of any
// size, and the reference daemon kills plugins over 5 MiB), and it holds a long line as the
// buffer-sized pieces it arrived in until the end is seen, then copies them once into a slice
// of the exact size: at most twice the line in memory, never the repeated regrowth of append.
type LineReader struct {
	br  *bufio.Reader
	max int
	err error // sticky: once the stream failed, it stays failed
}

// NewLineReader reads lines from r. max bounds one line in bytes; 0 means no bound. If r is
// already a *bufio.Reader of at least 64 KiB it is used directly, so a runtime that read a
// remote plugin's registration lines can hand the same reader over without losing buffered
// bytes.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{br: bufio.NewReaderSize(r, readBufSize), max: max}
}

// Next returns the next line that is not blank, without its line ending. The caller owns the
// slice. A last line without a newline is returned before io.EOF. After an error other than
// nil, the reader is done.
func (r *LineReader) Next() ([]byte, error) {
	for r.err == nil {
		var line []byte
		line, r.err = r.readLine()
		if len(bytes.TrimSpace(line)) > 0 {
			return line, nil // an error is reported by the next call
		}
	}
	return nil, r.err
}

func (r *LineReader) readLine() ([]byte, error) {
	var pieces [][]byte
	total := 0
	for {
		frag, err := r.br.ReadSlice('\n')
		total += len(frag)
		if n := total; r.max > 0 && n > r.max {
			if err == nil {
				n-- // the '\n' does not count
			}
			if n > r.max {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, r.max)
			}
		}
		if len(pieces) == 0 && len(bytes.TrimSpace(frag)) == 0 {
			return nil, err // a blank line: skipped without allocating
		}
		if err == bufio.ErrBufferFull {
			pieces = append(pieces, bytes.Clone(frag))
			continue
		}
		line := make([]byte, 0, total)
		for _, p := range pieces {
			line = append(line, p...)
		}
		line = append(line, frag...)
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		return line, err
	}
}

// AppendLine appends v as one daemon-to-plugin line: compact JSON and a single '\n'. JSON
// encoding escapes every control character inside strings, so the result is exactly one
// line and never blank, which matters because SDKs before 0.2.2 fail on blank lines.
func AppendLine(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("wire: encoding line: %w", err)
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

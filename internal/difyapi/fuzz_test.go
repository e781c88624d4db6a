package difyapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds ReadFrame what a broken or hostile Dify could send. It must never
// panic nor return more than the limit; it must end with io.EOF exactly when the input ends
// on a frame boundary, fail only with the package's frame errors, and every payload it
// returns must frame back to the bytes it was read from.
func FuzzReadFrame(f *testing.F) {
	const max = 4096
	ok := AppendFrame(nil, []byte(`{"data":{"n":1},"error":""}`))
	huge := append([]byte{}, ok[:framePrefixLen]...)
	binary.LittleEndian.PutUint32(huge[4:8], 0xffffffff)
	for _, s := range [][]byte{
		nil,
		ok,
		append(append([]byte{}, ok...), AppendFrame(nil, []byte(`{"data":null,"error":"boom"}`))...),
		AppendFrame(nil, nil),
		ok[:3], ok[:10], ok[:len(ok)-1],
		huge,
		[]byte("data: {\"data\":{}}\n\n"),
		{FrameMagic, 0, 0xff, 0xff},
		{FrameMagic, 0, 0, 0},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		var rebuilt []byte
		for {
			p, err := ReadFrame(r, max)
			if err == io.EOF {
				if !bytes.Equal(rebuilt, in) {
					t.Fatalf("EOF after %d of %d bytes", len(rebuilt), len(in))
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("error %v is neither ErrBadFrame nor ErrFrameTooLarge", err)
				}
				return
			}
			if len(p) > max {
				t.Fatalf("payload of %d bytes, limit %d", len(p), max)
			}
			// Reserved bytes are not checked, so compare what defines the frame.
			start := len(rebuilt)
			rebuilt = AppendFrame(rebuilt, p)
			got, want := rebuilt[start:], in[start:start+len(rebuilt)-start]
			if got[0] != want[0] || !bytes.Equal(got[2:8], want[2:8]) || !bytes.Equal(got[framePrefixLen:], want[framePrefixLen:]) {
				t.Fatalf("frame % x read back as % x", want, got)
			}
			copy(rebuilt[start:], want) // keep the input's reserved bytes for the EOF check
		}
	})
}

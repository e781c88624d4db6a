package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 3*readBufSize+17) // spans several buffer fills
	tests := []struct {
		name  string
		input string
		max   int
		want  []string
		err   error // after the lines
	}{
		{name: "empty", input: "", err: io.EOF},
		{name: "sdk framing", input: "a\n\nb\n\n", want: []string{"a", "b"}, err: io.EOF},
		{name: "blank and whitespace lines skipped", input: "\n\n \n\t\r\na\n  \n", want: []string{"a"}, err: io.EOF},
		{name: "crlf", input: "a\r\nb\r\n", want: []string{"a", "b"}, err: io.EOF},
		{name: "last line without newline", input: "a\nb", want: []string{"a", "b"}, err: io.EOF},
		{name: "inner spaces kept", input: " a b \n", want: []string{" a b "}, err: io.EOF},
		{name: "long line", input: "s\n" + long + "\n\nt\n", want: []string{"s", long, "t"}, err: io.EOF},
		{name: "long last line", input: long, want: []string{long}, err: io.EOF},
		{name: "at the bound", input: "abcd\nab\n", max: 4, want: []string{"abcd", "ab"}, err: io.EOF},
		{name: "over the bound", input: "ab\nabcde\nab\n", max: 4, want: []string{"ab"}, err: ErrLineTooLong},
		{name: "long line over the bound", input: long + "\n", max: 2 * readBufSize, err: ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "one byte at a time"} {
				var r io.Reader = strings.NewReader(tt.input)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				lr := NewLineReader(r, tt.max)
				var got []string
				var err error
				for {
					var line []byte
					if line, err = lr.Next(); err != nil {
						break
					}
					got = append(got, string(line))
				}
				if !reflect.DeepEqual(got, tt.want) || !errors.Is(err, tt.err) {
					t.Errorf("%s: got %d lines %.40q, err %v; want %d lines, err %v", mode, len(got), got, err, len(tt.want), tt.err)
				}
				if _, again := lr.Next(); !errors.Is(again, tt.err) {
					t.Errorf("%s: error not sticky: %v", mode, again)
				}
			}
		})
	}
}

// TestLineReaderOwnsLines: a returned line must not change when reading goes on.
func TestLineReaderOwnsLines(t *testing.T) {
	lr := NewLineReader(strings.NewReader("first\nsecond\n"), 0)
	a, _ := lr.Next()
	b, _ := lr.Next()
	if string(a) != "first" || string(b) != "second" {
		t.Errorf("got %q %q", a, b)
	}
}

// TestLineReaderErrorAfterPartialLine: a read error ends the stream after the partial line.
func TestLineReaderErrorAfterPartialLine(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(io.MultiReader(strings.NewReader("ok\npart"), iotest.ErrReader(boom)), 0)
	var got []string
	var err error
	for {
		var l []byte
		if l, err = lr.Next(); err != nil {
			break
		}
		got = append(got, string(l))
	}
	if !reflect.DeepEqual(got, []string{"ok", "part"}) || !errors.Is(err, boom) {
		t.Errorf("got %q, %v", got, err)
	}
}

// TestLineReader50MiB reads a 50 MiB line and checks that reading it allocated about twice
// its size (the pieces plus the final copy), not the many regrowths of an appended buffer.
func TestLineReader50MiB(t *testing.T) {
	size := 50 << 20
	if raceEnabled {
		size = 6 << 20
	}
	input := make([]byte, size+2)
	for i := range size {
		input[i] = 'a' + byte(i%26)
	}
	input[size], input[size+1] = '\n', '\n'
	lr := NewLineReader(bytes.NewReader(input), 0)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	line, err := lr.Next()
	runtime.ReadMemStats(&after)
	if err != nil || len(line) != size || !bytes.Equal(line, input[:size]) {
		t.Fatalf("len %d, err %v", len(line), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(2*size+size/8) {
		t.Errorf("allocated %d MiB for a %d MiB line", alloc>>20, size>>20)
	}
	if _, err := lr.Next(); err != io.EOF {
		t.Errorf("then %v", err)
	}
}

// TestAppendLine: one compact line per message, even with line breaks inside values.
func TestAppendLine(t *testing.T) {
	b, err := AppendLine(nil, Envelope{SessionID: "a\nb", Event: EventRequest, Data: []byte("{\n \"k\" :\r\n \"v\\n\"\n}")})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"session_id":"a\nb","conversation_id":null,"message_id":null,"app_id":null,"endpoint_id":null,"context":null,"event":"request","data":{"k":"v\n"}}` + "\n"
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if _, err := AppendLine(nil, Envelope{Data: []byte("{bad")}); err == nil {
		t.Error("invalid raw data was written")
	}
}

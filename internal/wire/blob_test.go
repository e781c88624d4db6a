package wire

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sdkChunks cuts data the way the SDK does: 8192-byte pieces, then an empty terminator.
func sdkChunks(id string, data []byte, meta string) []ToolMessage {
	var out []ToolMessage
	chunk := func(seq int, piece []byte, end bool) {
		msg := fmt.Sprintf(`{"id":%q,"sequence":%d,"total_length":%d,"blob":%q,"end":%t}`,
			id, seq, len(data), base64.StdEncoding.EncodeToString(piece), end)
		out = append(out, ToolMessage{Type: ToolBlobChunk, Message: []byte(msg), Meta: []byte(meta)})
	}
	seq := 0
	for off := 0; off < len(data); off += 8192 {
		chunk(seq, data[off:min(off+8192, len(data))], false)
		seq++
	}
	chunk(seq, nil, true)
	return out
}

// TestBlobFromTranscript reassembles the captured blob of tool_all.txt.
func TestBlobFromTranscript(t *testing.T) {
	a := NewBlobAssembler(1 << 20)
	var blobs []*Blob
	passed := 0
	for _, l := range readTranscript(t, "tool_all.txt") {
		ev, err := ParseEvent([]byte(l.text))
		if err != nil || ev.Message.Type != MessageStream {
			continue
		}
		tm, err := ev.Message.ToolMessage()
		if err != nil {
			t.Fatal(err)
		}
		b, consumed, err := a.Add(tm)
		if err != nil {
			t.Fatal(err)
		}
		if !consumed {
			passed++
		}
		if b != nil {
			blobs = append(blobs, b)
		}
	}
	if err := a.Finish(); err != nil {
		t.Error(err)
	}
	if passed != 7 || len(blobs) != 1 {
		t.Fatalf("passed %d, blobs %d", passed, len(blobs))
	}
	b := blobs[0]
	if b.ID != "ad0d18b39ef8412991d44a2ed1197f1b" || string(b.Data) != "\x00\x01hello" || string(b.Meta) != `{"mime_type":"application/octet-stream","filename":"a.bin"}` {
		t.Errorf("blob = %+v", b)
	}
	tm := b.ToolMessage()
	if tm.Type != ToolBlob || string(tm.Message) != `{"blob":"AAFoZWxsbw=="}` {
		t.Errorf("as message: %s %s", tm.Type, tm.Message)
	}
}

func TestBlobAssembler(t *testing.T) {
	twenty := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16)
	twenty = append(twenty, 1, 2, 3) // not a multiple of the chunk size
	tests := []struct {
		name    string
		max     int
		msgs    func() []ToolMessage
		want    map[string][]byte // blobs completed, by id
		wantErr error
	}{
		{name: "20 MiB", max: 32 << 20, msgs: func() []ToolMessage { return sdkChunks("a", twenty, `{}`) }, want: map[string][]byte{"a": twenty}},
		{name: "empty blob", max: 10, msgs: func() []ToolMessage { return sdkChunks("e", nil, `null`) }, want: map[string][]byte{"e": {}}},
		{name: "two interleaved", max: 1 << 20, msgs: func() []ToolMessage {
			x, y := sdkChunks("x", bytes.Repeat([]byte("x"), 20000), `{}`), sdkChunks("y", bytes.Repeat([]byte("y"), 9000), `{}`)
			return []ToolMessage{x[0], y[0], x[1], y[1], x[2], y[2], x[3]}
		}, want: map[string][]byte{"x": bytes.Repeat([]byte("x"), 20000), "y": bytes.Repeat([]byte("y"), 9000)}},
		{name: "other messages pass", max: 10, msgs: func() []ToolMessage {
			return []ToolMessage{{Type: ToolText, Message: []byte(`{"text":"hi"}`)}}
		}, want: map[string][]byte{}},
		{name: "over the bound", max: 20000, msgs: func() []ToolMessage { return sdkChunks("a", make([]byte, 30000), `{}`) }, wantErr: ErrBlobTooLarge},
		{name: "lying total_length over the bound", max: 20000, msgs: func() []ToolMessage {
			return []ToolMessage{{Type: ToolBlobChunk, Message: []byte(`{"id":"a","sequence":0,"total_length":999999,"blob":"","end":false}`)}}
		}, wantErr: ErrBlobTooLarge},
		{name: "bound is shared by pending blobs", max: 20000, msgs: func() []ToolMessage {
			x, y := sdkChunks("x", make([]byte, 16384), `{}`), sdkChunks("y", make([]byte, 16384), `{}`)
			return []ToolMessage{x[0], y[0], x[1], y[1]}
		}, wantErr: ErrBlobTooLarge},
		{name: "lost chunk", max: 1 << 20, msgs: func() []ToolMessage {
			c := sdkChunks("a", make([]byte, 20000), `{}`)
			return []ToolMessage{c[0], c[2], c[3]}
		}, wantErr: ErrMalformed},
		{name: "repeated chunk", max: 1 << 20, msgs: func() []ToolMessage {
			c := sdkChunks("a", make([]byte, 20000), `{}`)
			return []ToolMessage{c[0], c[0]}
		}, wantErr: ErrMalformed},
		{name: "length mismatch", max: 1 << 20, msgs: func() []ToolMessage {
			return []ToolMessage{{Type: ToolBlobChunk, Message: []byte(`{"id":"a","sequence":0,"total_length":3,"blob":"AA==","end":true}`)}}
		}, wantErr: ErrMalformed},
		{name: "bad base64", max: 1 << 20, msgs: func() []ToolMessage {
			return []ToolMessage{{Type: ToolBlobChunk, Message: []byte(`{"id":"a","sequence":0,"total_length":3,"blob":"!!","end":true}`)}}
		}, wantErr: ErrMalformed},
		{name: "no id", max: 1 << 20, msgs: func() []ToolMessage {
			return []ToolMessage{{Type: ToolBlobChunk, Message: []byte(`{"sequence":0,"total_length":0,"blob":"","end":true}`)}}
		}, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewBlobAssembler(tt.max)
			got := map[string][]byte{}
			var err error
			for _, m := range tt.msgs() {
				var b *Blob
				var consumed bool
				b, consumed, err = a.Add(m)
				if err != nil {
					break
				}
				if consumed != (m.Type == ToolBlobChunk) {
					t.Errorf("consumed = %v for %s", consumed, m.Type)
				}
				if b != nil {
					got[b.ID] = b.Data
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if a.held != 0 && len(a.pending) == 0 {
					t.Errorf("held %d bytes with nothing pending", a.held)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d blobs, want %d", len(got), len(tt.want))
			}
			for id, w := range tt.want {
				if !bytes.Equal(got[id], w) {
					t.Errorf("blob %s: %d bytes, want %d", id, len(got[id]), len(w))
				}
			}
			if err := a.Finish(); err != nil || a.held != 0 {
				t.Errorf("Finish = %v, held %d", err, a.held)
			}
		})
	}
}

func TestBlobUnfinished(t *testing.T) {
	a := NewBlobAssembler(1 << 20)
	c := sdkChunks("a", []byte("data"), `{}`)
	if _, _, err := a.Add(c[0]); err != nil {
		t.Fatal(err)
	}
	if err := a.Finish(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "a") {
		t.Errorf("Finish = %v", err)
	}
}

func TestToolMessage(t *testing.T) {
	tm, err := SessionMessage{Type: MessageStream, Data: []byte(`{"type":"json","message":{"json_object":[1]},"meta":null}`)}.ToolMessage()
	if err != nil || tm.Type != ToolJSON || string(tm.Message) != `{"json_object":[1]}` {
		t.Errorf("ToolMessage = %+v, %v", tm, err)
	}
	if _, err := (SessionMessage{Type: MessageStream, Data: []byte(`{"result":true}`)}).ToolMessage(); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-tool item: %v", err)
	}
}

package wire

import (
	"encoding/json"
	"fmt"
)

// ToolMessageType is the "type" of a tool, agent-strategy or datasource message.
type ToolMessageType string

const (
	ToolText               ToolMessageType = "text"
	ToolLink               ToolMessageType = "link"
	ToolImage              ToolMessageType = "image"
	ToolImageLink          ToolMessageType = "image_link"
	ToolJSON               ToolMessageType = "json"
	ToolVariable           ToolMessageType = "variable"
	ToolLog                ToolMessageType = "log"
	ToolBlob               ToolMessageType = "blob"       // agent strategies and datasources; tools send chunks
	ToolBlobChunk          ToolMessageType = "blob_chunk" // see BlobAssembler
	ToolFile               ToolMessageType = "file"
	ToolBinaryLink         ToolMessageType = "binary_link" // daemon side only
	ToolRetrieverResources ToolMessageType = "retriever_resources"
)

// ToolMessage is a stream item of invoke_tool, invoke_agent_strategy and the datasource
// content actions. Message and Meta are kept raw: the daemon forwards them.
type ToolMessage struct {
	Type    ToolMessageType `json:"type"`
	Message json.RawMessage `json:"message"`
	Meta    json.RawMessage `json:"meta"`
}

// ToolMessage decodes a MessageStream item as a tool message.
func (m SessionMessage) ToolMessage() (ToolMessage, error) {
	var t ToolMessage
	if err := json.Unmarshal(m.Data, &t); err != nil || t.Type == "" {
		if err == nil {
			err = fmt.Errorf("no type")
		}
		return t, fmt.Errorf("%w: tool message: %v", ErrMalformed, err)
	}
	return t, nil
}

// BlobChunk is the message of a ToolBlobChunk. The SDK cuts a blob into 8192-byte pieces
// numbered from 0 and sends one more chunk with an empty Blob and End set; every chunk
// repeats the blob's meta.
type BlobChunk struct {
	ID          string `json:"id"`
	Sequence    int    `json:"sequence"`
	TotalLength int    `json:"total_length"`
	Blob        []byte `json:"blob"` // base64 on the wire
	End         bool   `json:"end"`
}

// Blob is a reassembled file.
type Blob struct {
	ID   string
	Data []byte
	Meta json.RawMessage // e.g. {"mime_type":...,"filename":...}
}

// ToolMessage re-emits the blob as one ToolBlob message, the form agent strategies use.
func (b *Blob) ToolMessage() ToolMessage {
	msg, _ := json.Marshal(struct {
		Blob []byte `json:"blob"`
	}{b.Data}) // cannot fail
	return ToolMessage{Type: ToolBlob, Message: msg, Meta: b.Meta}
}

// BlobAssembler reassembles the blob chunks of one session. Chunks of one id must arrive in
// order (the SDK sends them from one generator); a gap, a mismatch with total_length, or more
// than the bound of bytes held at once is an error. Not safe for concurrent use.
type BlobAssembler struct {
	max     int
	held    int
	pending map[string]*partialBlob
}

type partialBlob struct {
	Blob
	next int // the sequence number expected next
}

// NewBlobAssembler bounds the bytes held across all unfinished blobs to maxBytes. The reference
// daemon allows 15 MiB for agent strategies.
func NewBlobAssembler(maxBytes int) *BlobAssembler {
	return &BlobAssembler{max: maxBytes, pending: map[string]*partialBlob{}}
}

// Add takes one tool message. It returns consumed false for anything but a blob chunk, which
// the caller passes on unchanged; for a chunk it returns the whole blob once its last chunk
// arrived, and nil before that.
func (a *BlobAssembler) Add(m ToolMessage) (blob *Blob, consumed bool, err error) {
	if m.Type != ToolBlobChunk {
		return nil, false, nil
	}
	var c BlobChunk
	if err := json.Unmarshal(m.Message, &c); err != nil || c.ID == "" {
		if err == nil {
			err = fmt.Errorf("no id")
		}
		return nil, true, fmt.Errorf("%w: blob chunk: %v", ErrMalformed, err)
	}
	b := a.pending[c.ID]
	if b == nil {
		b = &partialBlob{Blob: Blob{ID: c.ID, Meta: m.Meta}}
		a.pending[c.ID] = b
	}
	if c.Sequence != b.next {
		a.drop(b)
		return nil, true, fmt.Errorf("%w: blob %s: chunk %d where %d was expected", ErrMalformed, c.ID, c.Sequence, b.next)
	}
	b.next++
	if c.TotalLength > a.max || a.held+len(c.Blob) > a.max {
		a.drop(b)
		return nil, true, fmt.Errorf("%w: blob %s: more than %d bytes", ErrBlobTooLarge, c.ID, a.max)
	}
	b.Data = append(b.Data, c.Blob...)
	a.held += len(c.Blob)
	if !c.End {
		return nil, true, nil
	}
	a.drop(b)
	if len(b.Data) != c.TotalLength {
		return nil, true, fmt.Errorf("%w: blob %s: %d bytes where total_length says %d", ErrMalformed, c.ID, len(b.Data), c.TotalLength)
	}
	return &b.Blob, true, nil
}

func (a *BlobAssembler) drop(b *partialBlob) {
	a.held -= len(b.Data)
	delete(a.pending, b.ID)
}

// Finish reports blobs whose last chunk never came; call it when the session ends.
func (a *BlobAssembler) Finish() error {
	for id := range a.pending {
		return fmt.Errorf("%w: blob %s ended without its last chunk", ErrMalformed, id)
	}
	return nil
}

package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// InEvent is the "event" of a daemon-to-plugin line. The SDK rejects any other value.
type InEvent string

const (
	EventRequest           InEvent = "request"
	EventBackwardsResponse InEvent = "backwards_response"
)

// Envelope is one daemon-to-plugin line (the SDK's PluginInStream). Field order is the wire
// order the reference daemon uses, and nil pointers and raw values are written as null, so a
// line built here matches the reference byte for byte up to "data".
type Envelope struct {
	SessionID      string  `json:"session_id"`
	ConversationID *string `json:"conversation_id"`
	MessageID      *string `json:"message_id"`
	AppID          *string `json:"app_id"`
	EndpointID     *string `json:"endpoint_id"`
	// Context is the SessionContext (SDK >= 0.4.2), e.g.
	// {"credentials":{"tool_credentials":{"<provider>":"<credential_id>"}}}. Forwarded as is.
	Context json.RawMessage `json:"context"`
	Event   InEvent         `json:"event"`
	// Data is the request payload (see NewRequest) or a BackwardsResponse. It must be an object.
	Data json.RawMessage `json:"data"`
}

// NewSessionID returns a random UUID (version 4), the form the reference daemon uses.
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// BackwardsEvent is the "event" inside a backwards response.
type BackwardsEvent string

const (
	BackwardsEventResponse BackwardsEvent = "response" // one result item; Data is an object
	BackwardsEventError    BackwardsEvent = "error"    // the plugin raises Exception(Message)
	BackwardsEventEnd      BackwardsEvent = "end"      // always the last answer to an invocation
)

// BackwardsResponse is the data of an EventBackwardsResponse line, the daemon's answer to an
// Invocation. The SDK builds its response object from all four keys, so Message and Data are
// always written, Data as null when nil; a non-nil Data must be a JSON object.
type BackwardsResponse struct {
	RequestID string          `json:"backwards_request_id"`
	Event     BackwardsEvent  `json:"event"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
}

// BackwardsResult is one result item. message is "stream" or "struct" (see
// InvokeType.ResponseMessage); data must be a JSON object.
func BackwardsResult(requestID, message string, data json.RawMessage) BackwardsResponse {
	return BackwardsResponse{RequestID: requestID, Event: BackwardsEventResponse, Message: message, Data: data}
}

// BackwardsError makes the plugin's pending call raise an exception carrying msg. An end must
// still follow; the SDK ignores it.
func BackwardsError(requestID, msg string) BackwardsResponse {
	return BackwardsResponse{RequestID: requestID, Event: BackwardsEventError, Message: msg}
}

// BackwardsEnd finishes the answer to an invocation.
func BackwardsEnd(requestID string) BackwardsResponse {
	return BackwardsResponse{RequestID: requestID, Event: BackwardsEventEnd}
}

func (r BackwardsResponse) validate() error {
	if r.RequestID == "" {
		return fmt.Errorf("%w: backwards response without backwards_request_id", ErrMalformed)
	}
	if d := bytes.TrimSpace(r.Data); len(d) > 0 && d[0] != '{' && !bytes.Equal(d, []byte("null")) {
		return fmt.Errorf("%w: backwards response data must be an object or null", ErrMalformed)
	}
	return nil
}

// InvokeType is the kind of a backwards invocation (the plugin calling into Dify).
type InvokeType string

const (
	BackwardsTool                   InvokeType = "tool"
	BackwardsLLM                    InvokeType = "llm"
	BackwardsLLMStructuredOutput    InvokeType = "llm_structured_output" // SDK >= 0.4.0
	BackwardsTextEmbedding          InvokeType = "text_embedding"
	BackwardsMultimodalEmbedding    InvokeType = "multimodal_embedding" // SDK >= 0.7.0
	BackwardsRerank                 InvokeType = "rerank"
	BackwardsMultimodalRerank       InvokeType = "multimodal_rerank" // SDK >= 0.7.0
	BackwardsTTS                    InvokeType = "tts"
	BackwardsSpeech2Text            InvokeType = "speech2text"
	BackwardsModeration             InvokeType = "moderation"
	BackwardsNodeParameterExtractor InvokeType = "node_parameter_extractor"
	BackwardsNodeQuestionClassifier InvokeType = "node_question_classifier"
	BackwardsApp                    InvokeType = "app"
	BackwardsStorage                InvokeType = "storage"
	BackwardsUploadFile             InvokeType = "upload_file"
	BackwardsSystemSummary          InvokeType = "system_summary"
	BackwardsFetchApp               InvokeType = "fetch_app" // SDK >= 0.2.0
)

// ResponseMessage is the Message the reference daemon puts on result items of this type:
// "stream" for the streaming calls, "struct" for the rest. The SDK does not read it, but
// matching keeps transcripts comparable.
func (t InvokeType) ResponseMessage() string {
	switch t {
	case BackwardsTool, BackwardsLLM, BackwardsLLMStructuredOutput, BackwardsTTS, BackwardsApp:
		return "stream"
	}
	return "struct"
}

// Kind classifies a plugin-to-daemon line.
type Kind string

const (
	KindSession   Kind = "session"   // a session message, routed by session id
	KindHeartbeat Kind = "heartbeat" // liveness; the first one means ready
	KindLog       Kind = "log"       // a log record of the SDK's logger (see Event.Log)
	KindError     Kind = "error"     // a plugin-level error; it ends no session (see Event.PluginError)
	KindManifest  Kind = "manifest"  // local mode's first line: the manifest, with no "event" key
	KindOutput    Kind = "output"    // anything else: print() output, unknown events; never fatal
	KindUnrouted  Kind = "unrouted"  // reported by Conn: a session line for no open session, dropped
)

// Event is one plugin-to-daemon line, classified.
type Event struct {
	Kind Kind
	// SessionID is set for KindSession and KindUnrouted, and for KindError when the plugin
	// named a session (it usually sends null).
	SessionID string
	Message   SessionMessage  // KindSession
	Data      json.RawMessage // KindHeartbeat, KindLog, KindError: the "data" member
	Line      []byte          // KindManifest, KindOutput: the whole line
}

// ParseEvent classifies one line from a plugin. Anything that is not a protocol message is
// KindOutput, not an error, because plugins and their libraries print to stdout. The only
// error is a session line with a valid session id whose message cannot be read: the Event
// then carries the session id so the caller can fail that session instead of losing data
// silently.
func ParseEvent(line []byte) (Event, error) {
	var p struct {
		Event     *string         `json:"event"`
		SessionID *string         `json:"session_id"`
		Type      json.RawMessage `json:"type"`
		Data      json.RawMessage `json:"data"`
	}
	if json.Unmarshal(line, &p) != nil {
		return Event{Kind: KindOutput, Line: line}, nil
	}
	if p.Event == nil {
		if bytes.Equal(p.Type, []byte(`"plugin"`)) {
			return Event{Kind: KindManifest, Line: line}, nil
		}
		return Event{Kind: KindOutput, Line: line}, nil
	}
	switch k := Kind(*p.Event); k {
	case KindHeartbeat, KindLog, KindError:
		ev := Event{Kind: k, Data: p.Data}
		if p.SessionID != nil {
			ev.SessionID = *p.SessionID
		}
		return ev, nil
	case KindSession:
		if p.SessionID == nil || *p.SessionID == "" {
			return Event{Kind: KindOutput, Line: line}, nil
		}
		ev := Event{Kind: KindSession, SessionID: *p.SessionID}
		if err := json.Unmarshal(p.Data, &ev.Message); err != nil || ev.Message.Type == "" {
			if err == nil {
				err = fmt.Errorf("no type")
			}
			ev.Message = SessionMessage{}
			return ev, fmt.Errorf("%w: session %q: message: %v", ErrMalformed, ev.SessionID, err)
		}
		return ev, nil
	}
	return Event{Kind: KindOutput, Line: line}, nil
}

// LogRecord is the data of a KindLog event.
type LogRecord struct {
	Level     string  `json:"level"`
	Message   string  `json:"message"`
	Timestamp float64 `json:"timestamp"` // seconds since the epoch
}

// Log decodes the data of a KindLog event.
func (e Event) Log() (LogRecord, error) {
	var r LogRecord
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return r, fmt.Errorf("%w: log event: %v", ErrMalformed, err)
	}
	return r, nil
}

// PluginError is the data of a KindError event, e.g. the SDK's reply to a line it could not read.
type PluginError struct {
	Message   string `json:"error"`
	ErrorType string `json:"error_type,omitempty"`
}

func (e *PluginError) Error() string { return "plugin error: " + e.Message }

// PluginError decodes the data of a KindError event.
func (e Event) PluginError() (*PluginError, error) {
	var pe PluginError
	if err := json.Unmarshal(e.Data, &pe); err != nil {
		return nil, fmt.Errorf("%w: error event: %v", ErrMalformed, err)
	}
	return &pe, nil
}

// MessageType is the type of a session message.
type MessageType string

const (
	MessageStream MessageType = "stream" // one result item; its shape depends on the action
	MessageInvoke MessageType = "invoke" // a backwards invocation (see SessionMessage.Invocation)
	MessageError  MessageType = "error"  // the request failed (see SessionMessage.AsError); end follows
	MessageEnd    MessageType = "end"    // always last, exactly once
)

// SessionMessage is the data of a KindSession event.
type SessionMessage struct {
	Type MessageType     `json:"type"`
	Data json.RawMessage `json:"data"`
}

// SessionError is the data of a MessageError item. Args is {} on SDKs up to 0.10.0; later
// ones add a traceback there.
type SessionError struct {
	ErrorType string          `json:"error_type"` // the Python exception class, e.g. "ValueError"
	Message   string          `json:"message"`
	Args      json.RawMessage `json:"args,omitempty"`
}

func (e *SessionError) Error() string {
	if e.ErrorType == "" {
		return e.Message
	}
	return e.ErrorType + ": " + e.Message
}

// AsError decodes a MessageError item.
func (m SessionMessage) AsError() (*SessionError, error) {
	if m.Type != MessageError {
		return nil, fmt.Errorf("%w: %q item is not an error", ErrMalformed, m.Type)
	}
	var e SessionError
	if err := json.Unmarshal(m.Data, &e); err != nil {
		return nil, fmt.Errorf("%w: session error: %v", ErrMalformed, err)
	}
	return &e, nil
}

// Invocation is the data of a MessageInvoke item: the plugin asks Dify for something and
// blocks until BackwardsResponses with the same RequestID end with BackwardsEventEnd.
type Invocation struct {
	Type      InvokeType      `json:"type"`
	RequestID string          `json:"backwards_request_id"`
	Request   json.RawMessage `json:"request"`
}

// Invocation decodes a MessageInvoke item. A missing type, id or request object is an error:
// the reference daemon fails the whole request in that case.
func (m SessionMessage) Invocation() (Invocation, error) {
	var inv Invocation
	if m.Type != MessageInvoke {
		return inv, fmt.Errorf("%w: %q item is not an invocation", ErrMalformed, m.Type)
	}
	if err := json.Unmarshal(m.Data, &inv); err != nil {
		return inv, fmt.Errorf("%w: invocation: %v", ErrMalformed, err)
	}
	if inv.Type == "" || inv.RequestID == "" || !isObject(inv.Request) {
		return inv, fmt.Errorf("%w: invocation needs type, backwards_request_id and a request object", ErrMalformed)
	}
	return inv, nil
}

func isObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// RegistrationType is the type of a remote plugin's registration line, sent over TCP before
// any session: a handshake, the declarations, asset chunks, then end.
type RegistrationType string

const (
	RegistrationHandshake     RegistrationType = "handshake" // data {"key": ...}
	RegistrationManifest      RegistrationType = "manifest_declaration"
	RegistrationTools         RegistrationType = "tool_declaration"
	RegistrationModels        RegistrationType = "model_declaration"
	RegistrationEndpoints     RegistrationType = "endpoint_declaration"
	RegistrationAgentStrategy RegistrationType = "agent_strategy_declaration"
	RegistrationDatasources   RegistrationType = "datasource_declaration"
	RegistrationTriggers      RegistrationType = "trigger_declaration"
	RegistrationAssetChunk    RegistrationType = "asset_chunk" // data AssetChunk
	RegistrationEnd           RegistrationType = "end"
)

// Registration is one registration line. Data is an object, or an array for the provider
// declarations.
type Registration struct {
	Type RegistrationType `json:"type"`
	Data json.RawMessage  `json:"data"`
}

// AssetChunk is the data of a RegistrationAssetChunk line: up to 8192 bytes of one file.
type AssetChunk struct {
	Filename string `json:"filename"`
	Data     []byte `json:"data"` // base64 on the wire
	End      bool   `json:"end"`
}

// Hex is bytes carried as a hex string, the encoding the protocol uses for raw HTTP requests,
// audio, endpoint bodies and storage values.
type Hex []byte

func (h Hex) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 2+hex.EncodedLen(len(h)))
	out = append(out, '"')
	out = hex.AppendEncode(out, h)
	return append(out, '"'), nil
}

func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%w: hex: %v", ErrMalformed, err)
	}
	*h = d
	return nil
}

// Object is a JSON object kept as raw bytes, so values the daemon forwards are not
// re-encoded. A nil Object is written as {} because the SDK rejects null where it expects a
// dict.
type Object json.RawMessage

func (o Object) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("{}"), nil
	}
	return o, nil
}

func (o *Object) UnmarshalJSON(b []byte) error {
	*o = append((*o)[:0], b...)
	return nil
}

// Array is a JSON array kept as raw bytes; a nil Array is written as [].
type Array json.RawMessage

func (a Array) MarshalJSON() ([]byte, error) {
	if len(a) == 0 {
		return []byte("[]"), nil
	}
	return a, nil
}

func (a *Array) UnmarshalJSON(b []byte) error {
	*a = append((*a)[:0], b...)
	return nil
}

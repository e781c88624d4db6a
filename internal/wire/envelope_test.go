package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		kind    Kind
		session string
		msgType MessageType
		data    string // the event's Data, or the session message's Data
		wantErr bool
	}{
		{name: "heartbeat", line: `{"event":"heartbeat","session_id":null,"data":{}}`, kind: KindHeartbeat, data: `{}`},
		{name: "log with python separators", line: `{"event": "log", "data": {"level": "WARNING", "message": "caf\u00e9", "timestamp": 1.5}}`,
			kind: KindLog, data: `{"level": "WARNING", "message": "caf\u00e9", "timestamp": 1.5}`},
		{name: "plugin error", line: `{"event":"error","session_id":null,"data":{"error":"x"}}`, kind: KindError, data: `{"error":"x"}`},
		{name: "plugin error naming a session", line: `{"event":"error","session_id":"s","data":{"error":"x"}}`, kind: KindError, session: "s", data: `{"error":"x"}`},
		{name: "stream", line: `{"event":"session","session_id":"s1","data":{"type":"stream","data":{"result":true}}}`,
			kind: KindSession, session: "s1", msgType: MessageStream, data: `{"result":true}`},
		{name: "end", line: `{"event":"session","session_id":"s1","data":{"type":"end","data":{}}}`, kind: KindSession, session: "s1", msgType: MessageEnd, data: `{}`},
		{name: "future message type is passed on", line: `{"event":"session","session_id":"s1","data":{"type":"progress","data":{}}}`,
			kind: KindSession, session: "s1", msgType: "progress", data: `{}`},
		{name: "keys in any order", line: `{"data":{"data":[1],"type":"stream"},"session_id":"s1","event":"session"}`,
			kind: KindSession, session: "s1", msgType: MessageStream, data: `[1]`},
		{name: "session message without type", line: `{"event":"session","session_id":"s1","data":{"data":{}}}`, kind: KindSession, session: "s1", wantErr: true},
		{name: "session message not an object", line: `{"event":"session","session_id":"s1","data":"x"}`, kind: KindSession, session: "s1", wantErr: true},
		{name: "session message missing", line: `{"event":"session","session_id":"s1"}`, kind: KindSession, session: "s1", wantErr: true},
		{name: "session line without id", line: `{"event":"session","session_id":null,"data":{"type":"end","data":{}}}`, kind: KindOutput},
		{name: "manifest", line: `{"version":"0.0.1","type":"plugin","author":"a","name":"n"}`, kind: KindManifest},
		{name: "object printed by plugin code", line: `{"a":1}`, kind: KindOutput},
		{name: "unknown event", line: `{"event":"bogus","session_id":null,"data":{}}`, kind: KindOutput},
		{name: "event not a string", line: `{"event":1}`, kind: KindOutput},
		{name: "print output", line: `hello from print()`, kind: KindOutput},
		{name: "json array", line: `[1,2]`, kind: KindOutput},
		{name: "truncated json", line: `{"event":"session","session_id":"s1","data":{"type":"st`, kind: KindOutput},
		{name: "python repr", line: `{'event': 'log'}`, kind: KindOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, not ErrMalformed", err)
			}
			if ev.Kind != tt.kind || ev.SessionID != tt.session || ev.Message.Type != tt.msgType {
				t.Fatalf("got kind %q session %q type %q", ev.Kind, ev.SessionID, ev.Message.Type)
			}
			data := string(ev.Data)
			if ev.Kind == KindSession {
				data = string(ev.Message.Data)
			}
			if data != tt.data {
				t.Errorf("data = %s, want %s", data, tt.data)
			}
			if (ev.Kind == KindOutput || ev.Kind == KindManifest) != (ev.Line != nil) {
				t.Errorf("Line = %q for kind %s", ev.Line, ev.Kind)
			}
		})
	}
}

func TestSessionMessageHelpers(t *testing.T) {
	inv, err := SessionMessage{Type: MessageInvoke, Data: []byte(`{"type":"storage","backwards_request_id":"d6","request":{"opt":"get","key":"k"}}`)}.Invocation()
	if err != nil || inv.Type != BackwardsStorage || inv.RequestID != "d6" || string(inv.Request) != `{"opt":"get","key":"k"}` {
		t.Errorf("Invocation = %+v, %v", inv, err)
	}
	for _, bad := range []string{`{"type":"storage","request":{}}`, `{"backwards_request_id":"x","request":{}}`, `{"type":"storage","backwards_request_id":"x","request":[]}`, `{"type":"storage","backwards_request_id":"x"}`, `[]`} {
		if _, err := (SessionMessage{Type: MessageInvoke, Data: []byte(bad)}).Invocation(); !errors.Is(err, ErrMalformed) {
			t.Errorf("Invocation(%s) err = %v", bad, err)
		}
	}
	se, err := SessionMessage{Type: MessageError, Data: []byte(`{"error_type":"ValueError","message":"boom","args":{}}`)}.AsError()
	if err != nil || se.Error() != "ValueError: boom" {
		t.Errorf("AsError = %v, %v", se, err)
	}
	if _, err := (SessionMessage{Type: MessageStream, Data: []byte(`{}`)}).AsError(); err == nil {
		t.Error("AsError of a stream item succeeded")
	}
	if got := BackwardsTool.ResponseMessage() + BackwardsStorage.ResponseMessage(); got != "streamstruct" {
		t.Errorf("ResponseMessage = %s", got)
	}
}

func TestBackwardsResponseValidation(t *testing.T) {
	tests := []struct {
		r  BackwardsResponse
		ok bool
	}{
		{BackwardsResult("id", "struct", []byte(`{"data":"ok"}`)), true},
		{BackwardsResult("id", "struct", []byte(` null`)), true},
		{BackwardsError("id", "denied"), true},
		{BackwardsEnd("id"), true},
		{BackwardsResult("id", "struct", []byte(`[1]`)), false},
		{BackwardsResult("id", "struct", []byte(`"x"`)), false},
		{BackwardsEnd(""), false},
	}
	for _, tt := range tests {
		if err := tt.r.validate(); (err == nil) != tt.ok {
			t.Errorf("validate(%+v) = %v", tt.r, err)
		}
	}
	b, _ := json.Marshal(BackwardsEnd("d6"))
	if string(b) != `{"backwards_request_id":"d6","event":"end","message":"","data":null}` {
		t.Errorf("end = %s", b)
	}
}

// TestNewRequest checks every typed payload: the route keys, and that keys the SDK requires
// are present even when the caller left them empty.
func TestNewRequest(t *testing.T) {
	tests := []struct {
		p        Payload
		typ      AccessType
		contains []string
	}{
		{InvokeTool{Provider: "p", Tool: "t"}, AccessTool, []string{`"credentials":{}`, `"tool_parameters":{}`}},
		{ValidateToolCredentials{}, AccessTool, []string{`"credentials":{}`}},
		{GetToolRuntimeParameters{}, AccessTool, []string{`"tool":""`}},
		{InvokeLLM{ModelBase: ModelBase{ModelType: ModelLLM}}, AccessModel, []string{`"model_type":"llm"`, `"prompt_messages":[]`, `"stop":null`, `"tools":null`, `"model_parameters":{}`}},
		{GetLLMNumTokens{}, AccessModel, []string{`"tools":null`, `"prompt_messages":[]`}},
		{InvokeTextEmbedding{Texts: Array(`["a"]`), InputType: "query"}, AccessModel, []string{`"texts":["a"]`, `"input_type":"query"`}},
		{InvokeMultimodalEmbedding{}, AccessModel, []string{`"documents":[]`}},
		{GetTextEmbeddingNumTokens{}, AccessModel, []string{`"texts":[]`}},
		{InvokeRerank{}, AccessModel, []string{`"score_threshold":null`, `"top_n":null`, `"docs":[]`}},
		{InvokeMultimodalRerank{}, AccessModel, []string{`"query":{}`, `"score_threshold":null`}},
		{InvokeTTS{TenantID: "t"}, AccessModel, []string{`"tenant_id":"t"`, `"voice":""`}},
		{GetTTSModelVoices{}, AccessModel, []string{`"language":null`}},
		{InvokeSpeech2Text{File: Hex("RIFF")}, AccessModel, []string{`"file":"52494646"`}},
		{InvokeModeration{Text: "x"}, AccessModel, []string{`"text":"x"`}},
		{ValidateProviderCredentials{}, AccessModel, []string{`"credentials":{}`}},
		{ValidateModelCredentials{}, AccessModel, []string{`"model":""`}},
		{GetAIModelSchemas{}, AccessModel, []string{`"credentials":{}`}},
		{InvokeEndpoint{RawHTTPRequest: Hex("GET / HTTP/1.1\r\n\r\n")}, AccessEndpoint, []string{`"settings":{}`, `"raw_http_request":"474554`, `"user_id":""`}},
		{InvokeAgentStrategy{}, AccessAgentStrategy, []string{`"agent_strategy_params":{}`}},
		{FetchParameterOptions{}, AccessDynamicParameter, []string{`"provider_action":""`}},
		{GetAuthorizationURL{}, AccessOAuth, []string{`"system_credentials":{}`}},
		{GetOAuthCredentials{}, AccessOAuth, []string{`"raw_http_request":""`}},
		{RefreshOAuthCredentials{}, AccessOAuth, []string{`"credentials":{}`}},
		{ValidateDatasourceCredentials{}, AccessDatasource, []string{`"credentials":{}`}},
		{GetWebsiteCrawl{}, AccessDatasource, []string{`"datasource_parameters":{}`}},
		{GetOnlineDocumentPages{}, AccessDatasource, []string{`"datasource":""`}},
		{GetOnlineDocumentPageContent{}, AccessDatasource, []string{`"page":{}`}},
		{OnlineDriveBrowseFiles{}, AccessDatasource, []string{`"request":{}`}},
		{OnlineDriveDownloadFile{}, AccessDatasource, []string{`"request":{}`}},
		{InvokeTriggerEvent{}, AccessTrigger, []string{`"subscription":{}`, `"parameters":{}`}},
		{ValidateTriggerCredentials{}, AccessTrigger, []string{`"credentials":{}`}},
		{DispatchTriggerEvent{}, AccessTrigger, []string{`"credentials":null`, `"credential_type":null`}},
		{SubscribeTrigger{CredentialType: CredentialOAuth2}, AccessTrigger, []string{`"credential_type":"oauth2"`, `"endpoint":""`}},
		{UnsubscribeTrigger{}, AccessTrigger, []string{`"subscription":{}`}},
		{RefreshTrigger{}, AccessTrigger, []string{`"subscription":{}`}},
	}
	seen := map[Action]bool{}
	for _, tt := range tests {
		a := tt.p.Action()
		seen[a] = true
		t.Run(string(a), func(t *testing.T) {
			env, err := NewRequest("sid", "", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				Type   AccessType
				Action Action
				UserID *string `json:"user_id"`
			}
			if err := json.Unmarshal(env.Data, &head); err != nil {
				t.Fatalf("%v: %s", err, env.Data)
			}
			if head.Type != tt.typ || head.Action != a || head.UserID == nil {
				t.Errorf("head = %+v", head)
			}
			for _, c := range tt.contains {
				if !strings.Contains(string(env.Data), c) {
					t.Errorf("%s does not contain %s", env.Data, c)
				}
			}
			// No key may appear twice: the SDK would keep only the last.
			seenKey := map[string]bool{}
			for _, k := range topKeys(t, env.Data) {
				if seenKey[k] {
					t.Errorf("key %q twice in %s", k, env.Data)
				}
				seenKey[k] = true
			}
		})
	}
	// Every action with a typed payload is covered; polling has none.
	for a := range actionTypes {
		if !seen[a] && a != ActionStartPolling && a != ActionCheckPolling {
			t.Errorf("no payload test for %s", a)
		}
	}
}

// topKeys lists the keys of a JSON object in order, duplicates included.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestNewRequestRejects(t *testing.T) {
	if _, err := NewRequest("s", "u", bogusPayload{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown action: %v", err)
	}
}

type bogusPayload struct{}

func (bogusPayload) Action() Action { return "nope" }

func TestHex(t *testing.T) {
	b, _ := json.Marshal(Hex("world"))
	if string(b) != `"776f726c64"` {
		t.Errorf("marshal = %s", b)
	}
	var h Hex
	if err := json.Unmarshal([]byte(`"776f726c64"`), &h); err != nil || string(h) != "world" {
		t.Errorf("unmarshal = %q, %v", h, err)
	}
	if err := json.Unmarshal([]byte(`"zz"`), &h); err == nil {
		t.Error("bad hex accepted")
	}
}

func TestNewSessionID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewSessionID(), NewSessionID()
	if !re.MatchString(a) || a == b {
		t.Errorf("ids %s %s", a, b)
	}
}

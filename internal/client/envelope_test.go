package client

import (
	"bufio"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeEnvelope(t *testing.T) {
	pluginErr := `{"code":-500,"message":"{\"message\":\"{\\\"error_type\\\":\\\"InvokeRateLimitError\\\",\\\"message\\\":\\\"slow down\\\",\\\"args\\\":{}}\",\"error_type\":\"PluginInvokeError\",\"args\":null}","data":null}`
	tests := []struct {
		name     string
		status   int
		body     string
		wantData string
		wantErr  *APIError
	}{
		{"success", 200, `{"code":0,"message":"success","data":{"a":1}}`, `{"a":1}`, nil},
		{"success null", 200, `{"code":0,"message":"success","data":null}`, `null`, nil},
		{"error envelope", 200, `{"code":-400,"message":"{\"message\":\"bad page\",\"error_type\":\"PluginDaemonBadRequestError\",\"args\":null}","data":null}`, "",
			&APIError{HTTPStatus: 200, Code: -400, Type: "PluginDaemonBadRequestError", Message: "bad page"}},
		{"plugin error nested twice", 200, pluginErr, "",
			&APIError{HTTPStatus: 200, Code: -500, Type: "PluginInvokeError", PluginType: "InvokeRateLimitError", Message: "slow down"}},
		{"plugin error with plain inner message", 500, `{"code":-500,"message":"{\"message\":\"plain\",\"error_type\":\"PluginInvokeError\"}","data":null}`, "",
			&APIError{HTTPStatus: 500, Code: -500, Type: "PluginInvokeError", Message: "plain"}},
		{"message not JSON", 200, `{"code":-500,"message":"something broke","data":null}`, "",
			&APIError{HTTPStatus: 200, Code: -500, Message: "something broke"}},
		{"router not found", 404, `{"code":"not_found","message":"route not found"}`, "",
			&APIError{HTTPStatus: 404, Type: "not_found", Message: "route not found"}},
		{"proxy page", 502, "<html><body>Bad Gateway</body></html>", "",
			&APIError{HTTPStatus: 502, Message: "<html><body>Bad Gateway</body></html>"}},
		{"empty error body", 503, "", "", &APIError{HTTPStatus: 503, Message: "Service Unavailable"}},
		{"not a daemon", 200, `{"hello":"world"}`, "",
			&APIError{HTTPStatus: 200, Message: `the answer is not a plugin daemon envelope (is the URL right?): {"hello":"world"}`}},
		{"success code with error status", 500, `{"code":0,"message":"success","data":1}`, "",
			&APIError{HTTPStatus: 500, Message: "success envelope with an error status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := decodeEnvelope(tt.status, []byte(tt.body))
			if tt.wantErr == nil {
				if err != nil || string(data) != tt.wantData {
					t.Fatalf("data %s err %v", data, err)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) || *ae != *tt.wantErr {
				t.Fatalf("error %#v\nwant %#v", err, tt.wantErr)
			}
		})
	}
}

func TestAPIErrorText(t *testing.T) {
	tests := []struct {
		e    APIError
		want string
	}{
		{APIError{HTTPStatus: 200, Code: -500, Type: "PluginInvokeError", PluginType: "ValueError", Message: "x"}, "PluginInvokeError: ValueError: x"},
		{APIError{HTTPStatus: 401, Code: -401, Type: "PluginDaemonUnauthorizedError", Message: "bad key"}, "PluginDaemonUnauthorizedError: bad key (HTTP 401)"},
		{APIError{HTTPStatus: 502, Message: "Bad Gateway"}, "Bad Gateway (HTTP 502)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
	}
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("é", 300)
	s := snippet([]byte(long))
	if !strings.HasSuffix(s, "...") || len(s) > 210 || strings.ContainsRune(s, '\uFFFD') {
		t.Fatalf("snippet %q", s)
	}
	if got := snippet([]byte("\xff\xfe ok")); got != "? ok" {
		t.Fatalf("invalid UTF-8 kept: %q", got)
	}
}

func TestReadStream(t *testing.T) {
	errEvent := `data: {"code":-500,"message":"{\"message\":\"killed by timeout\",\"error_type\":\"PluginDaemonInternalServerError\",\"args\":null}","data":null}`
	tests := []struct {
		name    string
		status  int
		body    string
		want    []string
		wantErr string
	}{
		{"events", 200, "data: {\"code\":0,\"message\":\"success\",\"data\":1}\n\ndata: {\"code\":0,\"message\":\"success\",\"data\":{\"b\":2}}\n\n", []string{"1", `{"b":2}`}, ""},
		{"no space, CRLF, no final newline", 200, "data:{\"code\":0,\"message\":\"\",\"data\":1}\r\n\r\ndata: {\"code\":0,\"message\":\"\",\"data\":2}", []string{"1", "2"}, ""},
		{"comments and fields ignored", 200, ": keep-alive\nevent: message\nid: 7\nretry: 10\ndata: {\"code\":0,\"message\":\"\",\"data\":3}\n\n", []string{"3"}, ""},
		{"empty data line ignored", 200, "data:\n\n", nil, ""},
		{"empty stream", 200, "", nil, ""},
		{"error mid-stream", 200, "data: {\"code\":0,\"message\":\"\",\"data\":1}\n\n" + errEvent + "\n\ndata: {\"code\":0,\"message\":\"\",\"data\":9}\n\n", []string{"1"}, "PluginDaemonInternalServerError: killed by timeout"},
		{"bare error envelope with status", 404, `{"code":-404,"message":"{\"message\":\"plugin not found\",\"error_type\":\"PluginNotFoundError\",\"args\":null}","data":null}` + "\n", nil, "PluginNotFoundError: plugin not found (HTTP 404)"},
		{"empty error body", 502, "", nil, "Bad Gateway (HTTP 502)"},
		{"garbage", 200, "data: nope\n\n", nil, "not a plugin daemon envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := readStream(tt.status, strings.NewReader(tt.body), func(m json.RawMessage) error {
				got = append(got, string(m))
				return nil
			})
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadLineLimit(t *testing.T) {
	line := strings.Repeat("x", 100) + "\n"
	br := bufio.NewReaderSize(strings.NewReader(line+line), 16)
	got, err := readLine(br, 101)
	if err != nil || string(got) != line {
		t.Fatalf("line %q err %v", got, err)
	}
	br = bufio.NewReaderSize(strings.NewReader(line), 16)
	if _, err := readLine(br, 100); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v", err)
	}
}

func FuzzReadStream(f *testing.F) {
	f.Add(200, []byte("data: {\"code\":0,\"message\":\"success\",\"data\":{\"type\":\"text\"}}\n\n"))
	f.Add(200, []byte("data: {\"code\":-500,\"message\":\"{\\\"message\\\":\\\"{\\\\\\\"error_type\\\\\\\":\\\\\\\"E\\\\\\\"}\\\",\\\"error_type\\\":\\\"PluginInvokeError\\\"}\",\"data\":null}\n\n"))
	f.Add(404, []byte(`{"code":"not_found","message":"route not found"}`))
	f.Add(502, []byte("<html>"))
	f.Add(200, []byte(": x\r\nevent: y\r\ndata:\r\n"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		n := 0
		err := readStream(status, strings.NewReader(string(body)), func(m json.RawMessage) error {
			if !json.Valid(m) {
				t.Fatalf("invalid JSON passed on: %q", m)
			}
			n++
			return nil
		})
		var ae *APIError
		if err != nil && (!errors.As(err, &ae) || ae.Error() == "") {
			t.Fatalf("error %v is not an *APIError", err)
		}
		if n > strings.Count(string(body), "\n")+1 {
			t.Fatalf("%d events from %d lines", n, strings.Count(string(body), "\n")+1)
		}
	})
}

func FuzzParseErrorMessage(f *testing.F) {
	f.Add(`{"message":"m","error_type":"PluginDaemonBadRequestError","args":null}`)
	f.Add(`{"message":"{\"error_type\":\"ValueError\",\"message\":\"x\",\"args\":{}}","error_type":"PluginInvokeError"}`)
	f.Add(`plain text`)
	f.Add(`{"message":"{\"error_type\":1}","error_type":"PluginInvokeError"}`)
	f.Fuzz(func(t *testing.T, raw string) {
		typ, msg, pluginType := parseErrorMessage(raw)
		if !strings.HasPrefix(strings.TrimSpace(raw), "{") && (typ != "" || msg != raw) {
			t.Fatalf("a message that is not JSON changed: %q -> %q %q", raw, typ, msg)
		}
		if pluginType != "" && typ != "PluginInvokeError" {
			t.Fatalf("plugin type %q outside a PluginInvokeError (%q)", pluginType, typ)
		}
	})
}

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// These check the test client's parsing against the cases of dify-api-side.md §1.2-1.3, so
// that a failure of an end-to-end test can be trusted to be the daemon's.

func TestDecodeResponse(t *testing.T) {
	invoke := `{"code":-500,"message":"{\"error_type\":\"PluginInvokeError\",\"message\":\"{\\\"error_type\\\":\\\"ValueError\\\",\\\"message\\\":\\\"boom\\\",\\\"args\\\":{}}\",\"args\":null}","data":null}`
	tests := []struct {
		name         string
		status       int
		body         string
		data         string
		class, inner string
		code         int
	}{
		{"success", 200, `{"code":0,"message":"success","data":{"a":1}}`, `{"a":1}`, "", "", 0},
		{"false is data", 200, `{"code":0,"message":"success","data":false}`, `false`, "", "", 0},
		{"null data", 200, `{"code":0,"message":"success","data":null}`, "", "ValueError", "", 0},
		{"missing data", 200, `{"code":0,"message":"success"}`, "", "ValueError", "", 0},
		{"4xx never decoded", 401, `{"code":-401,"message":"{\"error_type\":\"PluginDaemonUnauthorizedError\",\"message\":\"x\"}","data":null}`, "", "PluginDaemonClientSideError", "", -401},
		{"5xx", 500, `oops`, "", "PluginDaemonInternalServerError", "", 0},
		{"redirect", 301, ``, "", "PluginDaemonClientSideError", "", 0},
		{"not found type", 200, `{"code":-404,"message":"{\"error_type\":\"PluginNotFoundError\",\"message\":\"nope\"}","data":null}`, "", "PluginNotFoundError", "", -404},
		{"unknown type", 200, `{"code":-500,"message":"{\"error_type\":\"Weird\",\"message\":\"w\"}","data":null}`, "", "Exception", "", -500},
		{"message not JSON", 200, `{"code":-400,"message":"bad thing","data":null}`, "", "ValueError", "", -400},
		{"invoke error", 200, invoke, "", "PluginInvokeError", "ValueError", -500},
		{"known inner type", 200, strings.Replace(invoke, "ValueError", "InvokeRateLimitError", 1), "", "InvokeRateLimitError", "InvokeRateLimitError", -500},
		{"string code", 200, `{"code":"not_found","message":"route not found"}`, "", "ValidationError", "", 0},
		{"no message", 200, `{"code":0,"data":1}`, "", "ValidationError", "", 0},
		{"not JSON", 200, `<html>`, "", "ValidationError", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := decodeResponse(tt.status, []byte(tt.body))
			if tt.class == "" {
				if err != nil || string(data) != tt.data {
					t.Fatalf("got %s, %v; want %s", data, err, tt.data)
				}
				return
			}
			de := asDifyError(err)
			if de == nil {
				t.Fatalf("got %s, %v; want a %s", data, err, tt.class)
			}
			if de.Class != tt.class || de.InnerType != tt.inner || de.Code != tt.code {
				t.Errorf("got %s (inner %q, code %d), want %s (inner %q, code %d)", de.Class, de.InnerType, de.Code, tt.class, tt.inner, tt.code)
			}
			if tt.inner == "ValueError" && de.InnerMessage != "boom" {
				t.Errorf("inner message %q", de.InnerMessage)
			}
		})
	}
}

func TestParseStreamLine(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		skip      bool
		data      string
		class     string
		errorType string
	}{
		{"blank", "\n", true, "", "", ""},
		{"spaces", "  \r\n", true, "", "", ""},
		{"data prefix", `data: {"code":0,"message":"success","data":{"type":"text"}}` + "\n", false, `{"type":"text"}`, "", ""},
		{"data prefix no space", `data:{"code":0,"message":"","data":[1]}`, false, `[1]`, "", ""},
		{"bare JSON line", `{"code":0,"message":"success","data":{"result":true}}`, false, `{"result":true}`, "", ""},
		{"404 body", `{"code":-404,"message":"{\"error_type\":\"PluginNotFoundError\",\"message\":\"not installed\"}","data":null}`, false, "", "ValueError", "PluginNotFoundError"},
		{"-500 undecodable", `data: {"code":-500,"message":"killed by timeout","data":null}`, false, "", "PluginDaemonInnerError", ""},
		{"-500 mapped", `data: {"code":-500,"message":"{\"error_type\":\"PluginDaemonInternalServerError\",\"message\":\"x\"}","data":null}`, false, "", "PluginDaemonInternalServerError", "PluginDaemonInternalServerError"},
		{"null data", `data: {"code":0,"message":"success","data":null}`, false, "", "ValueError", ""},
		{"not an envelope", `data: hello`, false, "", "ValueError", ""},
		{"error field", `{"error":"gone"}`, false, "", "ValueError", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, skip, err := parseStreamLine([]byte(tt.line))
			if skip != tt.skip {
				t.Fatalf("skip %v, want %v", skip, tt.skip)
			}
			if tt.class == "" {
				if err != nil || string(data) != tt.data {
					t.Fatalf("got %s, %v; want %s", data, err, tt.data)
				}
				return
			}
			de := asDifyError(err)
			if de == nil || de.Class != tt.class || de.ErrorType != tt.errorType {
				t.Fatalf("got %v, want class %s, error type %q", err, tt.class, tt.errorType)
			}
			if tt.name == "error field" && de.Message != "gone" {
				t.Errorf("message %q, want the error field", de.Message)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for path, ok := range map[string]bool{
		"plugin/t/management/list":       true,
		"plugin/t/asset/abc.svg":         true,
		"plugin/t/../admin":              false,
		"plugin/t/%2e%2e/admin":          false,
		"plugin/t/%252e%252e/admin":      false,
		"plugin/t/a..b/c":                true,
		strings.Repeat("a/", 2049):       false,
		"plugin/t/extract-asset/?x=../y": true, // the query is not part of the path
	} {
		if err := checkPath(strings.SplitN(path, "?", 2)[0]); (err == nil) != ok {
			t.Errorf("checkPath(%.40q) = %v, want ok=%v", path, err, ok)
		}
	}
}

// FuzzParseStreamLine: any line gives data that is JSON, a skip, or a classed error.
func FuzzParseStreamLine(f *testing.F) {
	for _, s := range []string{
		"", "\n", `data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"hi"}}}`,
		`{"code":-500,"message":"{\"error_type\":\"PluginInvokeError\",\"message\":\"{\\\"error_type\\\":\\\"ValueError\\\",\\\"message\\\":\\\"boom\\\"}\"}","data":null}`,
		`{"code":-404,"message":"x","data":null}`, `data: {"error":"e"}`, `data:`, `{"code":1e3,"message":""}`,
		`{"code":9999999999999999999,"message":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		data, skip, err := parseStreamLine(line)
		switch {
		case skip:
			if data != nil || err != nil {
				t.Fatalf("skip with data %q or error %v", data, err)
			}
		case err != nil:
			if de := asDifyError(err); de == nil || de.Class == "" {
				t.Fatalf("error without a class: %v", err)
			}
		default:
			if !json.Valid(data) || string(data) == "null" {
				t.Fatalf("data %q is not JSON or is null", data)
			}
		}
	})
}

// FuzzDecodeResponse: any body gives JSON data or a classed error, never a panic.
func FuzzDecodeResponse(f *testing.F) {
	f.Add(200, []byte(`{"code":0,"message":"success","data":true}`))
	f.Add(200, []byte(`{"code":-400,"message":"{\"error_type\":\"PluginDaemonBadRequestError\",\"message\":\"m\"}","data":null}`))
	f.Add(401, []byte(`{"code":-401,"message":"x","data":null}`))
	f.Add(200, []byte(`{"code":-500,"message":"{\"error_type\":\"PluginInvokeError\",\"message\":\"not json\"}","data":null}`))
	f.Add(500, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		data, err := decodeResponse(status, body)
		if err != nil {
			if de := asDifyError(err); de == nil || de.Class == "" {
				t.Fatalf("error without a class: %v", err)
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("status %d decoded as success", status)
		}
		if !json.Valid(data) || string(data) == "null" {
			t.Fatalf("data %q is not JSON or is null", data)
		}
	})
}

func TestParseBundleDependencies(t *testing.T) {
	good := `[{"type":"package","value":{"unique_identifier":"a/b:0.0.1@` + strings.Repeat("a", 64) + `","manifest":{"name":"b"}}},` +
		`{"type":"marketplace","value":{"organization":"o","plugin":"p","version":"1.0.0"}},` +
		`{"type":"github","value":{"repo_address":"https://github.com/o/r","repo":"o/r","release":"1.0.0","packages":"p.difypkg"}}]`
	deps, err := parseBundleDependencies(json.RawMessage(good))
	if err != nil || len(deps) != 3 || deps[0].Package == nil || deps[1].Marketplace.Plugin != "p" || deps[2].Github.Packages != "p.difypkg" {
		t.Fatalf("%v %+v", err, deps)
	}
	for _, bad := range []string{
		`{}`,
		`[{"type":"npm","value":{}}]`,
		`[{"type":"marketplace","value":{"organization":"o","plugin":"p"}}]`,
		`[{"type":"github","value":{"repo_address":1,"repo":"o/r","release":"1","packages":"p"}}]`,
		`[{"type":"package","value":{"unique_identifier":"x","manifest":"text"}}]`,
		`[{"type":"package","value":{"unique_identifier":"x"}}]`,
	} {
		if _, err := parseBundleDependencies(json.RawMessage(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/manifest"
)

// typedTool declares one parameter of each kind of type the SDK knows.
func typedTool() *manifest.Tool {
	return &manifest.Tool{
		Identity: manifest.Identity{Name: "typed"},
		Parameters: []manifest.ToolParameter{
			{Name: "text", Type: "string", Required: true},
			{Name: "secret", Type: "secret-input"},
			{Name: "n", Type: "number"},
			{Name: "flag", Type: "boolean"},
			{Name: "mode", Type: "select", Options: []manifest.ParameterOption{{Value: "fast"}, {Value: "slow"}}},
			{Name: "obj", Type: "object"},
			{Name: "file", Type: "file"},
			{Name: "list", Type: "array"},
			{Name: "files", Type: "files"},
			{Name: "anything", Type: "any"},
			{Name: "lang", Type: "string", Required: true, Default: "en"},
		},
	}
}

func TestToolParamsConvertByDeclaredType(t *testing.T) {
	var warn bytes.Buffer
	raw, err := toolParams(typedTool(), []string{
		`text={"a":1}`, "secret=42", "n=3", "flag=true", "mode=slow", `obj={"k":[1]}`,
		`file={"url":"https://x/y.png"}`, "list=[1,2]", "files=[]", "anything=[true]", "extra=7",
	}, &warn)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"text": `{"a":1}`, "secret": "42", "n": 3.0, "flag": true, "mode": "slow", "obj": map[string]any{"k": []any{1.0}},
		"file": map[string]any{"url": "https://x/y.png"}, "list": []any{1.0, 2.0}, "files": []any{}, "anything": []any{true},
		"extra": 7.0, "lang": "en",
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("parameters\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if !strings.Contains(warn.String(), `tool typed declares no parameter "extra"`) || strings.Count(warn.String(), "\n") != 1 {
		t.Errorf("warnings: %q", warn.String())
	}
	if raw, err := toolParams(typedTool(), []string{"text=x", "n=2.5", "flag=no"}, &warn); err != nil || string(raw) != `{"flag":false,"lang":"en","n":2.5,"text":"x"}` {
		t.Errorf("float and no: %s, %v", raw, err)
	}
}

func TestToolParamsRefuse(t *testing.T) {
	for _, tc := range []struct {
		pairs []string
		want  string
	}{
		{nil, "tool typed needs the required parameter(s) text (string)"},
		{[]string{"n=1"}, "required parameter(s) text"},
		{[]string{"text=a", "n=three"}, `--param n of tool typed: "three" is not a number`},
		{[]string{"text=a", "n=NaN"}, `"NaN" is not a number`},
		{[]string{"text=a", "flag=maybe"}, `--param flag of tool typed: "maybe" is not a boolean`},
		{[]string{"text=a", "mode=medium"}, `--param mode of tool typed: "medium" is not one of the options fast, slow`},
		{[]string{"text=a", "obj=[1]"}, "--param obj of tool typed: a object parameter takes a JSON object"},
		{[]string{"text=a", "file=x.png"}, "--param file of tool typed: a file parameter takes a JSON object"},
		{[]string{"text=a", "list={}"}, "--param list of tool typed: a array parameter takes a JSON array"},
		{[]string{"text=a", "list=null"}, "takes a JSON array"},
		{[]string{"text=a", "text=b"}, "--param text is given twice"},
		{[]string{"novalue"}, `--param "novalue": want key=value`},
	} {
		_, err := toolParams(typedTool(), tc.pairs, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.pairs, err, tc.want)
		}
	}
}

// FuzzToolParams: any --param value for any declared type gives valid JSON or an error
// naming the parameter, never a panic.
func FuzzToolParams(f *testing.F) {
	for _, s := range []string{"x", "1", "1e400", "-0", "true", "{}", "[]", `{"a":`, "\x00", "NaN", "Inf"} {
		f.Add("n", s)
		f.Add("obj", s)
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		raw, err := toolParams(typedTool(), []string{"text=t", name + "=" + value}, &bytes.Buffer{})
		if err != nil {
			if !strings.Contains(err.Error(), "--param") {
				t.Fatalf("error without the parameter: %v", err)
			}
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("invalid JSON %q", raw)
		}
	})
}

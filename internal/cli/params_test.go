package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/pyenv"
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

func TestBuildProgressLog(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, manual: true, stop: make(chan struct{})}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.event(pyenv.Progress{Phase: pyenv.PhaseResolving}, t0)
	b.event(pyenv.Progress{Phase: pyenv.PhaseResolving, Line: "Resolved 40 packages"}, t0.Add(2*time.Second))
	b.tick(t0.Add(10 * time.Second)) // under the log interval: nothing
	b.event(pyenv.Progress{Phase: pyenv.PhaseDownloading, Line: "Downloading pydantic-core \r 50%"}, t0.Add(12*time.Second))
	b.tick(t0.Add(20 * time.Second)) // 8 s after the last line: nothing
	b.tick(t0.Add(28 * time.Second)) // 16 s after: a line
	b.event(pyenv.Progress{Phase: pyenv.PhaseDone}, t0.Add(40*time.Second))
	b.finish(nil, t0.Add(41*time.Second))
	b.tick(t0.Add(60 * time.Second)) // after finish: nothing
	want := "python environment: resolving (0s)\n" +
		"python environment: downloading (12s) Downloading pydantic-core  50%\n" +
		"python environment: downloading (28s) Downloading pydantic-core  50%\n" +
		"python environment: built in 41s\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestBuildProgressTerminal(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, tty: true, manual: true, stop: make(chan struct{})}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.event(pyenv.Progress{Phase: pyenv.PhaseInstalling, Line: strings.Repeat("x", 100)}, t0)
	b.tick(t0.Add(time.Second))
	b.finish(errors.New("boom"), t0.Add(3*time.Second))
	want := "\r\033[Kpython environment: installing (0s) " + strings.Repeat("x", 59) + "…" +
		"\r\033[Kpython environment: installing (1s) " + strings.Repeat("x", 59) + "…" +
		"\r\033[Kpython environment: failed after 3s\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

func TestBuildProgressSilentWithoutBuild(t *testing.T) {
	var out bytes.Buffer
	b := newBuildProgress(&out, false)
	b.finish(nil, time.Now())
	if out.Len() != 0 {
		t.Errorf("printed %q for an environment that already existed", out.String())
	}
}

func TestBuildProgressFitsTheTerminal(t *testing.T) {
	var out bytes.Buffer
	b := &buildProgress{w: &out, tty: true, width: 40, manual: true, stop: make(chan struct{})}
	b.event(pyenv.Progress{Phase: pyenv.PhaseDownloading, Line: "Downloading a-package-with-a-long-name (12 MiB)"}, time.Now())
	line := strings.TrimPrefix(out.String(), "\r\033[K")
	if n := len([]rune(line)); n != 39 || !strings.HasPrefix(line, "python environment: downloading (0s) ") {
		t.Errorf("%d columns: %q", n, line)
	}
}

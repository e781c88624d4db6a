package pyenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Small stand-ins for the SDK files each fix edits: just the lines the fixes look for.
// The real files are exercised by TestOldSDKFixes.
const (
	fakeAIModel = "import gevent.socket\n\nclass AIModel(ABC):\n    def _get_num_tokens_by_gpt2(self, text: str) -> int:\n        return 0\n"
	fakeLLM     = "from pydantic import BaseModel\n\nclass LLMResultChunk(BaseModel):\n    model: str\n    prompt_messages: list[PromptMessage]\n\n" +
		"class LLMResult(BaseModel):\n    model: str\n    prompt_messages: list[PromptMessage]\n"
	fakeReader = "from gevent.os import tp_read\n\nclass StdioRequestReader(RequestReader):\n    def _read_stream(self):\n" +
		"        data = tp_read(sys.stdin.fileno(), 512)\n        yield PluginInStream(writer=StdioResponseWriter())\n"
)

func fakeSite(t *testing.T, version string) string {
	site := writeFiles(t, t.TempDir(), map[string]string{
		"dify_plugin/interfaces/model/ai_model.py":                          fakeAIModel,
		"dify_plugin/interfaces/model/__pycache__/ai_model.cpython-311.pyc": "stale",
		"dify_plugin/entities/model/llm.py":                                 fakeLLM,
		"dify_plugin/core/server/stdio/request_reader.py":                   fakeReader,
		"dify_plugin-" + version + ".dist-info/METADATA":                    "Metadata-Version: 2.1\nName: dify_plugin\nVersion: " + version + "\n\nVersion: 9.9.9\n",
	})
	return site
}

func TestApplyOldSDKFixes(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    []string
	}{
		{"0.0.1b65", []string{"token-count-threads", "no-prompt-echo", "stdin-reader"}},
		{"0.0.1b75", []string{"no-prompt-echo", "stdin-reader"}},
		{"0.1.0", []string{"no-prompt-echo", "stdin-reader"}},
		{"0.2.2", nil},
		{"0.7.4", nil},
	} {
		t.Run(tc.version, func(t *testing.T) {
			site := fakeSite(t, tc.version)
			if v := installedSDKVersion(site); v != tc.version {
				t.Fatalf("installedSDKVersion = %q", v)
			}
			applied, modules, err := applyOldSDKFixes(site, tc.version, func(string) {})
			if err != nil || !slices.Equal(applied, tc.want) || len(modules) != len(applied) {
				t.Fatalf("applied %v (modules %v), %v; want %v", applied, modules, err, tc.want)
			}
			before := readAll(t, site)
			// A second run (a rebuilt environment, say) changes nothing and reports the same.
			again, _, err := applyOldSDKFixes(site, tc.version, func(string) {})
			if err != nil || !slices.Equal(again, tc.want) || readAll(t, site) != before {
				t.Errorf("second run: %v, %v; files changed: %v", again, err, readAll(t, site) != before)
			}
			_, err = os.Stat(filepath.Join(site, "dify_plugin/interfaces/model/__pycache__/ai_model.cpython-311.pyc"))
			if fixed := slices.Contains(tc.want, "token-count-threads"); fixed != os.IsNotExist(err) {
				t.Errorf("stale bytecode removed: %v, want %v", os.IsNotExist(err), fixed)
			}
		})
	}
}

func readAll(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(p)
			b.WriteString(p + "\n" + string(data))
		}
		return nil
	})
	return b.String()
}

func TestFixesSkipUnexpectedCode(t *testing.T) {
	site := writeFiles(t, t.TempDir(), map[string]string{
		"dify_plugin/interfaces/model/ai_model.py":        "class Other: pass\n",
		"dify_plugin/entities/model/llm.py":               "from pydantic import BaseModel\n    prompt_messages: list[PromptMessage]\n",
		"dify_plugin/core/server/stdio/request_reader.py": "",
	})
	var notes []string
	applied, _, err := applyOldSDKFixes(site, "0.0.1b60", func(s string) { notes = append(notes, s) })
	if err != nil || len(applied) != 0 || len(notes) != 3 {
		t.Errorf("applied %v, %v, notes %q", applied, err, notes)
	}
}

func TestNoPromptEcho(t *testing.T) {
	out, ok := noPromptEcho(fakeLLM)
	if !ok {
		t.Fatal("not applied")
	}
	for _, want := range []string{
		"from pydantic import Field as _plugd_Field, field_validator as _plugd_field_validator\nfrom pydantic import BaseModel\n",
		"prompt_messages: list[PromptMessage] = _plugd_Field(default_factory=list)",
		"@_plugd_field_validator(\"prompt_messages\", mode=\"before\")",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if n := strings.Count(out, "def plugd_drop_prompt_messages"); n != 2 {
		t.Errorf("%d validators, want 2", n)
	}
}

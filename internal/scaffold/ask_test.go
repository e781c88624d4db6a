package scaffold

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAsk(t *testing.T) {
	tests := []struct {
		name    string
		preset  Options
		input   string
		want    Options
		prompts []string // must appear in the output, in order
	}{
		{
			name: "everything, with retries",
			input: strings.Join([]string{
				"My Plugin", "my_plugin", // invalid name, then valid
				"me",
				"", "Does things: well & fast", // empty description is refused
				"not a url", "https://example.com/r",
				"42", "datasource",
				"",           // language defaults to python
				"maybe", "y", // tools: invalid then yes
				"n",              // models
				"",               // nodes
				"yes",            // endpoints
				"N",              // apps
				"y", "5", "2048", // storage, a too small size, then a valid one
				"1.9", "1.9.0",
				"fr_FR", "zh_Hans, ja_JP",
			}, "\n") + "\n",
			want: Options{
				Name: "my_plugin", Author: "me", Description: "Does things: well & fast", Repo: "https://example.com/r",
				Category: Datasource, Language: "python", MinDifyVersion: "1.9.0", I18nReadme: []string{"zh_Hans", "ja_JP"},
				Permissions: Permissions{Tool: true, Endpoint: true, Storage: true, StorageSize: 2048},
			},
			prompts: []string{"Plugin name", `name "My Plugin": use 1 to 128`, "Author", "Description", "an answer is required",
				"repository", "must be an http(s) URL", "11) trigger", "choose a number from 1 to 11", "Language [python]",
				"Call tools? [y/N]", "answer y or n", "Call models?", "Use plugin storage?", "Storage size in bytes [1048576]",
				"must be between 1024", "Minimum Dify version", "README translations", `i18n-readme "fr_FR"`},
		},
		{
			name:   "only what is missing",
			preset: Options{Name: "p", Author: "a", Repo: "https://x.y", Language: "python", MinDifyVersion: "1.0.0", Permissions: Permissions{App: true}, I18nReadme: []string{}},
			input:  "A description\n3\n",
			want: Options{Name: "p", Author: "a", Description: "A description", Repo: "https://x.y", Language: "python",
				Category: LLM, MinDifyVersion: "1.0.0", Permissions: Permissions{App: true}, I18nReadme: []string{}},
		},
		{
			name:   "agent strategy gets tools and llm without asking",
			preset: Options{Name: "p", Author: "a", Description: "d", Repo: "https://x.y", Category: AgentStrategy, Language: "python", MinDifyVersion: "1.0.0", I18nReadme: []string{}},
			input:  "y\n\n\n\n\n\n\n\n\n",
			want: Options{Name: "p", Author: "a", Description: "d", Repo: "https://x.y", Category: AgentStrategy, Language: "python",
				MinDifyVersion: "1.0.0", I18nReadme: []string{}, Permissions: Permissions{Tool: true, Model: true, LLM: true, TextEmbedding: true}},
			prompts: []string{"agent strategies may always call tools and LLMs", "Call text embedding models?"},
		},
		{
			name:   "optional questions accept the end of the input",
			preset: Options{Name: "p", Author: "a", Description: "d", Category: Tool},
			input:  "",
			want:   Options{Name: "p", Author: "a", Description: "d", Category: Tool, Language: "python", I18nReadme: []string{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.preset
			var out strings.Builder
			if err := Ask(context.Background(), strings.NewReader(tc.input), &out, &o); err != nil {
				t.Fatalf("Ask: %v\noutput:\n%s", err, out.String())
			}
			if !reflect.DeepEqual(o, tc.want) {
				t.Errorf("options:\n got %+v\nwant %+v", o, tc.want)
			}
			rest := out.String()
			for _, p := range tc.prompts {
				i := strings.Index(rest, p)
				if i < 0 {
					t.Fatalf("output lacks %q (in order); output:\n%s", p, out.String())
				}
				rest = rest[i+len(p):]
			}
			if err := o.Validate(); err != nil {
				t.Errorf("the answers do not validate: %v", err)
			}
		})
	}
}

func TestAskEndOfInputBeforeRequiredAnswer(t *testing.T) {
	o := Options{}
	err := Ask(context.Background(), strings.NewReader("my_plugin\n"), io.Discard, &o)
	if !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "author") {
		t.Fatalf("Ask = %v, want a missing author answer", err)
	}
	if o.Name != "my_plugin" {
		t.Errorf("the name answered before the end was lost: %q", o.Name)
	}
}

func TestAskLastLineWithoutNewline(t *testing.T) {
	o := Options{Author: "a", Description: "d", Repo: "https://x.y", Category: Tool, Language: "python", Permissions: Permissions{Tool: true}, MinDifyVersion: "1.0.0", I18nReadme: []string{}}
	if err := Ask(context.Background(), strings.NewReader("last_line"), io.Discard, &o); err != nil {
		t.Fatal(err)
	}
	if o.Name != "last_line" {
		t.Errorf("name = %q", o.Name)
	}
}

func TestAskCancelled(t *testing.T) {
	// Cancelled while waiting for an answer that never comes.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	pr, pw := io.Pipe() // never written: a terminal nobody types into
	defer pw.Close()
	o := Options{}
	if err := Ask(ctx, pr, io.Discard, &o); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ask = %v, want context.Canceled", err)
	}
}

//go:build unix

package runtime

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plugd/plugd/internal/runtime/benchkit"
)

// TestLLMStreamFromOpenAIServer checks the plugin and fake server of BenchmarkLLMStream on a
// short stream: the SDK's OAICompatLargeLanguageModel turns each SSE chunk into an LLM chunk
// and ends with the usage the server sent.
func TestLLMStreamFromOpenAIServer(t *testing.T) {
	t.Parallel()
	fake := &benchkit.FakeOpenAI{Chunks: 20, Interval: time.Millisecond}
	if err := fake.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	l := start(t, testConfig(t, "oaistream"))
	s, err := l.InvokePayload(testCtx(t, time.Minute), llmRequest(fake.URL()), InvokeContext{UserID: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	items, err := collect(s)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var last struct {
		Delta struct {
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
			FinishReason string `json:"finish_reason"`
		} `json:"delta"`
	}
	for _, m := range items {
		var chunk struct {
			Delta struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"delta"`
		}
		if err := json.Unmarshal(m.Data, &chunk); err != nil {
			t.Fatal(err)
		}
		text.WriteString(chunk.Delta.Message.Content)
		json.Unmarshal(m.Data, &last)
	}
	if len(items) != 21 || !strings.HasPrefix(text.String(), "the quick brown fox") {
		t.Fatalf("%d chunks, %q", len(items), text.String())
	}
	if last.Delta.Usage == nil || last.Delta.Usage.CompletionTokens != 20 || last.Delta.FinishReason != "stop" {
		t.Errorf("last chunk: %s", items[len(items)-1].Data)
	}
	if fake.Finished.Load() != 1 {
		t.Errorf("the server streamed %d calls to the end, want 1", fake.Finished.Load())
	}
}

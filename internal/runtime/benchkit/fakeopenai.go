package benchkit

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// FakeOpenAI is an OpenAI-compatible chat-completions endpoint that streams a fixed number of
// chunks at a fixed interval, as a slow model would: `data: {chat.completion.chunk}` lines
// separated by blank lines, a last chunk with finish_reason "stop", a chunk with the usage
// and no choices (as OpenAI sends with stream_options.include_usage), then `data: [DONE]`.
// The usage chunk matters: without it the SDK counts tokens with tiktoken's GPT-2 encoding,
// which it downloads.
type FakeOpenAI struct {
	Chunks   int           // content chunks per call; default 400
	Interval time.Duration // before each chunk; default 10 ms

	Started, Finished atomic.Int64 // calls begun and streamed to the end

	srv   *http.Server
	ln    net.Listener
	lines [][]byte // every event of a call, rendered once: the server is not what is measured
	every time.Duration
}

// Start listens on a loopback port and serves until Close.
func (f *FakeOpenAI) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.ln = ln
	f.render()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", f.chat)
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return nil
}

// URL is the base URL a client appends "chat/completions" to (the SDK's endpoint_url).
func (f *FakeOpenAI) URL() string { return "http://" + f.ln.Addr().String() + "/v1" }

// Close stops the server and ends streams in progress.
func (f *FakeOpenAI) Close() error { return f.srv.Close() }

type chunk struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage,omitempty"`
}

type choice struct {
	Index        int     `json:"index"`
	Delta        delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type delta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

var words = strings.Fields("the quick brown fox jumps over the lazy dog")

// render builds the `data:` events of one call: Chunks content chunks, the last with
// finish_reason "stop", the usage chunk, and [DONE].
func (f *FakeOpenAI) render() {
	n := f.Chunks
	if n <= 0 {
		n = 400
	}
	f.every = f.Interval
	if f.every <= 0 {
		f.every = 10 * time.Millisecond
	}
	c := chunk{ID: "chatcmpl-fake", Object: "chat.completion.chunk", Created: time.Now().Unix(), Model: "fake-gpt"}
	event := func() []byte {
		b, _ := json.Marshal(c)
		return []byte("data: " + string(b) + "\n\n")
	}
	stop := "stop"
	for i := range n {
		d := delta{Content: words[i%len(words)] + " "}
		if i == 0 {
			d.Role = "assistant"
		}
		c.Choices = []choice{{Delta: d}}
		if i == n-1 {
			c.Choices[0].FinishReason = &stop
		}
		f.lines = append(f.lines, event())
	}
	c.Choices = []choice{}
	c.Usage = &usage{PromptTokens: 10, CompletionTokens: n, TotalTokens: 10 + n}
	last := append(event(), "data: [DONE]\n\n"...)
	f.lines = append(f.lines, last)
}

func (f *FakeOpenAI) chat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Stream bool `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || !req.Stream {
		http.Error(w, `{"error":{"message":"only stream:true requests"}}`, http.StatusBadRequest)
		return
	}
	f.Started.Add(1)
	flusher := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	// A ticker rather than a sleep per chunk: the pace does not drift with the time each
	// write takes, so a call lasts Chunks*Interval however loaded the machine is. The usage
	// chunk and [DONE] follow the last content chunk at once.
	tick := time.NewTicker(f.every)
	defer tick.Stop()
	for i, line := range f.lines {
		if i < len(f.lines)-1 {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
		if _, err := w.Write(line); err != nil {
			return
		}
		flusher.Flush()
	}
	f.Finished.Add(1)
}

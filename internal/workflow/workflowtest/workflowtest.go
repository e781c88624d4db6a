// Package workflowtest is a fake of a Dify workflow app's public API for tests (the workflow
// package's and the end-to-end ones), written from Dify's documentation of that API.
package workflowtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// App is a Dify workflow app's public API (the "service API"), written from Dify's
// documentation of it (web/app/components/develop/template/template_workflow.en.mdx): Bearer
// app-key auth, GET /parameters with user_input_form, GET /info, and POST /workflows/run in
// blocking mode (one JSON object) and streaming mode (`data: {event...}` lines separated by
// blank lines, with `event: ping` keep-alives). The app greets: outputs {"greeting": "Hello,
// <name>!" repeated <times> times}, and fails when name is "crash".
// Serve it under /v1 (the base URL is the server's URL + "/v1").
type App struct {
	key string

	mu    sync.Mutex
	calls []map[string]any // bodies of /workflows/run
}

// NewApp returns an app opened by the API key key.
func NewApp(key string) *App { return &App{key: key} }

// Calls returns the bodies of every /workflows/run received, oldest first.
func (f *App) Calls() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.calls...)
}

func difyError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "status": status})
}

func (f *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		difyError(w, http.StatusUnauthorized, "unauthorized", "Access token is invalid")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/parameters":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"user_input_form":[
			{"text-input":{"label":"Name","variable":"name","required":true,"max_length":48,"default":""}},
			{"select":{"label":"Tone","variable":"tone","required":false,"default":"warm","options":["warm","dry"]}},
			{"number":{"label":"Times","variable":"times","required":false,"default":""}}],
			"file_upload":{"image":{"enabled":false,"number_limits":3,"detail":"high","transfer_methods":["remote_url","local_file"]}},
			"system_parameters":{"file_size_limit":15,"image_file_size_limit":10,"audio_file_size_limit":50,"video_file_size_limit":100}}`)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/info":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"name":"Greeter","description":"Greets someone","tags":[],"mode":"workflow","author_name":"me"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/workflows/run":
		f.run(w, r)
	default:
		difyError(w, http.StatusNotFound, "not_found", "The requested URL was not found on the server.")
	}
}

func (f *App) run(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Inputs       map[string]any `json:"inputs"`
		ResponseMode string         `json:"response_mode"`
		User         string         `json:"user"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		difyError(w, http.StatusBadRequest, "invalid_param", "body is not JSON")
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, map[string]any{"inputs": body.Inputs, "response_mode": body.ResponseMode, "user": body.User})
	f.mu.Unlock()
	name, _ := body.Inputs["name"].(string)
	if name == "" {
		difyError(w, http.StatusBadRequest, "invalid_param", "name is required in input form")
		return
	}
	if body.User == "" {
		difyError(w, http.StatusBadRequest, "invalid_param", "user is required")
		return
	}
	times := 1
	if n, ok := body.Inputs["times"].(float64); ok && n > 0 {
		times = int(n)
	}
	greeting := strings.Repeat("Hello, "+name+"!", times)
	status, errText := "succeeded", any(nil)
	outputs := map[string]any{"greeting": greeting}
	if name == "crash" {
		status, errText, outputs = "failed", "node llm failed: boom", nil
	}
	if name == "files" {
		// A file output as Dify's service API serialises its File model.
		outputs["report"] = []any{map[string]any{"dify_model_identity": "__dify__file__", "id": "f-1", "tenant_id": "t",
			"type": "document", "transfer_method": "tool_file", "remote_url": nil, "related_id": "f-1",
			"filename": "report.pdf", "extension": ".pdf", "mime_type": "application/pdf", "size": 1234,
			"url": "http://files.example/files/tools/f-1.pdf?timestamp=1&nonce=n&sign=s"}}
	}
	finished := map[string]any{"id": "run-1", "workflow_id": "wf-1", "status": status, "outputs": outputs, "error": errText,
		"elapsed_time": 0.25, "total_tokens": 0, "total_steps": 3, "created_at": 1733560000, "finished_at": 1733560001}
	switch body.ResponseMode {
	case "blocking":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"workflow_run_id": "run-1", "task_id": "task-1", "data": finished})
	case "streaming":
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		send := func(ev map[string]any) {
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "data: %s\n\n", b)
			fl.Flush()
		}
		base := func(event string, data any) map[string]any {
			return map[string]any{"event": event, "task_id": "task-1", "workflow_run_id": "run-1", "data": data}
		}
		send(base("workflow_started", map[string]any{"id": "run-1", "workflow_id": "wf-1", "sequence_number": 1, "created_at": 1733560000}))
		send(base("node_started", map[string]any{"id": "ex-1", "node_id": "start", "node_type": "start", "title": "Start", "index": 1, "predecessor_node_id": nil, "inputs": body.Inputs, "created_at": 1733560000}))
		send(base("node_finished", map[string]any{"id": "ex-1", "node_id": "start", "node_type": "start", "title": "Start", "index": 1, "status": "succeeded", "outputs": body.Inputs, "elapsed_time": 0.01, "created_at": 1733560000}))
		fmt.Fprint(w, "event: ping\n\n")
		fl.Flush()
		for i := range times {
			send(base("text_chunk", map[string]any{"text": fmt.Sprintf("Hello, %s!", name), "from_variable_selector": []string{"llm", fmt.Sprint(i)}}))
		}
		send(base("workflow_finished", finished))
	default:
		difyError(w, http.StatusBadRequest, "invalid_param", "response_mode must be blocking or streaming")
	}
}

package workflow_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/catalog/catalogtest"
	"github.com/plugd/plugd/internal/store/sqlstore"
	"github.com/plugd/plugd/internal/workflow"
	"github.com/plugd/plugd/internal/workflow/workflowtest"
)

func newFakeApp(t *testing.T, key string) (*workflowtest.App, string) {
	app := workflowtest.NewApp(key)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return app, srv.URL + "/v1"
}

func collect(t *testing.T, st catalog.Stream) ([]catalog.Message, error) {
	t.Helper()
	defer st.Close()
	var out []catalog.Message
	for {
		m, err := st.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func newCatalog(t *testing.T) *catalog.Catalog {
	db, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "plugd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	client := &workflow.Client{}
	return catalog.New(catalog.Config{Store: db, Secrets: catalogtest.NewSecrets(),
		Callers: map[catalog.Kind]catalog.Caller{catalog.KindWorkflow: workflow.Caller{Client: client}}})
}

// TestWorkflowTool adds the fake app as a provider and calls it, blocking and streaming,
// through the catalog as every interface does.
func TestWorkflowTool(t *testing.T) {
	app, base := newFakeApp(t, "app-secret-key-123")
	ctx := t.Context()
	c := newCatalog(t)
	client := &workflow.Client{}
	for _, mode := range []string{workflow.Blocking, workflow.Streaming} {
		t.Run(mode, func(t *testing.T) {
			np, err := client.NewProvider(ctx, "greeter-"+mode, "", "", workflow.Config{BaseURL: base, ResponseMode: mode}, "app-secret-key-123")
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Add(ctx, "t1", np)
			if err != nil {
				t.Fatal(err)
			}
			if p.Label != "Greeter" || p.Description != "Greets someone" || p.Credentials["api_key"] != "ap**************23" {
				t.Fatalf("provider as added: %+v", p)
			}
			var schema struct {
				Properties map[string]map[string]any `json:"properties"`
				Required   []string                  `json:"required"`
			}
			if err := json.Unmarshal(p.Tools[0].InputSchema, &schema); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(schema.Required, []string{"name"}) || schema.Properties["tone"]["type"] != "string" ||
				schema.Properties["times"]["type"] != "number" || schema.Properties["name"]["maxLength"] != float64(48) {
				t.Fatalf("input schema: %s", p.Tools[0].InputSchema)
			}

			st, err := c.Call(ctx, "t1", catalog.CallRequest{ProviderID: p.ID, Tool: p.Name, UserID: "u1",
				Arguments: map[string]any{"name": "Ada", "times": 2}})
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := collect(t, st)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, m := range msgs {
				kinds = append(kinds, m.Type)
			}
			want := []string{"text", "json"}
			if mode == workflow.Streaming {
				want = []string{"log", "log", "text", "text", "text", "json"}
			}
			if !reflect.DeepEqual(kinds, want) {
				t.Fatalf("message kinds %v, want %v: %+v", kinds, want, msgs)
			}
			last := msgs[len(msgs)-1]
			if string(last.Message) != `{"json_object":{"greeting":"Hello, Ada!Hello, Ada!"}}` {
				t.Fatalf("json message %s", last.Message)
			}
			if txt := msgs[len(msgs)-2]; string(txt.Message) != `{"text":"{\"greeting\":\"Hello, Ada!Hello, Ada!\"}"}` {
				t.Fatalf("text message %s", txt.Message)
			}
			if mode == workflow.Streaming {
				if string(msgs[2].Message) != `{"text":"Hello, Ada!"}` || !strings.Contains(string(msgs[1].Message), `"status":"success"`) {
					t.Fatalf("streamed messages %+v", msgs)
				}
			}
			calls := app.Calls()
			call := calls[len(calls)-1]
			if call["response_mode"] != mode || call["user"] != "u1" {
				t.Fatalf("the app got %v", call)
			}

			// A file output comes as a link message with its name and type, and leaves the JSON.
			st, err = c.Call(ctx, "t1", catalog.CallRequest{ProviderID: p.ID, Tool: p.Name, Arguments: map[string]any{"name": "files"}})
			if err != nil {
				t.Fatal(err)
			}
			msgs, err = collect(t, st)
			if err != nil {
				t.Fatal(err)
			}
			var link *catalog.Message
			for i := range msgs {
				if msgs[i].Type == "link" {
					link = &msgs[i]
				}
			}
			if link == nil || string(link.Message) != `{"text":"http://files.example/files/tools/f-1.pdf?timestamp=1\u0026nonce=n\u0026sign=s"}` ||
				!strings.Contains(string(link.Meta), `"filename":"report.pdf"`) || !strings.Contains(string(link.Meta), `"mime_type":"application/pdf"`) {
				t.Fatalf("file output: %+v", msgs)
			}
			if last := msgs[len(msgs)-1]; string(last.Message) != `{"json_object":{"greeting":"Hello, files!"}}` {
				t.Fatalf("json message with the file taken out: %s", last.Message)
			}

			// A failed run is an error naming the run's error, in both modes.
			st, err = c.Call(ctx, "t1", catalog.CallRequest{ProviderID: p.ID, Tool: p.Name, Arguments: map[string]any{"name": "crash"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := collect(t, st); !errors.Is(err, catalog.ErrCallFailed) || !strings.Contains(err.Error(), "boom") {
				t.Fatalf("failed run: %v", err)
			}
			// A missing required input is refused before the app is called.
			n := len(app.Calls())
			if _, err := c.Call(ctx, "t1", catalog.CallRequest{ProviderID: p.ID, Tool: p.Name}); !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), "name") {
				t.Fatalf("missing input: %v", err)
			}
			if len(app.Calls()) != n {
				t.Fatal("the app was called without its required input")
			}
		})
	}

	// A wrong key is Dify's 401, explained.
	if _, err := client.Describe(ctx, workflow.Config{BaseURL: base}, "wrong"); err == nil || !strings.Contains(err.Error(), "Access token is invalid") {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := client.Describe(ctx, workflow.Config{BaseURL: "ftp://x"}, "k"); !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestParseParametersRefuses(t *testing.T) {
	for _, bad := range []string{
		`{"user_input_form":[{"text-input":{"label":"x"}}]}`,
		`{"user_input_form":[{"text-input":{"variable":"a"},"select":{"variable":"b"}}]}`,
		`{"user_input_form":[{"text-input":{"variable":"a"}},{"number":{"variable":"a"}}]}`,
		`{"user_input_form":[{"select":{"variable":"a","options":[1]}}]}`,
		`[]`,
	} {
		if _, err := workflow.ParseParameters([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzParseParameters(f *testing.F) {
	f.Add([]byte(`{"user_input_form":[{"text-input":{"label":"Name","variable":"name","required":true,"max_length":48}}]}`))
	f.Add([]byte(`{"user_input_form":[{"select":{"variable":"t","options":["a","b"]}},{"file-list":{"variable":"f"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := workflow.ParseParameters(data)
		if err != nil {
			return
		}
		var s map[string]any
		if err := json.Unmarshal(workflow.InputSchema(in), &s); err != nil || s["type"] != "object" {
			t.Fatalf("schema of %v: %v", in, err)
		}
	})
}

func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"event":"text_chunk","data":{"text":"hi"}}`))
	f.Add([]byte(`{"event":"workflow_finished","data":{"status":"succeeded","outputs":{"a":1}}}`))
	f.Add([]byte(`{"event":"node_finished","data":{"id":"x","status":"failed","error":"e"}}`))
	f.Add([]byte(`{"event":"error","status":400,"code":"x","message":"m"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, end, err := workflow.ParseEvent(data)
		if err != nil && (len(msgs) > 0 || end && !errors.Is(err, catalog.ErrCallFailed)) {
			t.Fatalf("error %v with messages %v", err, msgs)
		}
		for _, m := range msgs {
			if m.Type == "" || !json.Valid(m.Message) {
				t.Fatalf("bad message %+v", m)
			}
		}
	})
}

package cli

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/manifest"
	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

type invokeFlags struct {
	tool, provider, llm, prompt, request, outDir string
	params, credentials, modelParams             []string
	validate, asJSON                             bool
}

func newInvokeCmd(env Env) *cobra.Command {
	var (
		hf hostFlags
		f  invokeFlags
	)
	c := &cobra.Command{
		Use:   "invoke DIR|PKG",
		Short: "Run one action of a plugin and print what it streams back",
		Long: "Start the plugin (building its environment if needed), send it one request and print the\n" +
			"streamed results; files and blobs are saved under --out. One of:\n" +
			"  --tool NAME [--param k=v ...] [--credential k=v ...]\n" +
			"  --llm MODEL --prompt TEXT [--model-param k=v ...] [--credential k=v ...]\n" +
			"  --validate-credentials [--credential k=v ...]\n" +
			"  --request FILE.json   {\"type\":\"tool\",\"action\":\"invoke_tool\",\"data\":{...}} for any action\n" +
			"Values of --param are converted by the type the tool declares for the parameter: string,\n" +
			"secret-input and select stay strings (a select value must be one of its options), number\n" +
			"and boolean are parsed, object/file/app-selector/model-selector take a JSON object and\n" +
			"array/files a JSON array. A missing required parameter, an unknown tool or a value that\n" +
			"does not fit its type is a command-line error (exit 2). Undeclared parameters and\n" +
			"--model-param values are JSON when they parse as JSON (42, true, [1]), else strings.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			access, action, data, err := f.build()
			if err != nil {
				return usageError{err}
			}
			status := func(msg string) {
				if hf.verbose {
					fmt.Fprintln(cmd.ErrOrStderr(), msg)
				}
			}
			// An action that depends on the plugin is resolved against its declaration before
			// the environment is built, so a wrong command line fails at once.
			resolve := func(p *manifest.Plugin) error {
				if access != "" {
					return nil
				}
				var err error
				if access, action, data, err = f.resolve(p, cmd.ErrOrStderr()); err != nil {
					return usageError{err}
				}
				return nil
			}
			h, err := startHost(ctx, args[0], &hf, status, cmd.ErrOrStderr(), resolve)
			if err != nil {
				return err
			}
			defer h.Close(context.WithoutCancel(ctx))
			stream, err := h.Runtime.Invoke(ctx, access, action, data, runtime.InvokeContext{TenantID: cliTenant(), UserID: "plugd-cli"})
			if err != nil {
				return err
			}
			defer stream.Close()
			p := &resultPrinter{out: cmd.OutOrStdout(), errw: cmd.ErrOrStderr(), asJSON: f.asJSON, outDir: f.outDir, blobs: wire.NewBlobAssembler(256 << 20)}
			for {
				item, err := stream.Next()
				if errors.Is(err, io.EOF) {
					p.finish()
					return p.blobs.Finish()
				}
				if err != nil {
					p.finish()
					return err
				}
				if err := p.print(access, item); err != nil {
					return err
				}
			}
		},
	}
	hf.register(c)
	fl := c.Flags()
	fl.StringVar(&f.tool, "tool", "", "tool to invoke")
	fl.StringVar(&f.provider, "provider", "", "provider of the tool or model (default the plugin's only one)")
	fl.StringArrayVar(&f.params, "param", nil, "tool parameter k=v (repeatable)")
	fl.StringArrayVar(&f.credentials, "credential", nil, "credential k=v (repeatable)")
	fl.StringVar(&f.llm, "llm", "", "LLM model to invoke")
	fl.StringVar(&f.prompt, "prompt", "", "user prompt for --llm")
	fl.StringArrayVar(&f.modelParams, "model-param", nil, "model parameter k=v for --llm (repeatable)")
	fl.BoolVar(&f.validate, "validate-credentials", false, "validate --credential values with the plugin's provider")
	fl.StringVar(&f.request, "request", "", "JSON file holding {type, action, data} for any action")
	fl.StringVar(&f.outDir, "out", ".", "folder where files and blobs are saved")
	fl.BoolVar(&f.asJSON, "json", false, "print each streamed item as a JSON line")
	return c
}

// build turns the flags into a request when it does not depend on the declaration
// (--request); otherwise it checks that exactly one action was asked for.
func (f *invokeFlags) build() (wire.AccessType, wire.Action, json.RawMessage, error) {
	n := 0
	for _, set := range []bool{f.tool != "", f.llm != "", f.validate, f.request != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", "", nil, errors.New("give exactly one of --tool, --llm, --validate-credentials or --request")
	}
	if f.llm != "" && f.prompt == "" {
		return "", "", nil, errors.New("--llm needs --prompt")
	}
	if f.request == "" {
		return "", "", nil, nil
	}
	raw, err := os.ReadFile(f.request)
	if err != nil {
		return "", "", nil, err
	}
	var req struct {
		Type    wire.AccessType `json:"type"`
		Action  wire.Action     `json:"action"`
		Data    json.RawMessage `json:"data"`
		Request json.RawMessage `json:"request"` // the SDK test runner's name for data
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", f.request, err)
	}
	if req.Data == nil {
		req.Data = req.Request
	}
	if req.Type == "" || req.Action == "" || len(req.Data) == 0 {
		return "", "", nil, fmt.Errorf("%s: want an object with \"type\", \"action\" and \"data\"", f.request)
	}
	if t, ok := req.Action.AccessType(); !ok || t != req.Type {
		return "", "", nil, fmt.Errorf("%s: action %q does not belong to type %q", f.request, req.Action, req.Type)
	}
	return req.Type, req.Action, req.Data, nil
}

// resolve builds the request for --tool, --llm and --validate-credentials from the plugin's
// declaration: which provider, which action.
func (f *invokeFlags) resolve(p *manifest.Plugin, warn io.Writer) (wire.AccessType, wire.Action, json.RawMessage, error) {
	creds, err := keyValues(f.credentials, false)
	if err != nil {
		return "", "", nil, fmt.Errorf("--credential: %w", err)
	}
	switch {
	case f.tool != "":
		if p.Tool == nil {
			return "", "", nil, fmt.Errorf("%s has no tools", p.Identity())
		}
		provider := f.provider
		if provider == "" {
			provider = p.Tool.Identity.Name
		}
		i := slices.IndexFunc(p.Tool.Tools, func(t manifest.Tool) bool { return t.Identity.Name == f.tool })
		if i < 0 {
			var names []string
			for _, t := range p.Tool.Tools {
				names = append(names, t.Identity.Name)
			}
			return "", "", nil, fmt.Errorf("%s has no tool %q; its tools: %s", p.Identity(), f.tool, strings.Join(names, ", "))
		}
		params, err := toolParams(&p.Tool.Tools[i], f.params, warn)
		if err != nil {
			return "", "", nil, err
		}
		data, err := json.Marshal(wire.InvokeTool{Provider: provider, Tool: f.tool, Credentials: wire.Object(creds), ToolParameters: wire.Object(params)})
		return wire.AccessTool, wire.ActionInvokeTool, data, err
	case f.llm != "":
		if p.Model == nil {
			return "", "", nil, fmt.Errorf("%s has no models", p.Identity())
		}
		mp, err := keyValues(f.modelParams, true)
		if err != nil {
			return "", "", nil, fmt.Errorf("--model-param: %w", err)
		}
		msgs, _ := json.Marshal([]map[string]any{{"role": "user", "content": f.prompt}})
		stream := true
		data, err := json.Marshal(wire.InvokeLLM{
			ModelBase:       wire.ModelBase{Provider: p.Model.Provider, ModelType: "llm", Model: f.llm, Credentials: wire.Object(creds)},
			PromptMessages:  msgs,
			ModelParameters: wire.Object(mp),
			Stop:            json.RawMessage("[]"),
			Tools:           json.RawMessage("[]"),
			Stream:          &stream,
		})
		return wire.AccessModel, wire.ActionInvokeLLM, data, err
	default: // --validate-credentials
		switch {
		case p.Tool != nil:
			data, err := json.Marshal(map[string]any{"provider": p.Tool.Identity.Name, "credentials": creds})
			return wire.AccessTool, wire.ActionValidateToolCredentials, data, err
		case p.Model != nil:
			data, err := json.Marshal(map[string]any{"provider": p.Model.Provider, "credentials": creds})
			return wire.AccessModel, wire.ActionValidateProviderCreds, data, err
		case p.Datasource != nil:
			data, err := json.Marshal(map[string]any{"provider": p.Datasource.Identity.Name, "credentials": creds})
			return wire.AccessDatasource, wire.ActionValidateDatasourceCredentials, data, err
		case p.Trigger != nil:
			data, err := json.Marshal(map[string]any{"provider": p.Trigger.Identity.Name, "credentials": creds})
			return wire.AccessTrigger, wire.ActionValidateTriggerCredentials, data, err
		}
		return "", "", nil, fmt.Errorf("%s has no provider with credentials; use --request", p.Identity())
	}
}

// keyValues parses k=v pairs into a JSON object; with typed, values that parse as JSON keep
// their type.
func keyValues(pairs []string, typed bool) (json.RawMessage, error) {
	m := make(map[string]any, len(pairs))
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		var parsed any
		if typed && json.Unmarshal([]byte(v), &parsed) == nil {
			m[k] = parsed
		} else {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// resultPrinter prints streamed items for a human (or as JSON lines) and saves blobs.
type resultPrinter struct {
	out, errw io.Writer
	asJSON    bool
	outDir    string
	blobs     *wire.BlobAssembler
	midLine   bool // an LLM stream printed text without a newline yet
}

func (p *resultPrinter) print(access wire.AccessType, item wire.SessionMessage) error {
	var tm wire.ToolMessage
	isToolMessage := (access == wire.AccessTool || access == wire.AccessAgentStrategy) && json.Unmarshal(item.Data, &tm) == nil && tm.Type != ""
	if isToolMessage {
		blob, consumed, err := p.blobs.Add(tm)
		if err != nil {
			return err
		}
		if consumed && blob == nil {
			return nil // a chunk of a blob still arriving
		}
		if blob != nil {
			path, err := p.saveBlob(blob.ID, blob.Data, blob.Meta)
			if err != nil {
				return err
			}
			return p.line(map[string]any{"type": "blob", "file": path, "size": len(blob.Data), "meta": blob.Meta}, fmt.Sprintf("blob: %s (%s)", path, humanBytes(int64(len(blob.Data)))))
		}
		if tm.Type == wire.ToolBlob {
			var b struct {
				Blob []byte `json:"blob"`
			}
			if err := json.Unmarshal(tm.Message, &b); err != nil {
				return err
			}
			path, err := p.saveBlob(fmt.Sprintf("blob-%d", len(b.Blob)), b.Blob, tm.Meta)
			if err != nil {
				return err
			}
			return p.line(map[string]any{"type": "blob", "file": path, "size": len(b.Blob), "meta": tm.Meta}, "blob: "+path)
		}
		return p.line(item.Data, humanToolMessage(tm))
	}
	if access == wire.AccessEndpoint && !p.asJSON {
		var r struct {
			Status  int               `json:"status"`
			Headers map[string]string `json:"headers"`
			Result  wire.Hex          `json:"result"`
		}
		if json.Unmarshal(item.Data, &r) == nil {
			if r.Status != 0 {
				fmt.Fprintf(p.errw, "HTTP %d\n", r.Status)
				for k, v := range r.Headers {
					fmt.Fprintf(p.errw, "%s: %s\n", k, v)
				}
			}
			_, err := p.out.Write(r.Result)
			p.midLine = len(r.Result) > 0 && r.Result[len(r.Result)-1] != '\n'
			return err
		}
	}
	if access == wire.AccessModel && !p.asJSON {
		var chunk struct {
			Delta *struct {
				Message struct {
					Content any `json:"content"`
				} `json:"message"`
				Usage        json.RawMessage `json:"usage"`
				FinishReason *string         `json:"finish_reason"`
			} `json:"delta"`
		}
		if json.Unmarshal(item.Data, &chunk) == nil && chunk.Delta != nil {
			if s, ok := chunk.Delta.Message.Content.(string); ok {
				fmt.Fprint(p.out, s)
				p.midLine = s != "" && !strings.HasSuffix(s, "\n")
			}
			if chunk.Delta.FinishReason != nil {
				p.finish()
				fmt.Fprintf(p.errw, "finish reason: %s\n", *chunk.Delta.FinishReason)
			}
			return nil
		}
	}
	return p.line(item.Data, string(item.Data))
}

func (p *resultPrinter) finish() {
	if p.midLine {
		fmt.Fprintln(p.out)
		p.midLine = false
	}
}

func (p *resultPrinter) line(jsonValue any, human string) error {
	if p.asJSON {
		data, err := json.Marshal(jsonValue)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.out, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintln(p.out, human)
	return err
}

func humanToolMessage(tm wire.ToolMessage) string {
	var m map[string]any
	_ = json.Unmarshal(tm.Message, &m)
	switch tm.Type {
	case wire.ToolText:
		return fmt.Sprint(m["text"])
	case wire.ToolLink, wire.ToolImage:
		return fmt.Sprintf("%s: %v", tm.Type, m["text"])
	case wire.ToolJSON:
		data, _ := json.MarshalIndent(m["json_object"], "", "  ")
		return string(data)
	case wire.ToolVariable:
		v, _ := json.Marshal(m["variable_value"])
		return fmt.Sprintf("variable %v = %s", m["variable_name"], v)
	case wire.ToolLog:
		return fmt.Sprintf("log [%v] %v", m["status"], m["label"])
	}
	return fmt.Sprintf("%s: %s", tm.Type, tm.Message)
}

// saveBlob writes a blob under the output folder, named after meta.filename when it is a
// plain file name, else after its id, and returns its path. Both names come from the plugin,
// so the write is confined to the folder with os.Root: neither "../x" nor a symlink planted
// in the folder can make it land elsewhere.
func (p *resultPrinter) saveBlob(id string, data []byte, meta json.RawMessage) (string, error) {
	var m struct {
		Filename string `json:"filename"`
	}
	_ = json.Unmarshal(meta, &m)
	name := m.Filename
	if !plainFileName(name) {
		name = id + ".bin"
	}
	if !plainFileName(name) {
		sum := sha256.Sum256([]byte(id))
		name = fmt.Sprintf("blob-%x.bin", sum[:6])
	}
	if err := os.MkdirAll(p.outDir, 0o755); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(p.outDir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	path := filepath.Join(p.outDir, name)
	if err := root.WriteFile(name, data, 0o644); err != nil {
		return "", fmt.Errorf("saving blob %q: %w", name, err)
	}
	return path, nil
}

// plainFileName reports whether name is one file name: no separator, not . or .., no NUL.
func plainFileName(name string) bool {
	return name != "" && name != "." && name != ".." && filepath.IsLocal(name) &&
		!strings.ContainsAny(name, "/\\\x00") && len(name) <= 255
}

// cliTenant is the tenant the developer commands act for: $PLUGD_TENANT, else "default", as
// the daemon's client commands. It keys plugin storage and is what calls into Dify carry.
func cliTenant() string {
	if t := os.Getenv("PLUGD_TENANT"); t != "" {
		return t
	}
	return "default"
}

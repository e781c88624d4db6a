package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/wire"
)

// runRequest is one line a client writes to `plugin run` on stdin: the shape the
// dify-plugin SDK's test harness (dify_plugin.integration PluginRunner) sends.
type runRequest struct {
	InvokeID string          `json:"invoke_id"`
	Type     wire.AccessType `json:"type"`
	Action   wire.Action     `json:"action"`
	Request  json.RawMessage `json:"request"`
}

// runResponse is one line `plugin run` writes on stdout in json mode. Type is info, error,
// plugin_ready, plugin_response or plugin_invoke_end; invoke_id is "" for messages about the
// plugin as a whole.
type runResponse struct {
	InvokeID string `json:"invoke_id"`
	Type     string `json:"type"`
	Response any    `json:"response"`
}

func newRunCmd(env Env) *cobra.Command {
	var (
		hf     hostFlags
		mode   string
		format string
	)
	c := &cobra.Command{
		Use:   "run DIR|PKG",
		Short: "Build the environment, start the plugin and serve requests from stdin",
		Long: "Build (or reuse) the plugin's Python environment, start the plugin, print its declaration\n" +
			"and keep it running, showing its logs, until interrupted.\n\n" +
			"Requests may be written to stdin, one JSON object per line:\n" +
			"  {\"invoke_id\":\"1\",\"type\":\"tool\",\"action\":\"invoke_tool\",\"request\":{...}}\n" +
			"and each result comes back as a line on stdout (with --response-format json):\n" +
			"  {\"invoke_id\":\"1\",\"type\":\"plugin_response\",\"response\":{...}} ... plugin_invoke_end\n" +
			"which is what the dify-plugin SDK's integration test runner speaks.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != "stdio" {
				return usageError{fmt.Errorf("--mode %q is not supported: only stdio", mode)}
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("--response-format %q: want text or json", format)}
			}
			ctx := cmd.Context()
			out := &lockedWriter{w: cmd.OutOrStdout()}
			asJSON := format == "json"
			status := func(msg string) {
				if asJSON {
					out.writeJSON(runResponse{Type: "info", Response: map[string]string{"info": msg}})
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), msg)
				}
			}
			h, err := startHost(ctx, args[0], &hf, status, cmd.ErrOrStderr(), nil)
			if err != nil {
				if asJSON {
					out.writeJSON(runResponse{Type: "error", Response: map[string]string{"error": err.Error()}})
				}
				return err
			}
			defer h.Close(context.WithoutCancel(ctx))

			if asJSON {
				out.writeJSON(runResponse{Type: "info", Response: map[string]any{"declaration": h.Plugin}})
				out.writeJSON(runResponse{Type: "plugin_ready", Response: map[string]string{"info": "plugin loaded"}})
			} else {
				if err := printJSON(cmd.OutOrStdout(), h.Plugin); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s is running; requests are read from stdin; Ctrl-C stops it\n", h.Plugin.Identity())
			}
			// Stdin may stay open after the caller is done (the SDK's runner never closes it), so
			// it is served on the side and only a signal ends the command.
			go serveStdin(ctx, h.Runtime, env.Stdin, out)
			<-ctx.Done()
			return nil
		},
	}
	hf.register(c)
	c.Flags().StringVarP(&mode, "mode", "m", "stdio", "how requests arrive: stdio")
	c.Flags().StringVarP(&format, "response-format", "r", "text", "text or json")
	c.Flags().BoolP("enable-logs", "l", false, "accepted for compatibility; logs always go to stderr")
	return c
}

// serveStdin answers request lines from in until it ends; each request runs concurrently.
func serveStdin(ctx context.Context, rt *runtime.Local, in io.Reader, out *lockedWriter) {
	r := wire.NewLineReader(in, 0)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		line, err := r.Next()
		if err != nil {
			return
		}
		var req runRequest
		if err := json.Unmarshal(line, &req); err != nil || req.InvokeID == "" {
			out.writeJSON(runResponse{InvokeID: req.InvokeID, Type: "error", Response: map[string]string{"error": fmt.Sprintf("bad request line: want {\"invoke_id\",\"type\",\"action\",\"request\"}: %v", err)}})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveOne(ctx, rt, req, out)
		}()
	}
}

func serveOne(ctx context.Context, rt *runtime.Local, req runRequest, out *lockedWriter) {
	fail := func(err error) {
		out.writeJSON(runResponse{InvokeID: req.InvokeID, Type: "error", Response: map[string]string{"error": err.Error()}})
		out.writeJSON(runResponse{InvokeID: req.InvokeID, Type: "plugin_invoke_end", Response: map[string]any{}})
	}
	var ids struct {
		UserID string `json:"user_id"`
	}
	_ = json.Unmarshal(req.Request, &ids)
	stream, err := rt.Invoke(ctx, req.Type, req.Action, req.Request, runtime.InvokeContext{UserID: ids.UserID})
	if err != nil {
		fail(err)
		return
	}
	defer stream.Close()
	for {
		item, err := stream.Next()
		if errors.Is(err, io.EOF) {
			out.writeJSON(runResponse{InvokeID: req.InvokeID, Type: "plugin_invoke_end", Response: map[string]any{}})
			return
		}
		if err != nil {
			fail(err)
			return
		}
		out.writeJSON(runResponse{InvokeID: req.InvokeID, Type: "plugin_response", Response: item.Data})
	}
}

// lockedWriter writes whole JSON lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeJSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		data, _ = json.Marshal(runResponse{Type: "error", Response: map[string]string{"error": err.Error()}})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	bw := bufio.NewWriter(l.w)
	bw.Write(data)
	bw.WriteByte('\n')
	bw.Flush()
}

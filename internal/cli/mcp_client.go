package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/catalog"
)

// mcpClientCommands are the MCP-client subcommands of `plugd mcp`: MCP servers as tool
// providers of a running daemon (docs/mcp.md, client section).
func mcpClientCommands() []*cobra.Command {
	return []*cobra.Command{newMCPAddCmd(), newMCPListCmd(), newMCPToolsCmd(), newMCPRemoveCmd()}
}

// kvFlag reads repeated K=V flags.
func kvFlag(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usageError{fmt.Errorf("--%s %q: want K=V", flag, kv)}
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}

func newMCPAddCmd() *cobra.Command {
	var (
		f                                      remoteFlags
		url, command, transport, label, replID string
		headers, envs                          []string
		timeout, sseRead                       float64
		useOAuth                               bool
	)
	c := &cobra.Command{
		Use:   "add NAME (--url URL [--header K=V ...] | --command CMD [ARGS...] [--env K=V ...])",
		Short: "Add an MCP server as a tool provider: remote (streamable HTTP or SSE) or stdio",
		Long: "A remote server is reached at --url; its transport is read from the URL (.../mcp streamable\n" +
			"HTTP, .../sse SSE) or found by trying streamable HTTP, then SSE. A stdio server is started\n" +
			"from --command and the arguments after NAME (use -- before arguments that start with -),\n" +
			"with only PATH, HOME, TMPDIR, LANG and the --env values in its environment. Header and env\n" +
			"values are stored encrypted. The daemon connects once to list the server's tools; with --oauth\n" +
			"(a server behind an authorization server) it lists them once `plugd tools connect NAME` is done.",
		Args: func(cmd *cobra.Command, a []string) error {
			if len(a) < 1 {
				return usageError{errors.New("NAME is required")}
			}
			if len(a) > 1 && command == "" {
				return usageError{fmt.Errorf("unexpected arguments %q: only a --command takes arguments", a[1:])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			if (url == "") == (command == "") {
				return usageError{errors.New("give --url URL (a remote server) or --command CMD (a stdio server)")}
			}
			if url != "" && len(envs) > 0 {
				return usageError{errors.New("--env is for --command servers")}
			}
			if command != "" && (len(headers) > 0 || transport != "" || useOAuth) {
				return usageError{errors.New("--header, --transport and --oauth are for --url servers")}
			}
			h, err := kvFlag("header", headers)
			if err != nil {
				return err
			}
			e, err := kvFlag("env", envs)
			if err != nil {
				return err
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			body := map[string]any{"name": a[0], "label": label, "provider_id": replID, "url": url, "transport": transport,
				"headers": h, "command": command, "args": a[1:], "env": e, "timeout": timeout, "sse_read_timeout": sseRead, "oauth": useOAuth}
			p, err := cl.ImportTools(cmd.Context(), "mcp", body)
			if err != nil {
				return f.explain(err)
			}
			return printProvider(cmd.OutOrStdout(), f.asJSON, p, "added")
		},
	}
	// --url is the MCP server's here; the daemon's is --daemon-url (or $PLUGD_URL).
	f.registerURLAs(c, "print the provider as JSON", "daemon-url")
	fl := c.Flags()
	fl.StringVar(&url, "url", "", "the remote MCP server's URL")
	fl.StringVar(&transport, "transport", "", "streamable or sse (default: detected)")
	fl.StringArrayVar(&headers, "header", nil, "HTTP header K=V sent with every request (repeatable; stored encrypted)")
	fl.BoolVar(&useOAuth, "oauth", false, "the server requires OAuth: connect it with `plugd tools connect NAME` (docs/oauth.md)")
	fl.StringVar(&command, "command", "", "the stdio server's command; its arguments follow NAME")
	fl.StringArrayVar(&envs, "env", nil, "environment variable K=V for the command (repeatable; stored encrypted)")
	fl.Float64Var(&timeout, "timeout", 0, "seconds to connect and list tools (default 30)")
	fl.Float64Var(&sseRead, "sse-read-timeout", 0, "seconds a tool call may take (default 300)")
	fl.StringVar(&label, "label", "", "label (default: NAME)")
	fl.StringVar(&replID, "replace", "", "replace this provider id with the new settings")
	return c
}

func newMCPListCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's MCP servers",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.ToolProviders(cmd.Context(), catalog.KindMCP, true)
			if err != nil {
				return f.explain(err)
			}
			return printList(cmd.OutOrStdout(), f.asJSON, list, "no MCP servers", "ID\tNAME\tTOOLS\tSERVER", func(w io.Writer, p catalog.Provider) {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", p.ID, p.Name, len(p.Tools), serverOf(p))
			})
		},
	}
	f.register(c, "print the providers as JSON")
	return c
}

// serverOf describes where a provider's server is, from its config.
func serverOf(p catalog.Provider) string {
	var cfg struct {
		URL       string   `json:"url"`
		Transport string   `json:"transport"`
		Command   string   `json:"command"`
		Args      []string `json:"args"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		return "?"
	}
	if cfg.URL != "" {
		return cfg.URL + " (" + cfg.Transport + ")"
	}
	return oneLine(strings.Join(append([]string{cfg.Command}, cfg.Args...), " "), 60) + " (stdio)"
}

func newMCPToolsCmd() *cobra.Command {
	var (
		f       remoteFlags
		refresh bool
	)
	c := &cobra.Command{
		Use:   "tools PROVIDER_ID",
		Short: "List an MCP server's tools, as cached in the catalog (--refresh: asked anew)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			var p catalog.Provider
			if refresh {
				p, err = cl.RefreshTools(cmd.Context(), a[0])
			} else {
				p, err = cl.ToolProvider(cmd.Context(), a[0])
			}
			if err != nil {
				return f.explain(err)
			}
			if p.Kind != catalog.KindMCP {
				return fmt.Errorf("provider %s is of kind %s, not mcp", a[0], p.Kind)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, p.Tools)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOOL\tDESCRIPTION")
			for _, t := range p.Tools {
				fmt.Fprintf(tw, "%s\t%s\n", t.Name, oneLine(t.Description, 70))
			}
			return tw.Flush()
		},
	}
	f.register(c, "print the tools as JSON")
	c.Flags().BoolVar(&refresh, "refresh", false, "ask the server for its tools now and update the catalog")
	return c
}

func newMCPRemoveCmd() *cobra.Command {
	c := newToolsRemoveCmd()
	c.Short = "Remove an MCP server (its sessions stop when idle)"
	return c
}

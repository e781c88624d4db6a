package cli

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/mcpserver"
)

// newMCPCmd is `plugd mcp` (docs/mcp.md): the daemon's MCP server — its tokens, its tool
// sets, and `serve`, which puts it on stdio for desktop clients — and MCP servers as tool
// providers (add, list, tools, remove: mcp_client.go).
func newMCPCmd(env Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "mcp",
		Short: "MCP both ways: the daemon's tools served (tokens, tool sets, stdio) and MCP servers as tool providers",
	}
	token := &cobra.Command{Use: "token", Short: "Bearer tokens of the tenant's MCP endpoints (stored hashed)"}
	token.AddCommand(newMCPTokenCreateCmd(), newMCPTokenListCmd(), newMCPTokenRevokeCmd())
	set := &cobra.Command{Use: "set", Short: "Named tool sets: a URL per subset of the tenant's tools"}
	set.AddCommand(newMCPSetPutCmd(), newMCPSetListCmd(), newMCPSetDeleteCmd())
	c.AddCommand(newMCPServeCmd(env), token, set)
	c.AddCommand(mcpClientCommands()...)
	return c
}

func newMCPTokenCreateCmd() *cobra.Command {
	var (
		f         remoteFlags
		set, name string
		ttl       time.Duration
	)
	c := &cobra.Command{
		Use:   "create",
		Short: "Create a token for the tenant's MCP endpoint (or one tool set's); printed once",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				return usageError{fmt.Errorf("--ttl %s: want a positive duration, or 0 for no expiry", ttl)}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			t, err := cl.CreateMCPToken(cmd.Context(), set, name, int64(ttl/time.Second))
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, map[string]any{"id": t.ID, "tenant_id": t.Tenant, "set": t.Set, "name": t.Name,
					"token": t.Secret, "url": cl.MCPEndpoint(set), "created_at": t.CreatedAt, "expires_at": t.ExpiresAt})
			}
			fmt.Fprintf(out, "token %s (shown once, keep it secret):\n%s\nendpoint: %s\n", t.ID, t.Secret, cl.MCPEndpoint(set))
			return nil
		},
	}
	f.register(c, "print the token and its record as JSON")
	c.Flags().StringVar(&set, "set", "", "tool set the token opens (default: the whole catalog)")
	c.Flags().StringVar(&name, "name", "", "a note saying who or what uses the token")
	c.Flags().DurationVar(&ttl, "ttl", 0, "validity, e.g. 720h (default: no expiry)")
	return c
}

func newMCPTokenListCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's MCP tokens (their ids, never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.MCPTokens(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				if list == nil {
					list = []mcpserver.Token{}
				}
				return printJSON(out, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(out, "no tokens")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSET\tNAME\tCREATED\tEXPIRES")
			for _, t := range list {
				exp := "never"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, orDash(t.Set), orDash(t.Name), t.CreatedAt.Format(time.RFC3339), exp)
			}
			return tw.Flush()
		},
	}
	f.register(c, "print the tokens as JSON")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newMCPTokenRevokeCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: requests carrying it are refused from now on",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if err := cl.RevokeMCPToken(cmd.Context(), a[0]); err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"revoked": a[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", a[0])
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	return c
}

func newMCPSetPutCmd() *cobra.Command {
	var (
		f                      remoteFlags
		providers, tags, tools []string
		description            string
	)
	c := &cobra.Command{
		Use:   "put NAME",
		Short: "Create or replace a tool set, chosen by provider, tag or tool",
		Long: "A tool set is served at /mcp/TENANT/sets/NAME with its own tokens. A tool belongs to it when\n" +
			"its provider is given (--provider, id or name), its provider has a given tag (--tag), or the\n" +
			"tool itself is given (--tool provider_id/tool or the tool's MCP name).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(providers)+len(tags)+len(tools) == 0 {
				return usageError{fmt.Errorf("give at least one --provider, --tag or --tool")}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			s, err := cl.PutMCPToolSet(cmd.Context(), mcpserver.ToolSet{Name: a[0], Description: description, Providers: providers, Tags: tags, Tools: tools})
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), s)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tool set %s saved; endpoint: %s\n", s.Name, cl.MCPEndpoint(s.Name))
			return nil
		},
	}
	f.register(c, "print the tool set as JSON")
	c.Flags().StringArrayVar(&providers, "provider", nil, "a provider whose tools belong to the set (id or name; repeatable)")
	c.Flags().StringArrayVar(&tags, "tag", nil, "a provider tag whose tools belong to the set (repeatable)")
	c.Flags().StringArrayVar(&tools, "tool", nil, "one tool: provider_id/tool or its MCP name (repeatable)")
	c.Flags().StringVar(&description, "description", "", "what the set is for")
	return c
}

func newMCPSetListCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's tool sets",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.MCPToolSets(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				if list == nil {
					list = []mcpserver.ToolSet{}
				}
				return printJSON(out, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(out, "no tool sets")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROVIDERS\tTAGS\tTOOLS")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, orDash(strings.Join(s.Providers, ",")), orDash(strings.Join(s.Tags, ",")), orDash(strings.Join(s.Tools, ",")))
			}
			return tw.Flush()
		},
	}
	f.register(c, "print the tool sets as JSON")
	return c
}

func newMCPSetDeleteCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a tool set and the tokens that open it",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if err := cl.DeleteMCPToolSet(cmd.Context(), a[0]); err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"deleted": a[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted tool set %s\n", a[0])
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	return c
}

func newMCPServeCmd(env Env) *cobra.Command {
	var base, tenant, set, token string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the tenant's tools over stdio (for desktop MCP clients), relayed to the daemon",
		Long: "Speaks MCP on stdin/stdout and relays to the running daemon's /mcp/TENANT endpoint, where the\n" +
			"plugins run. The token comes from --token or $PLUGD_MCP_TOKEN (`plugd mcp token create`).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := daemonURL(base)
			if err != nil {
				return err
			}
			tok := firstSet(token, os.Getenv("PLUGD_MCP_TOKEN"))
			if tok == "" {
				return usageError{fmt.Errorf("no token: pass --token or set PLUGD_MCP_TOKEN (create one with `plugd mcp token create`)")}
			}
			endpoint := u + "/mcp/" + url.PathEscape(firstSet(tenant, os.Getenv("PLUGD_TENANT"), "default"))
			if set != "" {
				endpoint += "/sets/" + url.PathEscape(set)
			}
			r := mcpserver.Relay{Endpoint: endpoint, Token: tok, Version: env.Version}
			return r.Serve(cmd.Context(), &mcp.StdioTransport{})
		},
	}
	fl := c.Flags()
	fl.StringVar(&base, "url", "", "daemon URL (default $PLUGD_URL, else http://127.0.0.1:$SERVER_PORT, port 5002 when unset)")
	fl.StringVar(&tenant, "tenant", "", "tenant (workspace) id (default $PLUGD_TENANT, else \"default\")")
	fl.StringVar(&set, "set", "", "serve only this tool set")
	fl.StringVar(&token, "token", "", "bearer token (default $PLUGD_MCP_TOKEN)")
	return c
}

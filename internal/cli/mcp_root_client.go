package cli

import "github.com/spf13/cobra"

// newMCPCmd is `plugd mcp` with the client subcommands only. The mcpserver branch has the
// full command (serve, token, set) in mcp.go: when both are merged, delete this file and add
// mcpClientCommands() to that one.
func newMCPCmd(Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "mcp",
		Short: "MCP servers as tool providers of a running daemon",
	}
	c.AddCommand(mcpClientCommands()...)
	return c
}

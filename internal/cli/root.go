// Package cli holds the cobra command tree of plugd. Commands parse flags, call the capability
// packages and print results: human-readable by default, JSON with --json. Every failure ends in
// a non-zero exit code.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// Env is everything a command may touch of the outside world, so tests can run the real
// command tree in-process.
type Env struct {
	Args    []string // os.Args, including the program name
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Version string
}

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran and failed (invalid plugin, bad signature, ...)
	ExitUsage   = 2 // the command line itself was wrong
)

// usageError marks errors in how the command was called, so they exit with ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// silentError is a failure whose explanation the command already printed (for example
// as JSON); Main only sets the exit code.
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, env Env) int {
	root := newRoot(env)
	if len(env.Args) > 1 {
		root.SetArgs(env.Args[1:])
	} else {
		root.SetArgs([]string{})
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var silent silentError
	if !errors.As(err, &silent) {
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
	}
	var usage usageError
	if errors.As(err, &usage) || isCobraUsageError(err) {
		return ExitUsage
	}
	return ExitFailure
}

// isCobraUsageError recognises the errors cobra returns for unknown commands and flags.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires exactly", "flag needs an argument", "invalid argument", "required flag"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

func newRoot(env Env) *cobra.Command {
	name := "plugd"
	if len(env.Args) > 0 {
		base := strings.TrimSuffix(filepath.Base(env.Args[0]), ".exe")
		if base == "dify" || strings.HasPrefix(base, "dify-plugin") {
			name = base
		}
	}
	root := &cobra.Command{
		Use:           name,
		Short:         "Build, sign and run Dify-format plugins",
		Version:       env.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.SetVersionTemplate("{{.Version}}\n")

	root.AddCommand(newVersionCmd(env), newPluginCmd(env), newSignatureCmd(env), newBundleCmd(env))
	root.AddCommand(daemonClientCmds(env)...)
	root.AddCommand(newNodesCmd())
	root.AddCommand(newToolsCmd(env), newKeysCmd(env))
	root.AddCommand(newMCPCmd(env))
	root.AddCommand(newServeCmd(env), newMigrateCmd(env), newGCCmd(env), newConsoleCmd(env), newAdoptCmd(env))
	return root
}

func newVersionCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (PEP 440 compatible, as the dify-plugin SDK's test runner expects)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), env.Version)
			return err
		},
	}
}

func newPluginCmd(env Env) *cobra.Command {
	c := groupCmd("plugin", "Create, check and package plugins")
	c.AddCommand(
		newInitCmd(env),
		newValidateCmd(env),
		newPackageCmd(env),
		newChecksumCmd(env),
		newRunCmd(env),
		newInvokeCmd(env),
		newBundleCmd(env),
	)
	return c
}

// groupCmd makes a command that only holds subcommands; an unknown subcommand is a usage
// error rather than cobra's default of printing help and exiting 0.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
			}
			return cmd.Help()
		},
	}
}

// printJSON writes v as indented JSON followed by a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList prints what a list command found: as JSON ([] rather than null when there is
// nothing), else a table under header with the rows row writes for each item (tab-separated
// cells, one line or more), or the line empty when there is nothing.
func printList[T any](w io.Writer, asJSON bool, items []T, empty, header string, row func(w io.Writer, item T)) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return printJSON(w, items)
	}
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		row(tw, it)
	}
	return tw.Flush()
}

// isTerminal reports whether a stream (stdin, stdout or stderr) is an interactive terminal.
func isTerminal(stream any) bool {
	f, ok := stream.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// terminalWidth is the width in columns of the terminal behind stream, or 0 when unknown.
func terminalWidth(stream any) int {
	f, ok := stream.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

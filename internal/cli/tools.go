package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/catalog"
	"github.com/plugd/plugd/internal/client"
	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/wire"
)

// newToolsCmd is `plugd tools`: the tool catalog of a running daemon (docs/tools.md).
func newToolsCmd(env Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "tools",
		Short: "The tool catalog of a running daemon: plugin, OpenAPI and workflow tools",
		Long: "Every tool the tenant can call — tool providers of installed plugins, imported OpenAPI\n" +
			"descriptions and Dify workflow apps — listed, called and checked the same way.",
	}
	c.AddCommand(newToolsListCmd(), newToolsShowCmd(), newToolsCallCmd(), newToolsImportCmd(), newToolsWorkflowCmd(),
		newToolsRemoveCmd(), newToolsPrefCmd("pin", "Pin a provider (or one of its tools) to the top of the tenant's lists"),
		newToolsPrefCmd("hide", "Hide a provider (or one of its tools) from the tenant's lists; it stays callable"),
		newToolsCredentialsCmd(), newToolsCheckCmd(), newToolsChangesCmd(), newToolsInstallCmd(),
		newToolsOAuthClientCmd(), newToolsConnectCmd(), newToolsDisconnectCmd(), newToolsConnectionsCmd())
	return c
}

func newToolsListCmd() *cobra.Command {
	var (
		f      remoteFlags
		kind   string
		hidden bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's tool providers and their tools, in catalog order",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := catalog.Kind(kind)
			if k != "" && !k.Valid() {
				return usageError{fmt.Errorf("--kind %q: want plugin, api, workflow or mcp", kind)}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.ToolProviders(cmd.Context(), k, hidden)
			if err != nil {
				return f.explain(err)
			}
			return printList(cmd.OutOrStdout(), f.asJSON, list, "no tools", "PROVIDER\tKIND\tTOOL\tDESCRIPTION", func(w io.Writer, p catalog.Provider) {
				for _, t := range p.Tools {
					fmt.Fprintf(w, "%s\t%s\t%s%s\t%s\n", p.ID, p.Kind, t.Name, marks(p.Pinned || t.Pinned, p.Hidden || t.Hidden), oneLine(t.Description, 60))
				}
				if len(p.Tools) == 0 {
					fmt.Fprintf(w, "%s\t%s\t-\t%s\n", p.ID, p.Kind, oneLine(p.Description, 60))
				}
			})
		},
	}
	f.register(c, "print the providers with their tools as JSON")
	c.Flags().StringVar(&kind, "kind", "", "only providers of this kind: plugin, api, workflow or mcp")
	c.Flags().BoolVar(&hidden, "hidden", false, "include what the tenant hid")
	return c
}

func marks(pinned, hidden bool) string {
	s := ""
	if pinned {
		s += " [pinned]"
	}
	if hidden {
		s += " [hidden]"
	}
	return s
}

func newToolsShowCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "show PROVIDER_ID",
		Short: "Show one provider: its tools with their input schemas, its masked credentials",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			p, err := cl.ToolProvider(cmd.Context(), args[0])
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, p)
			}
			fmt.Fprintf(out, "%s (%s) %s\n", p.ID, p.Kind, p.Label)
			if p.Description != "" {
				fmt.Fprintf(out, "  %s\n", oneLine(p.Description, 200))
			}
			if p.PluginUniqueIdentifier != "" {
				fmt.Fprintf(out, "  plugin: %s%s\n", p.PluginUniqueIdentifier, map[bool]string{true: " (remote debugging)"}[p.Remote])
			}
			for k, v := range p.Credentials {
				fmt.Fprintf(out, "  credential %s: %s\n", k, v)
			}
			for _, t := range p.Tools {
				fmt.Fprintf(out, "\n  %s%s — %s\n    input: %s\n", t.Name, marks(t.Pinned, t.Hidden), oneLine(t.Description, 120), t.InputSchema)
			}
			return nil
		},
	}
	f.register(c, "print the provider as JSON")
	return c
}

func newToolsCallCmd() *cobra.Command {
	var (
		f                   remoteFlags
		params, credentials []string
		argsJSON, outDir    string
	)
	c := &cobra.Command{
		Use:   "call PROVIDER_ID TOOL [--param k=v ...] [--args JSON]",
		Short: "Call a tool of the catalog and print its messages",
		Long: "Values of --param are JSON when they parse as JSON (42, true, [1]), else strings. --args\n" +
			"gives all arguments as one JSON object (or @FILE); --param values are added to it.\n" +
			"Plugin providers take their credentials with --credential k=v.",
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			args := map[string]any{}
			if argsJSON != "" {
				text := argsJSON
				if name, ok := strings.CutPrefix(argsJSON, "@"); ok {
					b, err := os.ReadFile(name)
					if err != nil {
						return usageError{fmt.Errorf("--args: %w", err)}
					}
					text = string(b)
				}
				if err := json.Unmarshal([]byte(text), &args); err != nil || args == nil {
					return usageError{fmt.Errorf("--args: want a JSON object: %v", err)}
				}
			}
			raw, err := keyValues(params, true)
			if err != nil {
				return usageError{fmt.Errorf("--param: %w", err)}
			}
			var more map[string]any
			_ = json.Unmarshal(raw, &more)
			for k, v := range more {
				args[k] = v
			}
			var creds map[string]string
			if len(credentials) > 0 {
				raw, err := keyValues(credentials, false)
				if err != nil {
					return usageError{fmt.Errorf("--credential: %w", err)}
				}
				_ = json.Unmarshal(raw, &creds)
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			p := &resultPrinter{out: out, errw: cmd.ErrOrStderr(), outDir: outDir, blobs: wire.NewBlobAssembler(256 << 20)}
			each := func(m json.RawMessage) error {
				if f.asJSON {
					_, err := fmt.Fprintf(out, "%s\n", m)
					return err
				}
				return p.print(wire.AccessTool, wire.SessionMessage{Type: wire.MessageStream, Data: m})
			}
			err = cl.CallTool(cmd.Context(), a[0], a[1], args, creds, each)
			p.finish()
			if err != nil {
				return f.explain(err)
			}
			return p.blobs.Finish()
		},
	}
	f.register(c, "print each message as one JSON line, unchanged")
	fl := c.Flags()
	fl.StringArrayVar(&params, "param", nil, "argument k=v (repeatable)")
	fl.StringVar(&argsJSON, "args", "", "all arguments as a JSON object, or @FILE")
	fl.StringArrayVar(&credentials, "credential", nil, "credential k=v for a plugin provider (repeatable)")
	fl.StringVar(&outDir, "out", ".", "folder where files and blobs are saved")
	return c
}

// printProvider prints what an import or add produced.
func printProvider(out io.Writer, asJSON bool, p catalog.Provider, verb string) error {
	if asJSON {
		return printJSON(out, p)
	}
	fmt.Fprintf(out, "%s %s provider %q as %s with %d tool(s)\n", verb, p.Kind, p.Name, p.ID, len(p.Tools))
	for _, t := range p.Tools {
		fmt.Fprintf(out, "  %s\n", t.Name)
	}
	return nil
}

func newToolsImportCmd() *cobra.Command {
	var (
		f                                    remoteFlags
		file, fromURL, serverURL, label, des string
		authType, authName, replace          string
		credentials                          []string
	)
	c := &cobra.Command{
		Use:   "import-openapi NAME (--file FILE | --from-url URL)",
		Short: "Import an OpenAPI 3.0/3.1 or Swagger 2.0 description as tools (one per operation)",
		Long: "FILE is JSON or YAML (- reads stdin); with --from-url the daemon fetches it.\n" +
			"--auth-type is none, api_key_header, api_key_query, bearer, basic, schemes (the\n" +
			"description's own security schemes) or oauth2 (the token of `plugd tools connect`).\n" +
			"Secrets go in --credential and are stored\n" +
			"encrypted: api_key=..., or username=... password=... for basic; with schemes, one per\n" +
			"scheme name (NAME=..., or NAME.username=... NAME.password=...). --replace ID re-imports\n" +
			"into an existing provider; credentials left out are kept.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if (file == "") == (fromURL == "") {
				return usageError{errors.New("give exactly one of --file and --from-url")}
			}
			body := map[string]any{"name": a[0], "label": label, "description": des, "server_url": serverURL, "provider_id": replace}
			if file != "" {
				var data []byte
				var err error
				if file == "-" {
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(file)
				}
				if err != nil {
					return usageError{fmt.Errorf("--file: %w", err)}
				}
				body["schema"] = string(data)
			} else {
				body["url"] = fromURL
			}
			if authType != "" {
				body["auth"] = map[string]string{"type": authType, "name": authName}
			}
			if len(credentials) > 0 {
				raw, err := keyValues(credentials, false)
				if err != nil {
					return usageError{fmt.Errorf("--credential: %w", err)}
				}
				body["credentials"] = json.RawMessage(raw)
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			p, err := cl.ImportTools(cmd.Context(), "openapi", body)
			if err != nil {
				return f.explain(err)
			}
			return printProvider(cmd.OutOrStdout(), f.asJSON, p, "imported")
		},
	}
	f.register(c, "print the provider as JSON")
	fl := c.Flags()
	fl.StringVar(&file, "file", "", "the description's file (- for stdin)")
	fl.StringVar(&fromURL, "from-url", "", "the description's URL, fetched by the daemon")
	fl.StringVar(&serverURL, "server-url", "", "call this server instead of the description's first")
	fl.StringVar(&label, "label", "", "label shown in lists")
	fl.StringVar(&des, "description", "", "description shown in lists")
	fl.StringVar(&authType, "auth-type", "", "none, api_key_header, api_key_query, bearer, basic, schemes or oauth2")
	fl.StringVar(&authName, "auth-name", "", "header or query parameter carrying the API key")
	fl.StringArrayVar(&credentials, "credential", nil, "secret k=v (repeatable), stored encrypted")
	fl.StringVar(&replace, "replace", "", "re-import into this provider id")
	return c
}

func newToolsWorkflowCmd() *cobra.Command {
	var (
		f                                       remoteFlags
		baseURL, apiKey, mode, label, des, repl string
	)
	c := &cobra.Command{
		Use:   "add-workflow NAME --base-url URL --api-key KEY",
		Short: "Add a Dify workflow app as a tool, called through Dify's public app API",
		Long: "URL is the app API's root (https://api.dify.ai/v1 or http://your-dify/v1), KEY the app's\n" +
			"API key (stored encrypted). The tool's inputs are read from the app's parameters.\n" +
			"--mode streaming streams node progress and text chunks; blocking waits for the result.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if baseURL == "" || apiKey == "" {
				return usageError{errors.New("--base-url and --api-key are required")}
			}
			if mode != "" && mode != "blocking" && mode != "streaming" {
				return usageError{fmt.Errorf("--mode %q: want blocking or streaming", mode)}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			p, err := cl.ImportTools(cmd.Context(), "workflow", map[string]any{"name": a[0], "base_url": baseURL, "api_key": apiKey,
				"response_mode": mode, "label": label, "description": des, "provider_id": repl})
			if err != nil {
				return f.explain(err)
			}
			return printProvider(cmd.OutOrStdout(), f.asJSON, p, "added")
		},
	}
	f.register(c, "print the provider as JSON")
	fl := c.Flags()
	fl.StringVar(&baseURL, "base-url", "", "the app API's root URL")
	fl.StringVar(&apiKey, "api-key", "", "the app's API key")
	fl.StringVar(&mode, "mode", "", "blocking (default) or streaming")
	fl.StringVar(&label, "label", "", "label (default: the app's name)")
	fl.StringVar(&des, "description", "", "description (default: the app's)")
	fl.StringVar(&repl, "replace", "", "refresh this provider id from the app")
	return c
}

func newToolsRemoveCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "remove PROVIDER_ID",
		Short: "Remove an OpenAPI, workflow or MCP provider (plugin providers go with `plugd uninstall`)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if err := cl.RemoveToolProvider(cmd.Context(), a[0]); err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"removed": a[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", a[0])
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	return c
}

// newToolsPrefCmd is `tools pin` and `tools hide`.
func newToolsPrefCmd(verb, short string) *cobra.Command {
	var (
		f   remoteFlags
		off bool
	)
	c := &cobra.Command{
		Use:   verb + " PROVIDER_ID [TOOL]",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{fmt.Errorf("want PROVIDER_ID and optionally TOOL (usage: %s)", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			ch := catalog.PreferenceChange{Target: catalog.TargetProvider, Name: a[0]}
			if len(a) == 2 {
				ch = catalog.PreferenceChange{Target: catalog.TargetTool, Name: a[0] + "/" + a[1]}
			}
			on := !off
			if verb == "pin" {
				ch.Pinned = &on
			} else {
				ch.Hidden = &on
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			p, err := cl.SetToolPreference(cmd.Context(), ch)
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: pinned=%t hidden=%t\n", p.Target, p.Name, p.Pinned, p.Hidden)
			return nil
		},
	}
	f.register(c, "print the preference as JSON")
	c.Flags().BoolVar(&off, "off", false, "undo: un"+verb)
	return c
}

func newToolsCredentialsCmd() *cobra.Command {
	var (
		f     remoteFlags
		clear bool
	)
	c := &cobra.Command{
		Use:   "credentials PROVIDER_ID k=v [k=v ...] | --clear",
		Short: "Store a plugin provider's credentials (encrypted); calls without their own use them",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || (len(args) == 1) != clear {
				return usageError{fmt.Errorf("want PROVIDER_ID and k=v pairs, or PROVIDER_ID --clear (usage: %s)", cmd.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, a []string) error {
			var creds map[string]string
			if !clear {
				raw, err := keyValues(a[1:], false)
				if err != nil {
					return usageError{err}
				}
				_ = json.Unmarshal(raw, &creds)
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			p, err := cl.SetToolCredentials(cmd.Context(), a[0], creds)
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			if clear {
				fmt.Fprintf(cmd.OutOrStdout(), "credentials of %s deleted\n", p.ID)
				return nil
			}
			for k, v := range p.Credentials {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", p.ID, k, v)
			}
			return nil
		},
	}
	f.register(c, "print the provider (credentials masked) as JSON")
	c.Flags().BoolVar(&clear, "clear", false, "delete the stored credentials")
	return c
}

func newToolsCheckCmd() *cobra.Command {
	var (
		f    remoteFlags
		file string
	)
	c := &cobra.Command{
		Use:   "check [TYPE:PROVIDER_ID:TOOL ...] [--file REFS.json]",
		Short: "Report which configured tools no longer exist, and why (exit 1 when some are gone)",
		Long: "Each tool is TYPE:PROVIDER_ID:TOOL (TYPE plugin, builtin, api, workflow or mcp), or\n" +
			"--file gives a JSON list of {type, provider_id, tool_name} as Dify stores them (- for\n" +
			"stdin). With no tool given, every tool the catalog has ever listed for the tenant\n" +
			"and no longer has is reported, from the change log.",
		RunE: func(cmd *cobra.Command, a []string) error {
			var refs []catalog.ToolRef
			for _, s := range a {
				i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
				if i <= 0 || j <= i+1 || j == len(s)-1 {
					return usageError{fmt.Errorf("%q: want TYPE:PROVIDER_ID:TOOL", s)}
				}
				refs = append(refs, catalog.ToolRef{Type: s[:i], ProviderID: s[i+1 : j], ToolName: s[j+1:]})
			}
			if file != "" {
				var data []byte
				var err error
				if file == "-" {
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(file)
				}
				if err != nil {
					return usageError{fmt.Errorf("--file: %w", err)}
				}
				var more []catalog.ToolRef
				if err := json.Unmarshal(data, &more); err != nil {
					return usageError{fmt.Errorf("--file %s: want a JSON list of {type, provider_id, tool_name}: %w", file, err)}
				}
				refs = append(refs, more...)
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if len(refs) == 0 && file == "" {
				if refs, err = everListed(cmd, cl); err != nil {
					return f.explain(err)
				}
			}
			deleted, err := cl.CheckTools(cmd.Context(), refs)
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				if deleted == nil {
					deleted = []catalog.Deleted{}
				}
				if err := printJSON(out, map[string]any{"checked": len(refs), "deleted": deleted}); err != nil {
					return err
				}
			} else if len(deleted) == 0 {
				fmt.Fprintf(out, "all %d tool(s) exist\n", len(refs))
			} else {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "TYPE\tPROVIDER\tTOOL\tREASON\tDETAIL")
				for _, d := range deleted {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Type, d.ProviderID, d.ToolName, d.Reason, d.Detail)
				}
				tw.Flush()
			}
			if len(deleted) > 0 {
				return silentError{fmt.Errorf("%d of %d tool(s) are gone", len(deleted), len(refs))}
			}
			return nil
		},
	}
	f.register(c, "print {checked, deleted} as JSON")
	c.Flags().StringVar(&file, "file", "", "JSON list of tools to check (- for stdin)")
	return c
}

// everListed is every tool the tenant's change log says was added, as references to check.
func everListed(cmd *cobra.Command, cl *client.Client) ([]catalog.ToolRef, error) {
	cs, err := cl.ToolChanges(cmd.Context(), 0)
	if err != nil {
		return nil, err
	}
	seen := map[catalog.ToolRef]bool{}
	var refs []catalog.ToolRef
	for _, ch := range cs.Changes {
		if ch.Kind != catalog.ChangeToolAdded {
			continue
		}
		r := catalog.ToolRef{Type: string(ch.ProviderKind), ProviderID: ch.ProviderID, ToolName: ch.Tool}
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	return refs, nil
}

func newToolsChangesCmd() *cobra.Command {
	var (
		f     remoteFlags
		since int64
	)
	c := &cobra.Command{
		Use:   "changes [--since N]",
		Short: "What changed in the tenant's catalog after version N",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since < 0 {
				return usageError{errors.New("--since must be >= 0")}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			cs, err := cl.ToolChanges(cmd.Context(), since)
			if err != nil {
				return f.explain(err)
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				return printJSON(out, cs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tKIND\tPROVIDER\tTOOL\tREASON")
			for _, ch := range cs.Changes {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ch.Version, ch.Kind, ch.ProviderID, ch.Tool, ch.Reason)
			}
			tw.Flush()
			fmt.Fprintf(out, "version %d\n", cs.Version)
			return nil
		},
	}
	f.register(c, "print the change set as JSON")
	c.Flags().Int64Var(&since, "since", 0, "version to start after")
	return c
}

// newToolsInstallCmd is `plugd tools install`: the daemon downloads a Marketplace plugin
// itself (POST /tools/{tenant}/install), so this works from a machine without Marketplace
// access; the command then follows the install task as `plugd install` does.
func newToolsInstallCmd() *cobra.Command {
	var (
		f      remoteFlags
		verify bool
		poll   time.Duration
	)
	c := &cobra.Command{
		Use:   "install ORG/NAME[:VERSION]",
		Short: "Install a Dify Marketplace plugin through the daemon and list the tool providers it adds",
		Long: "The daemon resolves the plugin on its Marketplace (its MARKETPLACE_API_URL; refused when\n" +
			"its MARKETPLACE_ENABLED is false), latest version unless one is given, downloads it (or\n" +
			"takes it from its cache), verifies it under its signature policy and installs it for the\n" +
			"tenant. The command follows the install until it ends and prints the catalog providers\n" +
			"of the plugin. Exits 1 with the daemon's message when it fails; a plugin already\n" +
			"installed (in any version) is left as it is.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := args[0]
			if _, err := marketplace.ParseRef(ref); err != nil {
				return usageError{err}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			ctx, out, errw := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			fmt.Fprintf(errw, "the daemon at %s is downloading %s from its Marketplace\n", f.baseURL, ref)
			started, err := cl.InstallFromMarketplace(ctx, ref, verify)
			if err != nil {
				return f.explain(fmt.Errorf("installing %s from the Marketplace: %w", ref, err))
			}
			uid := started.UniqueIdentifier
			how := "downloaded"
			if started.Cached {
				how = "took from its cache"
			}
			fmt.Fprintf(errw, "the daemon %s %s and verified it\n", how, displayID(uid))
			if started.AllInstalled {
				return alreadyInstalled(ctx, cl, uid, out, f.asJSON)
			}
			task, err := waitTask(ctx, cl, started.TaskID, poll, errw)
			if err != nil {
				return f.explain(err)
			}
			if task.Status == client.TaskFailed {
				if f.asJSON {
					if err := printJSON(out, map[string]any{"unique_identifier": uid, "task": task}); err != nil {
						return err
					}
				}
				return fmt.Errorf("installing %s failed: %s", displayID(uid), taskMessage(task))
			}
			providers, err := pluginProviders(ctx, cl, uid)
			if err != nil {
				return f.explain(fmt.Errorf("installed %s, but listing its tool providers: %w", displayID(uid), err))
			}
			if f.asJSON {
				return printJSON(out, map[string]any{"unique_identifier": uid, "cached": started.Cached, "task": task, "providers": providers})
			}
			fmt.Fprintf(out, "installed %s\n", displayID(uid))
			if len(providers) == 0 {
				fmt.Fprintln(out, "it adds no tool provider to the catalog (see `plugd list` for what it provides)")
			}
			for _, p := range providers {
				fmt.Fprintf(out, "tool provider %s: %d tools\n", p.ID, len(p.Tools))
			}
			return nil
		},
	}
	f.register(c, "print the unique identifier, the finished install task and the plugin's tool providers as JSON")
	c.Flags().BoolVar(&verify, "verify-signature", false, "refuse the package unless it is signed by a key the daemon trusts")
	c.Flags().DurationVar(&poll, "poll-interval", 300*time.Millisecond, "how often to ask for the task's state")
	_ = c.Flags().MarkHidden("poll-interval")
	return c
}

// pluginProviders are the catalog's providers of the installed plugin uid.
func pluginProviders(ctx context.Context, cl *client.Client, uid string) ([]catalog.Provider, error) {
	list, err := cl.ToolProviders(ctx, catalog.KindPlugin, true)
	if err != nil {
		return nil, err
	}
	mine := []catalog.Provider{}
	for _, p := range list {
		if p.PluginUniqueIdentifier == uid {
			mine = append(mine, p)
		}
	}
	return mine, nil
}

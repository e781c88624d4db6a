package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/client"
	"github.com/plugd/plugd/internal/daemon"
	"github.com/plugd/plugd/internal/marketplace"
	"github.com/plugd/plugd/internal/wire"
)

// daemonClientCmds are the commands that manage and call plugins of a running daemon
// (`plugd serve` or the reference daemon) through its HTTP API.
func daemonClientCmds(env Env) []*cobra.Command {
	return []*cobra.Command{newInstallCmd(env), newMarketplaceCmd(env), newListCmd(env), newUninstallCmd(env), newResetCmd(env), newDaemonInvokeCmd(env), newDebugKeyCmd(env)}
}

// remoteFlags say which running daemon to talk to, as whom.
type remoteFlags struct {
	url, key, tenant, dataDir string
	asJSON                    bool

	baseURL string // resolved by connect, for messages
}

func (f *remoteFlags) register(c *cobra.Command, jsonUsage string) {
	f.registerURLAs(c, jsonUsage, "url")
}

// registerURLAs is register with the daemon's URL under another flag name, for a command
// whose --url means something else (`plugd mcp add --url` is the MCP server's).
func (f *remoteFlags) registerURLAs(c *cobra.Command, jsonUsage, urlFlag string) {
	fl := c.Flags()
	fl.StringVar(&f.url, urlFlag, "", "daemon URL (default $PLUGD_URL, else http://127.0.0.1:$SERVER_PORT, port 5002 when unset)")
	fl.StringVar(&f.key, "key", "", "API key, Dify's PLUGIN_DAEMON_KEY (default $PLUGD_KEY, else $SERVER_KEY, else the key `plugd serve` generated in <data-dir>/server.key)")
	fl.StringVar(&f.tenant, "tenant", "", "tenant (workspace) id (default $PLUGD_TENANT, else \"default\")")
	fl.StringVar(&f.dataDir, "data-dir", "", "data folder of `plugd serve`, to find its generated key (default $PLUGD_DATA_DIR, else ~/.local/share/plugd)")
	fl.BoolVar(&f.asJSON, "json", false, jsonUsage)
}

// connect resolves the flags and their environment defaults into a client. What cannot be
// resolved is a usage error: the command cannot run as called.
func (f *remoteFlags) connect() (*client.Client, error) {
	base, err := daemonURL(f.url)
	if err != nil {
		return nil, err
	}
	f.baseURL = base

	key := firstSet(f.key, os.Getenv("PLUGD_KEY"), os.Getenv("SERVER_KEY"))
	if key == "" {
		dir := f.dataDir
		if dir == "" {
			if dir, err = daemon.DefaultDataDir(os.Getenv); err != nil {
				return nil, usageError{fmt.Errorf("no API key: pass --key or set PLUGD_KEY (%w)", err)}
			}
		}
		path := filepath.Join(dir, "server.key")
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageError{fmt.Errorf("no API key: pass --key or set PLUGD_KEY to the daemon's SERVER_KEY (no key file at %s: %w)", path, errors.Unwrap(err))}
		}
		key = strings.TrimSpace(string(data))
	}
	tenant := firstSet(f.tenant, os.Getenv("PLUGD_TENANT"), "default")
	return client.New(f.baseURL, key, tenant, nil), nil
}

// daemonURL is the daemon's base URL: the flag, else $PLUGD_URL, else the loopback address
// on $SERVER_PORT (5002 when unset).
func daemonURL(flag string) (string, error) {
	base := firstSet(flag, os.Getenv("PLUGD_URL"))
	if base == "" {
		port := strings.TrimSpace(os.Getenv("SERVER_PORT"))
		if port == "" {
			port = "5002"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", usageError{fmt.Errorf("SERVER_PORT=%q is not a port number; pass --url", port)}
		}
		base = "http://127.0.0.1:" + port
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usageError{fmt.Errorf("daemon URL %q: want http://host:port or https://host", base)}
	}
	return strings.TrimRight(base, "/"), nil
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// explain adds what to do to the errors a user can fix: a refused key, no daemon listening.
func (f *remoteFlags) explain(err error) error {
	var ae *client.APIError
	switch {
	case errors.As(err, &ae) && ae.Unauthorized():
		return fmt.Errorf("%w\nthe daemon at %s refused the API key: check --key, PLUGD_KEY or SERVER_KEY", err, f.baseURL)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w\nis the daemon running? start it with `plugd serve`, or point --url / PLUGD_URL at it", err)
	}
	return err
}

// displayID shortens author/name:version@checksum to author/name:version for messages.
func displayID(uid string) string {
	s, _, _ := strings.Cut(uid, "@")
	return s
}

func pluginIDOf(uid string) string {
	s, _, _ := strings.Cut(uid, ":")
	return s
}

func newInstallCmd(env Env) *cobra.Command {
	var (
		f      remoteFlags
		m      marketplaceFlags
		verify bool
		poll   time.Duration
	)
	c := &cobra.Command{
		Use:   "install FILE.difypkg | ORG/NAME[:VERSION] | BUNDLE.difybndl",
		Short: "Install a plugin package, a Marketplace plugin or a bundle into a running daemon",
		Long: "Upload the package, ask the daemon to install it for the tenant and follow the install\n" +
			"until it ends. Exits 1 with the daemon's message when the install fails; a plugin that\n" +
			"is already installed (in any version) is left as it is.\n\n" +
			"An argument that is no file and reads ORG/NAME, ORG/NAME:VERSION or a full unique\n" +
			"identifier is downloaded from the Dify Marketplace (MARKETPLACE_API_URL) first, latest\n" +
			"version unless one is given, and kept in <data-dir>/cache/marketplace. The daemon\n" +
			"verifies its signature under its own policy, cached or not.\n\n" +
			"A .difybndl bundle is uploaded, then each of its dependencies installed: the packages\n" +
			"it holds, and Marketplace plugins (the newest version its pattern admits, downloaded as\n" +
			"above). GitHub dependencies are not downloaded: the summary says which file to fetch.\n" +
			"Exits 1, naming each, when a dependency was not installed; already installed ones are\n" +
			"not failures.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := f.connect()
			if err != nil {
				return err
			}
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if isBundleFile(args[0]) {
				b := &bundleInstall{cl: cl, remote: &f, market: &m, version: env.Version, verify: verify, poll: poll, errw: errw}
				report, err := b.run(ctx, args[0])
				if err != nil {
					return err
				}
				if err := report.print(out, f.asJSON); err != nil {
					return err
				}
				return report.err()
			}
			path, source := args[0], "package"
			if marketplace.IsRef(args[0]) {
				mc, err := m.client(env.Version)
				if err != nil {
					return err
				}
				got, err := fetchFromMarketplace(ctx, mc, f.dataDir, args[0], errw)
				if err != nil {
					return err
				}
				path, source = got.Path, "marketplace"
			}
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			decoded, err := cl.UploadPackage(ctx, path, verify, progressPrinter(errw, "uploading", st.Size(), false))
			if err != nil {
				return f.explain(fmt.Errorf("uploading %s: %w", args[0], err))
			}
			uid := decoded.UniqueIdentifier
			all, taskID, err := cl.InstallIdentifiers(ctx, []string{uid}, source)
			if err != nil {
				return f.explain(fmt.Errorf("installing %s: %w", displayID(uid), err))
			}
			if all {
				return alreadyInstalled(ctx, cl, uid, out, f.asJSON)
			}
			task, err := waitTask(ctx, cl, taskID, poll, errw)
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				if err := printJSON(out, task); err != nil {
					return err
				}
			}
			if task.Status == client.TaskFailed {
				return fmt.Errorf("installing %s failed: %s", displayID(uid), taskMessage(task))
			}
			if !f.asJSON {
				fmt.Fprintf(out, "installed %s\n", displayID(uid))
			}
			return nil
		},
	}
	f.register(c, "print the finished install task (for a bundle: every dependency's outcome) as JSON")
	m.register(c)
	c.Flags().BoolVar(&verify, "verify-signature", false, "refuse the package (for a bundle: each package) unless it is signed by a key the daemon trusts")
	c.Flags().DurationVar(&poll, "poll-interval", 300*time.Millisecond, "how often to ask for the task's state")
	_ = c.Flags().MarkHidden("poll-interval")
	return c
}

// alreadyInstalled reports the installed version of a plugin the daemon did not install
// again. The daemon says only that its plugin id is installed, not which version.
func alreadyInstalled(ctx context.Context, cl *client.Client, uid string, out io.Writer, asJSON bool) error {
	var current *client.PluginItem
	if items, err := cl.List(ctx); err == nil {
		for i := range items {
			if items[i].PluginID == pluginIDOf(uid) {
				current = &items[i]
			}
		}
	}
	if asJSON {
		return printJSON(out, map[string]any{"all_installed": true, "unique_identifier": uid, "installed": current})
	}
	switch {
	case current == nil:
		fmt.Fprintf(out, "%s is already installed\n", pluginIDOf(uid))
	case current.UniqueIdentifier == uid:
		fmt.Fprintf(out, "%s is already installed (installation %s)\n", displayID(uid), current.InstallationID)
	default:
		fmt.Fprintf(out, "%s is already installed in another version: %s (installation %s); uninstall it first to install %s\n",
			pluginIDOf(uid), displayID(current.UniqueIdentifier), current.InstallationID, displayID(uid))
	}
	return nil
}

// waitTask polls an install task until it ends, keeping one progress line on w.
func waitTask(ctx context.Context, cl *client.Client, id string, every time.Duration, w io.Writer) (client.Task, error) {
	tasks, errs := waitTasks(ctx, cl, []string{id}, every, w)
	return tasks[0], errs[0]
}

// waitTasks polls install tasks until each has ended, keeping one progress line on w for
// all of them. A few failed polls in a row of a task are tolerated (a daemon restarting
// resumes its tasks); errs[i] says why tasks[i] could not be followed to its end.
func waitTasks(ctx context.Context, cl *client.Client, ids []string, every time.Duration, w io.Writer) (tasks []client.Task, errs []error) {
	tty := isTerminal(w)
	tasks, errs = make([]client.Task, len(ids)), make([]error, len(ids))
	failures := make([]int, len(ids))
	done := make([]bool, len(ids))
	var last string
	ticker := time.NewTicker(max(every, time.Millisecond))
	defer ticker.Stop()
	stopped := func() ([]client.Task, []error) {
		if tty && last != "" {
			fmt.Fprintln(w)
		}
		for i := range ids {
			if !done[i] {
				errs[i] = fmt.Errorf("stopped waiting; the daemon goes on with install task %s", ids[i])
			}
		}
		return tasks, errs
	}
	for {
		pending := 0
		for i, id := range ids {
			if done[i] {
				continue
			}
			task, err := cl.Task(ctx, id)
			switch {
			case err == nil:
				failures[i], tasks[i] = 0, task
				done[i] = task.Done()
			case ctx.Err() != nil:
				return stopped()
			default:
				if failures[i]++; failures[i] >= 3 {
					errs[i], done[i] = fmt.Errorf("following install task %s: %w", id, err), true
				}
			}
			if !done[i] {
				pending++
			}
		}
		var parts []string
		for i := range ids {
			if tasks[i].ID != "" {
				parts = append(parts, taskLine(tasks[i]))
			}
		}
		if line := shorten(strings.Join(parts, "; "), 160); line != "" && line != last {
			last = line
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
		if pending == 0 {
			if tty && last != "" {
				fmt.Fprintln(w)
			}
			return tasks, errs
		}
		select {
		case <-ctx.Done():
			return stopped()
		case <-ticker.C:
		}
	}
}

// taskLine is the progress line of a task: each plugin's status and, from plugd, what it is
// doing and its latest output.
func taskLine(t client.Task) string {
	if len(t.Plugins) == 0 {
		return "install task " + t.ID + ": " + t.Status
	}
	var parts []string
	for _, p := range t.Plugins {
		s := displayID(p.UniqueIdentifier) + ": " + p.Status
		if p.Phase != "" {
			s += ", " + p.Phase
		}
		if p.Progress != "" {
			s += ": " + p.Progress
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// shorten cuts a progress line to n characters.
func shorten(line string, n int) string {
	if r := []rune(line); len(r) > n {
		line = string(r[:n-1]) + "…"
	}
	return line
}

// taskMessage is why a task failed: its failed plugins' messages.
func taskMessage(t client.Task) string {
	var msgs []string
	for _, p := range t.Plugins {
		if p.Status == client.TaskFailed && p.Message != "" {
			msgs = append(msgs, p.Message)
		}
	}
	if len(msgs) == 0 {
		return "the daemon gave no reason"
	}
	return strings.Join(msgs, "; ")
}

func newListCmd(env Env) *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "list",
		Short: "List the plugins installed in a running daemon",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			items, err := cl.List(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			return printList(cmd.OutOrStdout(), f.asJSON, items, "no plugins installed", "PLUGIN ID\tVERSION\tINSTALLATION ID\tSOURCE\tSIGNED BY", func(w io.Writer, it client.PluginItem) {
				signer := "unverified"
				if it.Verification != nil && it.Verification.AuthorizedCategory != "" {
					signer = it.Verification.AuthorizedCategory
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", it.PluginID, it.Version, it.InstallationID, it.Source, signer)
			})
		},
	}
	f.register(c, "print the daemon's plugin entries as JSON")
	return c
}

func newUninstallCmd(env Env) *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "uninstall PLUGIN_ID|INSTALLATION_ID",
		Short: "Uninstall a plugin from a running daemon",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cl, err := f.connect()
			if err != nil {
				return err
			}
			items, err := cl.List(ctx)
			if err != nil {
				return f.explain(err)
			}
			// Resolving through the list also catches a typo: the daemon itself answers
			// success for an installation id that does not exist.
			var match *client.PluginItem
			for i, it := range items {
				if args[0] == it.InstallationID || args[0] == it.PluginID || args[0] == it.UniqueIdentifier {
					match = &items[i]
					break
				}
			}
			if match == nil {
				return fmt.Errorf("no installed plugin matches %q (see `plugd list`)", args[0])
			}
			if err := cl.Uninstall(ctx, match.InstallationID); err != nil {
				return f.explain(fmt.Errorf("uninstalling %s: %w", match.PluginID, err))
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{
					"plugin_id": match.PluginID, "plugin_unique_identifier": match.UniqueIdentifier, "installation_id": match.InstallationID,
				})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "uninstalled %s (installation %s)\n", displayID(match.UniqueIdentifier), match.InstallationID)
			return nil
		},
	}
	f.register(c, "print what was uninstalled as JSON")
	return c
}

func newResetCmd(env Env) *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "reset PLUGIN_ID",
		Short: "Clear a crash-looping plugin's back-off in a running daemon, so the next request starts it",
		Long: "A plugin that crashes 5 times within 60 s is failed: requests fail at once until its back-off\n" +
			"(PLUGD_CRASH_LOOP_BACKOFF, doubling per loop) ends. Once the cause is fixed, reset it to start it\n" +
			"with the next request.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			r, err := cl.Reset(cmd.Context(), args[0])
			if err != nil {
				return f.explain(fmt.Errorf("resetting %s: %w", args[0], err))
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			if r.Running {
				fmt.Fprintf(cmd.OutOrStdout(), "reset %s: the next request starts it\n", displayID(r.UniqueIdentifier))
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s has not run since the daemon started: nothing to reset\n", displayID(r.UniqueIdentifier))
			}
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	return c
}

func newDaemonInvokeCmd(env Env) *cobra.Command {
	var (
		f                   remoteFlags
		tool, user, outDir  string
		params, credentials []string
	)
	c := &cobra.Command{
		Use:   "invoke PLUGIN_ID --tool [PROVIDER/]TOOL [--param k=v ...] [--credential k=v ...]",
		Short: "Invoke a tool of a plugin installed in a running daemon",
		Long: "Call a tool through the daemon, as Dify does, and print what it streams back: text as\n" +
			"text, JSON as JSON, links, files and blobs saved under --out. Without PROVIDER the\n" +
			"plugin's own tool provider is used. Values of --param are JSON when they parse as JSON\n" +
			"(42, true, [1]), else strings; quote them ('\"42\"') to force a string.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if tool == "" {
				return usageError{errors.New("--tool is required")}
			}
			pluginID := pluginIDOf(args[0])
			if a, n, ok := strings.Cut(pluginID, "/"); !ok || a == "" || n == "" || strings.Contains(n, "/") {
				return usageError{fmt.Errorf("plugin id %q: want author/name", args[0])}
			}
			toolParams, err := keyValues(params, true)
			if err != nil {
				return usageError{fmt.Errorf("--param: %w", err)}
			}
			creds, err := keyValues(credentials, false)
			if err != nil {
				return usageError{fmt.Errorf("--credential: %w", err)}
			}
			provider, toolName, hasProvider := strings.Cut(tool, "/")
			if !hasProvider {
				provider, toolName = "", tool
			}
			if toolName == "" || (hasProvider && provider == "") {
				return usageError{fmt.Errorf("--tool %q: want TOOL or PROVIDER/TOOL", tool)}
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if provider == "" {
				if provider, err = toolProvider(ctx, cl, pluginID); err != nil {
					return f.explain(err)
				}
			}
			body := map[string]any{
				"user_id": user,
				"data": map[string]any{
					"provider": provider, "tool": toolName, "tool_parameters": toolParams,
					"credentials": creds, "credential_type": "api-key",
				},
			}
			out := cmd.OutOrStdout()
			var each func(json.RawMessage) error
			p := &resultPrinter{out: out, errw: cmd.ErrOrStderr(), outDir: outDir, blobs: wire.NewBlobAssembler(256 << 20)}
			if f.asJSON {
				each = func(chunk json.RawMessage) error {
					_, err := fmt.Fprintf(out, "%s\n", chunk)
					return err
				}
			} else {
				each = func(chunk json.RawMessage) error {
					return p.print(wire.AccessTool, wire.SessionMessage{Type: wire.MessageStream, Data: chunk})
				}
			}
			err = cl.Dispatch(ctx, pluginID, "tool/invoke", body, each)
			p.finish()
			if err != nil {
				return f.explain(err)
			}
			return p.blobs.Finish()
		},
	}
	f.register(c, "print each streamed chunk as one JSON line, unchanged")
	fl := c.Flags()
	fl.StringVar(&tool, "tool", "", "tool to invoke, as TOOL or PROVIDER/TOOL")
	fl.StringArrayVar(&params, "param", nil, "tool parameter k=v (repeatable)")
	fl.StringArrayVar(&credentials, "credential", nil, "credential k=v (repeatable)")
	fl.StringVar(&user, "user", "plugd-cli", "user id sent with the call")
	fl.StringVar(&outDir, "out", ".", "folder where files and blobs are saved")
	return c
}

// toolProvider finds the tool provider a plugin declares, from the daemon's list.
func toolProvider(ctx context.Context, cl *client.Client, pluginID string) (string, error) {
	items, err := cl.List(ctx)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if it.PluginID != pluginID {
			continue
		}
		var decl struct {
			Tool *struct {
				Identity struct {
					Name string `json:"name"`
				} `json:"identity"`
			} `json:"tool"`
		}
		if err := json.Unmarshal(it.Declaration, &decl); err != nil || decl.Tool == nil || decl.Tool.Identity.Name == "" {
			return "", fmt.Errorf("%s declares no tool provider", pluginID)
		}
		return decl.Tool.Identity.Name, nil
	}
	return "", fmt.Errorf("%s is not installed (see `plugd list`)", pluginID)
}

func newDebugKeyCmd(env Env) *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "debug-key",
		Short: "Get the tenant's remote-debugging key from a daemon started with --debug",
		Long: `Get (and renew for two hours) the tenant's remote-debugging key. Run your plugin with
INSTALL_METHOD=remote, REMOTE_INSTALL_URL=<daemon host>:<debug port> (5003 by default) and
REMOTE_INSTALL_KEY=<this key>; it then answers the tenant's requests like an installed plugin.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			k, err := cl.DebugKey(cmd.Context())
			if client.IsNotFound(err) {
				return fmt.Errorf("%w\nthe daemon does not accept remote debugging: start it with `plugd serve --debug`", err)
			}
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), k)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Key)
			fmt.Fprintf(env.Stderr, "valid until %s; set REMOTE_INSTALL_KEY to it\n", k.ExpiresAt.Local().Format(time.RFC3339))
			return nil
		},
	}
	f.register(c, "print {key, expires_at} as JSON")
	return c
}

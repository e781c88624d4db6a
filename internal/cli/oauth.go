package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/client"
	"github.com/plugd/plugd/internal/oauth"
)

// OAuth for tools (docs/oauth.md): `plugd tools oauth-client set|list|delete`, `plugd tools
// connect`, `plugd tools disconnect`, `plugd tools connections`.

func newToolsOAuthClientCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "oauth-client",
		Short: "OAuth client settings of providers, for the tenant or (--system) for every tenant",
		Long: "A provider connects with the tenant's enabled client, else the system's. Endpoints and scopes left\n" +
			"empty come from the provider: its OpenAPI security scheme, its MCP server's metadata, its plugin.\n" +
			"Register the daemon's callback (PLUGD_OAUTH_CALLBACK_URL, default\n" +
			"http://127.0.0.1:SERVER_PORT/oauth/callback) as the client's redirect URI.",
	}
	c.AddCommand(newOAuthClientSetCmd(), newOAuthClientListCmd(), newOAuthClientDeleteCmd())
	return c
}

func newOAuthClientSetCmd() *cobra.Command {
	var (
		f                remoteFlags
		system, disabled bool
		cs               oauth.ClientSettings
		params           []string
		secretStdin      bool
	)
	c := &cobra.Command{
		Use:   "set PROVIDER --client-id ID [--client-secret S | --client-secret-stdin] [--scope S ...]",
		Short: "Create or replace a provider's OAuth client (the secret is stored encrypted)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cs.Provider, cs.Enabled = a[0], !disabled
			if secretStdin {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return err
				}
				cs.ClientSecret = strings.TrimSpace(string(b))
			}
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--param %q: want k=v", kv)}
				}
				if cs.Params == nil {
					cs.Params = map[string]string{}
				}
				cs.Params[k] = v
			}
			cl, err := f.connect()
			if err != nil {
				return err
			}
			out, err := cl.SetOAuthClient(cmd.Context(), system, cs)
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s client of %s set (client id %s, enabled %t)\n", out.Level, out.Provider, out.ClientID, out.Enabled)
			return nil
		},
	}
	f.register(c, "print the client (secrets masked) as JSON")
	fl := c.Flags()
	fl.BoolVar(&system, "system", false, "the system-level client, used by every tenant without an enabled client of its own")
	fl.BoolVar(&disabled, "disabled", false, "store it disabled (a tenant's disabled client leaves the system client in force)")
	fl.StringVar(&cs.ClientID, "client-id", "", "the client id")
	fl.StringVar(&cs.ClientSecret, "client-secret", "", "the client secret (visible in the process list: prefer --client-secret-stdin)")
	fl.BoolVar(&secretStdin, "client-secret-stdin", false, "read the client secret from standard input")
	fl.StringSliceVar(&cs.Scopes, "scope", nil, "a scope to ask for (repeat; default: the provider's)")
	fl.StringVar(&cs.AuthorizationURL, "authorization-url", "", "the authorization endpoint (default: the provider's)")
	fl.StringVar(&cs.TokenURL, "token-url", "", "the token endpoint (default: the provider's)")
	fl.StringVar(&cs.RevocationURL, "revocation-url", "", "the revocation endpoint, RFC 7009 (default: the server's, when it says)")
	fl.StringArrayVar(&params, "param", nil, "a further client setting a plugin asks for, k=v (repeat; stored encrypted)")
	return c
}

func newOAuthClientListCmd() *cobra.Command {
	var (
		f      remoteFlags
		system bool
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List the OAuth clients the tenant sees (its own, then the system's), secrets masked",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.OAuthClients(cmd.Context(), system)
			if err != nil {
				return f.explain(err)
			}
			return printList(cmd.OutOrStdout(), f.asJSON, list, "no OAuth clients", "PROVIDER\tLEVEL\tCLIENT ID\tENABLED\tSCOPES", func(w io.Writer, c oauth.ClientSettings) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%t\t%s\n", c.Provider, c.Level, c.ClientID, c.Enabled, strings.Join(c.Scopes, " "))
			})
		},
	}
	f.register(c, "print the clients as JSON")
	c.Flags().BoolVar(&system, "system", false, "only the system-level clients")
	return c
}

func newOAuthClientDeleteCmd() *cobra.Command {
	var (
		f      remoteFlags
		system bool
	)
	c := &cobra.Command{
		Use:   "delete PROVIDER",
		Short: "Delete a provider's OAuth client of the tenant (or, with --system, the system's)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			if err := cl.DeleteOAuthClient(cmd.Context(), system, a[0]); err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"deleted": a[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "client of %s deleted\n", a[0])
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	c.Flags().BoolVar(&system, "system", false, "the system-level client")
	return c
}

// resolveProvider takes a provider id, or the name of one of the tenant's providers.
func resolveProvider(ctx context.Context, cl *client.Client, arg string) (string, error) {
	if _, err := cl.ToolProvider(ctx, arg); err == nil {
		return arg, nil
	}
	list, err := cl.ToolProviders(ctx, "", true)
	if err != nil {
		return "", err
	}
	var found []string
	for _, p := range list {
		if p.Name == arg || p.ID == arg {
			found = append(found, p.ID)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", usageError{fmt.Errorf("no provider %q in the tenant's catalog (see `plugd tools list`)", arg)}
	}
	return "", usageError{fmt.Errorf("%d providers are named %q: give the id (%s)", len(found), arg, strings.Join(found, ", "))}
}

func newToolsConnectCmd() *cobra.Command {
	var (
		f       remoteFlags
		timeout time.Duration
		userID  string
	)
	c := &cobra.Command{
		Use:   "connect PROVIDER",
		Short: "Connect a provider to an account with OAuth: prints the URL to open, waits for the callback",
		Long: "Prints the authorization URL, then waits (polling the daemon) until the browser comes back to the\n" +
			"daemon's callback. Connecting a connected provider re-authorizes it. Exits non-zero when the\n" +
			"authorization fails, expires (5 minutes) or --timeout passes.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			id, err := resolveProvider(ctx, cl, a[0])
			if err != nil {
				return f.explain(err)
			}
			st, err := cl.ConnectOAuth(ctx, id, userID)
			if err != nil {
				return f.explain(err)
			}
			msg := cmd.OutOrStdout()
			if f.asJSON {
				msg = cmd.ErrOrStderr()
			}
			fmt.Fprintf(msg, "Open this URL in a browser to connect %s:\n\n  %s\n\nwaiting for the callback at %s ...\n", st.Provider, st.AuthorizationURL, st.RedirectURI)
			fi, err := waitFlow(ctx, cl, st.FlowID, timeout, time.Second)
			if err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				if err := printJSON(cmd.OutOrStdout(), fi); err != nil {
					return err
				}
			}
			if fi.Status != oauth.FlowDone {
				return fmt.Errorf("connecting %s: %s: %s", st.Provider, fi.Status, fi.Error)
			}
			if !f.asJSON {
				fmt.Fprintf(cmd.OutOrStdout(), "%s connected\n", st.Provider)
			}
			return nil
		},
	}
	f.register(c, "print the flow's outcome as JSON (the URL goes to stderr)")
	c.Flags().DurationVar(&timeout, "timeout", oauth.StateTTL, "how long to wait for the callback")
	c.Flags().StringVar(&userID, "user-id", "", "the user connecting (passed to plugins)")
	return c
}

// waitFlow polls a flow until it ends, expires or timeout passes.
func waitFlow(ctx context.Context, cl *client.Client, id string, timeout, every time.Duration) (oauth.FlowInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fi, err := cl.OAuthFlow(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil:
			return fi, fmt.Errorf("no callback within %s: %w", timeout, context.DeadlineExceeded)
		case err != nil:
			return fi, err
		case fi.Status == oauth.FlowDone || fi.Status == oauth.FlowFailed || fi.Status == oauth.FlowExpired:
			return fi, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fi, fmt.Errorf("no callback within %s (flow %s is %s)", timeout, id, fi.Status)
			}
			return fi, ctx.Err()
		case <-t.C:
		}
	}
}

func newToolsDisconnectCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "disconnect PROVIDER",
		Short: "Revoke a provider's OAuth tokens at the server (when it offers revocation) and forget them",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			id, err := resolveProvider(cmd.Context(), cl, a[0])
			if err != nil {
				return f.explain(err)
			}
			if err := cl.DisconnectOAuth(cmd.Context(), id); err != nil {
				return f.explain(err)
			}
			if f.asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"disconnected": id})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s disconnected\n", id)
			return nil
		},
	}
	f.register(c, "print the result as JSON")
	return c
}

func newToolsConnectionsCmd() *cobra.Command {
	var f remoteFlags
	c := &cobra.Command{
		Use:   "connections",
		Short: "List the tenant's OAuth connections: connected, or needing re-authorization and why",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := f.connect()
			if err != nil {
				return err
			}
			list, err := cl.OAuthConnections(cmd.Context())
			if err != nil {
				return f.explain(err)
			}
			return printList(cmd.OutOrStdout(), f.asJSON, list, "no OAuth connections", "PROVIDER\tKIND\tSTATUS\tEXPIRES\tREASON", func(w io.Writer, c oauth.Connection) {
				exp := "-"
				if !c.Expiry.IsZero() {
					exp = c.Expiry.Local().Format(time.DateTime)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Provider, c.Kind, c.Status, exp, oneLine(c.Reason, 80))
			})
		},
	}
	f.register(c, "print the connections as JSON")
	return c
}

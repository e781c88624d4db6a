package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/daemon"
)

// daemonFlags binds the settings `plugd serve` and `plugd migrate` take on the command line;
// every one of them is also an environment variable and a config file key.
type daemonFlags struct {
	config string
	values map[string]*string
	extra  map[string]string // settings implied by other flags, keyed by variable name
}

func (f *daemonFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.config, "config", "", "YAML config file whose keys are the environment variable names (default $PLUGD_CONFIG, else ~/.config/plugd/config.yaml when present)")
	f.values = map[string]*string{}
	for _, fl := range daemon.Flags() {
		f.values[fl.Name] = c.Flags().String(fl.Name, "", fl.Usage)
	}
}

func (f *daemonFlags) load() (daemon.Config, error) {
	flags := map[string]string{}
	for name, v := range f.extra {
		flags[name] = v
	}
	for name, v := range f.values {
		if *v != "" {
			flags[name] = *v
		}
	}
	return daemon.Load(os.Getenv, f.config, flags)
}

func newServeCmd(env Env) *cobra.Command {
	var (
		f           daemonFlags
		printConfig bool
		debug       bool
	)
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the plugin daemon: Dify's PLUGIN_DAEMON_URL can point at it",
		Long: `Run the plugin daemon. With no settings it keeps everything under one data folder
(SQLite database, packages, plugin environments), listens on port 5002, and generates an API
key on first start (printed once; Dify's PLUGIN_DAEMON_KEY). Settings come from flags, the
environment (the reference daemon's variable names: SERVER_KEY, SERVER_PORT, DB_*, PLUGIN_*,
...) and a config file, in that order of precedence; --print-config shows them all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if debug {
				f.extra = map[string]string{"PLUGIN_REMOTE_INSTALLING_ENABLED": "true"}
			}
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			if printConfig {
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				for _, s := range cfg.Describe() {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, s.Source)
				}
				return tw.Flush()
			}
			return daemon.Run(cmd.Context(), cfg, daemon.RunOptions{Version: env.Version, Stdout: env.Stdout, Stderr: env.Stderr})
		},
	}
	f.register(c)
	c.Flags().BoolVar(&printConfig, "print-config", false, "print every setting, its value (secrets masked) and where it came from, then exit")
	c.Flags().BoolVar(&debug, "debug", false, "accept plugins attached for remote debugging (PLUGIN_REMOTE_INSTALLING_ENABLED) on --debug-host:--debug-port")
	return c
}

func newMigrateCmd(env Env) *cobra.Command {
	var (
		f      daemonFlags
		dryRun bool
	)
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations of this version (plugd serve also does it at start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			db, err := daemon.OpenStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			var names []string
			if dryRun {
				names, err = db.Pending(ctx)
			} else {
				names, err = db.Migrate(context.WithoutCancel(ctx))
			}
			if err != nil {
				return err
			}
			verb := "applied"
			if dryRun {
				verb = "pending"
			}
			if len(names) == 0 {
				fmt.Fprintf(env.Stdout, "database %s is up to date\n", cfg.DB.Type)
			}
			for _, n := range names {
				fmt.Fprintf(env.Stdout, "%s %s\n", verb, n)
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list the migrations that would be applied, change nothing")
	return c
}

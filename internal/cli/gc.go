package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/daemon"
)

// newGCCmd is `plugd gc`: it removes unused Python environments by the daemon's policy
// (PLUGD_ENV_MAX_UNUSED_AGE, PLUGD_ENV_CACHE_MAX_SIZE). Like `plugd migrate` it works on the
// data folder itself, and is safe while the daemon runs: environments the daemon's plugins
// hold, that installed plugins use or that are being built are never removed.
func newGCCmd(env Env) *cobra.Command {
	var (
		f      daemonFlags
		dryRun bool
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "gc",
		Short: "Remove unused plugin environments by age and size (plugd serve also does it periodically)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			rep, err := daemon.Workspace(cfg, nil).CollectEnvs(cmd.Context(), cfg.EnvGC, dryRun)
			if err != nil {
				return fmt.Errorf("collecting environments: %w", err)
			}
			if asJSON {
				if err := printJSON(env.Stdout, rep); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ENVIRONMENT\tSIZE\tLAST USED\tSTATE")
				for _, e := range rep.Envs {
					state := "kept"
					switch {
					case e.InUse:
						state = "in use"
					case e.Removed && dryRun:
						state = "would be removed (" + e.Reason + ")"
					case e.Removed:
						state = "removed (" + e.Reason + ")"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Key[:12], mebibytes(e.Size), e.LastUsed.Local().Format(time.DateTime), state)
				}
				tw.Flush()
				verb := "freed"
				if dryRun {
					verb = "would free"
				}
				// A zero setting turns its rule off (pyenv.Policy).
				age, size := "off", "off"
				if cfg.EnvGC.MaxUnusedAge > 0 {
					age = cfg.EnvGC.MaxUnusedAge.String()
				}
				if cfg.EnvGC.MaxSize > 0 {
					size = mebibytes(cfg.EnvGC.MaxSize)
				}
				fmt.Fprintf(env.Stdout, "%s, %s; %s %s (max unused age %s, max size %s)\n", plural(len(rep.Envs), "environment"), mebibytes(rep.Total),
					verb, mebibytes(rep.Freed), age, size)
			}
			for _, e := range rep.Errors {
				fmt.Fprintf(env.Stderr, "plugd gc: %s\n", e)
			}
			if len(rep.Errors) > 0 {
				return fmt.Errorf("%s could not be removed", plural(len(rep.Errors), "environment"))
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be removed, remove nothing")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return c
}

func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

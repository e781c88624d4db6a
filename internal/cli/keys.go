package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/daemon"
)

// newKeysCmd is `plugd keys`: the master key that wraps the tenants' credential keys.
func newKeysCmd(env Env) *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "The master key that encrypts stored tool credentials (docs/tools.md)"}
	var (
		f      daemonFlags
		asJSON bool
	)
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-wrap every tenant's data key under a new master key; no credential is lost",
		Long: "Without PLUGD_MASTER_KEY, a new key replaces DATA_DIR/master.key (kept as master.key.next\n" +
			"until every data key is re-wrapped, so an interrupted rotation finishes when run again).\n" +
			"With PLUGD_MASTER_KEY, put the new key there and the old one in PLUGD_MASTER_KEY_PREVIOUS.\n" +
			"Run it with plugd stopped, or restart every plugd right after.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			rep, err := daemon.RotateMasterKey(cmd.Context(), cfg, os.LookupEnv)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, rep)
			}
			from := strings.Join(rep.From, ", ")
			if from == "" {
				from = "-"
			}
			fmt.Fprintf(env.Stdout, "master key %s: %d data key(s) re-wrapped (from %s), %d already under it\n", rep.To, rep.Rewrapped, from, rep.Already)
			return nil
		},
	}
	f.register(rotate)
	rotate.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.AddCommand(rotate)
	return c
}

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/adopt"
	"github.com/plugd/plugd/internal/blob"
	"github.com/plugd/plugd/internal/daemon"
)

// newAdoptCmd is `plugd adopt`: it copies a running reference daemon's plugins, endpoints
// and plugin storage into plugd's store, reading the reference without writing to it.
func newAdoptCmd(env Env) *cobra.Command {
	var (
		f        daemonFlags
		fromEnv  string
		from     []string
		dryRun   bool
		asJSON   bool
		progress bool
	)
	c := &cobra.Command{
		Use:   "adopt",
		Short: "Take over a reference dify-plugin-daemon: import its packages, installations, endpoints, plugin storage and install tasks",
		Long: `Take over a reference dify-plugin-daemon deployment. The reference is given with its own
settings: --from-env names its .env file (DB_TYPE, DB_HOST, DB_PORT, DB_USERNAME, DB_PASSWORD,
DB_DATABASE, DB_SSL_MODE, PLUGIN_STORAGE_TYPE, PLUGIN_STORAGE_LOCAL_ROOT, S3_*, AWS_*,
PLUGIN_STORAGE_OSS_BUCKET, PLUGIN_PACKAGE_CACHE_PATH, PLUGIN_INSTALLED_PATH,
PERSISTENCE_STORAGE_PATH) and --from KEY=VALUE sets or overrides one. plugd's own settings
(where to import to) are read as by plugd serve: flags, environment, config file.

The reference is only read (its database in read-only transactions). Running adopt again
imports what is new or changed since, and reports it. Exit status 1 when anything failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			vals := map[string]string{}
			base, _ := os.Getwd()
			if fromEnv != "" {
				data, err := os.ReadFile(fromEnv)
				if err != nil {
					return usageError{fmt.Errorf("--from-env: %w", err)}
				}
				if vals, err = adopt.ParseEnvFile(data, fromEnv); err != nil {
					return usageError{err}
				}
				base = filepath.Dir(fromEnv)
			}
			for _, kv := range from {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--from %q: want KEY=VALUE", kv)}
				}
				vals[k] = v
			}
			if len(vals) == 0 {
				return usageError{errors.New("say where the reference is: --from-env FILE (its .env) and/or --from KEY=VALUE")}
			}
			settings, err := adopt.SettingsFrom(func(k string) string { return vals[k] }, base)
			if err != nil {
				return usageError{err}
			}
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			var src *adopt.Source
			if settings.OtherStorage {
				var storage blob.Store
				storage, err = daemon.OpenSourceBlob(ctx, func(k string) string { return vals[k] })
				if ce := (*daemon.ConfigError)(nil); errors.As(err, &ce) {
					return usageError{err} // a reference setting missing or malformed
				}
				if err == nil {
					src, err = adopt.OpenWithStorage(ctx, settings, storage)
				}
			} else {
				src, err = adopt.Open(ctx, settings)
			}
			if err != nil {
				return err
			}
			defer src.Close()
			tgt, err := daemon.OpenTarget(ctx, cfg)
			if err != nil {
				return err
			}
			defer tgt.Close()
			a := &adopt.Adopter{Source: src, Store: tgt.DB, KV: tgt.DB, Packages: tgt.Installer, DryRun: dryRun}
			if progress {
				a.Progress = adoptProgress(env.Stderr)
			}
			rep, err := a.Run(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(env.Stdout, rep); err != nil {
					return err
				}
			} else {
				printAdoptReport(env.Stdout, rep)
			}
			if rep.Failed() {
				if asJSON {
					return silentError{errors.New("adoption failed")}
				}
				return errors.New("some objects were not adopted (listed above); fix them and run plugd adopt again")
			}
			return nil
		},
	}
	f.register(c)
	c.Flags().StringVar(&fromEnv, "from-env", "", "the reference's .env file (its DB_* and PLUGIN_STORAGE_* settings)")
	c.Flags().StringArrayVar(&from, "from", nil, "a reference setting KEY=VALUE, over --from-env (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "report what would be imported, import nothing")
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().BoolVar(&progress, "progress", true, "show progress on stderr")
	return c
}

// adoptProgress writes one line per kind at most every second, and its last line.
func adoptProgress(w io.Writer) func(kind string, done, total int) {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(kind string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if total == 0 || (done < total && time.Since(last[kind]) < time.Second) {
			return
		}
		last[kind] = time.Now()
		fmt.Fprintf(w, "adopt: %s %d/%d\n", kind, done, total)
	}
}

func printAdoptReport(w io.Writer, rep *adopt.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	imported := "IMPORTED"
	if rep.DryRun {
		imported = "WOULD IMPORT"
	}
	fmt.Fprintf(tw, "KIND\t%s\tUPDATED\tUNCHANGED\tFAILED\tSKIPPED\n", imported)
	for _, k := range adopt.Kinds {
		c := rep.Counts[k]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", k, c.Imported, c.Updated, c.Unchanged, c.Failed, c.Skipped)
	}
	tw.Flush()
	for _, ch := range rep.Changes {
		fmt.Fprintf(w, "changed %s %s: %s\n", ch.Kind, ch.ID, ch.What)
	}
	for _, p := range rep.Problems {
		tenant := ""
		if p.Tenant != "" {
			tenant = " (tenant " + p.Tenant + ")"
		}
		id := p.ID
		if id != "" {
			id = " " + id
		}
		fmt.Fprintf(w, "%s %s%s%s: %s\n    what to do: %s\n", p.Level, p.Kind, id, tenant, p.Reason, p.Action)
	}
	fmt.Fprintf(w, "took %s\n", rep.Duration.Round(time.Millisecond))
}

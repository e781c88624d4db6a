package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/daemon"
	"github.com/plugd/plugd/internal/marketplace"
)

// marketplaceFlags choose the Marketplace, with the settings Dify and the reference daemon
// read: MARKETPLACE_ENABLED and MARKETPLACE_API_URL.
type marketplaceFlags struct {
	url string
}

func (m *marketplaceFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&m.url, "marketplace-url", "", "Dify Marketplace to use (default $MARKETPLACE_API_URL, else "+marketplace.DefaultURL+")")
}

// client makes the Marketplace client, refusing when MARKETPLACE_ENABLED is false.
func (m *marketplaceFlags) client(version string) (*marketplace.Client, error) {
	if v := strings.TrimSpace(os.Getenv("MARKETPLACE_ENABLED")); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, usageError{fmt.Errorf("MARKETPLACE_ENABLED=%q: want true or false", v)}
		}
		if !on {
			return nil, fmt.Errorf("the Marketplace is turned off (MARKETPLACE_ENABLED=false)")
		}
	}
	u := firstSet(m.url, os.Getenv("MARKETPLACE_API_URL"), marketplace.DefaultURL)
	c, err := marketplace.New(u, "plugd/"+version)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

// marketplaceCache is where downloads are kept: <data-dir>/cache/marketplace.
func marketplaceCache(dataDir string) (string, error) {
	if dataDir == "" {
		var err error
		if dataDir, err = daemon.DefaultDataDir(os.Getenv); err != nil {
			return "", err
		}
	}
	return filepath.Join(dataDir, "cache", "marketplace"), nil
}

// fetchFromMarketplace resolves and downloads ref into the cache, with progress on errw.
// The daemon verifies the package's signature under its own policy when it is uploaded.
func fetchFromMarketplace(ctx context.Context, c *marketplace.Client, dataDir, ref string, errw io.Writer) (marketplace.Fetched, error) {
	dir, err := marketplaceCache(dataDir)
	if err != nil {
		return marketplace.Fetched{}, err
	}
	f := &marketplace.Fetcher{Client: c, CacheDir: dir}
	var progress func(done, total int64)
	got, err := f.Fetch(ctx, ref, func(done, total int64) {
		if progress == nil && total > 0 {
			progress = progressPrinter(errw, "downloading "+ref, total, false)
			if progress == nil {
				progress = func(int64, int64) {}
			}
		}
		if progress != nil {
			progress(done, total)
		}
	})
	if err != nil {
		return marketplace.Fetched{}, err
	}
	how := "downloaded"
	if got.Cached {
		how = "cached"
	}
	fmt.Fprintf(errw, "%s %s from %s (%s)\n", how, displayID(got.UniqueIdentifier), c.URL(), got.Path)
	return got, nil
}

func newMarketplaceCmd(env Env) *cobra.Command {
	c := &cobra.Command{
		Use:   "marketplace",
		Short: "Search the Dify Marketplace and list a plugin's versions",
		Long: "Search the Dify Marketplace (MARKETPLACE_API_URL, default " + marketplace.DefaultURL + ").\n" +
			"Install a plugin from it with `plugd install ORG/NAME[:VERSION]`.",
	}
	c.AddCommand(newMarketplaceSearchCmd(env), newMarketplaceVersionsCmd(env))
	return c
}

func newMarketplaceSearchCmd(env Env) *cobra.Command {
	var (
		m              marketplaceFlags
		asJSON         bool
		page, pageSize int
	)
	c := &cobra.Command{
		Use:   "search TEXT",
		Short: "Search Marketplace plugins, most installed first",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := m.client(env.Version)
			if err != nil {
				return err
			}
			res, err := cl.Search(cmd.Context(), args[0], page, pageSize)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if res.Plugins == nil {
					res.Plugins = []marketplace.Plugin{}
				}
				return printJSON(out, res)
			}
			if len(res.Plugins) == 0 {
				fmt.Fprintf(out, "no plugin matches %q\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PLUGIN ID\tLATEST\tCATEGORY\tINSTALLS\tDESCRIPTION")
			for _, p := range res.Plugins {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", p.ID(), p.LatestVersion, p.Category, p.InstallCount, oneLine(marketplace.Text(p.Brief), 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if res.Total > len(res.Plugins) {
				fmt.Fprintf(out, "%d of %d shown; see more with --page\n", len(res.Plugins), res.Total)
			}
			return nil
		},
	}
	m.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print {plugins, total} as the Marketplace answers them")
	c.Flags().IntVar(&page, "page", 1, "page of results")
	c.Flags().IntVar(&pageSize, "page-size", 20, "results per page (at most 100)")
	return c
}

func newMarketplaceVersionsCmd(env Env) *cobra.Command {
	var (
		m      marketplaceFlags
		asJSON bool
	)
	c := &cobra.Command{
		Use:   "versions ORG/NAME",
		Short: "List a Marketplace plugin's published versions, newest first",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := marketplace.ParseRef(args[0])
			if err != nil {
				return usageError{err}
			}
			cl, err := m.client(env.Version)
			if err != nil {
				return err
			}
			vs, err := cl.Versions(cmd.Context(), r.Org, r.Name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if vs == nil {
					vs = []marketplace.Version{}
				}
				return printJSON(out, vs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tPUBLISHED\tUNIQUE IDENTIFIER")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Version, v.CreatedAt, v.UniqueIdentifier)
			}
			return tw.Flush()
		},
	}
	m.register(c)
	c.Flags().BoolVar(&asJSON, "json", false, "print the versions as JSON")
	return c
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

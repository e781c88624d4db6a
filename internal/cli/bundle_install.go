package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plugd/plugd/internal/bundle"
	"github.com/plugd/plugd/internal/client"
	"github.com/plugd/plugd/internal/marketplace"
)

// Outcomes of a bundle's dependency.
const (
	depInstalled        = "installed"
	depAlreadyInstalled = "already_installed"
	depFailed           = "failed"
	depSkipped          = "skipped" // not installed, and plugd did not try: the user has to
)

// bundleDependencyResult is what became of one dependency of a bundle.
type bundleDependencyResult struct {
	Index int    `json:"index"` // in the bundle's dependencies
	Type  string `json:"type"`  // package, marketplace or github
	// Dependency is how the bundle names it: a package's identifier, org/plugin:pattern,
	// owner/repo:pattern/asset.
	Dependency       string `json:"dependency"`
	UniqueIdentifier string `json:"unique_identifier,omitempty"` // what was installed, once known
	Status           string `json:"status"`
	Message          string `json:"message,omitempty"`

	source string // installation source sent to the daemon
}

func (r *bundleDependencyResult) fail(err error) {
	r.Status, r.Message = depFailed, err.Error()
}

// bundleInstallReport is the summary `plugd install BUNDLE.difybndl --json` prints.
type bundleInstallReport struct {
	Bundle           string                   `json:"bundle"`
	Dependencies     []bundleDependencyResult `json:"dependencies"`
	Installed        int                      `json:"installed"`
	AlreadyInstalled int                      `json:"already_installed"`
	Failed           int                      `json:"failed"`
	Skipped          int                      `json:"skipped"`
}

// bundleInstall installs a bundle the way Dify does when a user installs one, for a daemon
// without Dify in front: the bundle goes up through install/upload/bundle (the daemon
// stores the packages it holds and lists every dependency), then each dependency is
// installed through install/identifiers: packages by the identifier the daemon answered,
// Marketplace plugins after downloading them as `plugd install ORG/NAME:VERSION` does.
// GitHub release assets are not downloaded (the user is told which file to fetch). One
// dependency failing does not stop the others; the summary names each one's outcome.
type bundleInstall struct {
	cl      *client.Client
	remote  *remoteFlags
	market  *marketplaceFlags
	version string // plugd's, for the Marketplace's User-Agent
	verify  bool
	poll    time.Duration
	errw    io.Writer
}

func (b *bundleInstall) run(ctx context.Context, path string) (bundleInstallReport, error) {
	report := bundleInstallReport{Bundle: path}
	st, err := os.Stat(path)
	if err != nil {
		return report, err
	}
	deps, err := b.cl.UploadBundle(ctx, path, b.verify, progressPrinter(b.errw, "uploading bundle", st.Size(), false))
	if err != nil {
		return report, b.remote.explain(fmt.Errorf("uploading %s: %w", path, err))
	}
	fmt.Fprintf(b.errw, "bundle %s: %d dependencies\n", path, len(deps))

	results := make([]bundleDependencyResult, len(deps))
	for i, d := range deps {
		r := &results[i]
		*r = bundleDependencyResult{Index: i, Type: d.Type}
		switch {
		case d.Package != nil:
			r.Dependency, r.UniqueIdentifier, r.source = displayID(d.Package.UniqueIdentifier), d.Package.UniqueIdentifier, "package"
		case d.Marketplace != nil:
			m := d.Marketplace
			r.Dependency, r.source = m.Organization+"/"+m.Plugin+":"+m.Version, "marketplace"
			uid, err := b.fromMarketplace(ctx, *m)
			if err != nil {
				r.fail(err)
				continue
			}
			r.UniqueIdentifier = uid
		case d.Github != nil:
			g := d.Github
			r.Dependency = g.Repo + ":" + g.Release + "/" + g.Packages
			r.Status = depSkipped
			r.Message = fmt.Sprintf("plugd does not download from GitHub: download %s from a release of %s matching %s (%s/releases) and install it with `plugd install FILE.difypkg`",
				g.Packages, g.Repo, g.Release, g.RepoAddress)
		default:
			r.Dependency = "?"
			r.fail(fmt.Errorf("the daemon answered a dependency of type %q, which plugd does not know", d.Type))
		}
	}

	// Each dependency is its own install, as Dify installs them, so one the tenant already
	// has is reported as such and one that fails does not take the others with it.
	// A plugin named twice is installed once: the same package shares the first one's
	// outcome, another version of it fails (a tenant has one version of a plugin).
	byPlugin := map[string]int{}
	sameAs := map[int]int{}
	var taskIDs []string
	var waiting []*bundleDependencyResult
	for i := range results {
		r := &results[i]
		if r.Status != "" || r.UniqueIdentifier == "" {
			continue
		}
		if j, dup := byPlugin[pluginIDOf(r.UniqueIdentifier)]; dup {
			if results[j].UniqueIdentifier == r.UniqueIdentifier {
				sameAs[i] = j
			} else {
				r.fail(fmt.Errorf("dependencies[%d] is another version of %s (%s)", j, pluginIDOf(r.UniqueIdentifier), displayID(results[j].UniqueIdentifier)))
			}
			continue
		}
		byPlugin[pluginIDOf(r.UniqueIdentifier)] = i
		all, taskID, err := b.cl.InstallIdentifiers(ctx, []string{r.UniqueIdentifier}, r.source)
		switch {
		case err != nil:
			r.fail(b.remote.explain(fmt.Errorf("installing %s: %w", displayID(r.UniqueIdentifier), err)))
		case all:
			r.Status = depAlreadyInstalled
		default:
			taskIDs = append(taskIDs, taskID)
			waiting = append(waiting, r)
		}
	}
	if len(taskIDs) > 0 {
		tasks, errs := waitTasks(ctx, b.cl, taskIDs, b.poll, b.errw)
		for i, r := range waiting {
			if errs[i] != nil {
				r.fail(b.remote.explain(errs[i]))
				continue
			}
			if tasks[i].Status == client.TaskFailed {
				r.Status, r.Message = depFailed, taskMessage(tasks[i])
			} else {
				r.Status = depInstalled
			}
		}
	}
	b.describeAlreadyInstalled(ctx, results)
	for i, j := range sameAs {
		results[i].Status, results[i].Message = results[j].Status, results[j].Message
	}

	report.Dependencies = results
	for _, r := range results {
		switch r.Status {
		case depInstalled:
			report.Installed++
		case depAlreadyInstalled:
			report.AlreadyInstalled++
		case depFailed:
			report.Failed++
		case depSkipped:
			report.Skipped++
		}
	}
	return report, nil
}

// fromMarketplace resolves a marketplace dependency to one published version (the newest
// its pattern admits), downloads it through the cache as `plugd install ORG/NAME:VERSION`
// does, uploads it and returns its unique identifier. The daemon verifies its signature.
func (b *bundleInstall) fromMarketplace(ctx context.Context, dep bundle.MarketplaceRef) (string, error) {
	mc, err := b.market.client(b.version)
	if err != nil {
		return "", err
	}
	id := dep.Organization + "/" + dep.Plugin
	version := dep.Version
	if !bundle.IsExactVersion(version) {
		published, err := mc.Versions(ctx, dep.Organization, dep.Plugin)
		if err != nil {
			return "", err
		}
		names := make([]string, len(published))
		for i, v := range published {
			names[i] = v.Version
		}
		newest, ok := bundle.NewestMatching(version, names)
		if !ok {
			return "", &marketplace.Error{URL: mc.URL() + "/api/v1/plugins/" + id + "/versions", ID: id + ":" + version,
				Err: fmt.Errorf("%w: no published version matches %s (versions: %s)", marketplace.ErrNotFound, version, strings.Join(names, ", "))}
		}
		fmt.Fprintf(b.errw, "%s:%s is %s\n", id, version, newest)
		version = newest
	}
	got, err := fetchFromMarketplace(ctx, mc, b.remote.dataDir, id+":"+version, b.errw)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(got.Path)
	if err != nil {
		return "", err
	}
	decoded, err := b.cl.UploadPackage(ctx, got.Path, b.verify, progressPrinter(b.errw, "uploading "+displayID(got.UniqueIdentifier), st.Size(), false))
	if err != nil {
		return "", b.remote.explain(fmt.Errorf("uploading %s: %w", displayID(got.UniqueIdentifier), err))
	}
	return decoded.UniqueIdentifier, nil
}

// describeAlreadyInstalled says which version the tenant has of each dependency the daemon
// did not install again: it answers only that the plugin id is installed.
func (b *bundleInstall) describeAlreadyInstalled(ctx context.Context, results []bundleDependencyResult) {
	var items []client.PluginItem
	listed := false
	for i := range results {
		r := &results[i]
		if r.Status != depAlreadyInstalled {
			continue
		}
		if !listed {
			items, _ = b.cl.List(ctx) // only for the message; the outcome is known
			listed = true
		}
		for _, it := range items {
			switch {
			case it.PluginID != pluginIDOf(r.UniqueIdentifier):
			case it.UniqueIdentifier == r.UniqueIdentifier:
				r.Message = "as installation " + it.InstallationID
			default:
				r.Message = fmt.Sprintf("another version is installed: %s (installation %s); uninstall it first to install %s",
					displayID(it.UniqueIdentifier), it.InstallationID, displayID(r.UniqueIdentifier))
			}
		}
	}
}

// print writes the summary: a table, or the report as JSON.
func (rep bundleInstallReport) print(out io.Writer, asJSON bool) error {
	if asJSON {
		if rep.Dependencies == nil {
			rep.Dependencies = []bundleDependencyResult{}
		}
		return printJSON(out, rep)
	}
	if len(rep.Dependencies) == 0 {
		fmt.Fprintf(out, "%s has no dependencies\n", rep.Bundle)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTYPE\tDEPENDENCY\tRESULT")
	for _, r := range rep.Dependencies {
		result := strings.ReplaceAll(r.Status, "_", " ")
		if r.Message != "" {
			result += ": " + oneLine(r.Message, 400)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Index, r.Type, r.Dependency, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d installed, %d already installed, %d failed, %d skipped\n", rep.Installed, rep.AlreadyInstalled, rep.Failed, rep.Skipped)
	return nil
}

// err is the command's error when a dependency was not installed: which ones, and why.
func (rep bundleInstallReport) err() error {
	var errs []error
	for _, r := range rep.Dependencies {
		if r.Status == depFailed || r.Status == depSkipped {
			errs = append(errs, fmt.Errorf("dependencies[%d] (%s %s) %s: %s", r.Index, r.Type, r.Dependency, strings.ReplaceAll(r.Status, "_", " "), r.Message))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d dependencies of %s not installed:\n%w", len(errs), len(rep.Dependencies), rep.Bundle, errors.Join(errs...))
}

// isBundleFile reports whether an install argument is a bundle rather than a package.
func isBundleFile(arg string) bool {
	return strings.HasSuffix(strings.ToLower(arg), ".difybndl")
}

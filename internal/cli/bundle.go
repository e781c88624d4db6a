package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/bundle"
	"github.com/plugd/plugd/internal/pkgfile"
)

// newBundleCmd is `bundle`, the reference CLI's commands for plugin bundles (.difybndl), a
// top-level command there; plugd also serves it as `plugin bundle`. Every command that edits
// a bundle takes its folder or its .difybndl file.
func newBundleCmd(env Env) *cobra.Command {
	c := groupCmd("bundle", "Create, edit and package plugin bundles (.difybndl)")
	app := groupCmd("append", "Append a dependency to a bundle")
	app.AddCommand(
		bundleEditCmd("github BUNDLE", "Append a GitHub release asset: owner/repo:version/asset.difypkg",
			"repo_pattern", "r", "GitHub pattern owner/repo:version/asset (version exact, ^/~ prefixed, 1.x.x or a.b.c-d.e.f)",
			func(_ context.Context, b *bundle.Bundle, v string) (string, error) {
				return "added github dependency " + v, b.AppendGithub(v)
			}),
		bundleEditCmd("marketplace BUNDLE", "Append a Marketplace plugin: organization/plugin:version",
			"marketplace_pattern", "m", "Marketplace pattern organization/plugin:version",
			func(_ context.Context, b *bundle.Bundle, v string) (string, error) {
				return "added marketplace dependency " + v, b.AppendMarketplace(v)
			}),
		bundleEditCmd("package BUNDLE", "Append a .difypkg: it is copied into the bundle under its checksum",
			"package_path", "p", "path of the .difypkg to add",
			func(ctx context.Context, b *bundle.Bundle, v string) (string, error) {
				sum, err := b.AppendPackage(ctx, v)
				return "added package " + filepath.Base(v) + " as _assets/" + sum, err
			}),
	)
	c.AddCommand(
		newBundleInitCmd(env, false),
		newBundleInitCmd(env, true),
		app,
		bundleEditCmd("remove BUNDLE", "Remove a dependency (numbered from 0, as `bundle analyze` lists them)",
			"index", "i", "index of the dependency to remove",
			func(_ context.Context, b *bundle.Bundle, v string) (string, error) {
				i, err := strconv.Atoi(v)
				if err != nil {
					return "", usageError{fmt.Errorf("--index %q is not a number", v)}
				}
				d, err := b.Remove(i)
				return fmt.Sprintf("removed dependency %d (%s %s)", i, d.Type, d.Pattern()), err
			}),
		bundleEditCmd("bump BUNDLE", "Set the bundle's version",
			"target_version", "t", "new version, e.g. 0.0.2",
			func(_ context.Context, b *bundle.Bundle, v string) (string, error) {
				return "version is now " + v, b.Bump(v)
			}),
		newBundlePackageCmd(env),
		newBundleAnalyzeCmd(env),
	)
	return c
}

// bundleEditCmd is a command that loads a bundle, changes it with the value of its one
// required flag, and saves it where it was.
func bundleEditCmd(use, short, flag, shorthand, usage string, edit func(context.Context, *bundle.Bundle, string) (string, error)) *cobra.Command {
	var value string
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundle.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			msg, err := edit(cmd.Context(), b, value)
			if err != nil {
				return err
			}
			if err := b.Save(cmd.Context()); err != nil {
				return fmt.Errorf("saving %s: %w", args[0], err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), msg)
			return nil
		},
	}
	c.Flags().StringVarP(&value, flag, shorthand, "", usage)
	c.MarkFlagRequired(flag)
	return c
}

// newBundleInitCmd is `bundle init` (a new bundle folder) or, with regenerate, `bundle
// regenerate BUNDLE` (new name, author and description for an existing one). Values come
// from flags; missing ones are asked for on a terminal, as `plugin init` does.
func newBundleInitCmd(env Env, regenerate bool) *cobra.Command {
	var name, author, description, parent string
	var quick, asJSON bool
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a bundle folder: manifest.yaml, README.md, _assets/icon.svg",
		Args:  cobra.NoArgs,
	}
	if regenerate {
		c.Use, c.Short, c.Args = "regenerate BUNDLE", "Replace a bundle's name, author and description", exactArgs(1)
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		var missing []string
		for _, f := range []struct{ flag, value string }{{"--name", name}, {"--author", author}, {"--description", description}} {
			if f.value == "" {
				missing = append(missing, f.flag)
			}
		}
		if len(missing) > 0 {
			if quick || !isTerminal(env.Stdin) {
				return usageError{fmt.Errorf("missing %s: give them as flags, or run in a terminal to be asked", strings.Join(missing, ", "))}
			}
			if err := askBundleProfile(cmd.Context(), env.Stdin, env.Stderr, &name, &author, &description); err != nil {
				return err
			}
		}
		for _, err := range []error{bundle.CheckName(name), bundle.CheckAuthor(author)} {
			if err != nil {
				return usageError{err}
			}
		}
		if regenerate {
			b, err := bundle.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b.Manifest.Name, b.Manifest.Author = name, author
			b.Manifest.Labels, b.Manifest.Description = bundle.Everywhere(name), bundle.Everywhere(description)
			if err := b.Save(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "regenerated %s\n", args[0])
			return nil
		}
		dir := filepath.Join(parent, name)
		files, err := bundle.Init(dir, name, author, description, time.Now())
		if err != nil {
			return err
		}
		if asJSON {
			abs, err := filepath.Abs(dir)
			if err != nil {
				abs = dir
			}
			return printJSON(cmd.OutOrStdout(), map[string]any{"path": abs, "files": files})
		}
		prog := cmd.Root().Name()
		fmt.Fprintf(cmd.OutOrStdout(), "Created bundle %s in %s.\n\nNext steps:\n  %s bundle append marketplace %s -m org/plugin:1.0.0\n  %s bundle package %s\n",
			name, dir, prog, shellQuote(dir), prog, shellQuote(dir))
		return nil
	}
	fl := c.Flags()
	fl.StringVar(&name, "name", "", "bundle name, also the folder name (^[a-z0-9_-]{1,128}$)")
	fl.StringVar(&author, "author", "", "author (^[a-z0-9_-]{1,64}$)")
	fl.StringVar(&description, "description", "", "English description")
	fl.BoolVar(&quick, "quick", false, "never prompt: take every value from the flags")
	if !regenerate {
		fl.StringVar(&parent, "dir", ".", "folder to create the bundle folder in")
		fl.BoolVar(&asJSON, "json", false, `print {"path", "files"} as JSON`)
	}
	return c
}

// askBundleProfile asks for the values not given, each until it is valid.
func askBundleProfile(ctx context.Context, in io.Reader, out io.Writer, name, author, description *string) error {
	r := bufio.NewReader(in)
	ask := func(label string, check func(string) error, dst *string) error {
		for *dst == "" {
			if err := ctx.Err(); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: ", label)
			line, err := r.ReadString('\n')
			v := strings.TrimSpace(line)
			if v != "" {
				if cerr := check(v); cerr != nil {
					fmt.Fprintln(out, cerr)
				} else {
					*dst = v
				}
			}
			if err != nil && *dst == "" {
				return usageError{fmt.Errorf("no answer for %q", label)}
			}
		}
		return nil
	}
	nonEmpty := func(string) error { return nil }
	if err := ask("Bundle name (lowercase letters, digits, _ and -)", bundle.CheckName, name); err != nil {
		return err
	}
	if err := ask("Author (lowercase letters, digits, _ and -)", bundle.CheckAuthor, author); err != nil {
		return err
	}
	return ask("Description", nonEmpty, description)
}

func newBundlePackageCmd(env Env) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "package BUNDLE",
		Short: "Write the bundle as a .difybndl (the same bundle always gives the same bytes)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				abs, err := filepath.Abs(args[0])
				if err != nil {
					return err
				}
				output = strings.TrimSuffix(filepath.Base(abs), ".difybndl") + ".difybndl"
			}
			b, err := bundle.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			probs := b.Check()
			for _, p := range probs {
				if !p.Blocking {
					fmt.Fprintf(env.Stderr, "warning: %s\n", p)
				}
			}
			if blocking := bundle.Blocking(probs); len(blocking) > 0 {
				for _, p := range blocking {
					fmt.Fprintf(env.Stderr, "error: %s\n", p)
				}
				return silentError{fmt.Errorf("%d dependencies cannot be installed", len(blocking))}
			}
			if same, _ := sameFile(args[0], output); same {
				return usageError{errors.New("the output would overwrite the bundle itself; give -o")}
			}
			if err := pkgfile.WriteFileAtomic(output, func(w io.Writer) error { return b.WriteZip(cmd.Context(), w) }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "packaged %s (%d dependencies) to %s\n", b.Manifest.Name, len(b.Manifest.Dependencies), output)
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output_path", "o", "", "where to write the bundle (default: the folder's name + .difybndl)")
	return c
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// analyzedDependency is one dependency as `bundle analyze --json` prints it.
type analyzedDependency struct {
	Index   int                   `json:"index"`
	Type    bundle.DependencyType `json:"type"`
	Pattern string                `json:"pattern,omitempty"`
	Path    string                `json:"path,omitempty"`
	Size    *int                  `json:"size,omitempty"` // bytes of a package in the bundle
	// What the daemon reports for it: a bundle.GithubRef or bundle.MarketplaceRef.
	Reported any `json:"reported,omitempty"`
}

func newBundleAnalyzeCmd(env Env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "analyze BUNDLE",
		Short: "List a bundle's dependencies and what is wrong with it (exit 1 if a dependency cannot be installed)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := bundle.Load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			m := b.Manifest
			deps := make([]analyzedDependency, len(m.Dependencies))
			for i, d := range m.Dependencies {
				a := analyzedDependency{Index: i, Type: d.Type}
				switch d.Type {
				case bundle.Github:
					a.Pattern = d.Value.RepoPattern
					if ref, err := bundle.ParseGithubPattern(a.Pattern); err == nil {
						a.Reported = ref
					}
				case bundle.Marketplace:
					a.Pattern = d.Value.MarketplacePattern
					if ref, err := bundle.ParseMarketplacePattern(a.Pattern); err == nil {
						a.Reported = ref
					}
				default:
					a.Path = d.Value.Path
					if data, ok := b.Assets[a.Path]; ok && d.Type == bundle.Package {
						n := len(data)
						a.Size = &n
					}
				}
				deps[i] = a
			}
			probs := b.Check()
			if probs == nil {
				probs = []bundle.Problem{}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				err := printJSON(out, map[string]any{
					"name": m.Name, "version": m.Version, "author": m.Author,
					"dependencies": deps, "problems": probs,
				})
				if err == nil && len(bundle.Blocking(probs)) > 0 {
					err = silentError{errors.New("the bundle has dependencies that cannot be installed")}
				}
				return err
			}
			fmt.Fprintf(out, "%s %s by %s: %d dependencies\n", m.Name, m.Version, m.Author, len(deps))
			for _, d := range deps {
				switch r := d.Reported.(type) {
				case bundle.GithubRef:
					fmt.Fprintf(out, "%3d  github       %s  (repo %s, release %s, asset %s)\n", d.Index, d.Pattern, r.RepoAddress, r.Release, r.Packages)
				case bundle.MarketplaceRef:
					fmt.Fprintf(out, "%3d  marketplace  %s  (organization %s, plugin %s, version %s)\n", d.Index, d.Pattern, r.Organization, r.Plugin, r.Version)
				default:
					size := "missing"
					if d.Size != nil {
						size = humanBytes(int64(*d.Size))
					}
					fmt.Fprintf(out, "%3d  %-11s  %s%s  (%s)\n", d.Index, d.Type, d.Pattern, d.Path, size)
				}
			}
			for _, p := range probs {
				kind := "warning"
				if p.Blocking {
					kind = "error"
				}
				fmt.Fprintf(env.Stderr, "%s: %s\n", kind, p)
			}
			if n := len(bundle.Blocking(probs)); n > 0 {
				return silentError{fmt.Errorf("%d dependencies cannot be installed", n)}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, `print {"name", "version", "author", "dependencies", "problems"} as JSON`)
	return c
}

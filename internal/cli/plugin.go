package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/pkgfile"
)

func newValidateCmd(env Env) *cobra.Command {
	var asJSON, strict bool
	c := &cobra.Command{
		Use:   "validate DIR|PKG",
		Short: "Check a plugin folder or package: manifest, every file it points to, assets",
		Long: "Check manifest.yaml and every provider, tool, model, endpoint, agent strategy, trigger and\n" +
			"datasource file it references. Every problem is reported with its file, line and field.\n" +
			"Checks the reference packager does not make and that leave the plugin installable (README.md\n" +
			"missing, unknown permission keys, a malformed minimum_dify_version, duplicate names, a select\n" +
			"without options) are warnings on stderr;\n" +
			"--strict makes them errors.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openSource(cmd.Context(), args[0], "", false)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.pkg != nil {
				// Every entry read to its end, as checksum and the daemon's upload do: a CRC
				// or size that lies fails here with the message the daemon gives.
				if err := s.pkg.Verify(cmd.Context()); err != nil {
					return err
				}
			}
			v := validate(s, strict)
			out := cmd.OutOrStdout()
			if !asJSON {
				printWarnings(cmd.ErrOrStderr(), v.Warnings)
			}
			if asJSON {
				if err := printJSON(out, v); err != nil {
					return err
				}
			} else if v.Valid {
				fmt.Fprintf(out, "ok: %s (%s), %d files\n", v.Identity, v.Category, v.Files)
			} else {
				printProblems(out, v.Problems)
				fmt.Fprintf(out, "%s found in %s\n", plural(len(v.Problems), "problem"), args[0])
			}
			if !v.Valid {
				return silentError{errInvalid}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().BoolVar(&strict, "strict", false, "treat warnings (checks beyond the reference's) as errors")
	return c
}

func newPackageCmd(env Env) *cobra.Command {
	var (
		output  string
		maxSize int64
		uvPath  string
		asJSON  bool
		strict  bool
	)
	c := &cobra.Command{
		Use:   "package DIR",
		Short: "Validate a plugin folder and write its .difypkg",
		Long: "Validate a plugin folder, then write its package: the files kept by .difyignore (else\n" +
			".gitignore), sorted, deflated, with zero timestamps — the same bytes the reference CLI writes.\n" +
			"A folder with pyproject.toml and uv.lock but no requirements.txt gets one exported by uv.\n" +
			"Checks the reference packager does not make and that leave the plugin installable (README.md\n" +
			"missing, unknown permission keys, a malformed minimum_dify_version, duplicate names, a select\n" +
			"without options) are warnings on stderr;\n" +
			"--strict makes them errors.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dir := args[0]
			if st, err := os.Stat(dir); err != nil {
				return err
			} else if !st.IsDir() {
				return usageError{fmt.Errorf("%s is not a folder: package takes a plugin folder", dir)}
			}
			s, err := openSource(ctx, dir, uvPath, true)
			if err != nil {
				return err
			}
			v := validate(s, strict)
			printWarnings(cmd.ErrOrStderr(), v.Warnings)
			warnings := []string{}
			for _, p := range v.Warnings {
				warnings = append(warnings, p.String())
			}
			for _, d := range s.tree.ReferenceDifferences() {
				d += "; the reference CLI's package of this folder would differ"
				warnings = append(warnings, d)
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", d)
			}
			if !v.Valid {
				w := cmd.OutOrStdout()
				if asJSON {
					if err := printJSON(w, v); err != nil {
						return err
					}
				} else {
					printProblems(cmd.ErrOrStderr(), v.Problems)
					fmt.Fprintf(cmd.ErrOrStderr(), "%s found; nothing was written\n", plural(len(v.Problems), "problem"))
				}
				return silentError{errInvalid}
			}
			if maxSize <= 0 {
				maxSize = 50
			}
			if err := s.tree.CheckSize(maxSize << 20); err != nil {
				return err
			}
			if output == "" {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				output = filepath.Base(abs) + ".difypkg"
			}
			progress := progressPrinter(cmd.ErrOrStderr(), "packaging", s.tree.TotalSize(), asJSON)
			if err := pkgfile.WriteFileAtomic(output, func(w io.Writer) error {
				return s.tree.WriteZip(ctx, w, progress)
			}); err != nil {
				return err
			}
			sum, err := s.tree.Checksum(ctx)
			if err != nil {
				return err
			}
			st, err := os.Stat(output)
			if err != nil {
				return err
			}
			res := struct {
				Output           string   `json:"output"`
				UniqueIdentifier string   `json:"unique_identifier"`
				Checksum         string   `json:"checksum"`
				Files            int      `json:"files"`
				Size             int64    `json:"size"`
				UncompressedSize int64    `json:"uncompressed_size"`
				Warnings         []string `json:"warnings"` // see validate and ReferenceDifferences
			}{output, v.Identity + "@" + sum, sum, v.Files, st.Size(), s.tree.TotalSize(), warnings}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d files, %s)\n%s\n", output, res.Files, humanBytes(res.Size), res.UniqueIdentifier)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&output, "output_path", "o", "", "package file to write (default <folder name>.difypkg in the current folder)")
	f.Int64Var(&maxSize, "max-size", 50, "limit on the uncompressed size of the package, in MiB")
	f.StringVar(&uvPath, "uv", "", "uv executable used to export requirements.txt from uv.lock (default $UV_PATH, then uv on PATH)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.BoolVar(&strict, "strict", false, "treat warnings (checks beyond the reference's) as errors")
	return c
}

func newChecksumCmd(env Env) *cobra.Command {
	var (
		asJSON bool
		uvPath string
	)
	c := &cobra.Command{
		Use:   "checksum DIR|PKG",
		Short: "Print the plugin checksum (the part after @ in the unique identifier)",
		Long: "Print the plugin checksum: SHA-256 over the sorted (path, content) hashes of the files, the\n" +
			"reference algorithm. A folder gives the same checksum as the package made from it.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := openSource(ctx, args[0], uvPath, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.IsDir && s.tree.NeedsRequirementsExport() {
				data, err := pkgfile.ExportRequirements(ctx, args[0], uvPath)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\nwarning: the package will hold a requirements.txt exported by uv, so its checksum will differ from this one\n", err)
				} else {
					s.tree.Add("requirements.txt", data)
				}
			}
			sum, err := s.Checksum(ctx)
			if err != nil {
				return err
			}
			res := struct {
				Path             string `json:"path"`
				Checksum         string `json:"checksum"`
				UniqueIdentifier string `json:"unique_identifier,omitempty"`
			}{Path: args[0], Checksum: sum}
			if v := validate(s, false); v.plugin != nil {
				res.UniqueIdentifier = v.Identity + "@" + sum
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), sum)
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the checksum and unique identifier as JSON")
	c.Flags().StringVar(&uvPath, "uv", "", "uv executable used to export requirements.txt from uv.lock")
	return c
}

// exactArgs is cobra.ExactArgs with an error that exits with the usage code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (usage: %s)", err, cmd.UseLine())}
		}
		return nil
	}
}

// progressThreshold is the size from which packaging shows progress; below it the work is
// over before a human could read a progress line.
const progressThreshold = 8 << 20

// progressPrinter returns a progress callback that prints at most a few lines per second
// to w, or nil when total is small or the output is for scripts.
func progressPrinter(w io.Writer, what string, total int64, quiet bool) func(done, total int64) {
	if quiet || total < progressThreshold {
		return nil
	}
	tty := isTerminal(w)
	var last time.Time
	return func(done, total int64) {
		finished := done >= total
		if !finished && time.Since(last) < 250*time.Millisecond {
			return
		}
		last = time.Now()
		line := fmt.Sprintf("%s: %s / %s (%d%%)", what, humanBytes(done), humanBytes(total), done*100/max(total, 1))
		switch {
		case tty && finished:
			fmt.Fprintf(w, "\r%s\n", line)
		case tty:
			fmt.Fprintf(w, "\r%s", line)
		default:
			fmt.Fprintln(w, line)
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// plural is "1 thing" or "N things", for summary lines.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

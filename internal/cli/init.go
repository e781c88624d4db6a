package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/scaffold"
)

// initResult is what `plugin init --json` prints.
type initResult struct {
	Path     string   `json:"path"`
	Files    []string `json:"files"`
	Category string   `json:"category"`
}

// newInitCmd creates a plugin folder. Its flags are those of the reference CLI, so scripts
// keep working; unlike the reference it never overwrites a folder, prompts only when values
// are missing (or with --interactive), and fails with exit code 2 when it cannot ask.
func newInitCmd(env Env) *cobra.Command {
	var (
		o                          scaffold.Options
		category                   string
		quick, interactive, asJSON bool
		parent                     string
	)
	cats := make([]string, 0, len(scaffold.Categories()))
	for _, c := range scaffold.Categories() {
		cats = append(cats, string(c))
	}
	c := &cobra.Command{
		Use:   "init",
		Short: "Create a new plugin folder that validates, packages and runs as generated",
		Long: "Create <dir>/<name> with a manifest, the declarations and Python code of one category,\n" +
			"and the files every plugin needs. Missing values are asked for when stdin is a terminal\n" +
			"(or with --interactive); otherwise give them as flags. The folder must not exist yet, or\n" +
			"be empty.",
		Example: "  plugd plugin init --quick --name weather --author me --description \"Weather lookups\" --category tool",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			o.Category = scaffold.Category(category)
			if f.Changed("storage-size") {
				o.Permissions.Storage = true // a size only makes sense with storage
			}
			missing := missingInitFlags(o)
			switch {
			case !quick && (interactive || len(missing) > 0 && isTerminal(env.Stdin)):
				if !f.Changed("language") {
					o.Language = "" // ask, with python as the default answer
				}
				if err := scaffold.Ask(cmd.Context(), env.Stdin, env.Stderr, &o); err != nil {
					return err
				}
			case len(missing) > 0:
				return usageError{fmt.Errorf("missing %s: give them as flags, or run in a terminal (or with --interactive) to be asked", strings.Join(missing, ", "))}
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			files, err := scaffold.Render(o)
			if err != nil {
				return err
			}
			dir := filepath.Join(parent, o.Name)
			if err := scaffold.Write(dir, files); err != nil {
				return err
			}

			out := cmd.OutOrStdout()
			if asJSON {
				abs, err := filepath.Abs(dir)
				if err != nil {
					abs = dir
				}
				res := initResult{Path: abs, Category: string(o.Category)}
				for _, f := range files {
					res.Files = append(res.Files, f.Path)
				}
				return printJSON(out, res)
			}
			prog := cmd.Root().Name()
			fmt.Fprintf(out, "Created %s plugin %s in %s (%d files).\n\n", o.Category, o.Name, dir, len(files))
			fmt.Fprintf(out, "Next steps:\n  cd %s && %s plugin validate . && %s plugin package .\n", shellQuote(dir), prog, prog)
			fmt.Fprintf(out, "GUIDE.md in the folder explains how to debug the plugin against Dify.\n")
			return nil
		},
	}
	fl := c.Flags()
	fl.BoolVar(&quick, "quick", false, "never prompt: take every value from the flags")
	fl.BoolVar(&interactive, "interactive", false, "ask for every value not given as a flag, even when stdin is not a terminal")
	fl.StringVar(&o.Name, "name", "", "plugin name, also the folder name (^[a-z0-9_-]{1,128}$)")
	fl.StringVar(&o.Author, "author", "", "author, your Marketplace name (^[a-z0-9_-]{1,64}$)")
	fl.StringVar(&o.Description, "description", "", "English description of the plugin")
	fl.StringVar(&category, "category", "", "plugin category: "+strings.Join(cats, ", "))
	fl.StringVar(&o.Language, "language", "python", "plugin language (only python)")
	fl.StringVar(&o.Repo, "repo", "", "source repository URL (optional)")
	fl.StringVar(&o.MinDifyVersion, "min-dify-version", "", "minimum Dify version the plugin needs, e.g. 1.9.0 (optional)")
	fl.Int64Var(&o.Permissions.StorageSize, "storage-size", 0, fmt.Sprintf("plugin storage quota in bytes, %d to %d; implies --allow-storage (default %d)", scaffold.MinStorageSize, scaffold.MaxStorageSize, scaffold.DefaultStorageSize))
	for _, p := range []struct {
		flag, what string
		dst        *bool
	}{
		{"allow-endpoint", "register endpoints", &o.Permissions.Endpoint},
		{"allow-tool", "call tools", &o.Permissions.Tool},
		{"allow-model", "call models", &o.Permissions.Model},
		{"allow-llm", "call LLMs", &o.Permissions.LLM},
		{"allow-text-embedding", "call text embedding models", &o.Permissions.TextEmbedding},
		{"allow-rerank", "call rerank models", &o.Permissions.Rerank},
		{"allow-tts", "call text-to-speech models", &o.Permissions.TTS},
		{"allow-speech2text", "call speech-to-text models", &o.Permissions.Speech2Text},
		{"allow-moderation", "call moderation models", &o.Permissions.Moderation},
		{"allow-node", "call workflow nodes", &o.Permissions.Node},
		{"allow-app", "call Dify apps", &o.Permissions.App},
		{"allow-storage", "use plugin storage", &o.Permissions.Storage},
	} {
		fl.BoolVar(p.dst, p.flag, false, "let the plugin "+p.what)
	}
	fl.StringVar(&parent, "dir", ".", "folder to create the plugin folder in")
	fl.BoolVar(&asJSON, "json", false, `print {"path", "files", "category"} as JSON`)
	return c
}

// missingInitFlags names the required flags that have no value.
func missingInitFlags(o scaffold.Options) []string {
	var missing []string
	for _, f := range []struct{ flag, value string }{
		{"--name", o.Name}, {"--author", o.Author}, {"--description", o.Description}, {"--category", string(o.Category)},
	} {
		if f.value == "" {
			missing = append(missing, f.flag)
		}
	}
	return missing
}

// shellQuote quotes a path for the suggested `cd` when it holds characters a POSIX shell
// would interpret (and keeps a leading - from reading as an option).
func shellQuote(s string) string {
	if strings.HasPrefix(s, "-") {
		s = "./" + s
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/plugd/plugd/internal/console"
)

// newConsoleCmd is `plugd console passwd NAME`: it adds a web-console account, or sets its
// password, in the users file (PLUGD_CONSOLE_USERS_FILE, default DATA_DIR/console-users),
// stored as a bcrypt hash. The password is read from the first line of stdin, so it never
// shows in the process list or the shell's history. A running daemon reads the file at start.
func newConsoleCmd(env Env) *cobra.Command {
	c := &cobra.Command{Use: "console", Short: "The web console's accounts (docs/console.md)"}
	var (
		f      daemonFlags
		asJSON bool
	)
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Add a console account or set its password (read from stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := f.load()
			if err != nil {
				return usageError{err}
			}
			if f, ok := env.Stdin.(*os.File); ok {
				if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
					fmt.Fprintf(env.Stderr, "Password for %s (at least 8 characters; it is shown as you type): ", args[0])
				}
			}
			line, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return errors.New("no password on stdin")
			}
			password := strings.TrimRight(line, "\r\n")
			path := cfg.Console.UsersFile
			old, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if _, err := console.ParseUsers(strings.NewReader(string(old)), path); err != nil {
				return err
			}
			out, err := console.SetPassword(old, args[0], password)
			if err != nil {
				return usageError{err}
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, out, 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, path); err != nil {
				return err
			}
			if asJSON {
				return printJSON(env.Stdout, map[string]string{"user": args[0], "users_file": path})
			}
			fmt.Fprintf(env.Stdout, "%s: password set in %s (restart plugd serve to apply)\n", args[0], path)
			return nil
		},
	}
	f.register(passwd)
	passwd.Flags().BoolVar(&asJSON, "json", false, "print {user, users_file} as JSON")
	c.AddCommand(passwd)
	return c
}

package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugd/plugd/internal/console"
)

func TestConsolePasswd(t *testing.T) {
	dir := t.TempDir()
	passwd := func(user, stdin string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), Env{Args: []string{"plugd", "console", "passwd", user, "--data-dir", dir},
			Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
		return code, out.String() + errb.String()
	}
	if code, out := passwd("ana", "first password\n"); code != 0 {
		t.Fatalf("passwd: %d %s", code, out)
	}
	if code, out := passwd("bo", "second password\n"); code != 0 {
		t.Fatalf("passwd: %d %s", code, out)
	}
	if code, out := passwd("ana", "short\n"); code != ExitUsage || !strings.Contains(out, "at least 8") {
		t.Errorf("a short password: %d %s", code, out)
	}
	path := filepath.Join(dir, "console-users")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("users file: %v, %v", st, err)
	}
	users, err := console.ReadUsers(path)
	if err != nil || len(users) != 2 {
		t.Fatalf("users: %v, %v", users, err)
	}
	if string(users["ana"]) == "first password" || !strings.HasPrefix(string(users["ana"]), "$2a$") {
		t.Errorf("ana's entry is not a bcrypt hash: %s", users["ana"])
	}
}

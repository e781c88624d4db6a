// Package keyfile keeps small secrets (the server key, the vault's master key) in files of the
// data folder. Why a package: both keys must be written the same careful way (mode 0600, through
// a temporary file and a rename so a crash never leaves a partial key that the next start would
// refuse or, worse, accept) and read the same suspicious way (a file others can read is refused:
// the key must be considered leaked).
package keyfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Read returns the trimmed content of the key file at path; what names the key in errors
// ("server key", "master key"). An error wrapping fs.ErrNotExist means there is no file yet.
func Read(path, what string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s %s has mode %04o, readable by others; run `chmod 600 %s` (and consider the key leaked)",
			what, path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// Write stores key in path with mode 0600, creating the folder (0700) if needed, through a
// temporary file and a rename.
func Write(path, key string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

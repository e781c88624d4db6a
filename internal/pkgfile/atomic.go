package pkgfile

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes path (mode 0644) through a temporary file in the same folder and a
// rename, so that a failure midway never leaves a half-written package or bundle behind and
// an existing file is replaced only by a complete one.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

//go:build !unix

package runtime

import (
	"io/fs"
	"os"
	"syscall"
)

// Without Unix process groups the runtime can only signal the process itself, and SIGTERM
// cannot be sent: every stop is a kill.

func procAttr() *syscall.SysProcAttr { return nil }

func (l *limiter) prepare(attr *syscall.SysProcAttr) bool { return false }

func signalGroup(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func owner(fi fs.FileInfo) int { return -1 }

// withProcAttr: no sandbox runs here (sandbox.Command refuses every mode but none).
func withProcAttr(attr *syscall.SysProcAttr) *syscall.SysProcAttr { return procAttr() }

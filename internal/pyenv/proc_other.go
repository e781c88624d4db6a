//go:build !linux

package pyenv

import "syscall"

// installerProcAttr starts an installer in a process group of its own, so cancelling kills
// everything it spawned.
func installerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

//go:build !linux

package mcpclient

import (
	"os/exec"
	"syscall"
)

// addProcAttr starts a stdio server in its own process group, so one signal ends it and
// whatever it spawned.
func addProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

//go:build linux

package mcpclient

import (
	"os/exec"
	"syscall"
)

// addProcAttr starts a stdio server in its own process group (one signal ends it and whatever
// it spawned) and has the kernel kill it if the daemon dies; a sandbox's clone flags stay.
func addProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

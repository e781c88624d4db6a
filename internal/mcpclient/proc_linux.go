//go:build linux

package mcpclient

import "syscall"

// procAttr starts a stdio server in its own process group (one signal ends it and whatever it
// spawned) and has the kernel kill it if the daemon dies.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build !linux

package mcpclient

import "syscall"

// procAttr starts a stdio server in its own process group, so one signal ends it and whatever
// it spawned.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

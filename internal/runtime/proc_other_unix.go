//go:build unix && !linux

package runtime

import "syscall"

// procAttr gives the plugin its own process group, so one signal reaches all it spawned.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func (l *limiter) prepare(attr *syscall.SysProcAttr) bool { return false }

// withProcAttr: no sandbox runs here (sandbox.Command refuses every mode but none).
func withProcAttr(attr *syscall.SysProcAttr) *syscall.SysProcAttr { return procAttr() }

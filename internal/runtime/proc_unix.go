//go:build unix

package runtime

import "syscall"

// signalGroup sends sig to the plugin's whole process group (its pid, see Setpgid).
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

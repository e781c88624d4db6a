//go:build unix

package runtime

import (
	"io/fs"
	"syscall"
)

// signalGroup sends sig to the plugin's whole process group (its pid, see Setpgid).
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

// owner is the uid owning a file, -1 when unknown.
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

package pyenv

import "syscall"

// installerProcAttr starts an installer in a process group of its own (so cancelling kills
// everything it spawned) that the kernel kills if the daemon dies, so a killed daemon leaves no
// installer racing the next start's rebuild.
func installerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build unix

package pkgfile

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used, user and system. Benchmarks report
// it per operation because wall time on a shared machine says little about the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

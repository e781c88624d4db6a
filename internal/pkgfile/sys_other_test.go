//go:build !unix

package pkgfile

import (
	"errors"
	"time"
)

func processCPU() time.Duration { return 0 }

func mkfifo(string) error { return errors.New("no FIFOs on this system") }

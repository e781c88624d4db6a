//go:build !linux

package sandbox

import (
	"errors"
	"os/exec"
)

// Command runs the program unconfined: namespaces are Linux only. Any other mode is refused.
func Command(spec Spec) (*exec.Cmd, error) {
	if spec.Mode != ModeNone && spec.Mode != "" {
		return nil, errors.New("sandbox: confinement needs Linux")
	}
	c := exec.Command(spec.Path, spec.Args[1:]...)
	c.Args, c.Dir, c.Env = spec.Args, spec.Dir, spec.Env
	return c, nil
}

// Preferred: nothing can confine a process here.
func Preferred() Mode { return ModeNone }

// Probe reports that nothing can confine a process here.
func Probe(mode Mode, self string) error {
	return errors.New("sandbox: confinement needs Linux namespaces")
}

// MaybeRunInit does nothing: no init is ever started here.
func MaybeRunInit() {}

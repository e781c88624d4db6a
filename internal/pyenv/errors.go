package pyenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoSpec means the plugin folder has neither requirements.txt nor pyproject.toml.
	ErrNoSpec = errors.New("pyenv: plugin has no requirements.txt or pyproject.toml")
	// ErrNoPython means no usable interpreter (3.11 or newer) was configured or found.
	ErrNoPython = errors.New("pyenv: no usable Python interpreter")
	// ErrNoUV means uv was required (Settings.Installer = InstallerUV) but not found.
	ErrNoUV = errors.New("pyenv: uv not found")
	// ErrPythonVersion means the plugin's requires-python excludes the interpreter.
	ErrPythonVersion = errors.New("pyenv: interpreter does not satisfy the plugin's requires-python")
)

// tailLines is how much installer output a BuildError keeps: enough for pip's or uv's
// explanation of a resolution failure, short enough for an install task's error field.
const tailLines = 40

// BuildError reports a failed step of an environment build. It carries the command and the
// end of its output because "exit status 1" alone is what made the reference daemon's failed
// installs so hard to diagnose.
type BuildError struct {
	Key  string   // environment key being built
	Step string   // what was being done, e.g. "install dependencies"
	Cmd  []string // the command that failed, index credentials redacted; nil for non-command steps
	Tail []string // the last lines (at most 40) of the command's combined output
	Err  error    // the cause: an *exec.ExitError, context.DeadlineExceeded, ...
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("pyenv: %s: %v", e.Step, e.Err)
	if errors.Is(e.Err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("pyenv: %s: timed out", e.Step)
	}
	for i := len(e.Tail) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(e.Tail[i]); line != "" {
			return msg + ": " + line
		}
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

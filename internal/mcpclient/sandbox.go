package mcpclient

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/plugd/plugd/internal/runtime"
	"github.com/plugd/plugd/internal/sandbox"
)

// SandboxConfiner confines stdio servers the way the runtime confines plugins (iso is the
// daemon's runtime.Isolation, from PLUGD_ISOLATION): own mount, PID and IPC namespaces, a
// uid of its own as root or a user namespace otherwise, no capability, the system folders
// and the server's own files read-only, only its HOME and TMPDIR writable, and the process
// and open-file limits of plugins. Where isolation is required and impossible, every stdio
// server start fails with the reason, as plugins' do. nil or "off" confines nothing.
func SandboxConfiner(iso *runtime.Isolation) Confiner {
	if iso == nil || (iso.Refused == nil && (iso.Mode == "" || iso.Mode == sandbox.ModeNone)) {
		return nil
	}
	return func(cmd *exec.Cmd, writable []string) (*exec.Cmd, error) {
		if iso.Refused != nil {
			return nil, iso.Refused
		}
		spec := sandbox.Spec{
			Mode: iso.Mode, Path: cmd.Path, Args: cmd.Args, Dir: cmd.Dir, Env: cmd.Env,
			ReadOnly: readOnlyPaths(cmd), Writable: writable, Limits: iso.Limits, Self: iso.Self, Root: iso.Root,
		}
		if iso.Mode == sandbox.ModeUID {
			if iso.UIDs == nil {
				return nil, fmt.Errorf("isolation in mode uid needs a uid allocator")
			}
			// One uid per server: its home folder's name is the provider's id.
			uid, err := iso.UIDs.UID("mcp:" + filepath.Base(filepath.Dir(writable[0])))
			if err != nil {
				return nil, err
			}
			spec.UID, spec.GID = uid, uid
			for _, d := range writable {
				if err := os.Lchown(d, uid, uid); err != nil {
					return nil, fmt.Errorf("giving %s to uid %d: %w", d, uid, err)
				}
			}
		}
		return sandbox.Command(spec)
	}
}

// readOnlyPaths are the folders a server needs besides the system's: the program's
// installation (a Python virtual environment and its base, or the folder above bin/), and
// for every argument that is an existing absolute path, its folder — and when it lies in a
// node_modules tree, that whole tree, where its dependencies are.
func readOnlyPaths(cmd *exec.Cmd) []string {
	var out []string
	add := func(p string) {
		if p == "" || p == "/" {
			return
		}
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	for _, a := range cmd.Args {
		if !filepath.IsAbs(a) {
			continue
		}
		st, err := os.Stat(a)
		if err != nil {
			continue
		}
		if strings.HasSuffix(filepath.Dir(a), "/bin") && !st.IsDir() {
			for _, p := range sandbox.PythonPaths(a) { // a venv's interpreter, or prefix/bin/x
				add(p)
			}
			continue
		}
		dir := a
		if !st.IsDir() {
			dir = filepath.Dir(a)
		}
		if i := strings.Index(dir, "/node_modules/"); i >= 0 {
			dir = dir[:i+len("/node_modules")]
		}
		add(dir)
	}
	return out
}

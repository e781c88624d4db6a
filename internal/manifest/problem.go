package manifest

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with a plugin declaration. It names the file, the line and the
// field so an author can go straight to it.
type Problem struct {
	File    string `json:"file"`           // path inside the plugin, forward slashes, e.g. "tools/echo.yaml"
	Line    int    `json:"line,omitempty"` // 1-based; 0 when the problem is about a whole file
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"` // dotted path inside the file, e.g. "meta.runner.language" or "parameters[2].type"
	Message string `json:"message"`
	// Strict marks a check the reference daemon does not make at install time. Such problems
	// fail `validate` and `package`, but a daemon installing a package only logs them, so that
	// every package the reference accepts is still accepted.
	Strict bool `json:"strict,omitempty"`
	// Advisory marks a Strict check that neither the reference packager (`dify plugin package`)
	// nor an install makes, and whose failure leaves the plugin installable and working (a
	// missing README.md, an unknown permission key). The developer kit prints these as
	// warnings, so that every folder the reference packages is packaged too; --strict makes
	// them errors.
	Advisory bool `json:"advisory,omitempty"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in one declaration; validation reports all of them at once.
type Problems []Problem

// Install returns the problems that also make the reference daemon refuse an install; the
// others (Strict) are only warnings there.
func (ps Problems) Install() Problems {
	var out Problems
	for _, p := range ps {
		if !p.Strict {
			out = append(out, p)
		}
	}
	return out
}

// Split separates the problems the developer kit refuses a plugin for from those it only
// warns about (Advisory); with strict set every problem is refused.
func (ps Problems) Split(strict bool) (errs, warnings Problems) {
	for _, p := range ps {
		if p.Advisory && !strict {
			warnings = append(warnings, p)
		} else {
			errs = append(errs, p)
		}
	}
	return errs, warnings
}

// Err returns nil when there are no problems, else an error listing them all.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return &InvalidError{Problems: ps}
}

// InvalidError carries every problem of a declaration that failed validation.
type InvalidError struct{ Problems Problems }

func (e *InvalidError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("invalid plugin declaration (%d problems):", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

package pyenv

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// pyVersion is the part of a PEP 440 version this package needs to order SDK releases
// (0.0.1b75 < 0.1.0 < 0.1.1) and to test an interpreter against requires-python. The epoch
// and local labels are ignored: neither appears in the versions it meets.
type pyVersion struct {
	release []int
	pre     int // -1 dev release, 0 a, 1 b, 2 rc, 3 final; orders 1.0.dev1 < 1.0a1 < 1.0
	preN    int
	post    int // -1 when absent
	dev     int // math.MaxInt when absent, so a .devN sorts before the same version without it
}

var versionRE = regexp.MustCompile(`^v?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?` +
	`([-_.]?dev[-_.]?(\d*))?` +
	`(?:\+[a-z0-9.]*)?$`)

func parseVersion(s string) (pyVersion, bool) {
	m := versionRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return pyVersion{}, false
	}
	v := pyVersion{pre: 3, post: -1, dev: math.MaxInt}
	for _, part := range strings.Split(m[1], ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return pyVersion{}, false
		}
		v.release = append(v.release, n)
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch m[2] {
	case "a", "alpha":
		v.pre, v.preN = 0, num(m[3])
	case "b", "beta":
		v.pre, v.preN = 1, num(m[3])
	case "c", "rc", "pre", "preview":
		v.pre, v.preN = 2, num(m[3])
	}
	switch {
	case m[4] != "":
		v.post = num(m[4])
	case m[5] != "":
		v.post = num(m[6])
	}
	if m[7] != "" {
		v.dev = num(m[8])
		if m[2] == "" && v.post < 0 {
			v.pre = -1
		}
	}
	return v, true
}

func compareVersions(a, b pyVersion) int {
	n := max(len(a.release), len(b.release))
	for i := range n {
		if c := cmp.Compare(segment(a.release, i), segment(b.release, i)); c != 0 {
			return c
		}
	}
	return cmp.Or(
		cmp.Compare(a.pre, b.pre),
		cmp.Compare(a.preN, b.preN),
		cmp.Compare(a.post, b.post),
		cmp.Compare(a.dev, b.dev),
	)
}

func segment(r []int, i int) int {
	if i < len(r) {
		return r[i]
	}
	return 0
}

// versionBelow reports whether version s sorts before limit. A version that does not parse
// is not below anything: an old-SDK fix is only applied to a version known to need it.
func versionBelow(s, limit string) bool {
	v, ok := parseVersion(s)
	l, ok2 := parseVersion(limit)
	return ok && ok2 && compareVersions(v, l) < 0
}

// satisfiesRequiresPython reports whether an interpreter of version have (major, minor,
// micro) meets a requires-python specifier set such as ">=3.11,<4" or "~=3.12". Clauses it
// does not understand are treated as met, so an odd specifier never blocks an install that
// the installer itself would accept.
func satisfiesRequiresPython(have [3]int, spec string) bool {
	hv := pyVersion{release: have[:], pre: 3, post: -1, dev: math.MaxInt}
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		op := clause[:len(clause)-len(strings.TrimLeft(clause, "<>=!~"))]
		val := strings.TrimSpace(clause[len(op):])
		wild := strings.HasSuffix(val, ".*")
		want, ok := parseVersion(strings.TrimSuffix(val, ".*"))
		if !ok {
			continue
		}
		c := compareVersions(hv, want)
		var met bool
		switch op {
		case ">=":
			met = c >= 0
		case ">":
			met = c > 0
		case "<=":
			met = c <= 0
		case "<":
			met = c < 0
		case "==", "===":
			met = c == 0 || wild && prefixMatch(hv.release, want.release)
		case "!=":
			met = !(c == 0 || wild && prefixMatch(hv.release, want.release))
		case "~=":
			met = c >= 0 && len(want.release) > 1 && prefixMatch(hv.release, want.release[:len(want.release)-1])
		default:
			met = true
		}
		if !met {
			return false
		}
	}
	return true
}

func prefixMatch(have, prefix []int) bool {
	return len(have) >= len(prefix) && slices.Equal(have[:len(prefix)], prefix)
}

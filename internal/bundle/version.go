package bundle

import (
	"regexp"
	"strconv"
	"strings"
)

// A dependency's version pattern (see ParseMarketplacePattern) is checked by the reference
// only for its shape; whoever installs the bundle decides which published versions it
// admits. plugd reads it as npm does, the convention the ^ and ~ prefixes come from:
//
//	1.2.3 (or 1.2.3-beta)  exactly that version
//	^1.2.3                 1.2.3 and later with the same left-most non-zero part: <2.0.0
//	                       (^0.2.3: <0.3.0, ^0.0.3: only 0.0.3)
//	~1.2.3                 1.2.3 and later with the same major and minor: <1.3.0
//	1.x.x, 1.2.x, x.x.x    any version whose numbered parts are those
//	1.0.0-2.0.0            from the first to the second, both included
//
// A pre-release version (1.2.3-beta) matches only a pattern naming it exactly.

var (
	exactVersionRE = regexp.MustCompile(`^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:-(\w{1,16}))?$`)
	rangeVersionRE = regexp.MustCompile(`^(\d{1,4}\.\d{1,4}\.\d{1,4}(?:-\w{1,16})?)-(\d{1,4}\.\d{1,4}\.\d{1,4}(?:-\w{1,16})?)$`)
	xVersionRE     = regexp.MustCompile(`^(\d{1,4}|[xX])\.(\d{1,4}|[xX])\.(\d{1,4}|[xX])$`)
)

// semver is a parsed a.b.c[-pre].
type semver struct {
	parts [3]int
	pre   string
}

func parseSemver(s string) (semver, bool) {
	m := exactVersionRE.FindStringSubmatch(s)
	if m == nil {
		return semver{}, false
	}
	var v semver
	for i := range 3 {
		v.parts[i], _ = strconv.Atoi(m[i+1]) // at most four digits: cannot fail
	}
	v.pre = m[4]
	return v, true
}

// compare orders versions as semver does: numbers first, a pre-release before its release,
// pre-releases by their text.
func (a semver) compare(b semver) int {
	for i := range 3 {
		if a.parts[i] != b.parts[i] {
			if a.parts[i] < b.parts[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return strings.Compare(a.pre, b.pre)
}

// IsExactVersion reports whether a dependency's version pattern names one version.
func IsExactVersion(pattern string) bool {
	_, ok := parseSemver(pattern) // a range a.b.c-d.e.f has dots after its dash: no match
	return ok
}

// MatchVersion reports whether version satisfies a dependency's version pattern, read as
// described above. A pattern or version that does not parse matches nothing.
func MatchVersion(pattern, version string) bool {
	v, ok := parseSemver(version)
	if !ok {
		return false
	}
	if m := rangeVersionRE.FindStringSubmatch(pattern); m != nil {
		lo, _ := parseSemver(m[1])
		hi, _ := parseSemver(m[2])
		if v.pre != "" {
			return v.compare(lo) == 0 || v.compare(hi) == 0
		}
		return v.compare(lo) >= 0 && v.compare(hi) <= 0
	}
	if m := xVersionRE.FindStringSubmatch(pattern); m != nil && strings.ContainsAny(pattern, "xX") {
		if v.pre != "" {
			return false
		}
		for i := range 3 {
			if p := m[i+1]; p != "x" && p != "X" {
				if n, _ := strconv.Atoi(p); n != v.parts[i] {
					return false
				}
			}
		}
		return true
	}
	prefix := ""
	if strings.HasPrefix(pattern, "^") || strings.HasPrefix(pattern, "~") {
		prefix, pattern = pattern[:1], pattern[1:]
	}
	base, ok := parseSemver(pattern)
	if !ok {
		return false
	}
	if prefix == "" || v.pre != "" {
		return v.compare(base) == 0
	}
	if v.compare(base) < 0 {
		return false
	}
	// fixed is how many leading parts must stay as they are.
	fixed := 2 // ~: major and minor
	if prefix == "^" {
		switch {
		case base.parts[0] > 0:
			fixed = 1
		case base.parts[1] > 0:
			fixed = 2
		default:
			fixed = 3
		}
	}
	for i := range fixed {
		if v.parts[i] != base.parts[i] {
			return false
		}
	}
	return true
}

// NewestMatching returns the newest of versions that satisfies pattern, and false when none
// does.
func NewestMatching(pattern string, versions []string) (string, bool) {
	var best semver
	bestText, found := "", false
	for _, s := range versions {
		if !MatchVersion(pattern, s) {
			continue
		}
		v, _ := parseSemver(s)
		if !found || v.compare(best) > 0 {
			best, bestText, found = v, s, true
		}
	}
	return bestText, found
}

package pkgfile

import (
	"bytes"
	"strings"
)

// ignoreRules is a parsed .difyignore or .gitignore. It follows git's gitignore semantics
// (see gitignore(5)), including negation, which the reference packager silently drops. Only
// the root ignore file is read, like the reference does.
type ignoreRules struct {
	pats []ignorePattern
}

type ignorePattern struct {
	negate  bool
	dirOnly bool   // pattern ended in "/": matches directories only
	base    bool   // no "/" in the pattern: matched against the last path element at any depth
	prefix  string // literal start of a path pattern, compared before the wildcards
	toks    []token
	invalid bool // malformed bracket expression: git never matches such a pattern
}

// parseIgnore reads an ignore file the way git does: lines split on LF (a CR before it is
// dropped), a leading UTF-8 BOM skipped, "#" lines and empty lines skipped, unescaped trailing
// spaces trimmed.
func parseIgnore(data []byte) *ignoreRules {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := &ignoreRules{}
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		r.pats = append(r.pats, compilePattern(trimTrailingSpaces(line)))
	}
	return r
}

// trimTrailingSpaces drops trailing spaces that are not escaped with a backslash. Tabs are
// kept, as git keeps them.
func trimTrailingSpaces(s string) string {
	end := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if end == len(s) {
				end = i
			}
		case '\\':
			i++ // the escaped character is never trimmed
			fallthrough
		default:
			end = len(s)
		}
	}
	return s[:end]
}

func compilePattern(line string) ignorePattern {
	var p ignorePattern
	if strings.HasPrefix(line, "!") {
		p.negate = true
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = line[:len(line)-1]
	}
	if !strings.Contains(line, "/") {
		p.base = true
	} else {
		line = strings.TrimPrefix(line, "/") // a leading slash only anchors
		// Git compares the part before the first wildcard literally and matches the rest as a
		// pattern of its own. That is observable: in "a**/x" the "**" then starts a pattern
		// and so counts as "**/" (any directories, or none), so "a**/*" matches "ab".
		n := strings.IndexAny(line, `*?[\`)
		if n < 0 {
			n = len(line)
		}
		p.prefix, line = line[:n], line[n:]
	}
	p.toks, p.invalid = tokenize(line)
	return p
}

// ignored reports whether the slash-separated relative path is excluded. The last matching
// pattern decides. Callers must not descend into excluded directories: git never re-includes
// a file whose parent directory is excluded, whatever later patterns say.
func (r *ignoreRules) ignored(path string, isDir bool) bool {
	if r == nil {
		return false
	}
	name := path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		name = path[i+1:]
	}
	for i := len(r.pats) - 1; i >= 0; i-- {
		p := &r.pats[i]
		if p.dirOnly && !isDir {
			continue
		}
		subject := path
		if p.base {
			subject = name
		}
		if !p.invalid && strings.HasPrefix(subject, p.prefix) && matchTokens(p.toks, subject[len(p.prefix):]) {
			return !p.negate
		}
	}
	return false
}

// excludedByReference reports whether the reference packager leaves path out: it applies the
// patterns one by one and drops a path that any pattern without "!" matches, so a "!" rule
// never brings a file back. (Its matcher is go-git's, whose wildcards agree with git's on
// ordinary patterns; this uses ours.)
func (r *ignoreRules) excludedByReference(path string, isDir bool) bool {
	if r == nil {
		return false
	}
	name := path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		name = path[i+1:]
	}
	for i := range r.pats {
		p := &r.pats[i]
		if p.negate || p.invalid || p.dirOnly && !isDir {
			continue
		}
		subject := path
		if p.base {
			subject = name
		}
		if strings.HasPrefix(subject, p.prefix) && matchTokens(p.toks, subject[len(p.prefix):]) {
			return true
		}
	}
	return false
}

// A token is one element of a compiled wildcard pattern.
type token struct {
	kind  tokenKind
	lit   byte
	class *[256]bool // for tokClass: the bytes it accepts ("/" never)
}

type tokenKind uint8

const (
	tokLit       tokenKind = iota // one exact byte
	tokAny                        // "?": one byte except "/"
	tokClass                      // "[...]"
	tokStar                       // "*": any run of bytes without "/"
	tokDeepStar                   // "**" next to slashes: any run of bytes, "/" included
	tokDeepSlash                  // "**/": nothing, or any run of bytes ending in "/"
)

// tokenize compiles a wildcard pattern. Matching is on bytes, not runes, as in git: "?"
// matches one byte of a multi-byte character. It reports invalid for an unterminated or
// unknown bracket expression and for a trailing backslash, which git never matches.
func tokenize(p string) (toks []token, invalid bool) {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			i++
			if i == len(p) {
				return nil, true
			}
			toks = append(toks, token{kind: tokLit, lit: p[i]})
		case '?':
			toks = append(toks, token{kind: tokAny})
		case '*':
			j := i
			for j < len(p) && p[j] == '*' {
				j++
			}
			atStart := i == 0 || p[i-1] == '/'
			switch {
			case j-i == 1 || !atStart:
				toks = append(toks, token{kind: tokStar})
			case j == len(p):
				toks = append(toks, token{kind: tokDeepStar})
			case p[j] == '/':
				toks = append(toks, token{kind: tokDeepSlash})
				j++ // the slash belongs to the token
			case p[j] == '\\' && j+1 < len(p) && p[j+1] == '/':
				// "**\/" crosses directories but, unlike "**/", cannot match nothing.
				toks = append(toks, token{kind: tokDeepStar})
			default:
				toks = append(toks, token{kind: tokStar})
			}
			i = j - 1
		case '[':
			set, next, ok := parseClass(p, i+1)
			if !ok {
				return nil, true
			}
			toks = append(toks, token{kind: tokClass, class: set})
			i = next
		default:
			toks = append(toks, token{kind: tokLit, lit: c})
		}
	}
	return toks, false
}

// parseClass parses a bracket expression whose body starts at p[i]. It returns the accepted
// bytes and the index of the closing "]". The first character of the body is taken literally
// even if it is "]"; "!" or "^" negates; "a-z" is a byte range; "[:name:]" is a POSIX class
// (ASCII only).
func parseClass(p string, i int) (*[256]bool, int, bool) {
	var set [256]bool
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	prev, havePrev := byte(0), false
	for first := true; ; first = false {
		if i >= len(p) {
			return nil, 0, false
		}
		c := p[i]
		if c == ']' && !first {
			break
		}
		switch {
		case c == '\\':
			i++
			if i >= len(p) {
				return nil, 0, false
			}
			c = p[i]
			set[c] = true
			prev, havePrev = c, true
		case c == '-' && havePrev && i+1 < len(p) && p[i+1] != ']':
			i++
			hi := p[i]
			if hi == '\\' {
				i++
				if i >= len(p) {
					return nil, 0, false
				}
				hi = p[i]
			}
			for b := int(prev); b <= int(hi); b++ {
				set[b] = true
			}
			havePrev = false
		case c == '[' && i+1 < len(p) && p[i+1] == ':':
			end := strings.IndexByte(p[i+2:], ']')
			if end < 0 {
				return nil, 0, false
			}
			body := p[i+2 : i+2+end]
			if !strings.HasSuffix(body, ":") {
				// No ":]": the "[" is an ordinary member.
				set['['] = true
				prev, havePrev = '[', true
				break
			}
			in := posixClass(body[:len(body)-1])
			if in == nil {
				return nil, 0, false
			}
			for b := 0; b < 128; b++ {
				if in(byte(b)) {
					set[b] = true
				}
			}
			i += 2 + end // at the "]" of ":]"
			havePrev = false
		default:
			set[c] = true
			prev, havePrev = c, true
		}
		i++
	}
	if negate {
		for b := range set {
			set[b] = !set[b]
		}
	}
	set['/'] = false
	return &set, i, true
}

func posixClass(name string) func(byte) bool {
	isAlpha := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	isPrint := func(c byte) bool { return 0x20 <= c && c <= 0x7e }
	switch name {
	case "alnum":
		return func(c byte) bool { return isAlpha(c) || isDigit(c) }
	case "alpha":
		return isAlpha
	case "blank":
		return func(c byte) bool { return c == ' ' || c == '\t' }
	case "cntrl":
		return func(c byte) bool { return c < 0x20 || c == 0x7f }
	case "digit":
		return isDigit
	case "graph":
		return func(c byte) bool { return isPrint(c) && c != ' ' }
	case "lower":
		return func(c byte) bool { return 'a' <= c && c <= 'z' }
	case "print":
		return isPrint
	case "punct":
		return func(c byte) bool { return isPrint(c) && c != ' ' && !isAlpha(c) && !isDigit(c) }
	case "space":
		return isSpace
	case "upper":
		return func(c byte) bool { return 'A' <= c && c <= 'Z' }
	case "xdigit":
		return func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	}
	return nil
}

// matchTokens reports whether toks match all of s. It is a dynamic program over (token,
// position), so hostile patterns such as "*a*a*a*a*b" cost O(len(toks)*len(s)) rather than
// exponential backtracking.
func matchTokens(toks []token, s string) bool {
	// cur[j]: the tokens seen so far can match s[:j].
	cur := make([]bool, len(s)+1)
	next := make([]bool, len(s)+1)
	cur[0] = true
	for _, t := range toks {
		clear(next)
		switch t.kind {
		case tokLit, tokAny, tokClass:
			for j := 0; j < len(s); j++ {
				if cur[j] && t.accepts(s[j]) {
					next[j+1] = true
				}
			}
		case tokStar, tokDeepStar:
			for j := 0; j <= len(s); j++ {
				switch {
				case cur[j]:
					next[j] = true
				case j > 0 && next[j-1] && (t.kind == tokDeepStar || s[j-1] != '/'):
					next[j] = true
				}
			}
		case tokDeepSlash:
			// Nothing, or anything that ends in "/".
			reached := false
			for j := 0; j <= len(s); j++ {
				if cur[j] {
					next[j] = true
					reached = true
				}
				if reached && j > 0 && s[j-1] == '/' {
					next[j] = true
				}
			}
		}
		cur, next = next, cur
	}
	return cur[len(s)]
}

func (t token) accepts(c byte) bool {
	switch t.kind {
	case tokLit:
		return c == t.lit
	case tokAny:
		return c != '/'
	default:
		return t.class[c]
	}
}

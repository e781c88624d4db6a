package daemon

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileValue is one setting read from the config file, with its line for error messages and
// for Describe.
type fileValue struct {
	value string
	line  int
}

// FileError is a problem in the config file at a line.
type FileError struct {
	File string
	Line int // 0 when the problem has no single line (a YAML syntax error names its own)
	Msg  string
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// parseConfigFile reads a YAML mapping of variable names to single values. A key nobody reads
// is an error rather than a warning: a misspelt DB_TYPE silently falling back to SQLite would
// lose an operator's data to the wrong database. Null and empty values (`KEY:`, `KEY: ""`)
// count as not set. Only list variables accept a YAML sequence, joined with commas.
func parseConfigFile(data []byte, name string, known map[string]*variable) (map[string]fileValue, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FileError{File: name, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := map[string]fileValue{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return out, nil // empty or only comments
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return out, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, &FileError{File: name, Line: top.Line, Msg: "want lines of KEY: value (environment variable names as keys), got " + kindName(top)}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, &FileError{File: name, Line: k.Line, Msg: "keys must be variable names, got " + kindName(k)}
		}
		key := k.Value
		vr := known[key]
		if vr == nil {
			msg := fmt.Sprintf("unknown key %q", key)
			if s := suggest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return nil, &FileError{File: name, Line: k.Line, Msg: msg}
		}
		if vr.noFile {
			return nil, &FileError{File: name, Line: k.Line, Msg: key + " cannot be set inside the config file; use the environment or the flag"}
		}
		if first, dup := seen[key]; dup {
			return nil, &FileError{File: name, Line: k.Line, Msg: fmt.Sprintf("%s is set twice (first on line %d)", key, first)}
		}
		seen[key] = k.Line
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" || v.Value == "" {
				continue // as in the environment, empty means not set
			}
			out[key] = fileValue{value: v.Value, line: k.Line}
		case yaml.SequenceNode:
			if !vr.list {
				return nil, &FileError{File: name, Line: v.Line, Msg: key + ": want a single value, got a list"}
			}
			items := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
					return nil, &FileError{File: name, Line: item.Line, Msg: key + ": list items must be single values, got " + kindName(item)}
				}
				if strings.Contains(item.Value, ",") {
					return nil, &FileError{File: name, Line: item.Line, Msg: fmt.Sprintf("%s: item %q contains a comma", key, item.Value)}
				}
				items = append(items, item.Value)
			}
			out[key] = fileValue{value: strings.Join(items, ","), line: k.Line}
		default:
			return nil, &FileError{File: name, Line: v.Line, Msg: key + ": want a single value, got " + kindName(v)}
		}
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "a document"
}

// suggest finds the known name closest to a misspelt key: the same name in other case, or
// one within three edits.
func suggest(key string, known map[string]*variable) string {
	if known[strings.ToUpper(key)] != nil {
		return strings.ToUpper(key)
	}
	if len(key) > 64 {
		return ""
	}
	best, bestDist := "", 4
	for name, v := range known {
		if v.noFile {
			continue
		}
		if d := editDistance(strings.ToUpper(key), name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

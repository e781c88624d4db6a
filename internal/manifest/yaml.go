package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits on YAML files. Declarations are outside input (an uploaded package), so reading them
// must not be a way to exhaust memory or CPU. The largest official declaration file is about
// 200 KiB and the largest plugin holds about 1.3 MiB of YAML, so these leave ample room.
//
// The reference daemon has no size limit per file; refusing larger files is our choice. The
// other limits only refuse what the reference's decoder refuses too: parts of a document it
// ignores (unknown keys) may be deep or alias-heavy, which is then only a strict problem.
const (
	maxYAMLFileSize  = 1 << 20 // bytes in one declaration file
	maxYAMLTotalSize = 8 << 20 // bytes of declaration files read for one plugin
	maxYAMLDepth     = 100     // nesting of mappings and sequences worth a warning
	// maxYAMLNodes bounds the nodes of a document counted with every alias expanded. Past
	// it, a document is a "billion laughs": a few hundred bytes whose aliases expand to
	// billions of nodes. The loader stops decoding a file once it has visited this many nodes.
	maxYAMLNodes = 1_000_000
)

// yamlErrLine extracts the line from yaml.v3 syntax errors ("yaml: line 3: did not find ...").
var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem is a problem found while parsing a YAML file, before its content is looked at.
type yamlProblem struct {
	line    int
	message string
	strict  bool
	limit   bool // a depth or alias-expansion limit was passed
}

// parseYAML parses one YAML file and returns the content of its first document (nil for an
// empty document) with the problems found. A problem that is not strict means the content
// cannot be used: the returned node is then nil. It never panics, and its work is linear in
// the size of the file.
func parseYAML(data []byte) (*yaml.Node, []yamlProblem) {
	if len(data) > maxYAMLFileSize {
		return nil, []yamlProblem{{message: fmt.Sprintf("file is %d bytes; declaration files are limited to %d bytes", len(data), maxYAMLFileSize)}}
	}
	// yaml.v3 accepts UTF-16 with a byte order mark; anything else must be UTF-8. Checking here
	// gives one clear message instead of a parser error at an odd position.
	if !bytes.HasPrefix(data, []byte{0xFE, 0xFF}) && !bytes.HasPrefix(data, []byte{0xFF, 0xFE}) && !utf8.Valid(data) {
		line := 1 + bytes.Count(data[:firstInvalidUTF8(data)], []byte{'\n'})
		return nil, []yamlProblem{{line: line, message: "file is not valid UTF-8"}}
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file: no document at all
		}
		return nil, []yamlProblem{syntaxProblem(err)}
	}
	var probs []yamlProblem
	// The reference decoder reads only the first document; say so rather than silently
	// ignoring the rest.
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := next.Line
		if line == 0 {
			line = syntaxProblem(err).line
		}
		probs = append(probs, yamlProblem{line: line, strict: true,
			message: "file holds more than one YAML document; only the first is read"})
	}
	if len(doc.Content) == 0 {
		return nil, probs
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, probs // "~" decodes like an empty file
	}
	if p, ok := checkTree(root); !ok {
		// An alias bomb or a document nested past the limit is refused, at install too,
		// wherever it is in the file: it is an attack on the parser, not a mistake.
		p.limit = true
		probs = append(probs, p)
	}
	return root, probs
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// parserProblems are the messages of yaml.v3's parser (as opposed to its scanner). It reports
// their lines 0-based, unlike every other line it reports.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected <document start>",
	"did not find expected key", "did not find expected node content", "did not find expected '-' indicator",
	"found duplicate %YAML directive", "found incompatible YAML document", "found undefined tag handle",
	"found duplicate %TAG directive",
}

func syntaxProblem(err error) yamlProblem {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if slices.Contains(parserProblems, m[2]) {
			line++
		}
		return yamlProblem{line: line, message: "invalid YAML: " + m[2]}
	}
	return yamlProblem{message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// checkTree checks a whole document against the depth and expanded-size limits and for
// aliases that contain themselves. It visits each node once, memoizing the expanded size of
// anchored nodes, so it runs in time linear in the size of the document even when the
// expansion is huge.
func checkTree(root *yaml.Node) (yamlProblem, bool) {
	t := treeCheck{size: map[*yaml.Node]int{}, active: map[*yaml.Node]bool{}}
	n := t.expandedSize(root, 0)
	switch {
	case t.problem != nil:
		return *t.problem, false
	case n > maxYAMLNodes:
		return yamlProblem{message: fmt.Sprintf("document expands to more than %d nodes (aliases included)", maxYAMLNodes)}, false
	}
	return yamlProblem{}, true
}

type treeCheck struct {
	size    map[*yaml.Node]int
	active  map[*yaml.Node]bool
	problem *yamlProblem
}

func (t *treeCheck) expandedSize(n *yaml.Node, depth int) int {
	if t.problem != nil || n == nil {
		return 0
	}
	if depth > maxYAMLDepth {
		t.problem = &yamlProblem{line: n.Line, message: fmt.Sprintf("nesting deeper than %d levels", maxYAMLDepth)}
		return 0
	}
	if s, ok := t.size[n]; ok {
		return s
	}
	if t.active[n] {
		t.problem = &yamlProblem{line: n.Line, message: "alias refers to a value that contains it"}
		return 0
	}
	t.active[n] = true
	total := 1
	if n.Kind == yaml.AliasNode {
		total += t.expandedSize(n.Alias, depth+1)
	}
	for _, c := range n.Content {
		total += t.expandedSize(c, depth+1)
		if total > maxYAMLNodes {
			break // saturate: the caller only compares with the limit
		}
	}
	delete(t.active, n)
	t.size[n] = total
	return total
}

// yamlFile is one declaration file being decoded. It records which mappings the reference
// daemon decodes into typed structs, because only there do its decoder's errors (duplicate
// keys, wrong shapes) make an install fail.
type yamlFile struct {
	l     *loader
	name  string
	root  *yaml.Node
	typed map[*yaml.Node]bool // mappings the reference decodes with duplicate-key checking
	// visits counts the values handed out while decoding, aliases expanded; past
	// maxYAMLNodes the file is exhausted and decoding stops.
	visits    int
	exhausted bool
	// json marks a registration message: its scalars are decoded with the rules of JSON.
	json bool
	// path is where the file's values live for problems: nil for a YAML file, the message
	// kind for a registration message.
	path *fieldPath
}

// fieldPath is the dotted path of a value ("parameters[2].type"), kept as a linked list and
// spelled out only for a problem: documents with aliases can be visited far deeper than they
// are written, and building every path eagerly would cost time quadratic in that depth.
type fieldPath struct {
	parent *fieldPath
	key    string // a mapping key, or "" for a list index
	index  int
	depth  int
}

func (p *fieldPath) withKey(key string) *fieldPath {
	return &fieldPath{parent: p, key: key, index: -1, depth: p.Depth() + 1}
}

func (p *fieldPath) withIndex(i int) *fieldPath {
	return &fieldPath{parent: p, index: i, depth: p.Depth() + 1}
}

// Depth is the number of keys and indexes in the path.
func (p *fieldPath) Depth() int {
	if p == nil {
		return 0
	}
	return p.depth
}

func (p *fieldPath) String() string {
	if p == nil {
		return ""
	}
	segs := make([]*fieldPath, 0, p.depth)
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q)
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		switch {
		case s.key != "" || s.index < 0:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// node is one value inside a yamlFile while it is decoded: the value (aliases resolved),
// where problems about it point, and its dotted path.
type node struct {
	f    *yamlFile
	n    *yaml.Node // the value, aliases resolved; nil when the key is absent
	at   *yaml.Node // where problems point: the value as written, or the nearest parent
	path *fieldPath
	// ref reports whether the reference daemon decodes this value into a typed Go field, so
	// that a value of the wrong shape makes its install fail too (problem not strict).
	ref bool
}

// emptyMessage says that the file holds no value at all.
func (f *yamlFile) emptyMessage() string {
	if f.json {
		return "declaration is null"
	}
	return "file is empty"
}

func (f *yamlFile) top(ref bool) node {
	return node{f: f, n: f.root, at: f.root, path: f.path, ref: ref}
}

func resolve(n *yaml.Node) *yaml.Node {
	// An alias points at an anchored value, which is never itself an alias; the bound is
	// belt and braces.
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxYAMLDepth; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

// problem records a problem about this value. Once decoding of a file was stopped, what
// follows would only be noise and is dropped.
func (c node) problem(strict bool, format string, args ...any) {
	if c.f.exhausted {
		return
	}
	p := Problem{File: c.f.name, Field: c.path.String(), Message: fmt.Sprintf(format, args...), Strict: strict}
	if c.at != nil {
		p.Line, p.Column = c.at.Line, c.at.Column
	}
	c.f.l.add(p)
}

// strictf records a problem the reference daemon would not refuse an install for.
func (c node) strictf(format string, args ...any) { c.problem(true, format, args...) }

// advisoryf records a problem that only the developer kit reports, as a warning (see
// Problem.Advisory).
func (c node) advisoryf(format string, args ...any) {
	n := len(c.f.l.problems)
	c.problem(true, format, args...)
	if len(c.f.l.problems) > n {
		c.f.l.problems[n].Advisory = true
	}
}

// shapef records a problem about the shape of a value: fatal to the reference's decoder when
// it decodes this value into a typed field.
func (c node) shapef(format string, args ...any) { c.problem(!c.ref, format, args...) }

// isNull reports whether the value is absent or an explicit null, which decoders treat alike.
func (c node) isNull() bool {
	return c.n == nil || (c.n.Kind == yaml.ScalarNode && c.n.ShortTag() == "!!null")
}

func (c node) present() bool { return !c.isNull() }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", truncate(n.Value))
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), truncate(n.Value))
	}
	return "an unknown node"
}

// truncate shortens a value quoted in a message, at a character boundary.
func truncate(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "..."
}

func (c node) child(n *yaml.Node, at *yaml.Node, path *fieldPath) node {
	if at == nil {
		at = c.at
	}
	if f := c.f; !f.exhausted {
		f.visits++
		switch {
		case f.visits > maxYAMLNodes:
			// Only aliases get a decoder this far in a file of at most maxYAMLFileSize bytes,
			// and the reference's decoder refuses such aliasing too.
			c.problem(false, "decoding expands aliases to more than %d values; the rest of the file is ignored", maxYAMLNodes)
			f.exhausted = true
		case path.Depth() > maxYAMLDepth:
			// Through an alias that contains itself, or absurdly deep declarations.
			c.problem(false, "values nest deeper than %d levels (is an alias inside its own anchor?); the rest of the file is ignored", maxYAMLDepth)
			f.exhausted = true
		}
	}
	return node{f: c.f, n: resolve(n), at: at, path: path, ref: c.ref}
}

// withRef returns the same value marked as decoded (or not) by the reference into a typed field.
func (c node) withRef(ref bool) node { c.ref = ref; return c }

// isMap reports whether the value is a mapping. A present value of another kind is a problem.
func (c node) isMap() bool {
	if c.isNull() {
		return false
	}
	if c.n.Kind != yaml.MappingNode {
		c.shapef("expected a mapping, found %s", kindName(c.n))
		return false
	}
	if c.ref {
		c.f.typed[c.n] = true
	}
	return true
}

// isList reports whether the value is a list. A present value of another kind is a problem.
func (c node) isList() bool {
	if c.isNull() {
		return false
	}
	if c.n.Kind != yaml.SequenceNode {
		c.shapef("expected a list, found %s", kindName(c.n))
		return false
	}
	return true
}

type entry struct {
	key string
	val node
}

// entries lists the keys of a mapping in order, applying YAML merge keys ("<<: *base") the
// way yaml.v3 does: keys written in the mapping win over merged ones, and earlier merged
// mappings win over later ones.
func (c node) entries() []entry {
	if c.n == nil || c.n.Kind != yaml.MappingNode || c.f.exhausted {
		return nil
	}
	var out []entry
	seen := map[string]bool{}
	var merged []*yaml.Node
	for i := 0; i+1 < len(c.n.Content); i += 2 {
		k, v := c.n.Content[i], c.n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, v)
			continue
		}
		if k.Kind != yaml.ScalarNode || seen[k.Value] {
			continue // non-scalar and duplicate keys are reported by checkKeys
		}
		seen[k.Value] = true
		out = append(out, entry{key: k.Value, val: c.child(v, v, c.path.withKey(k.Value))})
	}
	for _, m := range merged {
		m = resolve(m)
		var sources []*yaml.Node
		switch {
		case m == nil:
		case m.Kind == yaml.MappingNode:
			sources = []*yaml.Node{m}
		case m.Kind == yaml.SequenceNode:
			sources = m.Content
		}
		for _, s := range sources {
			sub := c.child(s, s, c.path)
			for _, e := range sub.entries() {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// get returns the value of key in a mapping; absent when the value is not a mapping or has
// no such key, in which case problems point at the mapping.
func (c node) get(key string) node {
	if c.n != nil && c.n.Kind == yaml.MappingNode && !c.f.exhausted {
		merges := false
		for i := 0; i+1 < len(c.n.Content); i += 2 {
			k := c.n.Content[i]
			switch {
			case k.Kind != yaml.ScalarNode:
			case k.Value == "<<" && k.ShortTag() == "!!merge":
				merges = true
			case k.Value == key:
				v := c.n.Content[i+1]
				return c.child(v, v, c.path.withKey(key))
			}
		}
		if merges {
			for _, e := range c.entries() {
				if e.key == key {
					return e.val
				}
			}
		}
	}
	return node{f: c.f, at: c.at, path: c.path.withKey(key), ref: c.ref}
}

// items lists the elements of a list.
func (c node) items() []node {
	if c.n == nil || c.n.Kind != yaml.SequenceNode || c.f.exhausted {
		return nil
	}
	out := make([]node, len(c.n.Content))
	for i, v := range c.n.Content {
		out[i] = c.child(v, v, c.path.withIndex(i))
	}
	return out
}

// decodeScalar decodes a scalar with yaml.v3's own rules (so "yes" is a boolean, 1.0 fits an
// int, and so on, exactly as the reference decoder sees them); in a registration message,
// with encoding/json's, as the reference decodes those.
func (c node) decodeScalar(out any, want string) bool {
	if c.isNull() {
		return false
	}
	if c.n.Kind != yaml.ScalarNode {
		c.shapef("expected %s, found %s", want, kindName(c.n))
		return false
	}
	var err error
	if c.f.json {
		// As the reference decodes a registration: a number is not a string, "yes" not true.
		err = json.Unmarshal(jsonScalar(c.n), out)
	} else {
		err = c.n.Decode(out)
	}
	if err != nil {
		c.shapef("expected %s, found %s", want, kindName(c.n))
		return false
	}
	return true
}

func (c node) str() string {
	var s string
	c.decodeScalar(&s, "a string")
	return s
}

// strPtr is str for optional fields whose absence the reference keeps as null.
func (c node) strPtr() *string {
	var s string
	if !c.decodeScalar(&s, "a string") {
		return nil
	}
	return &s
}

func (c node) boolean() bool {
	var b bool
	c.decodeScalar(&b, "a boolean")
	return b
}

func (c node) uint64() uint64 {
	var v uint64
	c.decodeScalar(&v, "a non-negative integer")
	return v
}

func (c node) intPtr() *int {
	var v int
	if !c.decodeScalar(&v, "an integer") {
		return nil
	}
	return &v
}

func (c node) floatPtr() *float64 {
	var v float64
	if !c.decodeScalar(&v, "a number") {
		return nil
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		// The reference decodes it but then cannot serve the declaration as JSON.
		c.strictf("%v cannot be represented in JSON", v)
		return nil
	}
	return &v
}

// strList decodes a list of scalars into strings.
func (c node) strList() []string {
	if !c.isList() {
		return nil
	}
	items := c.items()
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.str())
	}
	return out
}

// value converts any YAML value into the plain Go values encoding/json understands
// (map[string]any, []any, string, bool, int, float64, nil), the way the reference keeps
// free-form fields such as output_schema and model_properties.
func (c node) value() any {
	if c.n == nil {
		return nil
	}
	switch c.n.Kind {
	case yaml.MappingNode:
		if c.ref {
			c.f.typed[c.n] = true
		}
		m := map[string]any{}
		for _, e := range c.entries() {
			m[e.key] = e.val.value()
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(c.n.Content))
		for _, it := range c.items() {
			l = append(l, it.value())
		}
		return l
	case yaml.ScalarNode:
		v := scalarValue(c.n, c.f.json)
		switch x := v.(type) {
		case float64:
			if math.IsInf(x, 0) || math.IsNaN(x) {
				c.strictf("%v cannot be represented in JSON", x)
				return nil
			}
		case []byte: // !!binary
			return string(x)
		}
		return v
	}
	return nil
}

// scalarValue is what yaml.v3 decodes a scalar into when the target is an interface. The
// common tags are converted directly, which is much faster than a Decode call per scalar.
// A number of a JSON tree (fromJSON) is an int when it is one, else a float64 (±Inf past
// float64, which the caller reports).
func scalarValue(n *yaml.Node, fromJSON bool) any {
	switch n.ShortTag() {
	case "!!str":
		return n.Value
	case "!!null":
		return nil
	case "!!int":
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return int(v)
		}
	}
	if fromJSON && n.Tag != "!!bool" {
		v, _ := strconv.ParseFloat(n.Value, 64)
		return v
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	return v
}

// object is value() for fields the reference decodes into map[string]any: the value must be
// a mapping (or null).
func (c node) object() map[string]any {
	if !c.isMap() {
		return nil
	}
	m, _ := c.value().(map[string]any)
	return m
}

// checkKeys reports duplicate and non-scalar mapping keys anywhere in the file. yaml.v3
// refuses duplicates in every mapping it decodes into a typed value, so those are install
// failures; duplicates elsewhere (say under extra, which the daemon ignores) are only strict.
func (f *yamlFile) checkKeys() {
	if f.root == nil {
		return
	}
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, path *fieldPath)
	walk = func(n *yaml.Node, path *fieldPath) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.MappingNode {
			first := map[string]*yaml.Node{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				at := node{f: f, at: k, path: path}
				switch {
				case k.Kind != yaml.ScalarNode:
					at.problem(!f.typed[n], "mapping keys must be plain strings, found %s", kindName(k))
				case k.ShortTag() == "!!merge":
				case first[k.Value] != nil:
					at.path = path.withKey(k.Value)
					at.problem(!f.typed[n], "duplicate key %q (first defined at line %d)", k.Value, first[k.Value].Line)
				default:
					first[k.Value] = k
				}
				walk(v, path.withKey(k.Value))
			}
			return
		}
		for i, ch := range n.Content {
			if n.Kind == yaml.SequenceNode {
				walk(ch, path.withIndex(i))
			} else {
				walk(ch, path)
			}
		}
	}
	walk(f.root, nil)
}

// DecodeYAML decodes one YAML document from outside input into out (as yaml.v3's Unmarshal
// does) under the limits that protect the plugin loader: file size, UTF-8, nesting and alias
// expansion. Other YAML files that travel with plugins, such as a bundle's manifest, go
// through it so that they cannot cost more than a declaration file. Errors name the line.
// An empty document leaves out untouched.
func DecodeYAML(data []byte, out any) error {
	root, probs := parseYAML(data)
	for _, p := range probs {
		if p.strict && !p.limit {
			continue // a second document is ignored, as yaml.Unmarshal does
		}
		if p.line > 0 {
			return fmt.Errorf("line %d: %s", p.line, p.message)
		}
		return errors.New(p.message)
	}
	if root == nil {
		return nil
	}
	if err := root.Decode(out); err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

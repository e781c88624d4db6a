package manifest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kinds of the registration messages a plugin under remote debugging sends after its
// handshake. FromRegistration names the file of a problem after the message it is about.
const (
	ManifestDeclaration      = "manifest_declaration"
	ToolDeclaration          = "tool_declaration"
	ModelDeclaration         = "model_declaration"
	EndpointDeclaration      = "endpoint_declaration"
	AgentStrategyDeclaration = "agent_strategy_declaration"
	DatasourceDeclaration    = "datasource_declaration"
	TriggerDeclaration       = "trigger_declaration"
)

// Limits on a registration. The SDK inlines every tool, model and event file into one
// message and repeats each text in four languages, so a declaration is several times the
// size of its YAML; these leave room for the largest official providers while keeping a
// stranger on the debugging port from exhausting memory.
const (
	maxRegistrationSize = 32 << 20 // bytes of JSON in all declarations of one registration
	maxJSONDepth        = 10_000   // nesting the reference's JSON decoder refuses past
)

// FromRegistration builds a declaration from a remote plugin's registration: the manifest
// declaration and the first element of each provider declaration array, keyed by kind
// ("tool", "model", "endpoint", "agent_strategy", "datasource", "trigger"). assets names the
// files received under _assets/ (icons must refer to one of them).
//
// The declarations are what the Python SDK made of the plugin's YAML: tool, model and event
// files inlined, lists the YAML leaves out sent as [] (turned back into null here, as Load
// serves them). The result is therefore what Load makes of the plugin's folder, but for what
// the SDK drops or fills: texts arrive in every language (filled from en_US); the manifest's
// tags and privacy are not sent, so provider tags are not filled from them; model parameter
// rules carry the SDK's template texts, model credential inputs without required arrive
// required; SDK 0.7 drops the dark model icons; created_at keeps microseconds.
//
// They are checked as Load checks YAML, with the rules of JSON for scalars (a number is not
// a string, "yes" is not true), and with the same split: a problem that is not Strict
// refuses the plugin. A problem names the message as its File and the value as its Field,
// e.g. "tool_declaration.tools[2].parameters[0].type", and has no line; problems come in the
// order the messages are sent. Of the plugin's files only the assets are sent, so whether
// its Python sources, README and requirements exist is not checked: the SDK imported the
// sources before it registered.
//
// A nil *Plugin is returned only when the manifest declaration is missing or not usable.
func FromRegistration(manifestJSON json.RawMessage, providers map[string]json.RawMessage, assets []string) (*Plugin, Problems) {
	l := &loader{remote: true, declarations: providers, received: map[string]bool{}}
	for _, a := range assets {
		l.received[assetPath(a)] = true
	}
	p := l.loadRemote(manifestJSON)
	slices.SortStableFunc(l.problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(registrationOrder(a.File), registrationOrder(b.File)),
			cmp.Compare(a.File, b.File),
		)
	})
	return p, l.problems
}

type registrationKind struct{ kind, list, message string }

// registrationKinds maps the keys of FromRegistration's providers to the plugins list of the
// manifest that declares them and to their message.
var registrationKinds = []registrationKind{
	{"tool", "tools", ToolDeclaration},
	{"model", "models", ModelDeclaration},
	{"endpoint", "endpoints", EndpointDeclaration},
	{"agent_strategy", "agent_strategies", AgentStrategyDeclaration},
	{"datasource", "datasources", DatasourceDeclaration},
	{"trigger", "triggers", TriggerDeclaration},
}

// registrationOrder sorts problems in the order the messages are sent.
func registrationOrder(file string) int {
	if file == ManifestDeclaration {
		return 0
	}
	for i, k := range registrationKinds {
		if k.message == file {
			return i + 1
		}
	}
	return len(registrationKinds) + 1
}

func (l *loader) loadRemote(manifestJSON json.RawMessage) *Plugin {
	for _, kind := range sortedKeys(l.declarations) {
		if !slices.ContainsFunc(registrationKinds, func(k registrationKind) bool { return k.kind == kind }) {
			names := make([]string, len(registrationKinds))
			for i, k := range registrationKinds {
				names[i] = k.kind
			}
			l.fileProblem(kind+"_declaration", 0, false, "unknown declaration kind %q; expected one of %s", kind, strings.Join(names, ", "))
		}
	}
	if len(manifestJSON) == 0 {
		l.fileProblem(ManifestDeclaration, 0, false, "was not sent")
		return nil
	}
	f := l.jsonFile(ManifestDeclaration, manifestJSON)
	if f == nil {
		return nil
	}
	return l.decode(f)
}

// sortedKeys returns the keys of m in order, so that problems come out the same each time.
func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// remoteProvider decodes the declaration a registration sent for the providers the manifest
// lists under plugins.<key>, reporting a declaration sent without being listed or listed
// without being sent: the reference would serve such a plugin, but not what its manifest says.
func (l *loader) remoteProvider(key string, list node, load func(*yamlFile)) {
	i := slices.IndexFunc(registrationKinds, func(k registrationKind) bool { return k.list == key })
	rk := registrationKinds[i]
	raw, sent := l.declarations[rk.kind]
	items := list.items()
	// The paths still name the plugin's files; under remote debugging nothing reads them,
	// but a package made from the same folder would.
	for _, it := range items {
		if it.n.Kind == yaml.ScalarNode {
			refPath(it, it.n.Value, true)
		}
	}
	switch {
	case len(items) == 0 && !sent:
	case len(items) == 0:
		l.fileProblem(rk.message, 0, false, "was sent, but %s lists no %s", ManifestDeclaration, rk.list)
	case !sent:
		list.problem(false, "lists %s, but no %s was sent", rk.list, rk.message)
	default:
		if f := l.jsonFile(rk.message, raw); f != nil {
			load(f)
		}
	}
}

// jsonFile parses one registration message into the tree the loader decodes. It returns nil
// when the message cannot be used, with the reason recorded.
func (l *loader) jsonFile(message string, data []byte) *yamlFile {
	if l.read+int64(len(data)) > maxRegistrationSize {
		l.fileProblem(message, 0, false, "the declarations take more than %d bytes in all", maxRegistrationSize)
		return nil
	}
	l.read += int64(len(data))
	root, probs := parseJSON(data)
	usable := true
	for _, p := range probs {
		l.fileProblem(message, 0, p.strict, "%s", p.message)
		usable = usable && p.strict
	}
	if !usable {
		return nil
	}
	return &yamlFile{l: l, name: message, root: root, typed: map[*yaml.Node]bool{}, json: true,
		path: (*fieldPath)(nil).withKey(message)}
}

// parseJSON turns a JSON value into the node tree that YAML files are decoded from: JSON is
// a subset of YAML, and the one tree lets Load and FromRegistration share every check.
// Scalars carry their JSON type as tag (!!str, !!int, !!float, !!bool, !!null), which
// decodeScalar then holds to. A key given twice keeps its last value, as JSON decoders do.
// A null value gives a nil tree. It never panics, works without recursion, and its work is
// linear in the size of data.
func parseJSON(data []byte) (*yaml.Node, []yamlProblem) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		n    *yaml.Node
		keys map[string]int // index in n.Content of each key's value
		key  *string        // the key waiting for its value
	}
	var (
		stack []*frame
		root  *yaml.Node
		probs []yamlProblem
		nodes int
		deep  bool
	)
	// When the message cannot be used, its warnings are left out: only the reason counts.
	fail := func(err error) (*yaml.Node, []yamlProblem) {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, []yamlProblem{{message: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se.Error())}}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, []yamlProblem{{message: "invalid JSON: unexpected end of input"}}
		}
		return nil, []yamlProblem{{message: "invalid JSON: " + err.Error()}}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		var n *yaml.Node
		switch t := tok.(type) {
		case json.Delim:
			if t == '}' || t == ']' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 {
					continue
				}
				return finishJSON(dec, root, probs)
			}
			n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if t == '[' {
				n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
			}
		case string:
			if top := stackTop(stack); top != nil && top.n.Kind == yaml.MappingNode && top.key == nil {
				top.key = &t
				continue
			}
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t, Style: yaml.DoubleQuotedStyle}
		case json.Number:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: string(t)}
			if strings.ContainsAny(string(t), ".eE") {
				n.Tag = "!!float"
			}
		case bool:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}
		case nil:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		if nodes++; nodes > maxYAMLNodes {
			return nil, []yamlProblem{{message: fmt.Sprintf("declaration has more than %d values", maxYAMLNodes)}}
		}
		if n.Kind != yaml.ScalarNode && len(stack) >= maxJSONDepth {
			return nil, []yamlProblem{{message: fmt.Sprintf("values nest deeper than %d levels", maxJSONDepth)}}
		}
		if len(stack) > maxYAMLDepth && !deep {
			// As in YAML, only a warning: decoding stops at this depth in the parts it reads.
			deep = true
			probs = append(probs, yamlProblem{strict: true, message: fmt.Sprintf("nesting deeper than %d levels", maxYAMLDepth)})
		}
		switch top := stackTop(stack); {
		case top == nil:
			root = n
		case top.n.Kind == yaml.SequenceNode:
			top.n.Content = append(top.n.Content, n)
		default:
			key := *top.key
			top.key = nil
			if i, dup := top.keys[key]; dup {
				probs = append(probs, yamlProblem{strict: true, message: fmt.Sprintf("key %q is given twice in one object; the last value is used", key)})
				top.n.Content[i] = n
			} else {
				top.keys[key] = len(top.n.Content) + 1
				top.n.Content = append(top.n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
			}
		}
		if n.Kind == yaml.ScalarNode {
			if len(stack) == 0 {
				return finishJSON(dec, root, probs)
			}
			continue
		}
		fr := &frame{n: n}
		if n.Kind == yaml.MappingNode {
			fr.keys = map[string]int{}
		}
		stack = append(stack, fr)
	}
}

func stackTop[T any](s []*T) *T {
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1]
}

// finishJSON checks that nothing but white space follows the value.
func finishJSON(dec *json.Decoder, root *yaml.Node, probs []yamlProblem) (*yaml.Node, []yamlProblem) {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, []yamlProblem{{message: fmt.Sprintf("invalid JSON: more data after the value at byte %d", dec.InputOffset())}}
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, probs
	}
	return root, probs
}

// jsonScalar spells a scalar of a JSON tree as JSON again, for encoding/json to decode.
func jsonScalar(n *yaml.Node) []byte {
	if n.Tag == "!!str" {
		b, _ := json.Marshal(n.Value)
		return b
	}
	return []byte(n.Value)
}

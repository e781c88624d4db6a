package openapi

import (
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// schemaConverter turns the library's schemas into plain JSON Schema (2020-12 vocabulary, as
// OpenAPI 3.1 uses; 3.0's nullable and boolean exclusive bounds are rewritten) with every $ref
// inlined, so a tool's input schema stands alone. A schema that refers to itself is cut at the
// second visit (any value accepted there, described as recursive); converted schemas are shared
// between operations, never modified after conversion.
type schemaConverter struct {
	done  map[*openapi3.Schema]map[string]any
	stack map[*openapi3.Schema]bool
}

func newSchemaConverter() *schemaConverter {
	return &schemaConverter{done: map[*openapi3.Schema]map[string]any{}, stack: map[*openapi3.Schema]bool{}}
}

func refName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func (c *schemaConverter) ref(r *openapi3.SchemaRef) map[string]any {
	if r == nil || r.Value == nil {
		return map[string]any{}
	}
	s := r.Value
	if m, ok := c.done[s]; ok {
		return m
	}
	if c.stack[s] {
		name := refName(r.Ref)
		if name == "" {
			name = "an enclosing schema"
		}
		return map[string]any{"description": "recursive: same shape as " + name}
	}
	c.stack[s] = true
	m := c.schema(s)
	delete(c.stack, s)
	c.done[s] = m
	return m
}

func (c *schemaConverter) refs(rs openapi3.SchemaRefs) []any {
	out := make([]any, 0, len(rs))
	for _, r := range rs {
		out = append(out, c.ref(r))
	}
	return out
}

func (c *schemaConverter) schema(s *openapi3.Schema) map[string]any {
	if s.Always != nil {
		if *s.Always {
			return map[string]any{}
		}
		return map[string]any{"not": map[string]any{}}
	}
	m := map[string]any{}
	if s.Type != nil && len(*s.Type) > 0 {
		types := append([]string(nil), (*s.Type)...)
		if s.Nullable && !s.Type.Includes("null") {
			types = append(types, "null")
		}
		if len(types) == 1 {
			m["type"] = types[0]
		} else {
			m["type"] = types
		}
	}
	setStr := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	setStr("title", s.Title)
	setStr("description", s.Description)
	setStr("format", s.Format)
	setStr("pattern", s.Pattern)
	setStr("contentMediaType", s.ContentMediaType)
	setStr("contentEncoding", s.ContentEncoding)
	if len(s.Enum) > 0 {
		m["enum"] = s.Enum
	}
	if s.Const != nil {
		m["const"] = s.Const
	}
	if s.Default != nil {
		m["default"] = s.Default
	}
	if len(s.Examples) > 0 {
		m["examples"] = s.Examples
	} else if s.Example != nil {
		m["examples"] = []any{s.Example}
	}
	if s.Deprecated {
		m["deprecated"] = true
	}
	if s.WriteOnly {
		m["writeOnly"] = true
	}
	if s.Min != nil {
		m["minimum"] = *s.Min
	}
	if s.Max != nil {
		m["maximum"] = *s.Max
	}
	if b := s.ExclusiveMin; b.Value != nil {
		m["exclusiveMinimum"] = *b.Value
	} else if b.Bool != nil && *b.Bool && s.Min != nil {
		m["exclusiveMinimum"] = *s.Min
		delete(m, "minimum")
	}
	if b := s.ExclusiveMax; b.Value != nil {
		m["exclusiveMaximum"] = *b.Value
	} else if b.Bool != nil && *b.Bool && s.Max != nil {
		m["exclusiveMaximum"] = *s.Max
		delete(m, "maximum")
	}
	if s.MultipleOf != nil {
		m["multipleOf"] = *s.MultipleOf
	}
	if s.MinLength > 0 {
		m["minLength"] = s.MinLength
	}
	if s.MaxLength != nil {
		m["maxLength"] = *s.MaxLength
	}
	if s.MinItems > 0 {
		m["minItems"] = s.MinItems
	}
	if s.MaxItems != nil {
		m["maxItems"] = *s.MaxItems
	}
	if s.UniqueItems {
		m["uniqueItems"] = true
	}
	if s.Items != nil {
		m["items"] = c.ref(s.Items)
	}
	if len(s.PrefixItems) > 0 {
		m["prefixItems"] = c.refs(s.PrefixItems)
	}
	if s.MinProps > 0 {
		m["minProperties"] = s.MinProps
	}
	if s.MaxProps != nil {
		m["maxProperties"] = *s.MaxProps
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		readOnly := map[string]bool{}
		for name, p := range s.Properties {
			// Fields the server sets (readOnly) are not inputs.
			if p != nil && p.Value != nil && p.Value.ReadOnly {
				readOnly[name] = true
				continue
			}
			props[name] = c.ref(p)
		}
		m["properties"] = props
		var req []string
		for _, r := range s.Required {
			if !readOnly[r] {
				req = append(req, r)
			}
		}
		if len(req) > 0 {
			sort.Strings(req)
			m["required"] = req
		}
	} else if len(s.Required) > 0 {
		m["required"] = s.Required
	}
	if ap := s.AdditionalProperties; ap.Has != nil {
		m["additionalProperties"] = *ap.Has
	} else if ap.Schema != nil {
		m["additionalProperties"] = c.ref(ap.Schema)
	}
	if len(s.AllOf) > 0 {
		m["allOf"] = c.refs(s.AllOf)
	}
	if len(s.OneOf) > 0 {
		m["oneOf"] = c.refs(s.OneOf)
	}
	if len(s.AnyOf) > 0 {
		m["anyOf"] = c.refs(s.AnyOf)
	}
	if s.Not != nil {
		m["not"] = c.ref(s.Not)
	}
	return m
}

// objectFields is the properties and required names of an object schema, merging an allOf of
// objects; ok is false when the schema is not plainly an object (then the body is one value).
func (c *schemaConverter) objectFields(r *openapi3.SchemaRef) (props map[string]*openapi3.SchemaRef, required []string, ok bool) {
	if r == nil || r.Value == nil {
		return nil, nil, false
	}
	s := r.Value
	if len(s.OneOf) > 0 || len(s.AnyOf) > 0 || s.Not != nil {
		return nil, nil, false
	}
	if s.Type != nil && len(*s.Type) > 0 && !s.Type.Is("object") {
		return nil, nil, false
	}
	props = map[string]*openapi3.SchemaRef{}
	for name, p := range s.Properties {
		if p != nil && p.Value != nil && p.Value.ReadOnly {
			continue
		}
		props[name] = p
	}
	required = append(required, s.Required...)
	for _, part := range s.AllOf {
		pp, rr, ok := c.objectFields(part)
		if !ok {
			return nil, nil, false
		}
		for k, v := range pp {
			props[k] = v
		}
		required = append(required, rr...)
	}
	if len(props) == 0 {
		return nil, nil, false
	}
	var req []string
	seen := map[string]bool{}
	for _, r := range required {
		if _, ok := props[r]; ok && !seen[r] {
			seen[r] = true
			req = append(req, r)
		}
	}
	return props, req, true
}

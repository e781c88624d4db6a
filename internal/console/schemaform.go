package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// A tool's form is generated from its input schema (one JSON Schema object, whatever the
// tool's kind) and read back into call arguments by the same description, so what the page
// offers and what the server accepts cannot drift apart. Only the top level becomes fields;
// arrays, objects and anything the generator does not know are typed as JSON.

// Field is one input of a generated form.
type Field struct {
	Name        string
	Label       string
	Description string
	// Kind is text, textarea, integer, number, boolean, select or json.
	Kind     string
	Type     string // the schema's type, for the JSON fields' hint
	Required bool
	Options  []string
	Default  string
	Min, Max string
}

// formPrefix keeps argument fields apart from the form's own (csrf, provider, tool).
const formPrefix = "arg."

// maxSchemaFields bounds a generated form; a schema with more properties is refused rather
// than rendered as a page nobody can use.
const maxSchemaFields = 200

type schemaProp struct {
	Type        json.RawMessage `json:"type"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Enum        []any           `json:"enum"`
	Default     any             `json:"default"`
	Format      string          `json:"format"`
	Minimum     *float64        `json:"minimum"`
	Maximum     *float64        `json:"maximum"`
}

// FormFields turns an object schema into the fields of its form, in the schema's property
// order, or an error saying what in the schema is wrong.
func FormFields(schema json.RawMessage) ([]Field, error) {
	if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
		return nil, nil
	}
	var top struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if err := json.Unmarshal(schema, &top); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	names, props, err := orderedProperties(top.Properties)
	if err != nil {
		return nil, err
	}
	fields := make([]Field, 0, len(names))
	for i, name := range names {
		var p schemaProp
		if err := json.Unmarshal(props[i], &p); err != nil {
			return nil, fmt.Errorf("input schema: property %q: %w", name, err)
		}
		f := Field{Name: name, Label: p.Title, Description: p.Description, Required: slices.Contains(top.Required, name)}
		if f.Label == "" {
			f.Label = name
		}
		f.Type = schemaType(p.Type)
		switch {
		case len(p.Enum) > 0:
			f.Kind = "select"
			for _, e := range p.Enum {
				f.Options = append(f.Options, scalarText(e))
			}
		case f.Type == "string" && (p.Format == "textarea" || strings.Contains(strings.ToLower(name), "body")):
			f.Kind = "textarea"
		case f.Type == "string":
			f.Kind = "text"
		case f.Type == "integer", f.Type == "number", f.Type == "boolean":
			f.Kind = f.Type
		default:
			f.Kind = "json"
		}
		if p.Default != nil {
			if f.Kind == "json" {
				b, _ := json.Marshal(p.Default)
				f.Default = string(b)
			} else {
				f.Default = scalarText(p.Default)
			}
		}
		if p.Minimum != nil {
			f.Min = strconv.FormatFloat(*p.Minimum, 'g', -1, 64)
		}
		if p.Maximum != nil {
			f.Max = strconv.FormatFloat(*p.Maximum, 'g', -1, 64)
		}
		fields = append(fields, f)
	}
	// Required inputs first, each group in the schema's order.
	slices.SortStableFunc(fields, func(a, b Field) int {
		switch {
		case a.Required == b.Required:
			return 0
		case a.Required:
			return -1
		}
		return 1
	})
	return fields, nil
}

// orderedProperties reads a "properties" object keeping its key order.
func orderedProperties(raw json.RawMessage) ([]string, []json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("input schema: properties must be an object")
	}
	var names []string
	var props []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("input schema: properties: %w", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("input schema: property %q: %w", name, err)
		}
		if slices.Contains(names, name) {
			return nil, nil, fmt.Errorf("input schema: property %q appears twice", name)
		}
		if len(names) == maxSchemaFields {
			return nil, nil, fmt.Errorf("input schema: more than %d properties", maxSchemaFields)
		}
		names, props = append(names, name), append(props, v)
	}
	return names, props, nil
}

// schemaType is a property's type; of a list (["string", "null"]) the first that is not null.
func schemaType(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			if t != "null" {
				return t
			}
		}
	}
	return ""
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// FormArguments reads a submitted form back into call arguments by the fields it was made
// from: empty fields are left out, a required one missing is an error, and each value is
// converted by its field's kind; errors name the field.
func FormArguments(fields []Field, form url.Values) (map[string]any, error) {
	args := map[string]any{}
	var problems []string
	for _, f := range fields {
		v := form.Get(formPrefix + f.Name)
		if strings.TrimSpace(v) == "" {
			if f.Required {
				problems = append(problems, fmt.Sprintf("%s: required", f.Name))
			}
			continue
		}
		val, err := fieldValue(f, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f.Name, err))
			continue
		}
		args[f.Name] = val
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return args, nil
}

func fieldValue(f Field, v string) (any, error) {
	switch f.Kind {
	case "select":
		if !slices.Contains(f.Options, v) {
			return nil, fmt.Errorf("%q is not one of %s", truncate(v, 64), strings.Join(f.Options, ", "))
		}
		// An enum of numbers or booleans gives back the JSON value, not its text.
		if f.Type != "" && f.Type != "string" {
			var x any
			if json.Unmarshal([]byte(v), &x) == nil {
				return x, nil
			}
		}
		return v, nil
	case "integer":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", truncate(v, 64))
		}
		return n, nil
	case "number":
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, fmt.Errorf("%q is not a number", truncate(v, 64))
		}
		return n, nil
	case "boolean":
		switch v {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("%q: want true or false", truncate(v, 64))
	case "json":
		var x any
		if err := json.Unmarshal([]byte(v), &x); err != nil {
			return nil, fmt.Errorf("not JSON: %v", err)
		}
		switch f.Type {
		case "array":
			if _, ok := x.([]any); !ok {
				return nil, errors.New("want a JSON array")
			}
		case "object":
			if _, ok := x.(map[string]any); !ok {
				return nil, errors.New("want a JSON object")
			}
		}
		return x, nil
	}
	return v, nil
}

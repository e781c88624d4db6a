package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/manifest"
)

// toolParams turns --param k=v pairs into the tool_parameters object for tool, converting
// each value by the type its declaration gives it, the way Dify sends values of that type:
// a "string" stays a string even when it looks like JSON. Required parameters that are
// missing are an error, as Dify refuses to run the tool without them; one with a declared
// default gets the default. Parameters the tool does not declare (tools with runtime
// parameters take any) are sent as JSON when they parse as JSON, else as strings, with a
// warning on warn. Every error names the parameter and the tool.
func toolParams(tool *manifest.Tool, pairs []string, warn io.Writer) (json.RawMessage, error) {
	name := tool.Identity.Name
	values := make(map[string]any, len(pairs))
	for _, kv := range pairs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: want key=value", kv)
		}
		if _, dup := values[k]; dup {
			return nil, fmt.Errorf("--param %s is given twice", k)
		}
		i := slices.IndexFunc(tool.Parameters, func(p manifest.ToolParameter) bool { return p.Name == k })
		if i < 0 {
			fmt.Fprintf(warn, "warning: tool %s declares no parameter %q; sent as given\n", name, k)
			values[k] = looseValue(v)
			continue
		}
		converted, err := paramValue(&tool.Parameters[i], v)
		if err != nil {
			return nil, fmt.Errorf("--param %s of tool %s: %w", k, name, err)
		}
		values[k] = converted
	}
	var missing []string
	for _, p := range tool.Parameters {
		if _, given := values[p.Name]; given || !p.Required {
			continue
		}
		if p.Default != nil {
			values[p.Name] = p.Default
			continue
		}
		missing = append(missing, fmt.Sprintf("%s (%s)", p.Name, p.Type))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("tool %s needs the required parameter(s) %s: add --param NAME=VALUE", name, strings.Join(missing, ", "))
	}
	return json.Marshal(values)
}

// looseValue is a value of no declared type: JSON when it parses as JSON, else the string.
func looseValue(v string) any {
	var parsed any
	if json.Unmarshal([]byte(v), &parsed) == nil {
		return parsed
	}
	return v
}

// paramValue converts v to what a parameter of p's type carries on the wire.
func paramValue(p *manifest.ToolParameter, v string) (any, error) {
	switch p.Type {
	case "string", "secret-input", "dynamic-select", "date", "date-range":
		return v, nil
	case "select":
		if len(p.Options) == 0 {
			return v, nil
		}
		var allowed []string
		for _, o := range p.Options {
			if o.Value == v {
				return v, nil
			}
			allowed = append(allowed, o.Value)
		}
		return nil, fmt.Errorf("%q is not one of the options %s", v, strings.Join(allowed, ", "))
	case "number":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return f, nil
	case "boolean", "checkbox":
		switch strings.ToLower(v) {
		case "true", "1", "yes":
			return true, nil
		case "false", "0", "no":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean: use true or false", v)
	case "object", "file", "app-selector", "model-selector":
		var obj map[string]any
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
			return nil, fmt.Errorf("a %s parameter takes a JSON object, e.g. '{\"k\":\"v\"}'; got %q", p.Type, v)
		}
		return obj, nil
	case "array", "files", "array[tools]":
		var arr []any
		if err := json.Unmarshal([]byte(v), &arr); err != nil || arr == nil {
			return nil, fmt.Errorf("a %s parameter takes a JSON array, e.g. '[1,2]'; got %q", p.Type, v)
		}
		return arr, nil
	}
	return looseValue(v), nil // "any", and types newer than this build
}

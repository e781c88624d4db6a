package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Shapes are the fields Dify's pydantic models require of the daemon's answers
// (api/core/plugin/entities/*.py), with the JSON kind each must have. A trailing "?" allows
// null or a missing key, as an Optional field with a default does.
//
// Kinds: string, int, bool, object, array, time (a string pydantic parses as a datetime).
type shape map[string]string

var (
	// BasePluginEntity: what every stored entity carries.
	baseEntity = shape{"id": "string", "created_at": "time", "updated_at": "time"}

	// PluginInstallTask and its plugins' PluginInstallTaskPluginStatus.
	taskShape = merge(baseEntity, shape{
		"status": "string", "tenant_id": "string", "total_plugins": "int", "completed_plugins": "int",
		"plugins": "array",
	})
	taskPluginShape = shape{
		"plugin_unique_identifier": "string", "plugin_id": "string", "status": "string",
		"message": "string", "icon": "string", "labels": "object", "source": "string?",
	}

	// PluginInstallation (installation/fetch/batch) and PluginEntity (management/list).
	installationShape = merge(baseEntity, shape{
		"tenant_id": "string", "endpoints_setups": "int", "endpoints_active": "int",
		"runtime_type": "string", "source": "string", "meta": "object", "plugin_id": "string",
		"plugin_unique_identifier": "string", "version": "string", "checksum": "string",
		"declaration": "object",
	})
	pluginEntityShape = merge(installationShape, shape{
		"name": "string", "installation_id": "string",
		"latest_version": "string?", "latest_unique_identifier": "string?",
	})

	// PluginDeclaration, as far as these tests' plugin fills it.
	declarationShape = shape{
		"version": "string", "author": "string", "name": "string", "description": "object",
		"icon": "string", "label": "object", "created_at": "time", "resource": "object",
		"plugins": "object", "tags": "array?", "verified": "bool?", "meta": "object",
		"tool": "object", "endpoint": "object", "model": "object?", "agent_strategy": "object?",
	}

	// PluginToolProviderEntity and ToolProviderEntityWithPlugin.
	toolProviderShape = shape{
		"provider": "string", "plugin_unique_identifier": "string", "plugin_id": "string",
		"declaration": "object",
	}
	toolDeclarationShape = shape{"identity": "object", "credentials_schema": "array", "tools": "array"}

	// EndpointEntityWithInstance.
	endpointShape = merge(baseEntity, shape{
		"settings": "object", "tenant_id": "string", "plugin_id": "string", "expired_at": "time",
		"name": "string", "enabled": "bool", "hook_id": "string", "declaration": "object?",
	})
)

func merge(shapes ...shape) shape {
	out := shape{}
	for _, s := range shapes {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// shapeProblems lists how raw differs from s.
func shapeProblems(raw json.RawMessage, s shape) []string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return []string{fmt.Sprintf("not a JSON object: %v", err)}
	}
	var problems []string
	for _, field := range sortedKeys(s) {
		kind := s[field]
		optional := strings.HasSuffix(kind, "?")
		kind = strings.TrimSuffix(kind, "?")
		v, ok := obj[field]
		if !ok || string(v) == "null" {
			if !optional {
				if ok {
					problems = append(problems, fmt.Sprintf("%s is null, want %s", field, kind))
				} else {
					problems = append(problems, fmt.Sprintf("%s is missing (%s)", field, kind))
				}
			}
			continue
		}
		if p := kindProblem(v, kind); p != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", field, p))
		}
	}
	sort.Strings(problems)
	return problems
}

func kindProblem(v json.RawMessage, kind string) string {
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return err.Error()
	}
	switch kind {
	case "string":
		if _, ok := x.(string); !ok {
			return fmt.Sprintf("%s is not a string", v)
		}
	case "time":
		s, ok := x.(string)
		if !ok {
			return fmt.Sprintf("%s is not a time string", v)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Sprintf("%q is not an RFC 3339 time", s)
		}
	case "int":
		f, ok := x.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Sprintf("%s is not an integer", v)
		}
	case "bool":
		if _, ok := x.(bool); !ok {
			return fmt.Sprintf("%s is not a boolean", v)
		}
	case "object":
		if _, ok := x.(map[string]any); !ok {
			return fmt.Sprintf("%.80s is not an object", v)
		}
	case "array":
		if _, ok := x.([]any); !ok {
			return fmt.Sprintf("%.80s is not an array", v)
		}
	default:
		return "unknown kind " + kind
	}
	return ""
}

// checkShape fails the test when raw does not have the shape.
func checkShape(t testing.TB, what string, raw json.RawMessage, s shape) {
	t.Helper()
	if p := shapeProblems(raw, s); len(p) > 0 {
		t.Errorf("%s does not have the shape Dify reads:\n  %s\nin %.2000s", what, strings.Join(p, "\n  "), raw)
	}
}

func checkTaskShape(t testing.TB, raw json.RawMessage) {
	t.Helper()
	checkShape(t, "install task", raw, taskShape)
	var task struct {
		Plugins []json.RawMessage `json:"plugins"`
	}
	if json.Unmarshal(raw, &task) == nil {
		for i, p := range task.Plugins {
			checkShape(t, fmt.Sprintf("install task plugins[%d]", i), p, taskPluginShape)
		}
	}
}

// field digs a value out of JSON by a path of object keys and array indexes ("tools", "0").
func field(raw json.RawMessage, path ...string) any {
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil
	}
	for _, p := range path {
		switch v := x.(type) {
		case map[string]any:
			x = v[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(v) {
				return nil
			}
			x = v[i]
		default:
			return nil
		}
	}
	return x
}

// str is field as a string ("" when absent or not a string).
func str(raw json.RawMessage, path ...string) string {
	s, _ := field(raw, path...).(string)
	return s
}

func TestShapeProblems(t *testing.T) {
	s := shape{"a": "string", "b": "int", "c": "time", "d": "object?", "e": "bool"}
	tests := []struct {
		raw  string
		want []string
	}{
		{`{"a":"x","b":1,"c":"2024-01-02T03:04:05Z","e":true}`, nil},
		{`{"a":"x","b":1,"c":"2024-01-02T03:04:05.123+08:00","d":null,"e":false}`, nil},
		{`{"a":1,"b":1.5,"c":"yesterday","d":[],"e":"no"}`, []string{
			"a: 1 is not a string", "b: 1.5 is not an integer", `c: "yesterday" is not an RFC 3339 time`,
			"d: [] is not an object", `e: "no" is not a boolean`}},
		{`{"b":null,"c":"2024-01-02T03:04:05Z","e":true}`, []string{"a is missing (string)", "b is null, want int"}},
		{`[1]`, []string{"not a JSON object: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"}},
	}
	for _, tt := range tests {
		got := shapeProblems(json.RawMessage(tt.raw), s)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s:\n got %q\nwant %q", tt.raw, got, tt.want)
		}
	}
}

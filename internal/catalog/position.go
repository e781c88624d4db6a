package catalog

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file carries Dify's ordering rules (api/core/helper/position_helper.py) with the same
// meaning: a position file gives the base order, pins go first in the order given, an
// include list (when not empty) keeps only what it names, and an exclude list drops what it
// names — exclude beats include beats pin, as Dify's own comment puts it. Items a position
// does not name keep their relative order after every positioned item.

// PositionMap maps a name to its rank; lower comes first.
type PositionMap map[string]int

// ParsePositions reads a position file: a YAML list of names. As in Dify, entries that are not
// strings (a bare number, an empty item) are skipped, names are trimmed, and a file of only
// comments is an empty map.
func ParsePositions(data []byte) (PositionMap, error) {
	var items []any
	if err := yaml.Unmarshal(data, &items); err != nil {
		return nil, fmt.Errorf("position file: want a YAML list of names: %w", err)
	}
	return positionsOf(items), nil
}

func positionsOf(items []any) PositionMap {
	m := PositionMap{}
	i := 0
	for _, it := range items {
		s, ok := it.(string)
		if !ok || strings.TrimSpace(s) == "" {
			continue
		}
		s = strings.TrimSpace(s)
		if _, dup := m[s]; dup {
			continue
		}
		m[s] = i
		i++
	}
	return m
}

// Pin puts pins first, in their order, then the map's names in their order.
func (m PositionMap) Pin(pins []string) PositionMap {
	out := PositionMap{}
	for _, p := range pins {
		if _, ok := out[p]; !ok {
			out[p] = len(out)
		}
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return m[a] - m[b] })
	for _, n := range names {
		if _, ok := out[n]; !ok {
			out[n] = len(out)
		}
	}
	return out
}

// Filtered tells whether name is left out: it is excluded, or an include list exists and does
// not name it. An empty name is never filtered (Dify's "if not data").
func Filtered(include, exclude map[string]bool, name string) bool {
	if name == "" || (len(include) == 0 && len(exclude) == 0) {
		return false
	}
	if exclude[name] {
		return true
	}
	return len(include) > 0 && !include[name]
}

// SortByPosition orders items by the map, stably: unnamed items go last in their input order.
func SortByPosition[T any](m PositionMap, items []T, name func(T) string) {
	if len(m) == 0 || len(items) == 0 {
		return
	}
	rank := func(t T) int {
		if r, ok := m[name(t)]; ok {
			return r
		}
		return int(^uint(0) >> 1)
	}
	slices.SortStableFunc(items, func(a, b T) int {
		ra, rb := rank(a), rank(b)
		switch {
		case ra < rb:
			return -1
		case ra > rb:
			return 1
		}
		return 0
	})
}

// ParseList reads a comma-separated setting (POSITION_TOOL_PINS and the like) as Dify does:
// items trimmed, empty ones dropped.
func ParseList(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func setOf(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Ordering is the deployment's ordering settings: Dify's six POSITION_* settings and a
// position file. Provider names match a provider's id or its short name; tool names match a
// tool's name or provider_id/tool.
type Ordering struct {
	ProviderPositions PositionMap
	ToolPositions     PositionMap
	ProviderPins      []string // POSITION_PROVIDER_PINS
	ProviderIncludes  []string // POSITION_PROVIDER_INCLUDES
	ProviderExcludes  []string // POSITION_PROVIDER_EXCLUDES
	ToolPins          []string // POSITION_TOOL_PINS
	ToolIncludes      []string // POSITION_TOOL_INCLUDES
	ToolExcludes      []string // POSITION_TOOL_EXCLUDES
}

// ParsePositionFile reads plugd's position file: either a YAML list (the provider order, like
// Dify's _position.yaml) or a map with the lists "providers" and "tools".
func ParsePositionFile(data []byte) (providers, tools PositionMap, err error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("position file: %w", err)
	}
	switch d := doc.(type) {
	case nil:
		return PositionMap{}, PositionMap{}, nil
	case []any:
		return positionsOf(d), PositionMap{}, nil
	case map[string]any:
		for k := range d {
			if k != "providers" && k != "tools" {
				return nil, nil, fmt.Errorf("position file: unknown key %q (want providers and tools)", k)
			}
		}
		p, _ := d["providers"].([]any)
		t, _ := d["tools"].([]any)
		if d["providers"] != nil && p == nil || d["tools"] != nil && t == nil {
			return nil, nil, fmt.Errorf("position file: providers and tools must be lists of names")
		}
		return positionsOf(p), positionsOf(t), nil
	}
	return nil, nil, fmt.Errorf("position file: want a list of provider names or a map of providers and tools, got %T", doc)
}

// arrange applies the deployment's ordering and the tenant's preferences to one tenant's
// providers, in place order: filtered providers and tools are dropped (hidden ones too unless
// showHidden), the rest ordered — tenant pins first, then the setting's pins, then the
// position file, then the base order.
func (o Ordering) arrange(providers []Provider, prefs []Preference, showHidden bool) []Provider {
	var (
		provPins, toolPins []string
		hidden             = map[string]bool{}
		pinned             = map[string]bool{}
	)
	slices.SortStableFunc(prefs, func(a, b Preference) int { return a.Position - b.Position })
	for _, p := range prefs {
		key := string(p.Target) + "\x00" + p.Name
		if p.Pinned {
			pinned[key] = true
			if p.Target == TargetProvider {
				provPins = append(provPins, p.Name)
			} else {
				toolPins = append(toolPins, p.Name)
			}
		}
		if p.Hidden {
			hidden[key] = true
		}
	}
	pInc, pExc := setOf(o.ProviderIncludes), setOf(o.ProviderExcludes)
	tInc, tExc := setOf(o.ToolIncludes), setOf(o.ToolExcludes)
	provMap := o.ProviderPositions.Pin(append(provPins, o.ProviderPins...))
	toolMap := o.ToolPositions.Pin(append(toolPins, o.ToolPins...))

	out := providers[:0]
	for _, p := range providers {
		if filteredEither(pInc, pExc, p.ID, p.Name) {
			continue
		}
		p.Pinned = pinned["provider\x00"+p.ID]
		p.Hidden = hidden["provider\x00"+p.ID]
		if p.Hidden && !showHidden {
			continue
		}
		tools := make([]Tool, 0, len(p.Tools))
		for _, t := range p.Tools {
			full := p.ID + "/" + t.Name
			if filteredEither(tInc, tExc, full, t.Name) {
				continue
			}
			t.Pinned = pinned["tool\x00"+full]
			t.Hidden = hidden["tool\x00"+full]
			if t.Hidden && !showHidden {
				continue
			}
			tools = append(tools, t)
		}
		pid := p.ID
		SortByPosition(toolMap, tools, func(t Tool) string {
			if _, ok := toolMap[pid+"/"+t.Name]; ok {
				return pid + "/" + t.Name
			}
			return t.Name
		})
		p.Tools = tools
		out = append(out, p)
	}
	SortByPosition(provMap, out, func(p Provider) string {
		if _, ok := provMap[p.ID]; ok {
			return p.ID
		}
		return p.Name
	})
	return out
}

// filteredEither applies Filtered to an item known by two names (full and short): excluded
// under either name drops it; an include list keeps it when it names either.
func filteredEither(include, exclude map[string]bool, full, short string) bool {
	if exclude[full] || exclude[short] {
		return true
	}
	return len(include) > 0 && !include[full] && !include[short]
}

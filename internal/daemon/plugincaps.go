package daemon

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/plugd/plugd/internal/install"
)

// PluginCaps is PLUGD_CLUSTER_MAX_NODES_PER_PLUGIN: how many nodes may run one plugin
// version at once. The value is a comma-separated list: a bare number is the cap of every
// plugin, author/name=N the cap of that plugin (each of its versions), 0 meaning no cap.
// "2,langgenius/openai=0,acme/big-model=1": two nodes per plugin, the OpenAI plugin on every
// node that gets its calls, acme's big model on one node. The default, 0, caps nothing.
type PluginCaps struct {
	Default int
	Plugins map[string]int // author/name -> cap
}

// maxCap bounds a cap: each slot is a lease a node without one may try in turn.
const maxCap = 64

// ParsePluginCaps reads the setting, with an error naming the item that is wrong.
func ParsePluginCaps(raw string) (PluginCaps, error) {
	var c PluginCaps
	seenDefault := false
	for item := range strings.SplitSeq(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, num, per := strings.Cut(item, "=")
		if !per {
			num = name
		}
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 0 || n > maxCap {
			return PluginCaps{}, fmt.Errorf("%q: want a number of nodes from 0 (no cap) to %d", item, maxCap)
		}
		if !per {
			if seenDefault {
				return PluginCaps{}, fmt.Errorf("%q: a second bare number (the cap of every plugin is given once)", item)
			}
			seenDefault, c.Default = true, n
			continue
		}
		name = strings.TrimSpace(name)
		author, plugin, ok := strings.Cut(name, "/")
		if !ok || author == "" || plugin == "" || strings.ContainsAny(name, " :@=") || strings.Count(name, "/") != 1 {
			return PluginCaps{}, fmt.Errorf("%q: want author/name=N (a plugin id, no version)", item)
		}
		if c.Plugins == nil {
			c.Plugins = map[string]int{}
		}
		if _, dup := c.Plugins[name]; dup {
			return PluginCaps{}, fmt.Errorf("%q: %s is given twice", item, name)
		}
		c.Plugins[name] = n
	}
	return c, nil
}

// Enabled reports whether any plugin is capped.
func (c PluginCaps) Enabled() bool {
	if c.Default > 0 {
		return true
	}
	for _, n := range c.Plugins {
		if n > 0 {
			return true
		}
	}
	return false
}

// For is the cap of the plugin version uid; 0: none.
func (c PluginCaps) For(uid string) int {
	if id, err := install.ParseIdentifier(uid); err == nil {
		if n, ok := c.Plugins[id.PluginID()]; ok {
			return n
		}
	}
	return c.Default
}

// String writes the setting back in its own syntax.
func (c PluginCaps) String() string {
	items := []string{strconv.Itoa(c.Default)}
	names := make([]string, 0, len(c.Plugins))
	for name := range c.Plugins {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		items = append(items, name+"="+strconv.Itoa(c.Plugins[name]))
	}
	return strings.Join(items, ",")
}

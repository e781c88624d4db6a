package install

import (
	"fmt"
	"regexp"
	"strings"
)

// Identifier is a parsed plugin unique identifier, author/name:version@checksum. The author
// part may be missing in old identifiers; PluginID is then just the name.
type Identifier struct {
	Author, Name, Version, Checksum string
}

// identifierPattern is the reference daemon's grammar for unique identifiers.
var identifierPattern = regexp.MustCompile(`^(?:([a-z0-9_-]{1,64})/)?([a-z0-9_-]{1,255}):([0-9]{1,4}(?:\.[0-9]{1,4}){1,3}(?:-\w{1,16})?)@([a-f0-9]{32,64})$`)

// ParseIdentifier checks s against the reference's grammar.
func ParseIdentifier(s string) (Identifier, error) {
	m := identifierPattern.FindStringSubmatch(s)
	if m == nil {
		return Identifier{}, fmt.Errorf("%w: %q (want author/name:version@checksum)", ErrIdentifier, s)
	}
	return Identifier{Author: m[1], Name: m[2], Version: m[3], Checksum: m[4]}, nil
}

// PluginID is author/name, the key of an installation.
func (id Identifier) PluginID() string {
	if id.Author == "" {
		return id.Name
	}
	return id.Author + "/" + id.Name
}

func (id Identifier) String() string {
	return id.PluginID() + ":" + id.Version + "@" + id.Checksum
}

// dirName is the identifier as one path below the workspace: author/name-version@checksum.
func (id Identifier) dirName() string {
	author := id.Author
	if author == "" {
		author = "_"
	}
	return author + "/" + id.Name + "-" + id.Version + "@" + id.Checksum
}

// isUUID reports whether s looks like a UUID: the reference reserves such authors for plugins
// attached by remote debugging.
func isUUID(s string) bool {
	return len(s) == 36 && strings.Count(s, "-") == 4 && uuidChars.MatchString(s)
}

var uuidChars = regexp.MustCompile(`^[0-9a-fA-F-]{36}$`)

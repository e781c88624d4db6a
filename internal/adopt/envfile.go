package adopt

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ParseEnvFile reads the reference's settings as its deployments keep them: a .env file
// (docker compose's env_file, the reference's own .env) of KEY=VALUE lines. Blank lines and
// lines starting with # are skipped, an optional "export " prefix is allowed, a value may be
// quoted in single quotes (taken as is) or double quotes (Go escapes), and an unquoted value
// ends at " #". A line without "=" or with an invalid name is an error naming the line, since
// a silently dropped DB_HOST would point adopt at the wrong database.
func ParseEnvFile(data []byte, name string) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=VALUE", name, n, trunc(line))
		}
		if !validEnvName(key) {
			return nil, fmt.Errorf("%s:%d: %q is not a variable name (letters, digits and _, not starting with a digit)", name, n, trunc(key))
		}
		val = strings.TrimSpace(val)
		switch {
		case len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'':
			val = val[1 : len(val)-1]
		case len(val) >= 1 && val[0] == '"':
			s, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: value of %s: bad double-quoted string %s", name, n, key, trunc(val))
			}
			val = s
		default:
			if i := strings.Index(val, " #"); i >= 0 {
				val = strings.TrimSpace(val[:i])
			}
		}
		out[key] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

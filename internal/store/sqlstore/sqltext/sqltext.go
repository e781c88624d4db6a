// Package sqltext holds the text forms sqlstore exchanges with its databases: timestamps as
// SQLite stores them, PostgreSQL connection URLs, and placeholder rebinding. It is apart from
// sqlstore so that its parsers can be fuzzed without the SQLite engine in the binary (fuzzing
// instruments every package linked, and the engine's is too large to fuzz through).
package sqltext

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is how SQLite stores a timestamp: UTC, microseconds, fixed width, so that text
// order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime is t in TimeLayout.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a stored timestamp into UTC: ours is RFC 3339; the space-separated forms are
// what other SQLite writers (the driver's default among them) produce.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("stored timestamp %q is not RFC 3339", s)
}

// Rebind turns ? placeholders into PostgreSQL's $1, $2, ..., leaving quoted text alone.
func Rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

// PostgresDSN builds a postgres:// URL from separate settings; see sqlstore.PostgresDSN.
func PostgresDSN(host string, port int, user, password, database, sslMode, extras string) string {
	u := url.URL{Scheme: "postgres", Path: "/" + database}
	if user != "" {
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
	}
	q := url.Values{}
	switch {
	case strings.HasPrefix(host, "/"):
		q.Set("host", host)
		if port > 0 {
			q.Set("port", strconv.Itoa(port))
		}
	case port > 0:
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	case strings.Contains(host, ":"): // a bare IPv6 address
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	if sslMode != "" {
		q.Set("sslmode", sslMode)
	}
	if extras != "" {
		q.Set("options", extras)
	}
	// Spaces as %20: pgx does not read + as a space.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// Package egress is the one place that builds outbound HTTP clients for tools (OpenAPI tools,
// workflow apps, MCP servers, OAuth token endpoints). A tool's URL comes from whoever imported
// the tool, so without a guard any tenant could make plugd fetch its cloud metadata endpoint
// (169.254.169.254), its database on 10.x or its own admin port on 127.0.0.1 and read the
// answer back (server-side request forgery).
//
// Why the check is at dial time: checking a host name before the request is not enough, because
// the name can resolve to a public address when checked and to 127.0.0.1 when connected (DNS
// rebinding). Here the dialer resolves the name itself, refuses every blocked address, connects
// only to an address it has just checked, and checks the socket's remote address once more
// (net.Dialer.Control) before the connection is used. Redirects go through the same dialer and
// are checked again for scheme and literal addresses. Responses are capped: past the cap the
// body returns an error rather than a silently truncated answer.
package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// BlockedError is an address the guard refused to connect to.
type BlockedError struct {
	Host   string     // the host name or literal as asked for
	Addr   netip.Addr // the address refused
	Reason string     // "loopback", "private", "link-local (cloud metadata)", ...
}

func (e *BlockedError) Error() string {
	host := e.Host
	if host == "" || host == e.Addr.String() {
		return fmt.Sprintf("egress: refused to connect to %s: %s address (allow it with PLUGD_EGRESS_ALLOW)", e.Addr, e.Reason)
	}
	return fmt.Sprintf("egress: refused to connect to %s (resolves to %s): %s address (allow it with PLUGD_EGRESS_ALLOW)", host, e.Addr, e.Reason)
}

type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blocked lists the ranges no tool may reach unless allowed. IPv4-mapped, IPv4-compatible and
// NAT64 IPv6 forms are reduced to their IPv4 address before the check (see embeddedIPv4).
var blocked = func() []blockedRange {
	list := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified (\"this network\")"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"100.64.0.0/10", "carrier-grade NAT (RFC 6598)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (includes the cloud metadata endpoint 169.254.169.254)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignment"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved (includes broadcast)"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"fc00::/7", "unique local (private)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated private)"},
		{"ff00::/8", "multicast"},
		{"fd00:ec2::254/128", "cloud metadata (AWS IPv6)"},
	}
	out := make([]blockedRange, len(list))
	for i, r := range list {
		out[i] = blockedRange{netip.MustParsePrefix(r.cidr), r.reason}
	}
	return out
}()

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	compatV4   = netip.MustParsePrefix("::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 is the IPv4 address an IPv6 address carries in a form that reaches it
// (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d, 2002:aabb:ccdd::), so those forms cannot be
// used to slip a blocked IPv4 address past the list.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4In6() {
		return a.Unmap(), true
	}
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), nat64Local.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case compatV4.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// Classify says why a is refused, or "" when it is a public address.
func Classify(a netip.Addr) string {
	a = a.WithZone("")
	if v4, ok := embeddedIPv4(a); ok {
		if r := Classify(v4); r != "" {
			return r + " (in an IPv6 form)"
		}
		return ""
	}
	for _, r := range blocked {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// Allow is the operator's exceptions to the guard: address ranges and host names (exact, or
// "*.example.com" for every name under example.com).
type Allow struct {
	prefixes []netip.Prefix
	hosts    map[string]bool
	suffixes []string
}

// ParseAllow reads a comma- or space-separated list of CIDRs, single addresses and host names.
func ParseAllow(list string) (Allow, error) {
	var a Allow
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if p, err := netip.ParsePrefix(item); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(item); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if strings.Contains(item, "/") {
			return Allow{}, fmt.Errorf("egress allow-list entry %q: not a valid CIDR", item)
		}
		name := strings.ToLower(strings.TrimSuffix(item, "."))
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			if rest == "" || strings.Contains(rest, "*") {
				return Allow{}, fmt.Errorf("egress allow-list entry %q: a wildcard must be \"*.domain\"", item)
			}
			a.suffixes = append(a.suffixes, "."+rest)
			continue
		}
		if strings.ContainsAny(name, "*:") {
			return Allow{}, fmt.Errorf("egress allow-list entry %q: not a CIDR, an address or a host name", item)
		}
		if a.hosts == nil {
			a.hosts = map[string]bool{}
		}
		a.hosts[name] = true
	}
	return a, nil
}

func (a Allow) addr(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(ip) || (ip.Is4In6() && p.Contains(ip.Unmap())) {
			return true
		}
	}
	return false
}

func (a Allow) host(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if a.hosts[name] {
		return true
	}
	for _, s := range a.suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// check returns a *BlockedError when ip, reached as host, must not be connected to.
func (a Allow) check(host string, ip netip.Addr) error {
	reason := Classify(ip)
	if reason == "" || a.addr(ip) || (host != "" && a.host(host)) {
		return nil
	}
	return &BlockedError{Host: host, Addr: ip.WithZone(""), Reason: reason}
}

package wgconf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/homestaker/homestaker-boot/init/hostname"
)

const (
	minMTU     = 576 // the IPv4 minimum
	maxMTU     = 65535
	minIPv6MTU = 1280
)

// listItems splits an Address or DNS value as wg-quick does: at commas and
// white space, dropping empty items.
func listItems(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// parseIPOrPrefix reads a prefix (10.0.0.2/24) or a bare address, which
// stands for the single-address prefix (/32 or /128), as wg(8) reads it.
// Zones have no place in either.
func parseIPOrPrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p, err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// looksLikeIP is wg-quick's test that sends a DNS entry to nameserver
// rather than search: digits and dots only, or a colon anywhere.
func looksLikeIP(s string) bool {
	return strings.Contains(s, ":") || strings.Trim(s, "0123456789.") == ""
}

// validHostname is a DNS name (RFC 1123) whose last label is not digits
// only: such a name would be a mistyped IPv4 address that getaddrinfo
// might still accept (10.1).
func validHostname(s string) bool {
	if !hostname.IsDNSName(s) {
		return false
	}
	s = strings.TrimSuffix(s, ".")
	return strings.Trim(s[strings.LastIndex(s, ".")+1:], "0123456789") != ""
}

// validZone accepts no zone, or an interface name or index as the zone
// of a link-local address (fe80::1%eth0).
func validZone(z string) bool {
	return z == "" || len(z) <= 15 && strings.IndexFunc(z, func(r rune) bool { return !isNameChar(r) }) < 0
}

// parseFwMark reads off, a decimal number or 0x and hex, as wg(8) does.
func parseFwMark(v string) (uint32, bool) {
	if strings.EqualFold(v, "off") {
		return 0, true
	}
	base, digits := 10, v
	if len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
		base, digits = 16, v[2:]
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return uint32(n), err == nil
}

// parseTable reads wg-quick's Table: off, auto or a routing table number,
// returned as "off", "auto" or the number in decimal.
func parseTable(v string) (string, bool) {
	switch {
	case strings.EqualFold(v, "off"):
		return "off", true
	case strings.EqualFold(v, "auto"):
		return "auto", true
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}

// parseKeepalive reads PersistentKeepalive: off or seconds, 0 being off.
func parseKeepalive(v string) (int, bool) {
	if strings.EqualFold(v, "off") {
		return 0, true
	}
	n, err := strconv.ParseUint(v, 10, 16)
	return int(n), err == nil
}

// parseEndpoint reads host:port or [IPv6]:port. The host may be a name,
// which is checked for syntax only; IP literals are returned canonical.
func parseEndpoint(v string) (Endpoint, error) {
	var host, port string
	if rest, ok := strings.CutPrefix(v, "["); ok {
		h, after, ok := strings.Cut(rest, "]")
		if !ok {
			return Endpoint{}, fmt.Errorf("%s has no closing ']': expected [IPv6]:port", quote(v))
		}
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() {
			return Endpoint{}, fmt.Errorf("%s: only an IPv6 address goes in brackets (write host:port for a name or IPv4)", quote(v))
		}
		if !validZone(a.Zone()) {
			return Endpoint{}, fmt.Errorf("%s: the zone after '%%' must be an interface name", quote(v))
		}
		p, ok := strings.CutPrefix(after, ":")
		if !ok {
			return Endpoint{}, fmt.Errorf("%s has no port: expected [%s]:port", quote(v), a)
		}
		host, port = a.String(), p
	} else {
		i := strings.LastIndexByte(v, ':')
		if a, err := netip.ParseAddr(v); err == nil && a.Is6() {
			return Endpoint{}, fmt.Errorf("%s is an IPv6 address without a port: expected [%s]:port", quote(v), a)
		}
		if i < 0 {
			return Endpoint{}, fmt.Errorf("%s has no port: expected host:port, or [IPv6]:port", quote(v))
		}
		host, port = v[:i], v[i+1:]
		if strings.Contains(host, ":") {
			if a, err := netip.ParseAddr(host); err == nil {
				if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
					port = "port"
				}
				return Endpoint{}, fmt.Errorf("%s: an IPv6 address needs brackets: [%s]:%s", quote(v), a, port)
			}
			return Endpoint{}, fmt.Errorf("%s is not host:port or [IPv6]:port", quote(v))
		}
		if a, err := netip.ParseAddr(host); err == nil {
			host = a.String()
		} else if !validHostname(host) {
			return Endpoint{}, fmt.Errorf("%s: %s is neither an IPv4 address nor a valid hostname", quote(v), quote(host))
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return Endpoint{}, fmt.Errorf("%s: the port must be a number from 1 to 65535", quote(v))
	}
	return Endpoint{Host: host, Port: uint16(n)}, nil
}

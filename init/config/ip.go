package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/hostname"
)

// The ip= grammar is the kernel's (Documentation/admin-guide/nfs/nfsroot.rst)
// with dracut's extensions (dracut.cmdline(7)): IPv6 in brackets, methods
// dhcp6 and auto6, <device>:<method>[:[<mtu>][:<macaddr>]], and fields 8
// and 9 of the long form holding an MTU and a MAC address instead of DNS
// servers.

// ipError is a malformed ip= value; field 0 means the value as a whole.
type ipError struct {
	key    string // "" is ip; ifname and vlan share the shape
	value  string
	field  int
	name   string
	text   string
	reason string
}

func (e *ipError) Error() string {
	key := e.key
	if key == "" {
		key = "ip"
	}
	return fmt.Sprintf("%s=%q: %s", key, e.value, e.detail())
}

// detail is the error without the value, for a Problem (which prints it).
func (e *ipError) detail() string {
	if e.field == 0 {
		return e.reason
	}
	return fmt.Sprintf("field %d (%s) %q %s", e.field, e.name, e.text, e.reason)
}

var ipMethods = map[string]IPMode{
	"dhcp": IPDHCP, "on": IPDHCP, "any": IPDHCP,
	"off": IPOff, "none": IPOff,
	"dhcp6": IPDHCP6, "auto6": IPAuto6,
}

const maxDeviceName = 15 // IFNAMSIZ - 1

// ParseIP parses one ip= value.
func ParseIP(value string) (IPConfig, error) {
	c, e := parseIP(value)
	if e != nil {
		e.value = value
		return IPConfig{}, e
	}
	c.Raw = value
	return c, nil
}

func parseIP(value string) (IPConfig, *ipError) {
	if value == "" {
		return IPConfig{}, &ipError{reason: "empty; " + ipAccepted}
	}
	f, e := splitIPFields(value)
	if e != nil {
		return IPConfig{}, e
	}
	if len(f) == 1 {
		m, ok := ipMethods[value]
		if !ok {
			return IPConfig{}, &ipError{reason: fmt.Sprintf("%q is not a method; %s", value, ipAccepted)}
		}
		return IPConfig{Mode: m}, nil
	}
	if _, ok := ipMethods[f[1]]; ok {
		return parseIPDevice(f)
	}
	return parseIPLong(f)
}

// splitIPFields splits at ':' outside brackets; a bracketed field loses
// its brackets.
func splitIPFields(s string) ([]string, *ipError) {
	var f []string
	for {
		if rest, ok := strings.CutPrefix(s, "["); ok {
			inner, after, ok := strings.Cut(rest, "]")
			switch {
			case !ok:
				return nil, &ipError{field: len(f) + 1, name: "brackets", text: s, reason: "has '[' without ']'"}
			case after != "" && after[0] != ':':
				return nil, &ipError{field: len(f) + 1, name: "brackets", text: s, reason: "has text after ']' before the next ':'"}
			}
			f = append(f, inner)
			if after == "" {
				return f, nil
			}
			s = after[1:]
			continue
		}
		field, rest, ok := strings.Cut(s, ":")
		f = append(f, field)
		if !ok {
			return f, nil
		}
		s = rest
	}
}

// parseIPDevice parses <device>:<method>[:[<mtu>][:<macaddr>]], the MAC
// written either as one field or as six colon-separated octets.
func parseIPDevice(f []string) (IPConfig, *ipError) {
	c := IPConfig{Mode: ipMethods[f[1]]}
	var e *ipError
	if c.Device, e = ipDevice(1, f[0]); e != nil {
		return c, e
	}
	if len(f) >= 3 {
		if c.MTU, e = ipMTU(3, f[2]); e != nil {
			return c, e
		}
	}
	if len(f) >= 4 {
		if c.MAC, e = ipMAC(4, f[3:]); e != nil {
			return c, e
		}
	}
	return c, nil
}

// parseIPLong parses <client-ip>:[<server-ip>]:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>
// followed by the kernel's [:<dns0>[:<dns1>[:<ntp0>]]] or dracut's
// [:[<mtu>][:<macaddr>]]. Trailing fields may be left out.
func parseIPLong(f []string) (IPConfig, *ipError) {
	field := func(i int) string { // 1-based, "" when absent
		if i <= len(f) {
			return f[i-1]
		}
		return ""
	}
	var c IPConfig
	client, e := ipAddr(1, "client-ip", field(1))
	if e != nil {
		return c, e
	}
	if client.IsValid() && !isUnicast(client) {
		return c, &ipError{field: 1, name: "client-ip", text: field(1), reason: "is not a unicast address"}
	}
	if c.Server, e = ipAddr(2, "server-ip", field(2)); e != nil {
		return c, e
	}
	if c.Gateway, e = ipAddr(3, "gw-ip", field(3)); e != nil {
		return c, e
	}
	if c.Gateway.IsValid() {
		switch {
		case !isUnicast(c.Gateway):
			return c, &ipError{field: 3, name: "gw-ip", text: field(3), reason: "is not a unicast address"}
		case client.IsValid() && client.Is4() != c.Gateway.Is4():
			return c, &ipError{field: 3, name: "gw-ip", text: field(3), reason: "is not of the client address's family"}
		}
	}
	bits, e := ipNetmask(field(4), client)
	if e != nil {
		return c, e
	}
	if c.Hostname, e = ipHostname(field(5)); e != nil {
		return c, e
	}
	if c.Device, e = ipDevice(6, field(6)); e != nil {
		return c, e
	}
	auto := field(7)
	m, ok := ipMethods[auto]
	switch {
	case auto != "" && !ok:
		return c, &ipError{field: 7, name: "autoconf", text: auto, reason: "is not a method; accepted values are dhcp, on, any, off, none, dhcp6, auto6, or empty"}
	case client.IsValid() && (auto == "" || m == IPOff):
		c.Mode = IPStatic
		if bits < 0 {
			return c, &ipError{field: 4, name: "netmask", text: field(4), reason: "is empty; a static address needs a netmask or prefix length"}
		}
	case auto == "":
		c.Mode = IPDHCP // the kernel autoconfigures when no address is given
	default:
		c.Mode = m
	}
	if client.IsValid() {
		if bits < 0 {
			bits = client.BitLen() // a DHCP hint without a netmask: the host itself
		}
		c.Client = netip.PrefixFrom(client, bits)
	}
	if e = ipTail(&c, f); e != nil {
		return c, e
	}
	return c, nil
}

// ipTail parses fields 8 and on: the kernel's dns0, dns1, ntp0, or
// dracut's mtu and macaddr. A field 8 that is a bare number is an MTU, as
// in dracut; an empty one is the kernel's unless field 9 is a MAC address.
func ipTail(c *IPConfig, f []string) *ipError {
	if len(f) < 8 {
		return nil
	}
	f8 := f[7]
	mtuForm := isDigits(f8)
	if f8 == "" && len(f) >= 9 && f[8] != "" {
		if _, err := netip.ParseAddr(f[8]); err != nil {
			mtuForm = true
		}
	}
	if mtuForm {
		var e *ipError
		if f8 != "" {
			if c.MTU, e = ipMTU(8, f8); e != nil {
				return e
			}
		}
		if len(f) >= 9 {
			c.MAC, e = ipMAC(9, f[8:])
			if e != nil && f8 == "" && len(f) == 9 {
				e.name, e.reason = "dns1 or macaddr", "is neither an IP address nor a MAC address"
			}
		}
		return e
	}
	if len(f) > 10 {
		return &ipError{field: 11, name: "extra", text: f[10], reason: "is one field too many; after dns0, dns1 and ntp0 there is nothing"}
	}
	names := []string{"dns0", "dns1", "ntp0"}
	for i := 7; i < len(f); i++ {
		a, e := ipAddr(i+1, names[i-7], f[i])
		if e != nil {
			if i == 7 {
				e.name, e.reason = "dns0 or mtu", "is neither an IP address nor an MTU"
			}
			return e
		}
		if !a.IsValid() {
			continue
		}
		if i == 9 {
			c.NTP = a
		} else {
			c.DNS = append(c.DNS, a)
		}
	}
	return nil
}

// ipAddr parses an optional address field; 0.0.0.0 and :: mean unset, as
// in the kernel.
func ipAddr(n int, name, s string) (netip.Addr, *ipError) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return a, &ipError{field: n, name: name, text: s, reason: "is not an IP address (IPv6 goes in brackets)"}
	case a.Zone() != "":
		return a, &ipError{field: n, name: name, text: s, reason: "has a zone; the device field names the interface"}
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return netip.Addr{}, nil
	}
	return a, nil
}

func isUnicast(a netip.Addr) bool {
	return a.IsGlobalUnicast() || a.IsLinkLocalUnicast()
}

// ipNetmask returns the prefix length of field 4, or -1 when it is empty.
// Without a client address the family is unknown, so only the syntax is
// checked.
func ipNetmask(s string, client netip.Addr) (int, *ipError) {
	bad := func(reason string) (int, *ipError) {
		return 0, &ipError{field: 4, name: "netmask", text: s, reason: reason}
	}
	if s == "" {
		return -1, nil
	}
	maxBits := 128
	if client.IsValid() {
		maxBits = client.BitLen()
	}
	if isDigits(s) {
		n, ok := parseUint(s, maxBits)
		if !ok || n == 0 {
			return bad(fmt.Sprintf("is not a prefix length from 1 to %d", maxBits))
		}
		return n, nil
	}
	m, err := netip.ParseAddr(s)
	if err != nil || !m.Is4() {
		return bad("is not a dotted-quad netmask or a prefix length")
	}
	if client.IsValid() && !client.Is4() {
		return bad("is a dotted-quad netmask; an IPv6 address needs a prefix length")
	}
	b := m.As4()
	ones, bits := net.IPMask(b[:]).Size()
	if bits == 0 {
		return bad("is not a contiguous netmask")
	}
	if ones == 0 {
		return bad("is not a netmask: it has no network bits")
	}
	return ones, nil
}

func ipHostname(s string) (string, *ipError) {
	if r := hostname.CheckKernel(s); r != "" {
		return "", &ipError{field: 5, name: "hostname", text: s, reason: r}
	}
	return s, nil
}

func ipDevice(n int, s string) (string, *ipError) {
	bad := func(reason string) (string, *ipError) {
		return "", &ipError{field: n, name: "device", text: s, reason: reason}
	}
	switch {
	case s == "":
		return "", nil
	case len(s) > maxDeviceName:
		return bad("is longer than 15 bytes")
	case s == "." || s == ".." || strings.ContainsFunc(s, func(r rune) bool { return r == '/' || r == ':' || r <= ' ' || r == 0x7f }):
		return bad("is not an interface name")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return bad("is an address, not an interface name; a static address needs the long form <client-ip>::<gw-ip>:<netmask>:<hostname>:<device>:none")
	}
	return s, nil
}

func ipMTU(n int, s string) (int, *ipError) {
	if s == "" {
		return 0, nil
	}
	v, ok := parseUint(s, 65535)
	if !ok || v < 68 { // 68: the IPv4 minimum
		return 0, &ipError{field: n, name: "mtu", text: s, reason: "is not an MTU from 68 to 65535"}
	}
	return v, nil
}

// ipMAC parses a MAC address in one field (any net.ParseMAC form) or in
// six, as dracut splits aa:bb:cc:dd:ee:ff.
func ipMAC(n int, f []string) (net.HardwareAddr, *ipError) {
	s := strings.Join(f, ":")
	if len(f) == 1 && s == "" {
		return nil, nil
	}
	if len(f) != 1 && len(f) != 6 {
		return nil, &ipError{field: n, name: "macaddr", text: s, reason: "is not a MAC address (six octets)"}
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, &ipError{field: n, name: "macaddr", text: s, reason: "is not a MAC address (six octets)"}
	}
	return mac, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String renders c as an ip= value in the shortest form that ParseIP reads
// back (without the "ip=").
func (c IPConfig) String() string { return formatIP(c) }

// formatIP renders c in the shortest form that ParseIP reads back.
func formatIP(c IPConfig) string {
	long := c.Client.IsValid() || c.Server.IsValid() || c.Gateway.IsValid() ||
		c.Hostname != "" || len(c.DNS) > 0 || c.NTP.IsValid() || c.Mode == IPStatic
	if !long {
		word := c.Mode.String()
		if c.Device == "" && c.MTU == 0 && c.MAC == nil {
			return word
		}
		s := c.Device + ":" + word
		if c.MTU != 0 || c.MAC != nil {
			s += ":"
			if c.MTU != 0 {
				s += strconv.Itoa(c.MTU)
			}
		}
		if c.MAC != nil {
			s += ":" + strings.ReplaceAll(c.MAC.String(), ":", "-")
		}
		return s
	}
	addr := func(a netip.Addr) string {
		switch {
		case !a.IsValid():
			return ""
		case a.Is6():
			return "[" + a.String() + "]"
		}
		return a.String()
	}
	auto := c.Mode.String()
	if c.Mode == IPStatic {
		auto = "none"
	}
	mask := ""
	if c.Client.IsValid() && (c.Mode == IPStatic || c.Client.Bits() != c.Client.Addr().BitLen()) {
		mask = strconv.Itoa(c.Client.Bits())
		if c.Client.Addr().Is4() {
			// The kernel's own form for IPv4.
			mask = net.IP(net.CIDRMask(c.Client.Bits(), 32)).String()
		}
	}
	fields := []string{addr(c.Client.Addr()), addr(c.Server), addr(c.Gateway), mask, c.Hostname, c.Device, auto}
	switch {
	case len(c.DNS) > 0 || c.NTP.IsValid():
		// the kernel form; an MTU or MAC cannot go with it
		dns := []string{"", ""}
		for i, a := range c.DNS[:min(len(c.DNS), 2)] {
			dns[i] = addr(a)
		}
		fields = append(fields, dns...)
		if c.NTP.IsValid() {
			fields = append(fields, addr(c.NTP))
		}
	case c.MTU != 0 || c.MAC != nil:
		mtu := ""
		if c.MTU != 0 {
			mtu = strconv.Itoa(c.MTU)
		}
		fields = append(fields, mtu)
		if c.MAC != nil {
			fields = append(fields, strings.ReplaceAll(c.MAC.String(), ":", "-"))
		}
	}
	return strings.TrimRight(strings.Join(fields, ":"), ":")
}

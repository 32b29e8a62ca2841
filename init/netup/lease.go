package netup

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/hostname"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// lease is what a DHCPv4 acknowledgement tells the stage to configure.
type lease struct {
	Addr      netip.Prefix // our address with the subnet's prefix length
	Broadcast netip.Addr
	Router    netip.Addr // the first of option 3
	// Routes are option 121's classless static routes. When present they
	// replace the router option (RFC 3442).
	Routes   []route
	DNS      []netip.Addr
	Search   []string
	Hostname string
	MTU      int
	NTP      []netip.Addr
	Server   netip.Addr
	Time     time.Duration // the lease time; 0 when the server gave none
}

// route is one route to install on a link. An invalid Gw means on-link.
type route struct {
	Dst netip.Prefix
	Gw  netip.Addr
}

func (r route) String() string {
	if !r.Gw.IsValid() {
		return r.Dst.String() + " on-link"
	}
	return r.Dst.String() + " via " + r.Gw.String()
}

// leaseOptions are the options the client asks for beyond nclient4's
// subnet mask, router, domain name and DNS servers.
var leaseOptions = []dhcpv4.OptionCode{
	dhcpv4.OptionHostName,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionBroadcastAddress,
	dhcpv4.OptionNTPServers,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionClasslessStaticRoute,
}

// leaseFromACK reads an acknowledgement. Only what the address needs is
// an error; a malformed optional field is left out, since a home router's
// odd option must not keep the machine off the network.
func leaseFromACK(ack *dhcpv4.DHCPv4) (lease, error) {
	var l lease
	addr, ok := addr4(ack.YourIPAddr)
	if !ok || !addr.IsGlobalUnicast() && !addr.IsLinkLocalUnicast() {
		return l, fmt.Errorf("the server offered %v, not a unicast IPv4 address", ack.YourIPAddr)
	}
	bits := -1
	if m := ack.SubnetMask(); m != nil {
		ones, size := m.Size()
		if size != 32 || ones == 0 {
			return l, fmt.Errorf("the server sent the netmask %v for %s, which is not a contiguous IPv4 netmask", net.IP(m), addr)
		}
		bits = ones
	} else {
		bits = classfulBits(addr)
	}
	l.Addr = netip.PrefixFrom(addr, bits)
	if b, ok := addr4(ack.BroadcastAddress()); ok && l.Addr.Masked().Contains(b) {
		l.Broadcast = b
	}
	for _, r := range ack.Router() {
		if a, ok := addr4(r); ok && (a.IsGlobalUnicast() || a.IsLinkLocalUnicast()) {
			if a != addr {
				l.Router = a
				break
			}
		}
	}
	for _, r := range ack.ClasslessStaticRoute() {
		if r == nil || r.Dest == nil {
			continue
		}
		dst, ok := prefix4(r.Dest)
		if !ok {
			continue
		}
		gw, _ := addr4(r.Router) // 0.0.0.0: on-link
		if gw.IsUnspecified() {
			gw = netip.Addr{}
		}
		l.Routes = append(l.Routes, route{Dst: dst, Gw: gw})
	}
	l.DNS = addrs4(ack.DNS())
	l.NTP = addrs4(ack.NTPServers())
	if labels := ack.DomainSearch(); labels != nil {
		for _, d := range labels.Labels {
			if hostname.IsSearchDomain(d) {
				l.Search = append(l.Search, d)
			}
		}
	}
	if len(l.Search) == 0 {
		for _, d := range strings.Fields(ack.DomainName()) {
			if hostname.IsSearchDomain(d) {
				l.Search = append(l.Search, d)
			}
		}
	}
	// ip='s rule for the host name; IsSearchDomain also refuses "" and ".".
	if h := ack.HostName(); hostname.CheckKernel(h) == "" && hostname.IsSearchDomain(h) {
		l.Hostname = h
	}
	if b := ack.Options.Get(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		if mtu := int(binary.BigEndian.Uint16(b)); mtu >= 576 { // RFC 2132's minimum for this option
			l.MTU = mtu
		}
	}
	l.Server, _ = addr4(ack.ServerIdentifier())
	l.Time = ack.IPAddressLeaseTime(0)
	return l, nil
}

// routes are what the first lease installs: option 121's routes, or a
// default route via the router.
func (l lease) routes() []route {
	if len(l.Routes) == 0 {
		return routesVia(l.Addr, l.Router)
	}
	var out []route
	onLink := func(gw netip.Addr) bool {
		if l.Addr.Masked().Contains(gw) {
			return true
		}
		for _, r := range out {
			if !r.Gw.IsValid() && r.Dst.Contains(gw) {
				return true
			}
		}
		return false
	}
	// On-link routes first, so that gateways behind them are reachable
	// when the routes through them go in.
	for _, r := range l.Routes {
		if !r.Gw.IsValid() {
			out = append(out, r)
		}
	}
	for _, r := range l.Routes {
		if !r.Gw.IsValid() {
			continue
		}
		if !onLink(r.Gw) {
			out = append(out, route{Dst: netip.PrefixFrom(r.Gw, r.Gw.BitLen())})
		}
		out = append(out, r)
	}
	return out
}

// gateway is the default route's gateway among the lease's routes.
func (l lease) gateway() netip.Addr {
	for _, r := range l.routes() {
		if r.Dst.Bits() == 0 {
			return r.Gw
		}
	}
	return netip.Addr{}
}

// routesVia returns a default route via gw for an address in prefix p, with
// a host route to gw first when gw is outside p (as cloud providers' /32
// leases have it). No gateway, no routes.
func routesVia(p netip.Prefix, gw netip.Addr) []route {
	if !gw.IsValid() {
		return nil
	}
	def := route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gw: gw}
	if gw.Is6() {
		def.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if p.Masked().Contains(gw) {
		return []route{def}
	}
	return []route{{Dst: netip.PrefixFrom(gw, gw.BitLen())}, def}
}

// classfulBits is the prefix length of the address's class, for a lease
// without a netmask option (RFC 2131 leaves it to the client; dhclient
// does the same).
func classfulBits(a netip.Addr) int {
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	default:
		return 24
	}
}

func addr4(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	return a, a.Is4()
}

func addrs4(ips []net.IP) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		if a, ok := addr4(ip); ok && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			out = append(out, a)
		}
	}
	return out
}

func prefix4(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := addr4(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

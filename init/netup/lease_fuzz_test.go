package netup

import (
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzLeaseFromACK feeds DHCP acknowledgements as they come off the wire
// (a hostile LAN answers what it likes) and checks what the stage would
// configure from a lease it accepts: a unicast address, a router that is
// not that address, an MTU the option allows, and a host name and domains
// without spaces or control characters, which reach resolv.conf and the
// console.
func FuzzLeaseFromACK(f *testing.F) {
	seed := func(yiaddr string, opts ...dhcpv4.Option) {
		mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP(yiaddr))}
		for _, o := range opts {
			mods = append(mods, dhcpv4.WithOption(o))
		}
		m, err := dhcpv4.New(mods...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.ToBytes())
	}
	seed("10.0.2.15",
		dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
		dhcpv4.OptRouter(net.ParseIP("10.0.2.2")),
		dhcpv4.OptDNS(net.ParseIP("10.0.2.3")),
		dhcpv4.OptHostName("node1"),
		dhcpv4.OptDomainName("home.arpa lan"),
		dhcpv4.OptIPAddressLeaseTime(120e9),
		dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xdc}),
		dhcpv4.OptClasslessStaticRoute(&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(0, 0, 0, 0), Mask: net.CIDRMask(0, 32)}, Router: net.ParseIP("10.0.2.1")}),
	)
	seed("192.168.1.20", dhcpv4.OptHostName("evil\x1b[2Jname"), dhcpv4.OptSubnetMask(net.IPv4Mask(255, 0, 255, 0)))
	seed("0.0.0.0")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		l, err := leaseFromACK(m)
		if err != nil {
			return
		}
		a := l.Addr.Addr()
		if !a.Is4() || !(a.IsGlobalUnicast() || a.IsLinkLocalUnicast()) || l.Addr.Bits() <= 0 || l.Addr.Bits() > 32 {
			t.Fatalf("accepted the address %v", l.Addr)
		}
		if l.Router.IsValid() && l.Router == a {
			t.Fatalf("the router is our own address %v", a)
		}
		if l.MTU != 0 && l.MTU < 576 {
			t.Fatalf("accepted the MTU %d", l.MTU)
		}
		for _, s := range append([]string{l.Hostname}, l.Search...) {
			if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) || len(s) > 253 {
				t.Fatalf("accepted the name %q", s)
			}
		}
		for _, r := range l.routes() {
			if !r.Dst.IsValid() || !r.Dst.Addr().Is4() {
				t.Fatalf("a route to %v", r.Dst)
			}
		}
		_ = l.gateway()
	})
}

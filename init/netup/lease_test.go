package netup

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
)

// ack builds a server's acknowledgement as it arrives: encoded and parsed
// again.
func ack(t *testing.T, yiaddr string, opts ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck), dhcpv4.WithYourIP(net.ParseIP(yiaddr))}
	for _, o := range opts {
		mods = append(mods, dhcpv4.WithOption(o))
	}
	m, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	m, err = dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ips(s ...string) []net.IP {
	var out []net.IP
	for _, a := range s {
		out = append(out, net.ParseIP(a))
	}
	return out
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestLeaseFromACKSlirp(t *testing.T) {
	// What QEMU's user network answers.
	m := ack(t, "10.0.2.15",
		dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
		dhcpv4.OptRouter(ips("10.0.2.2")...),
		dhcpv4.OptDNS(ips("10.0.2.3")...),
		dhcpv4.OptServerIdentifier(net.ParseIP("10.0.2.2")),
		dhcpv4.OptIPAddressLeaseTime(24*time.Hour),
	)
	l, err := leaseFromACK(m)
	if err != nil {
		t.Fatal(err)
	}
	want := lease{
		Addr:   netip.MustParsePrefix("10.0.2.15/24"),
		Router: netip.MustParseAddr("10.0.2.2"),
		DNS:    addrs("10.0.2.3"),
		Server: netip.MustParseAddr("10.0.2.2"),
		Time:   24 * time.Hour,
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("lease\n %+v, want\n %+v", l, want)
	}
	if got := l.routes(); !reflect.DeepEqual(got, []route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: want.Router}}) {
		t.Errorf("routes %v", got)
	}
	if l.gateway() != want.Router {
		t.Errorf("gateway %v", l.gateway())
	}
}

func TestLeaseFromACKOptions(t *testing.T) {
	m := ack(t, "192.168.1.50",
		dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
		dhcpv4.OptRouter(ips("0.0.0.0", "192.168.1.1", "192.168.1.254")...),
		dhcpv4.OptDNS(ips("192.168.1.1", "224.0.0.1", "1.1.1.1")...),
		dhcpv4.OptNTPServers(ips("192.168.1.1")...),
		dhcpv4.OptBroadcastAddress(net.ParseIP("192.168.1.255")),
		dhcpv4.OptHostName("staker-1"),
		dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: []string{"home.arpa", "bad\nnameserver 6.6.6.6", "lan"}}),
		dhcpv4.OptDomainName("ignored.example"),
		dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0xdc}),
	)
	l, err := leaseFromACK(m)
	if err != nil {
		t.Fatal(err)
	}
	if l.Router != netip.MustParseAddr("192.168.1.1") {
		t.Errorf("router %v, want the first usable one", l.Router)
	}
	if !reflect.DeepEqual(l.DNS, addrs("192.168.1.1", "1.1.1.1")) {
		t.Errorf("DNS %v", l.DNS)
	}
	if !reflect.DeepEqual(l.NTP, addrs("192.168.1.1")) {
		t.Errorf("NTP %v", l.NTP)
	}
	if !reflect.DeepEqual(l.Search, []string{"home.arpa", "lan"}) {
		t.Errorf("search %q: a name with a newline must not reach resolv.conf", l.Search)
	}
	if l.Hostname != "staker-1" || l.MTU != 1500 || l.Broadcast != netip.MustParseAddr("192.168.1.255") {
		t.Errorf("hostname %q, MTU %d, broadcast %v", l.Hostname, l.MTU, l.Broadcast)
	}
}

func TestLeaseFromACKOddServers(t *testing.T) {
	tests := []struct {
		name  string
		m     *dhcpv4.DHCPv4
		check func(t *testing.T, l lease)
		err   string
	}{
		{name: "no netmask: classful", m: ack(t, "172.16.5.9"), check: func(t *testing.T, l lease) {
			if l.Addr != netip.MustParsePrefix("172.16.5.9/16") {
				t.Errorf("address %v", l.Addr)
			}
		}},
		{name: "no netmask, class A", m: ack(t, "10.1.2.3"), check: func(t *testing.T, l lease) {
			if l.Addr.Bits() != 8 {
				t.Errorf("address %v", l.Addr)
			}
		}},
		{name: "domain name without search list", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(8, 32)), dhcpv4.OptDomainName("fritz.box")), check: func(t *testing.T, l lease) {
			if !reflect.DeepEqual(l.Search, []string{"fritz.box"}) {
				t.Errorf("search %q", l.Search)
			}
		}},
		{name: "bad hostname, tiny MTU, broadcast elsewhere", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
			dhcpv4.OptHostName("a b;c"), dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0, 68}), dhcpv4.OptBroadcastAddress(net.ParseIP("10.9.9.255"))),
			check: func(t *testing.T, l lease) {
				if l.Hostname != "" || l.MTU != 0 || l.Broadcast.IsValid() {
					t.Errorf("hostname %q, MTU %d, broadcast %v: want them ignored", l.Hostname, l.MTU, l.Broadcast)
				}
			}},
		{name: "hostname and search domain with '_'", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
			dhcpv4.OptHostName("node_1"), dhcpv4.OptDomainName("lab_net.")),
			check: func(t *testing.T, l lease) {
				if l.Hostname != "node_1" || !reflect.DeepEqual(l.Search, []string{"lab_net."}) {
					t.Errorf("hostname %q, search %q: want both kept (the kernel's and resolv.conf's rules, not RFC 1123's)", l.Hostname, l.Search)
				}
			}},
		{name: "hostname \".\"", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)), dhcpv4.OptHostName(".")),
			check: func(t *testing.T, l lease) {
				if l.Hostname != "" {
					t.Errorf("hostname %q: want none", l.Hostname)
				}
			}},
		{name: "router is our own address", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)), dhcpv4.OptRouter(ips("10.0.0.2")...)), check: func(t *testing.T, l lease) {
			if l.Router.IsValid() || len(l.routes()) != 0 {
				t.Errorf("router %v, routes %v", l.Router, l.routes())
			}
		}},
		{name: "no address", m: ack(t, "0.0.0.0"), err: "not a unicast IPv4 address"},
		{name: "broadcast address", m: ack(t, "255.255.255.255"), err: "not a unicast IPv4 address"},
		{name: "non-contiguous netmask", m: ack(t, "10.0.0.2", dhcpv4.OptGeneric(dhcpv4.OptionSubnetMask, []byte{255, 0, 255, 0})), err: "not a contiguous IPv4 netmask"},
		{name: "zero netmask", m: ack(t, "10.0.0.2", dhcpv4.OptSubnetMask(net.CIDRMask(0, 32))), err: "not a contiguous IPv4 netmask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := leaseFromACK(tt.m)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, l)
		})
	}
}

func TestLeaseRoutes(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	cidr := func(s string) *net.IPNet { _, n, _ := net.ParseCIDR(s); return n }
	tests := []struct {
		name string
		m    *dhcpv4.DHCPv4
		want []route
		gw   netip.Addr
	}{
		{name: "a /32 with its router outside (cloud providers)",
			m:    ack(t, "203.0.113.7", dhcpv4.OptSubnetMask(net.CIDRMask(32, 32)), dhcpv4.OptRouter(ips("203.0.113.1")...)),
			want: []route{{Dst: p("203.0.113.1/32")}, {Dst: p("0.0.0.0/0"), Gw: a("203.0.113.1")}},
			gw:   a("203.0.113.1")},
		{name: "classless routes replace the router (RFC 3442)",
			m: ack(t, "192.168.1.50", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)), dhcpv4.OptRouter(ips("192.168.1.99")...),
				dhcpv4.OptClasslessStaticRoute(
					&dhcpv4.Route{Dest: cidr("10.8.0.0/16"), Router: net.ParseIP("10.99.0.1")},
					&dhcpv4.Route{Dest: cidr("0.0.0.0/0"), Router: net.ParseIP("192.168.1.1")},
					&dhcpv4.Route{Dest: cidr("10.99.0.0/24"), Router: net.ParseIP("0.0.0.0")},
				)),
			want: []route{
				{Dst: p("10.99.0.0/24")}, // on-link first
				{Dst: p("10.8.0.0/16"), Gw: a("10.99.0.1")},
				{Dst: p("0.0.0.0/0"), Gw: a("192.168.1.1")},
			},
			gw: a("192.168.1.1")},
		{name: "a classless gateway off every subnet gets a host route",
			m: ack(t, "192.168.1.50", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
				dhcpv4.OptClasslessStaticRoute(&dhcpv4.Route{Dest: cidr("0.0.0.0/0"), Router: net.ParseIP("172.16.0.1")})),
			want: []route{{Dst: p("172.16.0.1/32")}, {Dst: p("0.0.0.0/0"), Gw: a("172.16.0.1")}},
			gw:   a("172.16.0.1")},
		{name: "no router", m: ack(t, "192.168.1.50", dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := leaseFromACK(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.routes(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("routes %v, want %v", got, tt.want)
			}
			if l.gateway() != tt.gw {
				t.Errorf("gateway %v, want %v", l.gateway(), tt.gw)
			}
		})
	}
}

func TestRoutesVia(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	tests := []struct {
		prefix string
		gw     string
		want   []route
	}{
		{"192.168.1.10/24", "192.168.1.1", []route{{Dst: p("0.0.0.0/0"), Gw: a("192.168.1.1")}}},
		{"192.168.1.10/32", "192.168.1.1", []route{{Dst: p("192.168.1.1/32")}, {Dst: p("0.0.0.0/0"), Gw: a("192.168.1.1")}}},
		{"2001:db8::5/64", "2001:db8::1", []route{{Dst: p("::/0"), Gw: a("2001:db8::1")}}},
		{"2001:db8::5/64", "fe80::1", []route{{Dst: p("fe80::1/128")}, {Dst: p("::/0"), Gw: a("fe80::1")}}},
		{"192.168.1.10/24", "", nil},
	}
	for _, tt := range tests {
		var gw netip.Addr
		if tt.gw != "" {
			gw = a(tt.gw)
		}
		if got := routesVia(p(tt.prefix), gw); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("routesVia(%s, %s) = %v, want %v", tt.prefix, tt.gw, got, tt.want)
		}
	}
}

package config

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseIP(t *testing.T) {
	addr := netip.MustParseAddr
	pfx := netip.MustParsePrefix
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			panic(err)
		}
		return m
	}
	for _, tc := range []struct {
		in   string
		want IPConfig // Raw is filled in
	}{
		// Methods alone.
		{"dhcp", IPConfig{Mode: IPDHCP}},
		{"on", IPConfig{Mode: IPDHCP}},
		{"any", IPConfig{Mode: IPDHCP}},
		{"off", IPConfig{Mode: IPOff}},
		{"none", IPConfig{Mode: IPOff}},
		{"dhcp6", IPConfig{Mode: IPDHCP6}},
		{"auto6", IPConfig{Mode: IPAuto6}},
		// dracut's <device>:<method>[:[<mtu>][:<macaddr>]].
		{"eth0:dhcp", IPConfig{Mode: IPDHCP, Device: "eth0"}},
		{"enp1s0f0:on", IPConfig{Mode: IPDHCP, Device: "enp1s0f0"}},
		{"eth1:off", IPConfig{Mode: IPOff, Device: "eth1"}},
		{"eth1:none", IPConfig{Mode: IPOff, Device: "eth1"}},
		{"eth0:dhcp6", IPConfig{Mode: IPDHCP6, Device: "eth0"}},
		{"eth0:auto6", IPConfig{Mode: IPAuto6, Device: "eth0"}},
		{":dhcp", IPConfig{Mode: IPDHCP}},
		{"eth0:dhcp:9000", IPConfig{Mode: IPDHCP, Device: "eth0", MTU: 9000}},
		{"eth0:dhcp:", IPConfig{Mode: IPDHCP, Device: "eth0"}},
		{"eth0:dhcp:1500:52:54:00:12:34:56", IPConfig{Mode: IPDHCP, Device: "eth0", MTU: 1500, MAC: mac("52:54:00:12:34:56")}},
		{"eth0:dhcp::52-54-00-12-34-56", IPConfig{Mode: IPDHCP, Device: "eth0", MAC: mac("52:54:00:12:34:56")}},
		{"eth0:dhcp::[52:54:00:12:34:56]", IPConfig{Mode: IPDHCP, Device: "eth0", MAC: mac("52:54:00:12:34:56")}},
		{"eth0:dhcp:1500:5254.0012.3456", IPConfig{Mode: IPDHCP, Device: "eth0", MTU: 1500, MAC: mac("52:54:00:12:34:56")}},
		// The kernel's long form, IPv4 static.
		{"10.0.0.2::10.0.0.1:255.255.255.0:node1:eth0:none",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), Hostname: "node1"}},
		{"10.0.0.2:10.0.0.9:10.0.0.1:255.255.0.0::eth0:off",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/16"), Server: addr("10.0.0.9"), Gateway: addr("10.0.0.1")}},
		{"10.0.0.2::10.0.0.1:24", IPConfig{Mode: IPStatic, Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1")}},
		// The hostname field takes '_' (no RFC 1123 label rule) and 64 bytes.
		{"10.0.0.2::10.0.0.1:24:node_1.lan::none", IPConfig{Mode: IPStatic, Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), Hostname: "node_1.lan"}},
		{"10.0.0.2::10.0.0.1:24:" + strings.Repeat("h", 64) + "::none", IPConfig{Mode: IPStatic, Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), Hostname: strings.Repeat("h", 64)}},
		{"10.0.0.2:0.0.0.0:10.0.0.1:255.255.255.252:::", IPConfig{Mode: IPStatic, Client: pfx("10.0.0.2/30"), Gateway: addr("10.0.0.1")}},
		{"192.0.2.10:::32::eth0:", IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("192.0.2.10/32")}},
		{"[::ffff:10.0.0.2]::10.0.0.1:24::eth0:none", IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1")}},
		// Kernel dns0, dns1, ntp0.
		{"10.0.0.2::10.0.0.1:255.255.255.0::eth0:none:1.1.1.1:9.9.9.9:10.0.0.123",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"),
				DNS: []netip.Addr{addr("1.1.1.1"), addr("9.9.9.9")}, NTP: addr("10.0.0.123")}},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1.1.1.1",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), DNS: []netip.Addr{addr("1.1.1.1")}}},
		{"10.0.0.2::10.0.0.1:24::eth0:none::9.9.9.9",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), DNS: []netip.Addr{addr("9.9.9.9")}}},
		{"10.0.0.2::10.0.0.1:24::eth0:none:::10.0.0.123",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), NTP: addr("10.0.0.123")}},
		// dracut's mtu and macaddr in fields 8 and 9.
		{"10.0.0.2::10.0.0.1:24::eth0:none:9000",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), MTU: 9000}},
		{"10.0.0.2::10.0.0.1:24::eth0:none:9000:52:54:00:12:34:56",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), MTU: 9000, MAC: mac("52:54:00:12:34:56")}},
		{"10.0.0.2::10.0.0.1:24::eth0:none::52:54:00:12:34:56",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), MAC: mac("52:54:00:12:34:56")}},
		{"10.0.0.2::10.0.0.1:24::eth0:none::52-54-00-12-34-56",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("10.0.0.2/24"), Gateway: addr("10.0.0.1"), MAC: mac("52:54:00:12:34:56")}},
		// IPv6 static, dracut style.
		{"[2001:db8::2]::[2001:db8::1]:64::eth0:none",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("2001:db8::2/64"), Gateway: addr("2001:db8::1")}},
		{"[2001:db8::2]::[fe80::1]:64:node1:eth0:none:[2001:db8::53]:1.1.1.1",
			IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("2001:db8::2/64"), Gateway: addr("fe80::1"), Hostname: "node1",
				DNS: []netip.Addr{addr("2001:db8::53"), addr("1.1.1.1")}}},
		{"[2001:db8::2]:::128::eth0:none", IPConfig{Mode: IPStatic, Device: "eth0", Client: pfx("2001:db8::2/128")}},
		// Long form without a static address: autoconfiguration.
		{":::::eth0:dhcp", IPConfig{Mode: IPDHCP, Device: "eth0"}},
		{":::::eth0:", IPConfig{Mode: IPDHCP, Device: "eth0"}},
		{":::::eth0:off", IPConfig{Mode: IPOff, Device: "eth0"}},
		{"::::node1:eth0:dhcp6", IPConfig{Mode: IPDHCP6, Device: "eth0", Hostname: "node1"}},
		{":::::eth0:dhcp:1.1.1.1", IPConfig{Mode: IPDHCP, Device: "eth0", DNS: []netip.Addr{addr("1.1.1.1")}}},
		{"10.0.0.2:::::eth0:dhcp", IPConfig{Mode: IPDHCP, Device: "eth0", Client: pfx("10.0.0.2/32")}},
		{"10.0.0.2:::24::eth0:any", IPConfig{Mode: IPDHCP, Device: "eth0", Client: pfx("10.0.0.2/24")}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIP(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = tc.in
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			// formatIP gives a value that says the same.
			again, err := ParseIP(formatIP(got))
			if err != nil {
				t.Fatalf("formatIP = %q: %v", formatIP(got), err)
			}
			again.Raw = got.Raw
			if !reflect.DeepEqual(again, got) {
				t.Errorf("formatIP = %q parses to %+v", formatIP(got), again)
			}
		})
	}
}

func TestParseIPErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the error after `ip="in": `
	}{
		{"", "empty; accepted values are"},
		{"dhcpp", `"dhcpp" is not a method; accepted values are dhcp, on, any, off, none, dhcp6, auto6,`},
		{"bootp", `"bootp" is not a method`},
		{"10.0.0.2", `"10.0.0.2" is not a method`},
		{"[2001:db8::2", `field 1 (brackets) "[2001:db8::2" has '[' without ']'`},
		{"[2001:db8::2]x::", `field 1 (brackets) "[2001:db8::2]x::" has text after ']'`},
		{"10.0.0.2::[2001:db8::1:64", `field 3 (brackets) "[2001:db8::1:64" has '[' without ']'`},
		// field 1: client-ip
		{"eth0:::::eth0:none", `field 1 (client-ip) "eth0" is not an IP address`},
		{"2001:db8::2::::eth0:none", `field 1 (client-ip) "2001" is not an IP address`},
		{"224.0.0.1:::24::eth0:none", `field 1 (client-ip) "224.0.0.1" is not a unicast address`},
		{"127.0.0.1:::8::lo:none", `field 1 (client-ip) "127.0.0.1" is not a unicast address`},
		{"[fe80::2%eth0]:::64::eth0:none", `field 1 (client-ip) "fe80::2%eth0" has a zone`},
		// field 2: server-ip
		{"10.0.0.2:server:10.0.0.1:24::eth0:none", `field 2 (server-ip) "server" is not an IP address`},
		// field 3: gw-ip
		{"10.0.0.2::10.0.0:24::eth0:none", `field 3 (gw-ip) "10.0.0" is not an IP address`},
		{"10.0.0.2::[2001:db8::1]:24::eth0:none", `field 3 (gw-ip) "2001:db8::1" is not of the client address's family`},
		{"[2001:db8::2]::10.0.0.1:64::eth0:none", `field 3 (gw-ip) "10.0.0.1" is not of the client address's family`},
		{"10.0.0.2::255.255.255.255:24::eth0:none", `field 3 (gw-ip) "255.255.255.255" is not a unicast address`},
		// field 4: netmask
		{"10.0.0.2::10.0.0.1:255.0.255.0::eth0:none", `field 4 (netmask) "255.0.255.0" is not a contiguous netmask`},
		{"10.0.0.2::10.0.0.1:0.0.0.0::eth0:none", `field 4 (netmask) "0.0.0.0" is not a netmask: it has no network bits`},
		{"10.0.0.2::10.0.0.1:33::eth0:none", `field 4 (netmask) "33" is not a prefix length from 1 to 32`},
		{"10.0.0.2::10.0.0.1:0::eth0:none", `field 4 (netmask) "0" is not a prefix length from 1 to 32`},
		{"10.0.0.2::10.0.0.1:/24::eth0:none", `field 4 (netmask) "/24" is not a dotted-quad netmask or a prefix length`},
		{"[2001:db8::2]:::255.255.255.0::eth0:none", `field 4 (netmask) "255.255.255.0" is a dotted-quad netmask; an IPv6 address needs a prefix length`},
		{"[2001:db8::2]:::129::eth0:none", `field 4 (netmask) "129" is not a prefix length from 1 to 128`},
		{"10.0.0.2::10.0.0.1:::eth0:none", `field 4 (netmask) "" is empty; a static address needs a netmask or prefix length`},
		// field 5: hostname
		{"10.0.0.2::10.0.0.1:24:my_node!::none", `field 5 (hostname) "my_node!" may hold only letters, digits`},
		{"10.0.0.2::10.0.0.1:24:" + strings.Repeat("h", 65) + "::none", `field 5 (hostname) "` + strings.Repeat("h", 65) + `" is longer than 64 bytes`},
		// field 6: device
		{"10.0.0.2::10.0.0.1:24::a-very-long-name0:none", `field 6 (device) "a-very-long-name0" is longer than 15 bytes`},
		{"10.0.0.2::10.0.0.1:24::eth/0:none", `field 6 (device) "eth/0" is not an interface name`},
		{"10.0.0.2::10.0.0.1:24::..:none", `field 6 (device) ".." is not an interface name`},
		// field 7: autoconf
		{"10.0.0.2::10.0.0.1:24::eth0:static", `field 7 (autoconf) "static" is not a method`},
		{"10.0.0.2::10.0.0.1:24::eth0:bootp", `field 7 (autoconf) "bootp" is not a method`},
		// fields 8-10: dns0/mtu, dns1/macaddr, ntp0
		{"10.0.0.2::10.0.0.1:24::eth0:none:dns.example", `field 8 (dns0 or mtu) "dns.example" is neither an IP address nor an MTU`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:70000", `field 8 (mtu) "70000" is not an MTU from 68 to 65535`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:20", `field 8 (mtu) "20" is not an MTU from 68 to 65535`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1.1.1.1:9.9.9", `field 9 (dns1) "9.9.9" is not an IP address`},
		{"10.0.0.2::10.0.0.1:24::eth0:none::dns2", `field 9 (dns1 or macaddr) "dns2" is neither an IP address nor a MAC address`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1500:52:54:00", `field 9 (macaddr) "52:54:00" is not a MAC address`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1500:zz-54-00-12-34-56", `field 9 (macaddr) "zz-54-00-12-34-56" is not a MAC address`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1.1.1.1:9.9.9.9:ntp", `field 10 (ntp0) "ntp" is not an IP address`},
		{"10.0.0.2::10.0.0.1:24::eth0:none:1.1.1.1:9.9.9.9:10.0.0.1:x", `field 11 (extra) "x" is one field too many`},
		// device form
		{"eth0/1:dhcp", `field 1 (device) "eth0/1" is not an interface name`},
		{"10.0.0.2:dhcp", `field 1 (device) "10.0.0.2" is an address, not an interface name`},
		{"eth0:dhcp:jumbo", `field 3 (mtu) "jumbo" is not an MTU from 68 to 65535`},
		{"eth0:dhcp:1500:52:54", `field 4 (macaddr) "52:54" is not a MAC address`},
		{"eth0:dhcp:1500:00:11:22:33:44:55:66:77", `field 4 (macaddr) "00:11:22:33:44:55:66:77" is not a MAC address`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseIP(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := fmt.Sprintf("ip=%q: ", tc.in)
			if !strings.HasPrefix(err.Error(), prefix+tc.want) {
				t.Errorf("error\n%s\nwant it to start with\n%s%s", err, prefix, tc.want)
			}
		})
	}
}

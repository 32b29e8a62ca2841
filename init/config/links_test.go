package config

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestParseIfName(t *testing.T) {
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			panic(err)
		}
		return m
	}
	for _, tc := range []struct {
		in   string
		want IfName
	}{
		{"lan0:52:54:00:12:34:56", IfName{Name: "lan0", MAC: mac("52:54:00:12:34:56")}},
		{"bootnet:52:54:00:AB:CD:EF", IfName{Name: "bootnet", MAC: mac("52:54:00:ab:cd:ef")}},
		{"lan0:52-54-00-12-34-56", IfName{Name: "lan0", MAC: mac("52:54:00:12:34:56")}},
		{"lan0:5254.0012.3456", IfName{Name: "lan0", MAC: mac("52:54:00:12:34:56")}},
		{"eth0:52:54:00:12:34:56", IfName{Name: "eth0", MAC: mac("52:54:00:12:34:56")}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIfName(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := ParseIfName(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("String = %q parses to %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseIfNameErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the error after `ifname="in": `
	}{
		{"", "is not <name>:<MAC>"},
		{"lan0", "is not <name>:<MAC>; e.g. ifname=lan0:52:54:00:12:34:56"},
		{":52:54:00:12:34:56", `field 1 (name) "" is empty; name the interface`},
		{"a-very-long-name0:52:54:00:12:34:56", `field 1 (name) "a-very-long-name0" is longer than 15 bytes`},
		{"lan/0:52:54:00:12:34:56", `field 1 (name) "lan/0" is not an interface name`},
		{"lan0:52:54:00:12:34", `field 2 (MAC) "52:54:00:12:34" is not a MAC address (six octets`},
		{"lan0:", `field 2 (MAC) "" is not a MAC address`},
		{"lan0:00:00:00:00:fe:80:00:00:00:00:00:00:00:00:00:00:00:00:00:01", `field 2 (MAC)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseIfName(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := fmt.Sprintf("ifname=%q: ", tc.in)
			if !strings.HasPrefix(err.Error(), prefix+tc.want) {
				t.Errorf("error\n%s\nwant it to start with\n%s%s", err, prefix, tc.want)
			}
		})
	}
}

func TestParseVLAN(t *testing.T) {
	// dracut's four name styles, and a custom prefix before the dot.
	for _, tc := range []struct {
		in   string
		want VLAN
	}{
		{"vlan0005:eth0", VLAN{Name: "vlan0005", Parent: "eth0", ID: 5}},
		{"vlan5:eth0", VLAN{Name: "vlan5", Parent: "eth0", ID: 5}},
		{"eth0.0005:eth0", VLAN{Name: "eth0.0005", Parent: "eth0", ID: 5}},
		{"eth0.5:eth0", VLAN{Name: "eth0.5", Parent: "eth0", ID: 5}},
		{"lan.4094:enp1s0", VLAN{Name: "lan.4094", Parent: "enp1s0", ID: 4094}},
		{"vlan1:lan0", VLAN{Name: "vlan1", Parent: "lan0", ID: 1}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVLAN(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String = %q, want %q", got.String(), tc.in)
			}
		})
	}
}

func TestParseVLANErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the error after `vlan="in": `
	}{
		{"", "is not <name>:<parent>"},
		{"vlan5", "is not <name>:<parent>; e.g. vlan=vlan5:eth0"},
		{":eth0", `field 1 (name) "" is empty; e.g. vlan=vlan5:eth0`},
		{"vlan5:", `field 2 (parent) "" is empty; name the interface the VLAN runs on, e.g. vlan=vlan5:eth0`},
		{"lan:eth0", `field 1 (name) "lan" holds no VLAN id; name it vlan<id> or <parent>.<id>`},
		{"vlan:eth0", `field 1 (name) "vlan" holds no VLAN id`},
		{"eth0.:eth0", `field 1 (name) "eth0." holds no VLAN id`},
		{"vlan5x:eth0", `field 1 (name) "vlan5x" holds no VLAN id`},
		{"vlan0:eth0", `field 1 (name) "vlan0" has the VLAN id 0; a VLAN id is from 1 to 4094`},
		{"eth0.4095:eth0", `field 1 (name) "eth0.4095" has the VLAN id 4095; a VLAN id is from 1 to 4094`},
		{"vlan99999999999999999999:eth0", `field 1 (name) "vlan99999999999999999999" is longer than 15 bytes`},
		{"v.99999999999:eth0", `field 1 (name) "v.99999999999" has the VLAN id 99999999999; a VLAN id is from 1 to 4094`},
		{"eth0.5:eth0/1", `field 2 (parent) "eth0/1" is not an interface name`},
		{"eth0.5:eth0.5", `field 1 (name) "eth0.5" is the parent's name`},
		{"vlan5:eth0:x", `field 2 (parent) "eth0:x" is not an interface name`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseVLAN(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			prefix := fmt.Sprintf("vlan=%q: ", tc.in)
			if !strings.HasPrefix(err.Error(), prefix+tc.want) {
				t.Errorf("error\n%s\nwant it to start with\n%s%s", err, prefix, tc.want)
			}
		})
	}
}

// On the command line: each ifname= and vlan= adds one, a repeated name,
// MAC or VLAN is a problem quoting the value, and Encode writes them back.
func TestParseLinks(t *testing.T) {
	c, probs := Parse("ifname=lan0:52:54:00:12:34:56 ifname=lan1:52:54:00:12:34:57 vlan=vlan5:lan0 vlan=lan0.7:lan0 ip=vlan5:dhcp", Defaults())
	if len(probs) != 0 {
		t.Fatal(probs)
	}
	if len(c.IfNames) != 2 || c.IfNames[1].Name != "lan1" || len(c.VLANs) != 2 || c.VLANs[1] != (VLAN{Name: "lan0.7", Parent: "lan0", ID: 7}) {
		t.Fatalf("config %+v %+v", c.IfNames, c.VLANs)
	}
	if got, want := Encode(c), "ip=vlan5:dhcp ifname=lan0:52:54:00:12:34:56 ifname=lan1:52:54:00:12:34:57 vlan=vlan5:lan0 vlan=lan0.7:lan0"; got != want {
		t.Errorf("Encode = %q, want %q", got, want)
	}
	for _, tc := range []struct{ cmdline, key, want string }{
		{"ifname=lan0:52:54:00:12:34:56 ifname=lan0:52:54:00:12:34:57", "ifname", "names lan0 again: ifname=lan0:52:54:00:12:34:56 gave that name to another NIC"},
		{"ifname=lan0:52:54:00:12:34:56 ifname=lan1:52-54-00-12-34-56", "ifname", "renames 52:54:00:12:34:56 again"},
		{"vlan=vlan5:eth0 vlan=vlan5:eth1", "vlan", "makes vlan5 again"},
		{"vlan=vlan5:eth0 vlan=eth0.5:eth0", "vlan", "makes VLAN 5 on eth0 again"},
		{"vlan=vlan5:eth0 vlan=vlan5.6:vlan5", "vlan", "puts a VLAN on the VLAN vlan5; 802.1ad (QinQ) is not supported"},
		{"ifname", "ifname", "needs a value"},
		{"vlan", "vlan", "needs a value"},
		{"vlan=foo:eth0", "vlan", `vlan="foo:eth0": field 1 (name) "foo" holds no VLAN id`},
	} {
		_, probs := Parse(tc.cmdline, Defaults())
		if len(probs) != 1 || probs[0].Key != tc.key || probs[0].Unknown || !strings.Contains(probs[0].Error(), tc.want) {
			t.Errorf("%s: problems %v, want one for %s with %q", tc.cmdline, probs, tc.key, tc.want)
		}
	}
}

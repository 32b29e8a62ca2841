package netup

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
)

func TestListInterfaces(t *testing.T) {
	dir := t.TempDir()
	// sysfs: a physical NIC's entry links to its device; virtual ones
	// (lo, bridges, wg, veth) have none.
	pci := filepath.Join(dir, "devices", "pci0000:00", "0000:00:03.0")
	if err := os.MkdirAll(pci, 0o755); err != nil {
		t.Fatal(err)
	}
	class := filepath.Join(dir, "class", "net")
	for _, n := range []string{"lo", "eth1", "eth0", "br0", "wg0", "enp3s0"} {
		if err := os.MkdirAll(filepath.Join(class, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"eth0", "eth1", "enp3s0"} {
		if err := os.Symlink(pci, filepath.Join(class, n, "device")); err != nil {
			t.Fatal(err)
		}
	}
	// A dangling device link is not a device.
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(class, "br0", "device")); err != nil {
		t.Fatal(err)
	}
	got, err := listInterfaces(class)
	if err != nil {
		t.Fatal(err)
	}
	want := []iface{{"br0", false}, {"enp3s0", true}, {"eth0", true}, {"eth1", true}, {"wg0", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := listInterfaces(filepath.Join(dir, "nothing")); err == nil {
		t.Error("a missing directory gave no error")
	}
}

func mustIP(t *testing.T, s string) config.IPConfig {
	t.Helper()
	c, err := config.ParseIP(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChooseLinks(t *testing.T) {
	two := []iface{{"bond0", false}, {"eth0", true}, {"eth1", true}, {"wg0", false}}
	one := []iface{{"eth0", true}, {"veth1", false}}
	type plan struct{ Name, Method string }
	tests := []struct {
		name    string
		ip      []string
		ifaces  []iface
		want    []plan
		named   []string // names with Named set
		fail    string   // substring of the failure's Expected+Found+Action
		missing bool
	}{
		{name: "dhcp on every NIC, virtual ones skipped", ip: []string{"dhcp"}, ifaces: two,
			want: []plan{{"eth0", "dhcp"}, {"eth1", "dhcp"}}},
		{name: "dhcp on a named NIC only", ip: []string{"eth1:dhcp"}, ifaces: two,
			want: []plan{{"eth1", "dhcp"}}, named: []string{"eth1"}},
		{name: "a bond named by the command line", ip: []string{"bond0:dhcp"}, ifaces: two,
			want: []plan{{"bond0", "dhcp"}}, named: []string{"bond0"}},
		{name: "a veth named by the command line", ip: []string{"veth1:dhcp:1400"}, ifaces: one,
			want: []plan{{"veth1", "dhcp"}}, named: []string{"veth1"}},
		{name: "static without a device, one NIC", ip: []string{"192.168.1.10::192.168.1.1:255.255.255.0:::none"}, ifaces: one,
			want: []plan{{"eth0", "static"}}, named: []string{"eth0"}},
		{name: "static without a device, two NICs", ip: []string{"192.168.1.10::192.168.1.1:24:::none"}, ifaces: two,
			fail: "2 NICs: eth0, eth1; name the device in the sixth field: ip=192.168.1.10::192.168.1.1:24::eth0:none"},
		{name: "static IPv6 without a device, two NICs", ip: []string{"[2001:db8::5]::[2001:db8::1]:64:box::none"}, ifaces: two,
			fail: "ip=[2001:db8::5]::[2001:db8::1]:64:box:eth0:none"},
		{name: "static on eth1, dhcp on the rest", ip: []string{"dhcp", "10.0.0.5::10.0.0.1:24::eth1:none"}, ifaces: two,
			want: []plan{{"eth0", "dhcp"}, {"eth1", "static"}}, named: []string{"eth1"}},
		{name: "one NIC off, dhcp on the rest", ip: []string{"dhcp", "eth0:off"}, ifaces: two,
			want: []plan{{"eth0", "off"}, {"eth1", "dhcp"}}, named: []string{"eth0"}},
		{name: "named device not there yet", ip: []string{"eth5:dhcp"}, ifaces: two,
			fail: "the network interface eth5 named by ip=eth5:dhcp; no interface eth5; present: bond0, eth0, eth1, wg0", missing: true},
		{name: "no NIC at all", ip: []string{"dhcp"}, ifaces: nil,
			fail: "no network interface besides lo", missing: true},
		{name: "only virtual interfaces", ip: []string{"dhcp"}, ifaces: []iface{{"wg0", false}},
			fail: "no physical network interface; virtual ones skipped: wg0", missing: true},
		{name: "static without a device and no NIC", ip: []string{"192.168.1.10::192.168.1.1:24:::none"}, ifaces: nil,
			fail: "no network interface", missing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ips []config.IPConfig
			for _, s := range tt.ip {
				ips = append(ips, mustIP(t, s))
			}
			plans, f, missing := chooseLinks(ips, tt.ifaces)
			if missing != tt.missing {
				t.Errorf("missing = %v, want %v", missing, tt.missing)
			}
			if tt.fail != "" {
				if f == nil {
					t.Fatalf("no failure, plans %+v", plans)
				}
				if all := f.Expected + "; " + f.Found + "; " + f.Action; !strings.Contains(all, tt.fail) {
					t.Fatalf("failure %q, want it to contain %q", all, tt.fail)
				}
				return
			}
			if f != nil {
				t.Fatalf("unexpected failure %v", f)
			}
			var got []plan
			var named []string
			for _, p := range plans {
				got = append(got, plan{p.Name, p.Method})
				if p.Named {
					named = append(named, p.Name)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plans %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(named, tt.named) {
				t.Errorf("named %v, want %v", named, tt.named)
			}
		})
	}
}

func TestChooseLinksKeepsTheEntry(t *testing.T) {
	plans, f, _ := chooseLinks([]config.IPConfig{mustIP(t, "10.0.0.5::10.0.0.1:255.255.255.0:box:eth0:none:10.0.0.53")}, []iface{{"eth0", true}})
	if f != nil || len(plans) != 1 {
		t.Fatalf("plans %v, failure %v", plans, f)
	}
	ip := plans[0].IP
	if ip.Client != netip.MustParsePrefix("10.0.0.5/24") || ip.Gateway != netip.MustParseAddr("10.0.0.1") || ip.Hostname != "box" || len(ip.DNS) != 1 {
		t.Errorf("entry %+v", ip)
	}
}

func TestOffEverywhere(t *testing.T) {
	tests := []struct {
		ip   []string
		want bool
	}{
		{[]string{"off"}, true},
		{[]string{"none"}, true},
		{[]string{"dhcp"}, false},
		{[]string{"eth0:off"}, false},
	}
	for _, tt := range tests {
		var ips []config.IPConfig
		for _, s := range tt.ip {
			ips = append(ips, mustIP(t, s))
		}
		if got := offEverywhere(ips); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.ip, got, tt.want)
		}
	}
}

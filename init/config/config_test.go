package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	want := Config{
		Label:   "homestaker",
		Mnt:     "/mnt",
		Subvols: []string{"secrets", "erigon", "lighthouse"},
		IP:      []IPConfig{{Mode: IPDHCP, Raw: "dhcp"}},
		WG:      WGRequired,
		Next: []Source{
			{Kind: SourceVolume, Path: "/boot/current", Raw: "volume:/boot/current"},
			{Kind: SourceVolume, Path: "/boot/previous", Raw: "volume:/boot/previous"},
		},
		Verify:       VerifyAuto,
		Handover:     HandoverKexec,
		OnFail:       OnFail{Action: OnFailShell},
		Timeouts:     Timeouts{Net: 30 * time.Second, WG: 20 * time.Second, Disk: 15 * time.Second, Secrets: 30 * time.Second},
		Rescue:       RescueAuto,
		RescuePort:   22,
		Tries:        3,
		SnapshotKeep: 3,
	}
	if got := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults() = %+v\nwant %+v", got, want)
	}
	// An empty or kernel-only command line changes nothing.
	for _, cmdline := range []string{"", "BOOT_IMAGE=/vmlinuz ro quiet init=/init rd.foo=1 nfsroot=x"} {
		got, probs := Parse(cmdline, Defaults())
		if len(probs) != 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, %v; want the defaults", cmdline, got, probs)
		}
	}
	if s := Encode(Defaults()); s != "" {
		t.Errorf("Encode(Defaults()) = %q, want empty", s)
	}
}

// TestParseGood applies each parameter with good values to the defaults.
func TestParseGood(t *testing.T) {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	for _, tc := range []struct {
		cmdline string
		edit    func(c *Config)
	}{
		{"homestaker.label=node1", func(c *Config) { c.Label, c.LabelSet = "node1", true }},
		{"homestaker.label=homestaker", func(c *Config) { c.LabelSet = true }},
		{`homestaker.label="my disk"`, func(c *Config) { c.Label, c.LabelSet = "my disk", true }},
		{"homestaker.label=" + strings.Repeat("x", 255), func(c *Config) { c.Label, c.LabelSet = strings.Repeat("x", 255), true }},
		{"homestaker.mnt=/var/mnt", func(c *Config) { c.Mnt = "/var/mnt" }},
		{"homestaker.subvols=secrets,erigon,lighthouse,addons", func(c *Config) { c.Subvols = []string{"secrets", "erigon", "lighthouse", "addons"} }},
		{"homestaker.subvols=keys", func(c *Config) { c.Subvols = []string{"keys"} }},
		{"homestaker.wg=optional", func(c *Config) { c.WG = WGOptional }},
		{"homestaker.wg=off", func(c *Config) { c.WG = WGOff }},
		{"homestaker.wg=required", func(c *Config) {}},
		{"homestaker.next=volume:/boot/test", func(c *Config) {
			c.Next = []Source{{Kind: SourceVolume, Path: "/boot/test", Raw: "volume:/boot/test"}}
		}},
		{"homestaker.next=volume:/boot/x/../current/", func(c *Config) {
			c.Next = []Source{{Kind: SourceVolume, Path: "/boot/current", Raw: "volume:/boot/x/../current/"}}
		}},
		{"homestaker.next=https://boot.example:8443/node1/,initramfs:/next,http://10.0.2.2/x", func(c *Config) {
			c.Next = []Source{
				{Kind: SourceHTTP, URL: "https://boot.example:8443/node1/", Raw: "https://boot.example:8443/node1/"},
				{Kind: SourceInitramfs, Path: "/next", Raw: "initramfs:/next"},
				{Kind: SourceHTTP, URL: "http://10.0.2.2/x", Raw: "http://10.0.2.2/x"},
			}
		}},
		{"homestaker.next=HTTPS://[2001:db8::1]/d", func(c *Config) {
			c.Next = []Source{{Kind: SourceHTTP, URL: "HTTPS://[2001:db8::1]/d", Raw: "HTTPS://[2001:db8::1]/d"}}
		}},
		{"homestaker.verify=signature", func(c *Config) { c.Verify = VerifySignature }},
		{"homestaker.verify=checksum", func(c *Config) { c.Verify = VerifyChecksum }},
		{"homestaker.verify=off", func(c *Config) { c.Verify = VerifyOff }},
		{"homestaker.verify=auto", func(c *Config) {}},
		{"homestaker.handover=switchroot", func(c *Config) { c.Handover = HandoverSwitchRoot }},
		{"homestaker.handover=kexec", func(c *Config) {}},
		{"homestaker.onfail=shell", func(c *Config) {}},
		{"homestaker.onfail=reboot", func(c *Config) { c.OnFail = OnFail{OnFailReboot, 30 * time.Second} }},
		{"homestaker.onfail=reboot:0", func(c *Config) { c.OnFail = OnFail{OnFailReboot, 0} }},
		{"homestaker.onfail=reboot:86400", func(c *Config) { c.OnFail = OnFail{OnFailReboot, sec(86400)} }},
		{"homestaker.onfail=poweroff", func(c *Config) { c.OnFail = OnFail{Action: OnFailPoweroff} }},
		{"homestaker.break=early", func(c *Config) { c.Break = "early" }},
		{"homestaker.break=handover", func(c *Config) { c.Break = "handover" }},
		{"homestaker.break=wireguard", func(c *Config) { c.Break = "wireguard" }},
		{"homestaker.degraded=ok", func(c *Config) { c.Degraded = true }},
		{"homestaker.degraded=ok homestaker.degraded=no", func(c *Config) {}},
		{"homestaker.degraded=off", func(c *Config) {}},
		{"homestaker.timeout.net=1", func(c *Config) { c.Timeouts.Net = sec(1) }},
		{"homestaker.timeout.wg=3600", func(c *Config) { c.Timeouts.WG = sec(3600) }},
		{"homestaker.timeout.disk=060", func(c *Config) { c.Timeouts.Disk = sec(60) }},
		{"homestaker.timeout.secrets=45", func(c *Config) { c.Timeouts.Secrets = sec(45) }},
		{"homestaker.ntp=pool.ntp.org", func(c *Config) { c.NTP = []string{"pool.ntp.org"} }},
		{"homestaker.ntp=10.0.0.1,[2001:db8::1],2001:db8::2,time.example.", func(c *Config) {
			c.NTP = []string{"10.0.0.1", "2001:db8::1", "2001:db8::2", "time.example."}
		}},
		{"homestaker.rescue=ssh", func(c *Config) { c.Rescue = RescueSSH }},
		{"homestaker.rescue=off", func(c *Config) { c.Rescue = RescueOff }},
		{"homestaker.rescue=auto", func(c *Config) {}},
		{"homestaker.rescue.port=2222", func(c *Config) { c.RescuePort = 2222 }},
		{"homestaker.rescue.port=65535", func(c *Config) { c.RescuePort = 65535 }},
		{"homestaker.rescue.port=1", func(c *Config) { c.RescuePort = 1 }},
		{"homestaker.tries=1", func(c *Config) { c.Tries = 1 }},
		{"homestaker.snapshot=off", func(c *Config) { c.SnapshotOff = true }},
		{"homestaker.snapshot=erigon,teku", func(c *Config) { c.Snapshot = []string{"erigon", "teku"} }},
		{"homestaker.snapshot.keep=5", func(c *Config) { c.SnapshotKeep = 5 }},
		{"homestaker.rollback=off", func(c *Config) { c.RollbackOff = true }},
		{"homestaker.tries=100", func(c *Config) { c.Tries = 100 }},
		{"homestaker.watchdog=60", func(c *Config) { c.Watchdog, c.WatchdogSet = sec(60), true }},
		{"homestaker.watchdog=3600", func(c *Config) { c.Watchdog, c.WatchdogSet = sec(3600), true }},
		{"homestaker.watchdog=0", func(c *Config) { c.WatchdogSet = true }},
		{"homestaker.watchdog=off", func(c *Config) { c.WatchdogSet = true }},
		{"homestaker.watchdog.kexec=stop", func(c *Config) { c.WatchdogStop = true }},
		{"homestaker.watchdog.kexec=keep", func(c *Config) {}},
		{"homestaker.report=/boot/reports/2024-01-01.json", func(c *Config) { c.Report = "/boot/reports/2024-01-01.json" }},
		{"homestaker.report=/boot//reports/./r.json", func(c *Config) { c.Report = "/boot/reports/r.json" }},
		{"homestaker.tree=/boot/current", func(c *Config) { c.Tree = "/boot/current" }},
		{"console=ttyS0,115200n8 console=tty0", func(c *Config) { c.Console = []string{"ttyS0,115200n8", "tty0"} }},
		{"console= console", func(c *Config) {}},
		{"ip=off", func(c *Config) { c.IP = []IPConfig{{Mode: IPOff, Raw: "off"}} }},
		{"ip=eth0:dhcp ip=eth1:dhcp", func(c *Config) {
			c.IP = []IPConfig{{Mode: IPDHCP, Device: "eth0", Raw: "eth0:dhcp"}, {Mode: IPDHCP, Device: "eth1", Raw: "eth1:dhcp"}}
		}},
		{"ip=10.0.0.2::10.0.0.1:24::eth0:none", func(c *Config) {
			c.IP = []IPConfig{{Mode: IPStatic, Device: "eth0", Client: netip.MustParsePrefix("10.0.0.2/24"),
				Gateway: netip.MustParseAddr("10.0.0.1"), Raw: "10.0.0.2::10.0.0.1:24::eth0:none"}}
		}},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			want := Defaults()
			tc.edit(&want)
			got, probs := Parse(tc.cmdline, Defaults())
			if len(probs) != 0 {
				t.Fatalf("problems: %v", probs)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			roundTrip(t, got)
		})
	}
}

// otherBase differs from Defaults in every field, to show that a bad value
// keeps the base's value and not the default.
func otherBase() Config {
	c, probs := Parse("homestaker.label=base homestaker.mnt=/base homestaker.subvols=s,b ip=eth9:dhcp "+
		"homestaker.wg=off homestaker.next=initramfs:/base homestaker.verify=off homestaker.handover=switchroot "+
		"homestaker.onfail=reboot:5 homestaker.break=storage homestaker.degraded=ok homestaker.timeout.net=5 "+
		"homestaker.timeout.wg=6 homestaker.timeout.disk=7 homestaker.ntp=base.example homestaker.rescue=off "+
		"homestaker.rescue.port=2022 homestaker.tries=9 homestaker.watchdog=99 homestaker.report=/base console=ttyS9",
		Defaults())
	if len(probs) != 0 {
		panic(probs)
	}
	return c
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		cmdline    string
		key, value string
		message    string // a part of the message besides the accepted values
	}{
		{"homestaker.label", "homestaker.label", "", "needs a value"},
		{"homestaker.label=", "homestaker.label", "", "empty"},
		{"homestaker.label=" + strings.Repeat("x", 256), "homestaker.label", strings.Repeat("x", 256), "longer than 255 bytes"},
		{"homestaker.label=a\x01b", "homestaker.label", "a\x01b", "control character"},
		{"homestaker.mnt=mnt", "homestaker.mnt", "mnt", "not an absolute path"},
		{"homestaker.mnt=/mnt/", "homestaker.mnt", "/mnt/", "did you mean /mnt?"},
		{"homestaker.mnt=/var/../mnt", "homestaker.mnt", "/var/../mnt", "not a clean path"},
		{"homestaker.mnt=/", "homestaker.mnt", "/", "root directory"},
		{"homestaker.mnt", "homestaker.mnt", "", "needs a value"},
		{"homestaker.subvols=", "homestaker.subvols", "", `subvolume 1 "": empty`},
		{"homestaker.subvols=a,,b", "homestaker.subvols", "a,,b", `subvolume 2 "": empty`},
		{"homestaker.subvols=a,b,a", "homestaker.subvols", "a,b,a", `subvolume "a" appears twice`},
		{"homestaker.subvols=secrets,erigon/db", "homestaker.subvols", "secrets,erigon/db", "contains /"},
		{"homestaker.subvols=..", "homestaker.subvols", "..", "not a name"},
		{"homestaker.wg=requird", "homestaker.wg", "requird", ""},
		{"homestaker.wg=Required", "homestaker.wg", "Required", ""},
		{"homestaker.wg=", "homestaker.wg", "", ""},
		{"homestaker.wg", "homestaker.wg", "", "needs a value"},
		{"homestaker.next=", "homestaker.next", "", `source 1 "": empty`},
		{"homestaker.next=ftp://h/x", "homestaker.next", "ftp://h/x", "not a kind of source"},
		{"homestaker.next=/boot/current", "homestaker.next", "/boot/current", "not a kind of source"},
		{"homestaker.next=volume:boot/current", "homestaker.next", "volume:boot/current", "not an absolute path"},
		{"homestaker.next=volume:", "homestaker.next", "volume:", "not an absolute path"},
		{"homestaker.next=volume:/../etc", "homestaker.next", "volume:/../etc", "climbs above /"},
		{"homestaker.next=initramfs:/a/../../b", "homestaker.next", "initramfs:/a/../../b", "climbs above /"},
		{"homestaker.next=volume:/a,", "homestaker.next", "volume:/a,", `source 2 "": empty`},
		{"homestaker.next=http://", "homestaker.next", "http://", "no host"},
		{"homestaker.next=https:///dir", "homestaker.next", "https:///dir", "no host"},
		{"homestaker.next=http://:80/dir", "homestaker.next", "http://:80/dir", "no host"},
		{`homestaker.next="http://h/a b"`, "homestaker.next", "http://h/a b", "space"},
		{"homestaker.verify=sig", "homestaker.verify", "sig", ""},
		{"homestaker.handover=switch_root", "homestaker.handover", "switch_root", ""},
		{"homestaker.onfail=halt", "homestaker.onfail", "halt", ""},
		{"homestaker.onfail=reboot:", "homestaker.onfail", "reboot:", "reboot delay"},
		{"homestaker.onfail=reboot:-1", "homestaker.onfail", "reboot:-1", "reboot delay"},
		{"homestaker.onfail=reboot:86401", "homestaker.onfail", "reboot:86401", "reboot delay"},
		{"homestaker.onfail=reboot:1m", "homestaker.onfail", "reboot:1m", "reboot delay"},
		{"homestaker.onfail=shell:5", "homestaker.onfail", "shell:5", "only reboot"},
		{"homestaker.break=network2", "homestaker.break", "network2", ""},
		{"homestaker.break=", "homestaker.break", "", ""},
		{"homestaker.degraded=yes", "homestaker.degraded", "yes", ""},
		{"homestaker.degraded=1", "homestaker.degraded", "1", ""},
		{"homestaker.degraded", "homestaker.degraded", "", "needs a value"},
		{"homestaker.timeout.net=0", "homestaker.timeout.net", "0", ""},
		{"homestaker.timeout.net=3601", "homestaker.timeout.net", "3601", ""},
		{"homestaker.timeout.wg=-1", "homestaker.timeout.wg", "-1", ""},
		{"homestaker.timeout.wg=+5", "homestaker.timeout.wg", "+5", ""},
		{"homestaker.timeout.disk=1.5", "homestaker.timeout.disk", "1.5", ""},
		{"homestaker.timeout.disk=10s", "homestaker.timeout.disk", "10s", ""},
		{"homestaker.timeout.disk=99999999999999999999", "homestaker.timeout.disk", "99999999999999999999", ""},
		{"homestaker.ntp=", "homestaker.ntp", "", `server 1 ""`},
		{"homestaker.ntp=a.example,,b.example", "homestaker.ntp", "a.example,,b.example", `server 2 ""`},
		{"homestaker.ntp=-bad.example", "homestaker.ntp", "-bad.example", "not a host name"},
		{"homestaker.ntp=a_b.example", "homestaker.ntp", "a_b.example", "not a host name"},
		{"homestaker.ntp=[10.0.0.1]", "homestaker.ntp", "[10.0.0.1]", "not an IPv6 address in brackets"},
		{"homestaker.ntp=fe80::1%eth0", "homestaker.ntp", "fe80::1%eth0", "zone"},
		{"homestaker.rescue=on", "homestaker.rescue", "on", ""},
		{"homestaker.rescue.port=0", "homestaker.rescue.port", "0", ""},
		{"homestaker.rescue.port=65536", "homestaker.rescue.port", "65536", ""},
		{"homestaker.rescue.port=ssh", "homestaker.rescue.port", "ssh", ""},
		{"homestaker.tries=0", "homestaker.tries", "0", ""},
		{"homestaker.tries=101", "homestaker.tries", "101", ""},
		{"homestaker.tries=three", "homestaker.tries", "three", ""},
		{"homestaker.watchdog=-1", "homestaker.watchdog", "-1", ""},
		{"homestaker.watchdog=3601", "homestaker.watchdog", "3601", ""},
		{"homestaker.watchdog=on", "homestaker.watchdog", "on", ""},
		{"homestaker.watchdog.kexec=off", "homestaker.watchdog.kexec", "off", ""},
		{"homestaker.watchdog=", "homestaker.watchdog", "", ""},
		{"homestaker.report=boot/r.json", "homestaker.report", "boot/r.json", "not an absolute path"},
		{"homestaker.report=/../r.json", "homestaker.report", "/../r.json", "climbs above /"},
		{"homestaker.report=", "homestaker.report", "", "not an absolute path"},
		{"ip", "ip", "", "needs a value"},
		{"ip=", "ip", "", "empty"},
		{"ip=dhcpp", "ip", "dhcpp", `"dhcpp" is not a method`},
		{"ip=10.0.0.2::10.0.0.1:255.0.255.0::eth0:none", "ip", "10.0.0.2::10.0.0.1:255.0.255.0::eth0:none",
			`field 4 (netmask) "255.0.255.0" is not a contiguous netmask`},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			for _, base := range []Config{Defaults(), otherBase()} {
				got, probs := Parse(tc.cmdline, base)
				if len(probs) != 1 {
					t.Fatalf("got %d problems %v, want 1", len(probs), probs)
				}
				p := probs[0]
				if p.Key != tc.key || p.Value != tc.value || p.Unknown {
					t.Errorf("problem %+v, want key %q value %q, not unknown", p, tc.key, tc.value)
				}
				if !strings.Contains(p.Message, tc.message) {
					t.Errorf("message %q does not say %q", p.Message, tc.message)
				}
				if !strings.Contains(p.Message, "accepted values are") && !strings.HasPrefix(p.Message, "field ") {
					t.Errorf("message %q does not list the accepted values", p.Message)
				}
				if !strings.HasPrefix(p.Error(), tc.key+"=") {
					t.Errorf("Error() = %q does not start with the key", p.Error())
				}
				if !reflect.DeepEqual(got, base) {
					t.Errorf("the configuration changed on a bad value:\ngot  %+v\nwant %+v", got, base)
				}
			}
		})
	}
}

func TestProblemError(t *testing.T) {
	_, probs := Parse("homestaker.wg=requird", Defaults())
	if len(probs) != 1 {
		t.Fatalf("problems: %v", probs)
	}
	const want = `homestaker.wg="requird": accepted values are required, optional, off`
	if got := probs[0].Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, probs = Parse("ip=10.0.0.2::10.0.0.1:255.0.255.0::eth0:none", Defaults())
	const wantIP = `ip="10.0.0.2::10.0.0.1:255.0.255.0::eth0:none": field 4 (netmask) "255.0.255.0" is not a contiguous netmask`
	if len(probs) != 1 || probs[0].Error() != wantIP {
		t.Errorf("problems %v, want %s", probs, wantIP)
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		cmdline, key, suggestion string
	}{
		{"homestaker.lable=x", "homestaker.lable", "homestaker.label"},
		{"homestaker.label2=x", "homestaker.label2", "homestaker.label"},
		{"homestaker.timeout.nett=5", "homestaker.timeout.nett", "homestaker.timeout.net"},
		{"homestaker.timeout.dsik=5", "homestaker.timeout.dsik", "homestaker.timeout.disk"},
		{"homestaker.rescue.prt=22", "homestaker.rescue.prt", "homestaker.rescue.port"},
		{"homestaker.Wg=off", "homestaker.Wg", "homestaker.wg"},
		{"homestaker.watchdogs", "homestaker.watchdogs", "homestaker.watchdog"},
		{"homestaker.quux=1", "homestaker.quux", ""},
		{"homestaker.logs=x", "homestaker.logs", "homestaker.log"},
		{"homestaker.timeout=5", "homestaker.timeout", ""},
		{"homestaker.verbose=1", "homestaker.verbose", ""},
		// Not ours by name, but a typo of ours.
		{"homestakeros.label=x", "homestakeros.label", "homestaker.label"},
		{"homestaker-wg=off", "homestaker-wg", "homestaker.wg"},
		{"homestker.next=volume:/x", "homestker.next", "homestaker.next"},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			got, probs := Parse(tc.cmdline, Defaults())
			if len(probs) != 1 {
				t.Fatalf("problems: %v", probs)
			}
			p := probs[0]
			if !p.Unknown || p.Key != tc.key {
				t.Errorf("problem %+v, want an unknown %q", p, tc.key)
			}
			hint := "did you mean " + tc.suggestion + "?"
			if tc.suggestion == "" && strings.Contains(p.Message, "did you mean") {
				t.Errorf("message %q suggests a key", p.Message)
			}
			if tc.suggestion != "" && !strings.Contains(p.Message, hint) {
				t.Errorf("message %q does not say %q", p.Message, hint)
			}
			if !reflect.DeepEqual(got, Defaults()) {
				t.Errorf("an unknown key changed the configuration: %+v", got)
			}
		})
	}
	// Kernel parameters are not ours and raise nothing.
	if _, probs := Parse("root=/dev/sda1 rw init=/init mitigations=off boot.shell_on_fail nomodeset hostname=x ip6=x", Defaults()); len(probs) != 0 {
		t.Errorf("kernel parameters gave problems: %v", probs)
	}
	// Keys are case-sensitive, as in the kernel: IP= is not ip=.
	if got, probs := Parse("IP=off", Defaults()); len(probs) != 0 || !reflect.DeepEqual(got, Defaults()) {
		t.Errorf("IP=off: %+v %v", got, probs)
	}
}

func TestOverrideOrder(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		check   func(c Config) bool
	}{
		{"homestaker.wg=off homestaker.wg=optional", func(c Config) bool { return c.WG == WGOptional }},
		{"homestaker.wg=off homestaker.wg=bad", func(c Config) bool { return c.WG == WGOff }},
		{"homestaker.label=a homestaker.label=b", func(c Config) bool { return c.Label == "b" }},
		{"homestaker.subvols=a,b homestaker.subvols=c", func(c Config) bool { return reflect.DeepEqual(c.Subvols, []string{"c"}) }},
		{"homestaker.watchdog=10 homestaker.watchdog=off", func(c Config) bool { return c.WatchdogSet && c.Watchdog == 0 }},
		{"homestaker.wg=off -- homestaker.wg=optional", func(c Config) bool { return c.WG == WGOff }},
		{"console=tty0 console=ttyS0", func(c Config) bool { return reflect.DeepEqual(c.Console, []string{"tty0", "ttyS0"}) }},
		{"ip=eth0:dhcp ip=eth1:off ip=eth0:dhcp6", func(c Config) bool {
			return len(c.IP) == 2 && c.IP[0].Device == "eth0" && c.IP[0].Mode == IPDHCP6 && c.IP[1].Device == "eth1"
		}},
		{"ip=eth0:dhcp ip=10.0.0.2::10.0.0.1:24::eth1:none ip=off", func(c Config) bool {
			return len(c.IP) == 1 && c.IP[0].Mode == IPOff && c.IP[0].Device == ""
		}},
		{"ip=off ip=eth0:dhcp", func(c Config) bool {
			return len(c.IP) == 2 && c.IP[0].Mode == IPOff && c.IP[1].Device == "eth0"
		}},
		{"ip=eth0:off ip=eth1:dhcp", func(c Config) bool { return len(c.IP) == 2 && c.IP[0].Mode == IPOff }},
		{"ip=dhcp ip=eth0:dhcp ip=auto6", func(c Config) bool {
			return len(c.IP) == 2 && c.IP[0].Mode == IPAuto6 && c.IP[0].Device == "" && c.IP[1].Device == "eth0"
		}},
		{"ip=eth0:dhcp ip=bad", func(c Config) bool { return len(c.IP) == 1 && c.IP[0].Device == "eth0" }},
		{"ip=bad", func(c Config) bool { return reflect.DeepEqual(c.IP, Defaults().IP) }},
	} {
		t.Run(tc.cmdline, func(t *testing.T) {
			got, _ := Parse(tc.cmdline, Defaults())
			if !tc.check(got) {
				t.Errorf("got %+v", got)
			}
			roundTrip(t, got)
		})
	}
}

// TestBaseUntouched: Parse builds new slices rather than writing into base's.
func TestBaseUntouched(t *testing.T) {
	base, _ := Parse("ip=eth0:dhcp ip=eth1:dhcp console=tty0", Defaults())
	// Room to append in place, with something in it to overwrite.
	base.IP = append(make([]IPConfig, 0, 4), base.IP...)[:1]
	base.Console = append(make([]string, 0, 4), "tty0", "spare")[:1]
	before, _ := Parse(Encode(base), Defaults())
	Parse("ip=eth0:off ip=eth2:dhcp console=ttyS0 homestaker.subvols=x", base)
	if !reflect.DeepEqual(base, before) {
		t.Errorf("base changed: %+v, was %+v", base, before)
	}
	if got := base.IP[:2][1]; got.Device != "eth1" {
		t.Errorf("base's spare capacity was written: %+v", got)
	}
	if got := base.Console[:2][1]; got != "spare" {
		t.Errorf("base's spare capacity was written: %q", got)
	}
}

func TestParseDefaults(t *testing.T) {
	const file = `# baked in by the builder
homestaker.label=node1 homestaker.onfail=reboot:60   # reboot unattended

ip=eth0:dhcp
ip=eth1:dhcp
console=ttyS0
homestaker.wg=sometimes
quiet
homestaker.tmeout.net=5
	homestaker.tries=5
`
	got, probs := ParseDefaults(file, Defaults())
	want := Defaults()
	want.Label, want.LabelSet = "node1", true
	want.OnFail = OnFail{OnFailReboot, time.Minute}
	want.IP = []IPConfig{{Mode: IPDHCP, Device: "eth0", Raw: "eth0:dhcp"}, {Mode: IPDHCP, Device: "eth1", Raw: "eth1:dhcp"}}
	want.Console = []string{"ttyS0"}
	want.Tries = 5
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	wantProbs := []Problem{
		{Key: "homestaker.wg", Value: "sometimes", Message: DefaultsPath + ":7: accepted values are required, optional, off"},
		{Key: "quiet", Message: DefaultsPath + ":8: not a homestaker.*, ip= or console= parameter; the kernel does not read this file, ignored", Unknown: true},
		{Key: "homestaker.tmeout.net", Value: "5", Message: DefaultsPath + ":9: unknown parameter, ignored; did you mean homestaker.timeout.net?", Unknown: true},
	}
	if !reflect.DeepEqual(probs, wantProbs) {
		t.Errorf("problems:\n%v\nwant\n%v", probs, wantProbs)
	}

	// The command line goes over the file; its first ip= and console=
	// replace the file's lists.
	cmd, probs := Parse("ip=eth2:dhcp console=tty0 console=ttyS1 homestaker.tries=7", got)
	if len(probs) != 0 {
		t.Fatalf("problems: %v", probs)
	}
	if len(cmd.IP) != 1 || cmd.IP[0].Device != "eth2" || !reflect.DeepEqual(cmd.Console, []string{"tty0", "ttyS1"}) ||
		cmd.Tries != 7 || cmd.Label != "node1" || cmd.OnFail.Delay != time.Minute {
		t.Errorf("command line over the file: %+v", cmd)
	}
	// Without ip= and console= on the command line, the file's stay.
	cmd, _ = Parse("quiet", got)
	if !reflect.DeepEqual(cmd, got) {
		t.Errorf("got %+v, want the file's %+v", cmd, got)
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{WGRequired.String(), "required"}, {WGOptional.String(), "optional"}, {WGOff.String(), "off"}, {WGMode(7).String(), "WGMode(7)"},
		{VerifyAuto.String(), "auto"}, {VerifySignature.String(), "signature"}, {VerifyChecksum.String(), "checksum"}, {VerifyOff.String(), "off"},
		{HandoverKexec.String(), "kexec"}, {HandoverSwitchRoot.String(), "switchroot"}, {HandoverMode(-1).String(), "HandoverMode(-1)"},
		{OnFailShell.String(), "shell"}, {OnFailReboot.String(), "reboot"}, {OnFailPoweroff.String(), "poweroff"},
		{RescueAuto.String(), "auto"}, {RescueSSH.String(), "ssh"}, {RescueOff.String(), "off"},
		{SourceVolume.String(), "volume"}, {SourceHTTP.String(), "http"}, {SourceInitramfs.String(), "initramfs"}, {SourceKind(0).String(), "SourceKind(0)"},
		{IPDHCP.String(), "dhcp"}, {IPOff.String(), "off"}, {IPStatic.String(), "static"}, {IPDHCP6.String(), "dhcp6"}, {IPAuto6.String(), "auto6"},
		{Source{Kind: SourceVolume, Path: "/a"}.String(), "volume:/a"},
		{Source{Kind: SourceHTTP, URL: "http://h/"}.String(), "http://h/"},
		{Source{Kind: SourceVolume, Path: "/a", Raw: "volume:/a/"}.String(), "volume:/a/"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if len(KnownKeys()) != len(keys) || KnownKeys()[0] != "homestaker.label" {
		t.Errorf("KnownKeys() = %v", KnownKeys())
	}
}

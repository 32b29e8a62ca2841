package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"BOOT_IMAGE=/vmlinuz ro quiet homestaker.label=node1 homestaker.wg=optional",
	`homestaker.label="a b" -- homestaker.wg=off`,
	"ip=10.0.0.2::10.0.0.1:255.255.255.0:node1:eth0:none:1.1.1.1:9.9.9.9:10.0.0.1 ip=eth1:dhcp:9000:52:54:00:12:34:56",
	"ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none ip=off ip=eth0:auto6",
	"ifname=lan0:52:54:00:12:34:56 vlan=vlan5:lan0 vlan=lan0.0007:lan0 ip=vlan5:dhcp",
	"homestaker.next=volume:/boot/current,https://h/x,initramfs:/n homestaker.onfail=reboot:60",
	"homestaker.ntp=pool.ntp.org,[::1] homestaker.watchdog=off homestaker.report=/r console=ttyS0",
	"homestaker.lable=x homestaker.timeout.net=5 homestaker.tries=0 homestaker.degraded",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cmdline string) {
		c, probs := Parse(cmdline, Defaults())
		for _, p := range probs {
			if p.Message == "" || !strings.HasPrefix(p.Error(), p.Key+"=") {
				t.Errorf("problem without a message: %#v", p)
			}
		}
		// Whatever Parse kept is valid, so it survives a round trip
		// with or without problems elsewhere on the line.
		enc := Encode(c)
		got, probs2 := Parse(enc, Defaults())
		if len(probs2) != 0 {
			t.Fatalf("Encode = %q gives problems %v", enc, probs2)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("Encode = %q parses to\n%+v\nwant\n%+v", enc, got, c)
		}
		// The defaults file reads the same text without panicking.
		ParseDefaults(cmdline, Defaults())
	})
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{
		"dhcp", "eth0:dhcp", "eth0:dhcp:1500:52:54:00:12:34:56", "10.0.0.2::10.0.0.1:24::eth0:none",
		"10.0.0.2::10.0.0.1:255.255.255.0:h:eth0:off:1.1.1.1:[2001:db8::1]:10.0.0.1",
		"[2001:db8::2]::[fe80::1]:64:h:eth0:none:9000:52-54-00-12-34-56", ":::::eth0:dhcp6", "[", "[]:[]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		c, err := ParseIP(value)
		if err != nil {
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("ip=%q: ", value)) {
				t.Fatalf("error %q does not quote the value", err)
			}
			return
		}
		if c.Raw != value {
			t.Fatalf("Raw = %q, want %q", c.Raw, value)
		}
		if c.Mode == IPStatic && (!c.Client.IsValid() || c.Client.Bits() < 1) {
			t.Fatalf("static without a client prefix: %+v", c)
		}
		s := formatIP(c)
		again, err := ParseIP(s)
		if err != nil {
			t.Fatalf("formatIP = %q: %v", s, err)
		}
		again.Raw = c.Raw
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("formatIP = %q parses to\n%+v\nwant\n%+v", s, again, c)
		}
	})
}

func FuzzParseIfName(f *testing.F) {
	for _, s := range []string{"lan0:52:54:00:12:34:56", "lan0:52-54-00-12-34-56", ":", "lan0", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		n, err := ParseIfName(value)
		if err != nil {
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("ifname=%q: ", value)) {
				t.Fatalf("error %q does not quote the value", err)
			}
			return
		}
		again, err := ParseIfName(n.String())
		if err != nil || !reflect.DeepEqual(again, n) {
			t.Fatalf("String = %q parses to %+v, %v; want %+v", n.String(), again, err, n)
		}
	})
}

func FuzzParseVLAN(f *testing.F) {
	for _, s := range []string{"vlan5:eth0", "vlan0005:eth0", "eth0.5:eth0", "eth0.0005:eth0", "vlan0:eth0", "x.4095:y", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		v, err := ParseVLAN(value)
		if err != nil {
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("vlan=%q: ", value)) {
				t.Fatalf("error %q does not quote the value", err)
			}
			return
		}
		if v.ID < 1 || v.ID > 4094 || v.Name == v.Parent {
			t.Fatalf("accepted %+v", v)
		}
		if again, err := ParseVLAN(v.String()); err != nil || again != v {
			t.Fatalf("String = %q parses to %+v, %v; want %+v", v.String(), again, err, v)
		}
	})
}

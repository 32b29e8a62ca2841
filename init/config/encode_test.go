package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// roundTrip checks that Parse(Encode(c)) gives c back without problems.
func roundTrip(t *testing.T, c Config) {
	t.Helper()
	enc := Encode(c)
	got, probs := Parse(enc, Defaults())
	if len(probs) != 0 {
		t.Fatalf("Encode = %q gives problems: %v", enc, probs)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("Encode = %q parses to\n%+v\nwant\n%+v", enc, got, c)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, cmdline := range []string{
		"",
		"homestaker.label=homestaker",
		`homestaker.label="a  label" homestaker.mnt=/var/mnt homestaker.subvols=secrets,erigon,lighthouse,addons`,
		"ip=10.0.0.2::10.0.0.1:255.255.255.0:node1:eth0:none:1.1.1.1 ip=eth1:dhcp:9000:52:54:00:12:34:56 ip=[2001:db8::2]::[2001:db8::1]:64::eth2:none",
		"ip=off ip=eth0:dhcp",
		"ip=on",
		"ip=dhcp",
		"homestaker.wg=optional homestaker.verify=checksum homestaker.handover=switchroot homestaker.onfail=reboot",
		"homestaker.onfail=reboot:0 homestaker.rescue=off homestaker.rescue.port=2222 homestaker.tries=10",
		"homestaker.onfail=poweroff homestaker.break=secrets homestaker.degraded=ok",
		"homestaker.timeout.net=60 homestaker.timeout.wg=1 homestaker.timeout.disk=3600",
		"homestaker.ntp=[2001:db8::123],pool.ntp.org homestaker.watchdog=off",
		"homestaker.watchdog=300 homestaker.watchdog.kexec=stop homestaker.report=/boot/reports/1.json",
		"homestaker.next=volume:/boot/current/,https://h.example/x?a=b homestaker.verify=off",
		"homestaker.next=volume:/boot/current,volume:/boot/previous homestaker.verify=auto",
		`console=ttyS0,115200 console=tty0 console="weird value"`,
	} {
		t.Run(cmdline, func(t *testing.T) {
			c, probs := Parse(cmdline, Defaults())
			if len(probs) != 0 {
				t.Fatalf("problems: %v", probs)
			}
			roundTrip(t, c)
		})
	}
}

// TestEncodeBuilt: a configuration made in code, as the builder or
// chainload would, encodes to what it says.
func TestEncodeBuilt(t *testing.T) {
	c := Defaults()
	c.Label, c.LabelSet = "node 7", true
	c.IP = []IPConfig{{
		Mode: IPStatic, Device: "eth0", Client: netip.MustParsePrefix("192.0.2.7/24"),
		Gateway: netip.MustParseAddr("192.0.2.1"), DNS: []netip.Addr{netip.MustParseAddr("192.0.2.53")},
	}}
	c.OnFail = OnFail{OnFailReboot, 90 * time.Second}
	c.Next = []Source{{Kind: SourceHTTP, URL: "http://10.0.2.2:8080/next/"}}
	const want = `homestaker.label="node 7" ip=192.0.2.7::192.0.2.1:255.255.255.0::eth0:none:192.0.2.53 homestaker.next=http://10.0.2.2:8080/next/ homestaker.onfail=reboot:90`
	if got := Encode(c); got != want {
		t.Errorf("Encode = %q\nwant     %q", got, want)
	}
	// A stale Raw is not trusted.
	c2, _ := Parse("ip=eth0:dhcp", Defaults())
	c2.IP[0].Mode = IPDHCP6
	if got := Encode(c2); got != "ip=eth0:dhcp6" {
		t.Errorf("Encode with a stale Raw = %q", got)
	}
}

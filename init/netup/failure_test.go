package netup

import (
	"net/netip"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
)

func TestFailureDHCP(t *testing.T) {
	runs := []*linkRun{
		{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, requests: 12},
		{plan: linkPlan{Name: "eth1", Method: MethodDHCP}},
		{plan: linkPlan{Name: "eth2", Method: MethodOff}},
	}
	f := failure(runs)
	if want := "an IPv4 address by DHCP on one of: eth0, eth1"; f.Expected != want {
		t.Errorf("expected %q, want %q", f.Expected, want)
	}
	if want := "eth0: carrier, 12 DHCP requests without an answer; eth1: no carrier (cable unplugged?)"; f.Found != want {
		t.Errorf("found %q, want %q", f.Found, want)
	}
	if want := "check the cable and the DHCP server, or set a static address with ip=<client>::<gw>:<mask>::<dev>:none; a slow network may need a longer homestaker.timeout.net="; f.Action != want {
		t.Errorf("action %q", f.Action)
	}
}

func TestFailureStaticAndMixed(t *testing.T) {
	static := config.IPConfig{Mode: config.IPStatic, Client: netip.MustParsePrefix("192.168.1.10/24")}
	f := failure([]*linkRun{{plan: linkPlan{Name: "eth0", Method: MethodStatic, IP: static}, addrs: []netip.Prefix{static.Client}}})
	if want := "the static address 192.168.1.10/24 on eth0 with carrier"; f.Expected != want {
		t.Errorf("expected %q", f.Expected)
	}
	if want := "eth0: 192.168.1.10/24 set, no carrier (cable unplugged?)"; f.Found != want {
		t.Errorf("found %q", f.Found)
	}
	if want := "check the cable and the address in ip=; a slow network may need a longer homestaker.timeout.net="; f.Action != want {
		t.Errorf("action %q", f.Action)
	}

	f = failure([]*linkRun{
		{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, requests: 3, offers: 2, lastErr: "192.168.1.1 refused to lease 192.168.1.50 (NAK)"},
		{plan: linkPlan{Name: "eth1", Method: MethodStatic, IP: static}, applyErr: "adding the address 192.168.1.10/24: file exists"},
	})
	if want := "an IPv4 address by DHCP on one of: eth0, or the static address 192.168.1.10/24 on eth1 with carrier"; f.Expected != want {
		t.Errorf("expected %q", f.Expected)
	}
	if want := "eth0: carrier, 3 DHCP requests, 2 offers but no lease (last: 192.168.1.1 refused to lease 192.168.1.50 (NAK)); eth1: adding the address 192.168.1.10/24: file exists"; f.Found != want {
		t.Errorf("found %q", f.Found)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		l    linkRun
		want string
	}{
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, setupErr: "setting it up: operation not permitted"}, "eth0: setting it up: operation not permitted"},
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, lastErr: "opening a DHCP socket: permission denied"}, "eth0: carrier, no DHCP request sent: opening a DHCP socket: permission denied"},
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, requests: 1}, "eth0: carrier, 1 DHCP request without an answer"},
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, requests: 4, lastErr: "network is down"}, "eth0: carrier, 4 DHCP requests without an answer (last error: network is down)"},
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, requests: 1, offers: 1, applyErr: "adding the address 10.0.2.15/24: invalid argument"}, "eth0: carrier, adding the address 10.0.2.15/24: invalid argument"},
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, lease: &lease{Addr: netip.MustParsePrefix("10.0.2.15/24")}}, "eth0: 10.0.2.15/24 by DHCP"},
		// A panic after the lease: the bug is what the operator reads.
		{linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true, lease: &lease{Addr: netip.MustParsePrefix("10.0.2.15/24")}, internalErr: "internal error: boom"}, "eth0: internal error: boom"},
	}
	for _, tt := range tests {
		if got := tt.l.describe(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

package netup

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
)

func TestSummarize(t *testing.T) {
	eth0 := &linkRun{plan: linkPlan{Name: "eth0", Method: MethodDHCP}, carrier: true,
		addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.15/24")}, after: 60*time.Millisecond + 300*time.Microsecond}
	eth1 := &linkRun{plan: linkPlan{Name: "eth1", Method: MethodDHCP}}
	gw := netip.MustParseAddr("10.0.2.2")
	tests := []struct {
		runs []*linkRun
		gw   netip.Addr
		ntp  *ntpResult
		want string
	}{
		{[]*linkRun{eth0, eth1}, gw, &ntpResult{Server: "pool.ntp.org", Offset: 300 * time.Millisecond, Set: true},
			"eth0 10.0.2.15/24 by DHCP in 60ms, gateway 10.0.2.2, clock set by pool.ntp.org (offset +0.3s)"},
		{[]*linkRun{eth0}, gw, &ntpResult{Server: "10.0.2.2", Offset: -40 * time.Millisecond},
			"eth0 10.0.2.15/24 by DHCP in 60ms, gateway 10.0.2.2, clock checked with 10.0.2.2 (offset +0.0s)"},
		{[]*linkRun{{plan: linkPlan{Name: "eth0", Method: MethodStatic}, carrier: true, addrs: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}, after: 2 * time.Millisecond}}, netip.Addr{}, nil,
			"eth0 192.168.1.10/24 static in 2ms, no gateway, no NTP answer, clock not checked"},
	}
	for _, tt := range tests {
		if got := summarize(tt.runs, tt.gw, tt.ntp); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestFormatOffset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{300 * time.Millisecond, "+0.3s"},
		{-2 * time.Second, "-2.0s"},
		{0, "+0.0s"},
		{-40 * time.Millisecond, "+0.0s"},
		{-60 * time.Millisecond, "-0.1s"},
		{59*time.Second + 960*time.Millisecond, "+60.0s"},
		{26*time.Hour + 3*time.Minute + 400*time.Millisecond, "+26h3m0s"},
		{-56 * 365 * 24 * time.Hour, "-490560h0m0s"},
	}
	for _, tt := range tests {
		if got := formatOffset(tt.d); got != tt.want {
			t.Errorf("formatOffset(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestNTPServers(t *testing.T) {
	withNTP := config.IPConfig{Mode: config.IPStatic, NTP: netip.MustParseAddr("192.168.1.2")}
	tests := []struct {
		name    string
		cmdline []string
		ips     []config.IPConfig
		lease   []netip.Addr
		want    []string
	}{
		{"homestaker.ntp= wins", []string{"time.example", "10.0.0.1"}, []config.IPConfig{withNTP}, addrs("192.168.1.1"), []string{"time.example", "10.0.0.1"}},
		{"at most two", []string{"a.example", "b.example", "c.example"}, nil, nil, []string{"a.example", "b.example"}},
		{"the lease's option 42", nil, nil, addrs("192.168.1.1", "192.168.1.1", "192.168.1.3", "192.168.1.4"), []string{"192.168.1.1", "192.168.1.3"}},
		{"ip='s ntp0, then the lease", nil, []config.IPConfig{withNTP}, addrs("192.168.1.1"), []string{"192.168.1.2", "192.168.1.1"}},
		{"the public pool", nil, []config.IPConfig{{Mode: config.IPDHCP}}, nil, []string{"0.pool.ntp.org", "1.pool.ntp.org"}},
	}
	for _, tt := range tests {
		if got := ntpServers(tt.cmdline, tt.ips, tt.lease); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLeaseFact(t *testing.T) {
	l := &lease{Addr: netip.MustParsePrefix("10.0.2.15/24"), Router: netip.MustParseAddr("10.0.2.2"), DNS: addrs("10.0.2.3"),
		Server: netip.MustParseAddr("10.0.2.2"), Time: 24 * time.Hour}
	f := newLeaseFact("eth0", l, 61*time.Millisecond+400*time.Microsecond)
	want := leaseFact{Link: "eth0", Address: l.Addr, Router: "10.0.2.2", DNS: l.DNS, Server: "10.0.2.2", LeaseTime: "24h0m0s",
		Routes: []string{"0.0.0.0/0 via 10.0.2.2"}, After: "61ms"}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("%+v\nwant %+v", f, want)
	}
}

package main

import (
	"net/netip"
	"testing"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func TestBehindTunnel(t *testing.T) {
	key, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	text := "[Interface]\nPrivateKey = " + key.String() + "\nAddress = 10.8.0.2/32\n\n[Peer]\nPublicKey = " + peer.PublicKey().String() +
		"\nEndpoint = 192.0.2.1:51820\nAllowedIPs = 10.8.0.0/24, fd00:8::/64\n"
	conf, _, err := wgconf.Parse("wg0.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addrs []string
		want  bool
	}{
		{[]string{"10.8.0.1"}, true},
		{[]string{"fd00:8::1"}, true},
		{[]string{"::ffff:10.8.0.1"}, true},
		{[]string{"10.0.2.2"}, false},
		{[]string{"192.0.2.1"}, false},
		{[]string{"192.0.2.1", "10.8.0.9"}, true},
		{nil, false},
	} {
		var as []netip.Addr
		for _, a := range tc.addrs {
			as = append(as, netip.MustParseAddr(a))
		}
		if got := behindTunnel(conf, as); got != tc.want {
			t.Errorf("behindTunnel(%v) = %v, want %v", tc.addrs, got, tc.want)
		}
	}
}

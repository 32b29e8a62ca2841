package wg

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func TestPeerStatusAndFailure(t *testing.T) {
	priv := seqKey(1)
	a, b, c := seqKey(0x40), seqKey(0x60), seqKey(0xa0)
	conf := &wgconf.Config{
		Name:      "wg0",
		Interface: wgconf.Interface{PrivateKey: priv, Addresses: prefixes("10.99.0.2/32 fd00:99::2/128")},
		Peers: []wgconf.Peer{
			{PublicKey: a, Endpoint: &wgconf.Endpoint{Host: "vpn.example.org", Port: 51820}},
			{PublicKey: b, Endpoint: &wgconf.Endpoint{Host: "gone.example.org", Port: 51820}},
			{PublicKey: c, Endpoint: &wgconf.Endpoint{Host: "2001:db8::1", Port: 443}},
			{PublicKey: seqKey(0xc0)}, // no endpoint: not in the failure
		},
	}
	endpoints := map[wgconf.Key]endpoint{
		a: {Configured: "vpn.example.org:51820", Addr: netip.MustParseAddrPort("192.0.2.7:51820")},
		b: {Configured: "gone.example.org:51820", Err: errors.New("resolving gone.example.org: the name does not exist")},
		c: {Configured: "[2001:db8::1]:443", Addr: netip.MustParseAddrPort("[2001:db8::1]:443")},
	}
	now := time.Unix(1700000100, 0)
	st, err := parseUAPIGet(wgGetAnswer())
	if err != nil {
		t.Fatal(err)
	}
	ps := peerStatus(conf, endpoints, st, now)
	if len(ps) != 4 {
		t.Fatalf("%d peers", len(ps))
	}
	// The device's endpoint wins over the resolved one: peers roam.
	if ps[0].Endpoint != "192.0.2.7:51820" || ps[0].Configured != "vpn.example.org:51820" || ps[0].HandshakeAge != 99500*time.Millisecond || ps[0].RxBytes != 92 {
		t.Errorf("peer a: %+v", ps[0])
	}
	if ps[1].ResolveError == "" || ps[1].Configured != "gone.example.org:51820" {
		t.Errorf("peer b: %+v", ps[1])
	}
	if ps[3].Configured != "" || len(ps[3].AllowedIPs) != 0 || ps[3].AllowedIPs == nil {
		t.Errorf("peer without endpoint: %+v (allowed IPs must be [] not null in JSON)", ps[3])
	}

	ctx, cancel := context.WithDeadline(context.Background(), now.Add(20*time.Second))
	defer cancel()
	f := noHandshake(conf, ps[:3], now, ctx)
	wantFound := "no handshake with " + a.String() + " at 192.0.2.7:51820 (sent 1184 bytes, received 92)\n" +
		"no handshake with " + b.String() + " at gone.example.org:51820 (resolving gone.example.org: the name does not exist)\n" +
		"no handshake with " + c.String() + " at [2001:db8::1]:443 (sent 0 bytes, received 0)"
	if f.Found != wantFound {
		t.Errorf("found:\n%s\nwant:\n%s", f.Found, wantFound)
	}
	if want := "a WireGuard handshake with a peer of wg0 within 20s (homestaker.timeout.wg=)"; f.Expected != want {
		t.Errorf("expected %q", f.Expected)
	}
	for _, want := range []string{"public key " + priv.PublicKey().String(), "10.99.0.2/32,fd00:99::2/128", "UDP ports 51820, 443 are open", "homestaker.wg=optional boots without the tunnel"} {
		if !strings.Contains(f.Action, want) {
			t.Errorf("action %q lacks %q", f.Action, want)
		}
	}
	assertNoSecret(t, f.Error(), priv, seqKey(0x80))
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		420 * time.Millisecond:  "0.4s",
		3*time.Second + 1e8:     "3.1s",
		7 * time.Millisecond:    "7ms",
		99*time.Millisecond + 1: "99ms",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %q, want %q", d, got, want)
		}
	}
}

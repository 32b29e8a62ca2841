package vmtest

import (
	"fmt"
	"strings"
	"testing"
)

// IPv6Net is QEMU's user network without IPv4: its router advertisements
// offer the prefix 2001:db8:cafe::/64 (a documentation prefix that the
// kernel scopes global, as a provider's would be; slirp's default fec0::
// is site-local), and the host's loopback is reachable at
// 2001:db8:cafe::2.
const IPv6Net = "user,model=virtio-net-pci,ipv4=off,ipv6=on,ipv6-net=2001:db8:cafe::/64"

// IPv6 only: ip=auto6 waits for SLAAC's address and the advertised
// default route, then the tunnel comes up to an endpoint given by IPv6
// address (the host peer listens on [::1]), with an IPv6 tunnel address
// beside the IPv4 one, and the host pings the node through it.
func TestTunnelIPv6Only(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	if err := peer.Allow(nodeKey(t, d, "secrets/wireguard/wg0.conf"), "fd99::2/128"); err != nil {
		t.Fatal(err)
	}
	conf := d.ReadFile("secrets/wireguard/wg0.conf")
	endpoint := fmt.Sprintf("[2001:db8:cafe::2]:%d", peer.Port)
	conf = strings.Replace(conf, fmt.Sprintf("10.0.2.2:%d", peer.Port), endpoint, 1)
	conf = strings.Replace(conf, "10.99.0.2/32", "10.99.0.2/32, fd99::2/128", 1)
	if !strings.Contains(conf, endpoint) || !strings.Contains(conf, "fd99::2/128") {
		t.Fatalf("wg0.conf not rewritten:\n%s", conf)
	}
	d.WriteFile("secrets/wireguard/wg0.conf", conf, 0o600)
	vm := BootNIC(t, IPv6Net, stage2Initramfs(t), append([]string{"ip=auto6"}, tunnelArgs...), Drive(d.Path))
	out := reachThroughTunnel(t, vm, peer, d)
	for _, want := range []string{
		"[  OK  ] network: eth0 2001:db8:cafe:",
		"/64 by SLAAC in ",
		"gateway fe80::2",
		"[  OK  ] wireguard: wg0 10.99.0.2/32,fd99::2/128 up, handshake with " + peer.PublicKey()[:6],
		endpoint,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

package vmtest

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/wgconf"
	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// tunnelArgs boot with the tunnel required and stop before the handover,
// so that the test can reach the node through the tunnel.
var tunnelArgs = []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=required", "homestaker.break=handover"}

// reachThroughTunnel waits for the break before the handover, pings the
// node from the host peer through the tunnel, then lets the boot go on to
// the stage 2.
func reachThroughTunnel(t *testing.T, vm *VM, peer *fixture.Peer, disk *Disk) string {
	t.Helper()
	out := vm.Expect("stopping before handover (homestaker.break=handover)")
	out += vm.Expect("$ ")
	if err := peer.Ping("10.99.0.2", time.Minute); err != nil {
		t.Errorf("the host peer could not reach the node through the tunnel: %v", err)
	}
	vm.Console.SendLine("exit")
	out += vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	return out
}

func tunnelDisk(t testing.TB, peer *fixture.Peer, extra ...string) *Disk {
	t.Helper()
	d := PrepareDisk(t, append(peer.Flags("10.99.0.2/32"), extra...)...)
	allow(t, peer, d)
	return d
}

func stage2Initramfs(t testing.TB) string {
	return withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
}

// DHCP, then a handshake, then the host reaches the node through the tunnel.
func TestTunnelDHCP(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	vm := Boot(t, stage2Initramfs(t), tunnelArgs, Drive(d.Path))
	out := reachThroughTunnel(t, vm, peer, d)
	for _, want := range []string{"[  OK  ] network: eth0 10.0.2.15/24 by DHCP", "[  OK  ] wireguard: wg0 10.99.0.2/32 up, handshake with " + peer.PublicKey()[:6]} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
}

// A static ip= with the same tunnel.
func TestTunnelStaticIP(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	vm := Boot(t, stage2Initramfs(t), append([]string{"ip=10.0.2.77::10.0.2.2:255.255.255.0:node1:eth0:none"}, tunnelArgs...), Drive(d.Path))
	out := reachThroughTunnel(t, vm, peer, d)
	if !strings.Contains(out, "[  OK  ] network: eth0 10.0.2.77/24") {
		t.Errorf("console lacks the static address:\n%s", out)
	}
}

// An Endpoint hostname, resolved through a DNS server the test runs (the
// static ip= names it as dns0; the guest reaches host port 53 at 10.0.2.2).
func TestTunnelEndpointHostname(t *testing.T) {
	ServeDNS(t, "vpn.homestaker.test", netip.MustParseAddr("10.0.2.2"))
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	conf := d.ReadFile("secrets/wireguard/wg0.conf")
	d.WriteFile("secrets/wireguard/wg0.conf", strings.Replace(conf, "10.0.2.2:", "vpn.homestaker.test:", 1), 0o600)
	vm := Boot(t, stage2Initramfs(t), append([]string{"ip=10.0.2.77::10.0.2.2:255.255.255.0::eth0:none:10.0.2.2"}, tunnelArgs...), Drive(d.Path))
	out := reachThroughTunnel(t, vm, peer, d)
	if !strings.Contains(out, fmt.Sprintf("10.0.2.2:%d", peer.Port)) {
		t.Errorf("console does not show the resolved endpoint:\n%s", out)
	}
}

// The peer is down and the tunnel optional: a warning, and the boot goes
// on (required is in the fault matrix).
func TestTunnelPeerDown(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	peer.Close() // nobody answers at that port now
	t.Run("optional", func(t *testing.T) {
		out := bootToStage2(t, []string{"homestaker.wg=optional", "homestaker.timeout.wg=4"}, d.Path)
		if !strings.Contains(out, "[ WARN ] wireguard:") || !strings.Contains(out, "going on without the tunnel") {
			t.Errorf("no warning:\n%s", out)
		}
	})
}

// Two peers, one reachable: the handshake with that one is enough.
func TestTunnelTwoPeersOneReachable(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	dead, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	conf := d.ReadFile("secrets/wireguard/wg0.conf")
	conf += fmt.Sprintf("\n[Peer]\nPublicKey = %s\nEndpoint = 10.0.2.2:%d\nAllowedIPs = 10.98.0.0/24\n", dead.PublicKey(), freeUDPPort(t))
	d.WriteFile("secrets/wireguard/wg0.conf", conf, 0o600)
	vm := Boot(t, stage2Initramfs(t), tunnelArgs, Drive(d.Path))
	out := reachThroughTunnel(t, vm, peer, d)
	if !strings.Contains(out, "[  OK  ] wireguard:") {
		t.Errorf("console:\n%s", out)
	}
}

// A malformed IPv6 ip= stops the boot in early, quoting the value.
func TestNetworkBadIPv6(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	bad := "ip=[2001:db8::2::[2001:db8::1]:64::eth0:none"
	out := bootToBanner(t, "early", []string{bad}, []string{"2001:db8::2"}, d.Path)
	if !strings.Contains(out, `"[2001:db8::2::[2001:db8::1]:64::eth0:none"`) {
		t.Errorf("the error does not quote the value:\n%s", out)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

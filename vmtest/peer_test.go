package vmtest

import (
	"testing"

	"github.com/homestaker/homestaker-boot/init/wgconf"
	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// StartPeer starts a host-side WireGuard peer for the test's lifetime.
func StartPeer(t testing.TB, addr string) *fixture.Peer {
	t.Helper()
	p, err := fixture.StartPeer(addr)
	if err != nil {
		t.Fatalf("host WireGuard peer: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// allow lets the node whose disk is d in through peer.
func allow(t testing.TB, peer *fixture.Peer, d *Disk) {
	t.Helper()
	if err := peer.Allow(nodeKey(t, d, "secrets/wireguard/wg0.conf"), "10.99.0.2/32"); err != nil {
		t.Fatal(err)
	}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	port, err := fixture.FreeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// nodeKey reads the node's WireGuard public key from its disk.
func nodeKey(t testing.TB, d *Disk, rel string) wgconf.Key {
	t.Helper()
	k, err := fixture.NodeKey(d.Path, rel)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

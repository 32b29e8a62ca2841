package vmtest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// Peer is the far end of a node's tunnel, run by the test on the host:
// wireguard-go on a userspace network stack, so no root and no TUN. The
// guest reaches host loopback as 10.0.2.2 under QEMU user networking.
type Peer struct {
	t    testing.TB
	Key  wgconf.Key
	Port int
	Addr netip.Addr // the peer's address inside the tunnel
	dev  *device.Device
	net  *netstack.Net
}

// StartPeer starts a peer with a new key on a free UDP port of the host.
func StartPeer(t testing.TB, addr string) *Peer {
	t.Helper()
	key, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, Key: key, Addr: netip.MustParseAddr(addr), Port: freeUDPPort(t)}
	tun, tnet, err := netstack.CreateNetTUN([]netip.Addr{p.Addr}, nil, 1420)
	if err != nil {
		t.Fatal(err)
	}
	p.net = tnet
	p.dev = device.NewDevice(tun, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	if err := p.dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hex.EncodeToString(key[:]), p.Port)); err != nil {
		t.Fatal(err)
	}
	if err := p.dev.Up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.dev.Close)
	return p
}

// PublicKey is what the node's wg0.conf names as its peer.
func (p *Peer) PublicKey() string { return p.Key.PublicKey().String() }

// Flags are `homestaker prepare` flags for a node at addr whose wg0.conf
// has this peer, reached at 10.0.2.2 (the host) from the guest.
func (p *Peer) Flags(addr string) []string {
	return []string{"--wg-address", addr, "--wg-peer-public-key", p.PublicKey(),
		"--wg-endpoint", fmt.Sprintf("10.0.2.2:%d", p.Port), "--wg-allowed-ips", "10.99.0.0/24", "--wg-keepalive", "1"}
}

// Allow lets the node with the given public key in, from allowed.
func (p *Peer) Allow(nodeKey wgconf.Key, allowed string) {
	p.t.Helper()
	if err := p.dev.IpcSet(fmt.Sprintf("public_key=%s\nallowed_ip=%s\n", nodeKey.Hex(), allowed)); err != nil {
		p.t.Fatal(err)
	}
}

// Ping sends ICMP echo requests to dst through the tunnel until one is
// answered or the timeout passes.
func (p *Peer) Ping(dst string, timeout time.Duration) error {
	sock, err := p.net.Dial("ping4", dst)
	if err != nil {
		return err
	}
	defer sock.Close()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		req := icmp.Echo{Seq: rand.Intn(1 << 16), Data: []byte("homestaker vmtest")}
		b, _ := (&icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &req}).Marshal(nil)
		_ = sock.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := sock.Write(b); err != nil {
			lastErr = err
			continue
		}
		buf := make([]byte, 1500)
		n, err := sock.Read(buf)
		if err != nil {
			lastErr = err
			continue
		}
		msg, err := icmp.ParseMessage(1, buf[:n])
		if err != nil {
			lastErr = err
			continue
		}
		if echo, ok := msg.Body.(*icmp.Echo); ok && echo.Seq == req.Seq && bytes.Equal(echo.Data, req.Data) {
			return nil
		}
	}
	return fmt.Errorf("no echo reply from %s through the tunnel: %v", dst, lastErr)
}

// Handshakes reports whether the peer has completed a handshake.
func (p *Peer) Handshakes() bool {
	s, err := p.dev.IpcGet()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "last_handshake_time_sec=") && line != "last_handshake_time_sec=0" {
			return true
		}
	}
	return false
}

func freeUDPPort(t testing.TB) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// nodeKey reads the node's WireGuard private key from its disk, to tell
// the host peer which public key to let in.
func nodeKey(t testing.TB, d *Disk, rel string) wgconf.Key {
	t.Helper()
	c, _, err := wgconf.Parse("/"+rel, []byte(d.ReadFile(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return c.Interface.PrivateKey.PublicKey()
}

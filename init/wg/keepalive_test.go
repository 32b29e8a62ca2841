package wg

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// PersistentKeepalive as the file says: the device is set to it, and an
// idle node keeps sending keepalives to the hub, so that a NAT between
// them keeps the mapping the hub's packets need to reach a node that
// waits at the banner. Without it, an idle node sends nothing.
func TestPersistentKeepaliveAsTheFileSays(t *testing.T) {
	for _, tc := range []struct {
		keepalive int
		wantSent  bool
	}{{1, true}, {0, false}} {
		priv := genKey(t)
		srv := startServer(t, serverAddr, nil, map[wgconf.Key]netip.Addr{priv.PublicKey(): nodeAddr})
		conf := nodeConf(priv, wgconf.Peer{
			PublicKey: srv.pub(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")},
			Endpoint: srv.endpoint(), PersistentKeepalive: tc.keepalive,
		})
		var tun *Tunnel
		out, _, f := stage(t, 10*time.Second, func(ctx context.Context, rec *plan.Record) error {
			var err error
			tun, _, err = netstackUp(ctx, conf, Options{}, rec)
			if err != nil {
				return err
			}
			_, err = tun.WaitHandshake(ctx)
			return err
		})
		if f != nil {
			t.Fatalf("stage failed: %v\n%s", f, out)
		}
		st, err := readDevice(tun.dev, "wg0")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Peers) != 1 || st.Peers[0].Keepalive != tc.keepalive {
			t.Fatalf("PersistentKeepalive = %d: the device has %+v", tc.keepalive, st.Peers)
		}
		// What the hub received from the idle node, once the handshake's
		// own packets are through.
		time.Sleep(500 * time.Millisecond)
		before := hubReceived(t, srv)
		time.Sleep(3500 * time.Millisecond)
		got := hubReceived(t, srv) - before
		// A keepalive is a 32-byte transport message: three in 3.5 s
		// at 1 s, allowing for a slow machine.
		if tc.wantSent && got < 2*32 {
			t.Errorf("PersistentKeepalive = 1: the hub received %d bytes from the idle node in 3.5 s, want keepalives", got)
		}
		if !tc.wantSent && got != 0 {
			t.Errorf("PersistentKeepalive = 0: the hub received %d bytes from the idle node in 3.5 s, want none", got)
		}
		tun.Close()
	}
}

// hubReceived is what the server has received from its one peer.
func hubReceived(t *testing.T, srv *server) uint64 {
	t.Helper()
	st, err := readDevice(srv.dev, "srv")
	if err != nil || len(st.Peers) != 1 {
		t.Fatalf("reading the server: %+v, %v", st.Peers, err)
	}
	return st.Peers[0].RxBytes
}

package wg

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func TestReresolveDue(t *testing.T) {
	up := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	stale := DefaultReresolveStale
	for _, tc := range []struct {
		name      string
		last, now time.Duration // from up; last -1: no handshake
		want      bool
	}{
		{"no handshake yet, just up", -1, 10 * time.Second, false},
		{"no handshake since the tunnel went up 135s ago", -1, 135 * time.Second, false},
		{"no handshake since the tunnel went up 136s ago", -1, 136 * time.Second, true},
		{"a fresh handshake", 100 * time.Second, 200 * time.Second, false},
		{"a handshake 135s old", 100 * time.Second, 235 * time.Second, false},
		{"a handshake 136s old", 100 * time.Second, 236 * time.Second, true},
		{"a handshake hours old", time.Second, 5 * time.Hour, true},
	} {
		last := time.Time{}
		if tc.last >= 0 {
			last = up.Add(tc.last)
		}
		if got := reresolveDue(last, up, up.Add(tc.now), stale); got != tc.want {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEndpointMoved(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		current  string
		resolved netip.AddrPort
		want     bool
	}{
		{"192.0.2.1:51820", ap("192.0.2.1:51820"), false},
		{"192.0.2.1:51820", ap("192.0.2.7:51820"), true},
		{"192.0.2.1:51820", ap("192.0.2.1:51821"), true},
		{"[::ffff:192.0.2.1]:51820", ap("192.0.2.1:51820"), false},
		{"[2001:db8::1]:51820", ap("[2001:db8::1]:51820"), false},
		{"", ap("192.0.2.1:51820"), true},
		{"192.0.2.1:51820", netip.AddrPort{}, false},
	} {
		if got := endpointMoved(tc.current, tc.resolved); got != tc.want {
			t.Errorf("%q -> %s: moved %v, want %v", tc.current, tc.resolved, got, tc.want)
		}
	}
}

func TestReresolveDefaults(t *testing.T) {
	rr := Reresolve{}.withDefaults()
	if rr.Stale != 135*time.Second || rr.Every != 30*time.Second {
		t.Errorf("defaults %+v, want reresolve-dns's 135s", rr)
	}
	if rr := (Reresolve{Stale: time.Second, Every: time.Millisecond}).withDefaults(); rr.Stale != time.Second || rr.Every != time.Millisecond {
		t.Errorf("options not kept: %+v", rr)
	}
}

// The hub's name pointed at an address where nobody answers when the
// tunnel came up; it moves to the hub's real address. The watch resolves
// the name again once the handshake is stale, sets the endpoint, and the
// handshake follows.
func TestReresolveFollowsTheHub(t *testing.T) {
	priv := genKey(t)
	srv := startServer(t, serverAddr, nil, map[wgconf.Key]netip.Addr{priv.PublicKey(): nodeAddr})
	var where atomic.Value
	where.Store(netip.MustParseAddr("192.0.2.1")) // TEST-NET-1: nobody
	var lookups atomic.Int32
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		return []netip.Addr{where.Load().(netip.Addr)}, nil
	}
	conf := nodeConf(priv, wgconf.Peer{
		PublicKey:  srv.pub(),
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")},
		Endpoint:   &wgconf.Endpoint{Host: "hub.test", Port: srv.port},
	})
	o := Options{Resolve: resolve, resolveWait: fastWait, Reresolve: Reresolve{Stale: 500 * time.Millisecond, Every: 100 * time.Millisecond}}
	out, _, f := stage(t, 20*time.Second, func(ctx context.Context, rec *plan.Record) error {
		tun, _, err := netstackUp(ctx, conf, o, rec)
		if err != nil {
			return err
		}
		defer tun.Close()
		tun.startWatch(o)
		// Stale at the old address: nothing moves while the name holds.
		time.Sleep(time.Second)
		if st, err := tun.Status(); err != nil || st[0].Endpoint != "192.0.2.1:"+itoa(srv.port) || !st[0].Handshake.IsZero() {
			t.Errorf("before the move: %+v %v", st, err)
		}
		if lookups.Load() < 2 {
			t.Errorf("%d lookups; the stale handshake should have asked again", lookups.Load())
		}
		where.Store(netip.MustParseAddr("127.0.0.1"))
		st, err := tun.WaitHandshake(ctx)
		if err == nil && st[0].Endpoint != "127.0.0.1:"+itoa(srv.port) {
			t.Errorf("handshake at %s", st[0].Endpoint)
		}
		return err
	})
	if f != nil {
		t.Fatalf("no handshake after the move: %v\n%s", f, out)
	}
	if !strings.Contains(out, "Endpoint hub.test:"+itoa(srv.port)+" resolves to 127.0.0.1:"+itoa(srv.port)+" now (was 192.0.2.1:") {
		t.Errorf("console lacks the move:\n%s", out)
	}
	if n := strings.Count(out, "endpoint updated"); n != 1 {
		t.Errorf("%d lines of endpoint updates, want 1:\n%s", n, out)
	}
}

// Off, or a literal endpoint: no lookups.
func TestReresolveOnlyNames(t *testing.T) {
	priv := genKey(t)
	srv := startServer(t, serverAddr, nil, map[wgconf.Key]netip.Addr{priv.PublicKey(): nodeAddr})
	var lookups atomic.Int32
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	dead := &wgconf.Endpoint{Host: "127.0.0.1", Port: deadPort(t)}
	conf := nodeConf(priv, wgconf.Peer{PublicKey: srv.pub(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")}, Endpoint: dead})
	o := Options{Resolve: resolve, Reresolve: Reresolve{Stale: 100 * time.Millisecond, Every: 50 * time.Millisecond}}
	_, _, f := stage(t, 10*time.Second, func(ctx context.Context, rec *plan.Record) error {
		tun, _, err := netstackUp(ctx, conf, o, rec)
		if err != nil {
			return err
		}
		defer tun.Close()
		tun.startWatch(o)
		time.Sleep(500 * time.Millisecond)
		return nil
	})
	if f != nil {
		t.Fatal(f)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("%d lookups for an IP literal endpoint", n)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

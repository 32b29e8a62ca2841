package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/wg"
)

func TestTunnelState(t *testing.T) {
	const hub = "q1/ZzYl7lsIVpQl+8ncSJDEh0bTYQ8lVXbQVQsLZ/nk="
	const other = "Rk3mJ8YzGvT2wq7JcQ0yB1x0n3dYt0uV8c+2a1b4Q2s="
	hs := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		peers []wg.PeerStatus
		err   error
		want  string
	}{
		{"handshake", []wg.PeerStatus{{PublicKey: hub, Endpoint: "192.0.2.1:51820", Handshake: hs, HandshakeAge: 12400 * time.Millisecond}},
			nil, "tunnel wg0: last handshake 12s ago with q1/ZzY…= at 192.0.2.1:51820\n"},
		{"minutes", []wg.PeerStatus{{PublicKey: hub, Endpoint: "192.0.2.1:51820", Handshake: hs, HandshakeAge: 3*time.Minute + 4*time.Second}},
			nil, "tunnel wg0: last handshake 3m4s ago with q1/ZzY…= at 192.0.2.1:51820\n"},
		{"two peers, one silent", []wg.PeerStatus{
			{PublicKey: hub, Endpoint: "192.0.2.1:51820", Handshake: hs, HandshakeAge: time.Second},
			{PublicKey: other, Endpoint: "198.51.100.7:51820", TxBytes: 148},
		}, nil, "tunnel wg0: last handshake 1s ago with q1/ZzY…= at 192.0.2.1:51820\n" +
			"tunnel wg0: no handshake yet with Rk3mJ8…= at 198.51.100.7:51820 (sent 148 bytes, received 0)\n"},
		{"unresolved", []wg.PeerStatus{{PublicKey: hub, Configured: "vpn.example.org:51820", ResolveError: "lookup vpn.example.org: no such host"}},
			nil, "tunnel wg0: no handshake yet with q1/ZzY…= at vpn.example.org:51820 (lookup vpn.example.org: no such host)\n"},
		{"no endpoint", []wg.PeerStatus{{PublicKey: hub}},
			nil, "tunnel wg0: no handshake yet with q1/ZzY…= (sent 0 bytes, received 0)\n"},
		{"hostile name", []wg.PeerStatus{{PublicKey: hub, Configured: "evil\x1b[2J:51820", ResolveError: "no\nsuch"}},
			nil, "tunnel wg0: no handshake yet with q1/ZzY…= at evil\\x1b[2J:51820 (no\\x0asuch)\n"},
		{"error", nil, errors.New("UAPI get: device closed"), "tunnel wg0: state unknown: UAPI get: device closed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tunnelState("wg0", tc.peers, tc.err); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// Whatever the file and the resolver hold, the greeting gets one line per
// peer and no control character a terminal would act on.
func FuzzTunnelState(f *testing.F) {
	f.Add("vpn.example.org:51820", "lookup vpn.example.org: no such host", "")
	f.Add("evil\x1b[2J:1", "no\nsuch", "192.0.2.1:51820")
	f.Fuzz(func(t *testing.T, configured, resolveErr, endpoint string) {
		got := tunnelState("wg0", []wg.PeerStatus{{PublicKey: "q1/ZzYl7lsIVpQl+8ncSJDEh0bTYQ8lVXbQVQsLZ/nk=", Configured: configured, ResolveError: resolveErr, Endpoint: endpoint}}, nil)
		if !strings.HasPrefix(got, "tunnel wg0: ") || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
			t.Fatalf("not one line: %q", got)
		}
		for _, r := range strings.TrimSuffix(got, "\n") {
			// A tab is kept, as console.Escape keeps it.
			if (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("control character %U in %q", r, got)
			}
		}
	})
}

package wg

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// FuzzParseUAPIGet feeds the IpcGet parser anything: it must not panic,
// its errors must never quote the private or preshared key that the
// answer starts with, and what it accepts must be well formed.
func FuzzParseUAPIGet(f *testing.F) {
	f.Add(wgGetAnswer())
	f.Add(wgGetAnswer() + "errno=0\n")
	f.Add("private_key=" + seqHex(1) + "\n" + seqHex(0x80) + "\n")
	f.Add("public_key=" + seqHex(0x40) + "\nendpoint=[fe80::1%eth0]:51820\nallowed_ip=fe80::/64\n")
	f.Add("listen_port=\nfwmark=0x10\n")
	f.Add("public_key=zz\n")
	f.Add("errno=-5\n")
	f.Add("")
	privHex, pskHex := seqHex(1), seqHex(0x80)
	secret := "private_key=" + privHex + "\n"
	withPeer := secret + "public_key=" + seqHex(0x40) + "\npreshared_key=" + pskHex + "\n"
	zeroPeer := "public_key=" + strings.Repeat("0", 64)
	f.Fuzz(func(t *testing.T, text string) {
		for _, in := range []string{text, secret + text, withPeer + text} {
			st, err := parseUAPIGet(in)
			if err != nil {
				if msg := err.Error(); strings.Contains(msg, privHex) || strings.Contains(msg, pskHex) {
					t.Fatalf("error quotes a secret: %v", err)
				}
				continue
			}
			if st.ListenPort < 0 || st.ListenPort > 65535 {
				t.Fatalf("listen port %d", st.ListenPort)
			}
			for _, p := range st.Peers {
				if p.Endpoint != "" {
					if _, err := netip.ParseAddrPort(p.Endpoint); err != nil {
						t.Fatalf("accepted endpoint %q", p.Endpoint)
					}
				}
				for _, a := range p.AllowedIPs {
					if !a.IsValid() {
						t.Fatalf("accepted an invalid prefix")
					}
				}
				if p.PublicKey == (wgconf.Key{}) && !strings.Contains(in, zeroPeer) {
					t.Fatalf("a peer with a zero key from %q", in)
				}
			}
		}
	})
}

// FuzzRedact: whatever surrounds it, a key never survives redact.
func FuzzRedact(f *testing.F) {
	f.Add("failed to parse line %q", 3)
	f.Add("", 0)
	f.Add("x=", 1)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		for _, k := range []string{seqHex(1), seqKey(1).String()} {
			i := 0
			if len(s) > 0 {
				i = (cut%len(s) + len(s)) % len(s)
			}
			out := wgconf.Redact(s[:i] + k + s[i:])
			if strings.Contains(out, k) || strings.Contains(out, k[:40]) { // 40: the shortest run Redact hides
				t.Fatalf("wgconf.Redact(%q) = %q keeps the key", s[:i]+k+s[i:], out)
			}
		}
	})
}

package wg

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// seqKey is a key whose bytes are start, start+1, ...: its hex is easy to
// write down in a test.
func seqKey(start byte) wgconf.Key {
	var k wgconf.Key
	for i := range k {
		k[i] = start + byte(i)
	}
	return k
}

func seqHex(start byte) string { return seqKey(start).Hex() }

func TestSeqKeyHex(t *testing.T) {
	if got, want := seqHex(1), "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"; got != want {
		t.Fatalf("seqHex(1) = %s, want %s", got, want)
	}
}

func TestUAPISet(t *testing.T) {
	psk := seqKey(0x80)
	tests := []struct {
		name      string
		conf      wgconf.Config
		endpoints map[wgconf.Key]netip.AddrPort
		want      string
	}{
		{
			name: "minimal",
			conf: wgconf.Config{Name: "wg0", Interface: wgconf.Interface{PrivateKey: seqKey(1)}},
			want: "private_key=" + seqHex(1) + "\nreplace_peers=true\n",
		},
		{
			name: "everything",
			conf: wgconf.Config{
				Name: "wg0",
				Interface: wgconf.Interface{
					PrivateKey: seqKey(1), ListenPort: 51820, FwMark: 0x1234, FwMarkSet: true,
					// wg-quick-only keys have no UAPI line.
					Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}, MTU: 1380, Table: "off",
				},
				Peers: []wgconf.Peer{
					{
						PublicKey: seqKey(0x40), PresharedKey: &psk, PersistentKeepalive: 25,
						AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24"), netip.MustParsePrefix("::/0")},
						Endpoint:   &wgconf.Endpoint{Host: "vpn.example.org", Port: 51820},
					},
					{
						// The endpoint did not resolve: configured without.
						PublicKey: seqKey(0x60),
						Endpoint:  &wgconf.Endpoint{Host: "down.example.org", Port: 1},
					},
					{
						PublicKey:  seqKey(0xa0),
						AllowedIPs: []netip.Prefix{netip.MustParsePrefix("fd00::/64")},
						Endpoint:   &wgconf.Endpoint{Host: "2001:db8::1", Port: 443},
					},
				},
			},
			endpoints: map[wgconf.Key]netip.AddrPort{
				seqKey(0x40): netip.MustParseAddrPort("192.0.2.7:51820"),
				seqKey(0xa0): netip.MustParseAddrPort("[2001:db8::1]:443"),
			},
			want: "private_key=" + seqHex(1) + "\n" +
				"replace_peers=true\n" +
				"listen_port=51820\n" +
				"fwmark=4660\n" +
				"public_key=" + seqHex(0x40) + "\n" +
				"preshared_key=" + seqHex(0x80) + "\n" +
				"endpoint=192.0.2.7:51820\n" +
				"persistent_keepalive_interval=25\n" +
				"replace_allowed_ips=true\n" +
				"allowed_ip=10.99.0.0/24\n" +
				"allowed_ip=::/0\n" +
				"public_key=" + seqHex(0x60) + "\n" +
				"persistent_keepalive_interval=0\n" +
				"replace_allowed_ips=true\n" +
				"public_key=" + seqHex(0xa0) + "\n" +
				"endpoint=[2001:db8::1]:443\n" +
				"persistent_keepalive_interval=0\n" +
				"replace_allowed_ips=true\n" +
				"allowed_ip=fd00::/64\n",
		},
		{
			name: "fwmark off is set to 0",
			conf: wgconf.Config{Name: "wg0", Interface: wgconf.Interface{PrivateKey: seqKey(1), FwMarkSet: true}},
			want: "private_key=" + seqHex(1) + "\nreplace_peers=true\nfwmark=0\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uapiSet(&tt.conf, tt.endpoints); got != tt.want {
				t.Errorf("uapiSet:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// wgGetAnswer is an IpcGet answer as wireguard-go writes it.
func wgGetAnswer() string {
	return "private_key=" + seqHex(1) + "\n" +
		"listen_port=51820\n" +
		"fwmark=7\n" +
		"public_key=" + seqHex(0x40) + "\n" +
		"preshared_key=" + seqHex(0x80) + "\n" +
		"protocol_version=1\n" +
		"endpoint=192.0.2.7:51820\n" +
		"last_handshake_time_sec=1700000000\n" +
		"last_handshake_time_nsec=500000000\n" +
		"tx_bytes=1184\n" +
		"rx_bytes=92\n" +
		"persistent_keepalive_interval=25\n" +
		"allowed_ip=10.99.0.0/24\n" +
		"allowed_ip=::/0\n" +
		"public_key=" + seqHex(0x60) + "\n" +
		"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n" +
		"protocol_version=1\n" +
		"endpoint=[2001:db8::1]:443\n" +
		"last_handshake_time_sec=0\n" +
		"last_handshake_time_nsec=0\n" +
		"tx_bytes=148\n" +
		"rx_bytes=0\n" +
		"persistent_keepalive_interval=0\n" +
		"public_key=" + seqHex(0xa0) + "\n" +
		"protocol_version=1\n" +
		"last_handshake_time_sec=0\n" +
		"last_handshake_time_nsec=0\n" +
		"tx_bytes=0\n" +
		"rx_bytes=0\n" +
		"persistent_keepalive_interval=0\n"
}

func TestParseUAPIGet(t *testing.T) {
	st, err := parseUAPIGet(wgGetAnswer() + "some_future_key=whatever\nerrno=0\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.ListenPort != 51820 || st.FwMark != 7 {
		t.Errorf("listen_port, fwmark = %d, %d; want 51820, 7", st.ListenPort, st.FwMark)
	}
	if len(st.Peers) != 3 {
		t.Fatalf("got %d peers, want 3: %+v", len(st.Peers), st.Peers)
	}
	p := st.Peers[0]
	if p.PublicKey != seqKey(0x40) || p.Endpoint != "192.0.2.7:51820" || p.TxBytes != 1184 || p.RxBytes != 92 || p.Keepalive != 25 {
		t.Errorf("peer 0 = %+v", p)
	}
	if want := time.Unix(1700000000, 500000000); !p.LastHandshake.Equal(want) {
		t.Errorf("peer 0 handshake = %v, want %v", p.LastHandshake, want)
	}
	if len(p.AllowedIPs) != 2 || p.AllowedIPs[1] != netip.MustParsePrefix("::/0") {
		t.Errorf("peer 0 allowed IPs = %v", p.AllowedIPs)
	}
	if q := st.Peers[1]; q.PublicKey != seqKey(0x60) || !q.LastHandshake.IsZero() || q.Endpoint != "[2001:db8::1]:443" || q.TxBytes != 148 {
		t.Errorf("peer 1 = %+v", q)
	}
	if q := st.Peers[2]; q.PublicKey != seqKey(0xa0) || q.Endpoint != "" || len(q.AllowedIPs) != 0 {
		t.Errorf("peer 2 = %+v", q)
	}
}

func TestParseUAPIGetErrors(t *testing.T) {
	priv := "private_key=" + seqHex(1) + "\n"
	peer := "public_key=" + seqHex(0x40) + "\n"
	tests := []struct {
		name, text, want string
	}{
		{"no equals sign", priv + seqHex(1) + "\n", "line 2: no '='"},
		{"errno", priv + "errno=-22\n", "errno=-22"},
		{"bad public key", priv + "public_key=" + seqHex(1)[:63] + "\n", "line 2: public_key: 64 hex digits expected"},
		{"bad port", priv + "listen_port=70000\n", "listen_port: a port number expected"},
		{"bad endpoint", priv + peer + "endpoint=vpn.example.org:51820\n", "line 3: endpoint: ip:port expected"},
		{"bad handshake", priv + peer + "last_handshake_time_sec=-1\n", "last_handshake_time_sec: a number expected"},
		{"bad bytes", priv + peer + "rx_bytes=x\n", "rx_bytes: a number expected"},
		{"bad allowed ip", priv + peer + "allowed_ip=10.0.0.300/8\n", "allowed_ip: a prefix expected"},
		{"preshared key first", priv + "preshared_key=" + seqHex(0x80) + "\n", "preshared_key before any public_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseUAPIGet(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			assertNoSecret(t, err.Error(), seqKey(1), seqKey(0x80))
		})
	}
}

// assertNoSecret fails when text holds any of keys in hex or base64, or a
// long piece of either.
func assertNoSecret(t *testing.T, text string, keys ...wgconf.Key) {
	t.Helper()
	for _, k := range keys {
		for _, enc := range []string{k.Hex(), k.String()} {
			for _, piece := range []string{enc, enc[:16], enc[len(enc)-17 : len(enc)-1]} {
				if strings.Contains(text, piece) {
					t.Errorf("a secret key (%q) appears in:\n%s", piece, text)
				}
			}
		}
	}
}

func TestRedact(t *testing.T) {
	k := seqKey(1)
	tests := []struct{ in, want string }{
		{"failed to parse line \"" + k.Hex() + "\"", "failed to parse line \"<hidden>\""},
		{"key " + k.String() + " here", "key <hidden> here"},
		{"almost " + k.Hex()[:41], "almost <hidden>"},
		{"peer(AbCd…WxYz) - Failed to send handshake initiation: network is unreachable", "peer(AbCd…WxYz) - Failed to send handshake initiation: network is unreachable"},
		{"udp [::]:51820->192.0.2.7:51820", "udp [::]:51820->192.0.2.7:51820"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := wgconf.Redact(tt.in); got != tt.want {
			t.Errorf("wgconf.Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package wg

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func prefixes(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParsePrefix(f))
	}
	return out
}

func TestPlanRoutes(t *testing.T) {
	peerA, peerB := seqKey(0x40), seqKey(0x60)
	gw := netip.MustParseAddr("10.0.2.2")
	type peer struct {
		key      wgconf.Key
		allowed  string
		endpoint string // resolved; "" for none
	}
	tests := []struct {
		name    string
		table   string
		addrs   string
		peers   []peer
		gw      netip.Addr
		gwLink  string
		want    []string
		wantErr string
	}{
		{
			name:  "site routes only, no host route",
			addrs: "10.99.0.2/32",
			peers: []peer{{peerA, "10.99.0.0/24 192.168.50.0/24", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"10.99.0.0/24 dev wg0", "192.168.50.0/24 dev wg0"},
		},
		{
			name:  "IPv4 default: halves and a host route to the endpoint",
			addrs: "10.99.0.2/32",
			peers: []peer{{peerA, "0.0.0.0/0", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0"},
		},
		{
			name:  "both defaults, IPv4 endpoint",
			addrs: "10.99.0.2/32 fd00:99::2/128",
			peers: []peer{{peerA, "0.0.0.0/0 ::/0", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0", "::/1 dev wg0", "8000::/1 dev wg0"},
		},
		{
			name:  "IPv6 default does not capture an IPv4 endpoint",
			peers: []peer{{peerA, "::/0", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"::/1 dev wg0", "8000::/1 dev wg0"},
		},
		{
			name:  "a narrow prefix holding the endpoint gets a host route too",
			peers: []peer{{peerA, "198.51.100.0/24", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "198.51.100.0/24 dev wg0"},
		},
		{
			name:  "another peer's default captures this peer's endpoint",
			peers: []peer{{peerA, "0.0.0.0/0", "198.51.100.1:51820"}, {peerB, "10.98.0.0/16", "203.0.113.9:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "203.0.113.9/32 via 10.0.2.2 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0", "10.98.0.0/16 dev wg0"},
		},
		{
			name:  "a peer without endpoint needs no host route",
			peers: []peer{{peerA, "0.0.0.0/0", ""}},
			gw:    gw, gwLink: "eth0",
			want: []string{"0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0"},
		},
		{
			name:  "the interface's own subnet captures the endpoint",
			addrs: "198.51.100.2/24",
			peers: []peer{{peerA, "10.99.0.0/24", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "10.99.0.0/24 dev wg0"},
		},
		{
			name:  "prefixes the address route covers are skipped",
			addrs: "10.99.0.2/24",
			peers: []peer{{peerA, "10.99.0.0/24 10.99.0.1/32 10.0.0.0/8", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"10.0.0.0/8 dev wg0"},
		},
		{
			name:  "duplicates across peers",
			peers: []peer{{peerA, "10.99.0.0/24", ""}, {peerB, "10.99.0.0/24 10.98.0.0/24", ""}},
			want:  []string{"10.99.0.0/24 dev wg0", "10.98.0.0/24 dev wg0"},
		},
		{
			name:  "Table = off: nothing",
			table: "off",
			peers: []peer{{peerA, "0.0.0.0/0 ::/0", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: nil,
		},
		{
			name:  "Table = auto is main",
			table: "auto",
			peers: []peer{{peerA, "0.0.0.0/0", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0"},
		},
		{
			name:  "Table = 254 is main",
			table: "254",
			peers: []peer{{peerA, "10.99.0.0/24", ""}},
			want:  []string{"10.99.0.0/24 dev wg0"},
		},
		{
			name:  "Table = 1234: everything as written, no host route",
			table: "1234",
			addrs: "10.99.0.2/24",
			peers: []peer{{peerA, "0.0.0.0/0 10.99.0.0/24", "198.51.100.1:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"0.0.0.0/0 dev wg0 table 1234", "10.99.0.0/24 dev wg0 table 1234"},
		},
		{
			name:   "on-link endpoint without gateway",
			peers:  []peer{{peerA, "0.0.0.0/0", "192.168.1.10:51820"}},
			gwLink: "eth0",
			want:   []string{"192.168.1.10/32 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0"},
		},
		{
			name:  "IPv6 endpoint with an IPv6 gateway",
			peers: []peer{{peerA, "::/0", "[2001:db8::1]:51820"}},
			gw:    netip.MustParseAddr("fe80::1"), gwLink: "eth0",
			want: []string{"2001:db8::1/128 via fe80::1 dev eth0", "::/1 dev wg0", "8000::/1 dev wg0"},
		},
		{
			name:  "IPv4-mapped endpoint is IPv4",
			peers: []peer{{peerA, "0.0.0.0/0", "[::ffff:198.51.100.1]:51820"}},
			gw:    gw, gwLink: "eth0",
			want: []string{"198.51.100.1/32 via 10.0.2.2 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0"},
		},
		{
			name:    "captured endpoint, no gateway known",
			peers:   []peer{{peerA, "0.0.0.0/0", "198.51.100.1:51820"}},
			wantErr: "no underlying gateway or link is known",
		},
		{
			name:  "captured IPv6 endpoint, IPv4 gateway",
			peers: []peer{{peerA, "::/0", "[2001:db8::1]:51820"}},
			gw:    gw, gwLink: "eth0",
			wantErr: "is not of its address family",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := &wgconf.Config{Name: "wg0", Interface: wgconf.Interface{PrivateKey: seqKey(1), Table: tt.table, Addresses: prefixes(tt.addrs)}}
			endpoints := map[wgconf.Key]netip.AddrPort{}
			for _, p := range tt.peers {
				conf.Peers = append(conf.Peers, wgconf.Peer{PublicKey: p.key, AllowedIPs: prefixes(p.allowed)})
				if p.endpoint != "" {
					endpoints[p.key] = netip.MustParseAddrPort(p.endpoint)
				}
			}
			routes, err := PlanRoutes(conf, endpoints, tt.gw, tt.gwLink)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), peerA.String()) {
					t.Errorf("error %q does not name the peer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := routeStrings(routes)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestRouteTableBad(t *testing.T) {
	conf := &wgconf.Config{Name: "wg0", Interface: wgconf.Interface{Table: "main"}}
	if _, err := PlanRoutes(conf, nil, netip.Addr{}, ""); err == nil || !strings.Contains(err.Error(), `"main"`) {
		t.Errorf("error %v, want one quoting the Table value", err)
	}
}

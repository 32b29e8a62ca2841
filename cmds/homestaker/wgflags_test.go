package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func publicKey(t *testing.T) string {
	t.Helper()
	k, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().String()
}

func TestPrepareUsage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key := publicKey(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{}, "DEVICE is missing"},
		{[]string{img, "--force"}, "flags go before DEVICE"},
		{[]string{"--frobnicate", img}, "not defined"},
		{[]string{"--layout", "newest", img}, "--layout"},
		{[]string{"--label", "", img}, "--label"},
		{[]string{"--subvols", "secrets,..", img}, "--subvols"},
		{[]string{"--subvols", "secrets,erigon,secrets", img}, "appears twice"},
		{[]string{"--wg-address", "10.8.0.2/24", img}, "--wg-peer-public-key is needed"},
		{[]string{"--wg-peer-public-key", key, img}, "--wg-address is needed"},
		{[]string{"--wg-address", "10.8.0.2/33", "--wg-peer-public-key", key, img}, "--wg-address: "},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", "c2VjcmV0", img}, "--wg-peer-public-key: not a WireGuard key"},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", key, "--wg-endpoint", "vpn.example.org", img}, "--wg-endpoint: "},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", key, "--wg-endpoint", "fd00::1:51820", img}, "needs brackets"},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", key, "--wg-allowed-ips", "10.0.0.0/8,", img}, "--wg-allowed-ips: "},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", key, "--wg-keepalive", "70000", img}, "--wg-keepalive: "},
		{[]string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", key, "--wg-listen-port", "-1", img}, "--wg-listen-port: "},
		{[]string{"--wg-address", "10.8.0.2/24 # x", "--wg-peer-public-key", key, img}, "without '#'"},
		{[]string{filepath.Join(t.TempDir(), "nope")}, "truncate"},
		{[]string{t.TempDir()}, "neither a block device nor a regular"},
		{[]string{"/dev/null"}, "neither a block device nor a regular"},
	} {
		args := append([]string{"prepare"}, tc.args...)
		code, out, errOut := cli(t, args...)
		if code != exitUsage || !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, "usage: homestaker prepare") {
			t.Errorf("%q = %d, %q %q; want %d and %q", args, code, out, errOut, exitUsage, tc.msg)
		}
	}
	if st, err := os.Stat(img); err != nil || st.Size() != 0 {
		t.Errorf("a usage error touched the image: %v %v", st, err)
	}
}

func TestPrepareHelpListsEveryFlag(t *testing.T) {
	code, out, _ := cli(t, "prepare", "--help")
	if code != exitOK {
		t.Fatalf("prepare --help = %d", code)
	}
	for _, f := range []string{"--force", "--rotate", "--label L", "--layout legacy|current", "--subvols a,b,c",
		"--wg-address PREFIX[,PREFIX]", "--wg-peer-public-key KEY", "--wg-endpoint HOST:PORT",
		"--wg-allowed-ips PREFIX[,...]", "--wg-keepalive N", "--wg-listen-port N", "exit status"} {
		if !strings.Contains(out, "\n  "+f) && !strings.Contains(out, "\n"+f) {
			t.Errorf("prepare --help does not list %s:\n%s", f, out)
		}
	}
}

func flagsOf(t *testing.T, set map[string]string) (*wgFlags, *wgValues) {
	t.Helper()
	f := &wgFlags{set: map[string]bool{}}
	for k, v := range set {
		f.set[k] = true
		switch k {
		case "wg-address":
			f.Address = v
		case "wg-peer-public-key":
			f.PeerKey = v
		case "wg-endpoint":
			f.Endpoint = v
		case "wg-allowed-ips":
			f.AllowedIPs = v
		case "wg-keepalive":
			f.Keepalive = len(v) // any number will do
		}
	}
	v, err := parseWGFlags(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, v
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestBuildWGConfig(t *testing.T) {
	priv, _ := wgconf.GeneratePrivateKey()
	peerA, peerB := publicKey(t), publicKey(t)

	// From the flags alone: AllowedIPs defaults to the address's network.
	f, v := flagsOf(t, map[string]string{"wg-address": "10.8.0.2/24, fd00::2/64", "wg-peer-public-key": peerA, "wg-endpoint": "vpn.example.org:51820"})
	c, notes, err := buildWGConfig(priv, f, v, nil)
	if err != nil || len(notes) != 0 {
		t.Fatal(err, notes)
	}
	if len(c.Peers) != 1 || c.Peers[0].PublicKey.String() != peerA || !slices.Equal(c.Peers[0].AllowedIPs, prefixes("10.8.0.0/24", "fd00::/64")) ||
		c.Peers[0].Endpoint.String() != "vpn.example.org:51820" || c.Interface.PrivateKey != priv {
		t.Fatalf("from flags: %+v", c)
	}
	if _, _, err := wgconf.Parse("wg0.conf", wgconf.Marshal(c)); err != nil {
		t.Fatal(err)
	}

	// A single address as the default route warns.
	f, v = flagsOf(t, map[string]string{"wg-address": "10.8.0.2", "wg-peer-public-key": peerA})
	if _, notes, _ := buildWGConfig(priv, f, v, nil); len(notes) != 1 {
		t.Errorf("no note about a /32 AllowedIPs: %q", notes)
	}

	// --rotate without flags keeps addresses and peers.
	base := c
	priv2, _ := wgconf.GeneratePrivateKey()
	f, v = flagsOf(t, nil)
	c2, _, err := buildWGConfig(priv2, f, v, base)
	if err != nil || c2.Interface.PrivateKey != priv2 || !slices.Equal(c2.Interface.Addresses, base.Interface.Addresses) ||
		len(c2.Peers) != 1 || c2.Peers[0].PublicKey != base.Peers[0].PublicKey || c2.Peers[0].Endpoint.String() != "vpn.example.org:51820" {
		t.Fatalf("rotate without flags: %+v %v", c2, err)
	}

	// --rotate with an endpoint changes only the one peer's endpoint.
	f, v = flagsOf(t, map[string]string{"wg-endpoint": "192.0.2.1:51820"})
	c3, _, err := buildWGConfig(priv2, f, v, base)
	if err != nil || c3.Peers[0].Endpoint.String() != "192.0.2.1:51820" || c3.Peers[0].PublicKey != base.Peers[0].PublicKey ||
		!slices.Equal(c3.Peers[0].AllowedIPs, base.Peers[0].AllowedIPs) || base.Peers[0].Endpoint.String() != "vpn.example.org:51820" {
		t.Fatalf("rotate with --wg-endpoint: %+v %v", c3, err)
	}

	// --rotate with another peer key replaces the node's one peer.
	f, v = flagsOf(t, map[string]string{"wg-peer-public-key": peerB})
	c4, _, err := buildWGConfig(priv2, f, v, base)
	if err != nil || len(c4.Peers) != 1 || c4.Peers[0].PublicKey.String() != peerB || c4.Peers[0].Endpoint != nil {
		t.Fatalf("rotate with a new peer: %+v %v", c4, err)
	}

	// Two peers and no key to say which one: refused.
	two := *base
	two.Peers = append(slices.Clone(base.Peers), c4.Peers[0])
	f, v = flagsOf(t, map[string]string{"wg-keepalive": "25"})
	if _, _, err := buildWGConfig(priv2, f, v, &two); err == nil || !strings.Contains(err.Error(), "2 peers") {
		t.Errorf("two peers, no key: %v", err)
	}
}

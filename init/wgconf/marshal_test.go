package wgconf

import (
	"io/fs"
	"net/netip"
	"reflect"
	"testing"
)

func fsMode(m uint32) fs.FileMode { return fs.FileMode(m) }

// withoutLines returns a copy of c with every Line field zero, since
// Marshal does not keep the original layout.
func withoutLines(c *Config) *Config {
	d := *c
	d.Interface.Line = 0
	d.Interface.Hooks = nil
	for _, h := range c.Interface.Hooks {
		h.Line = 0
		d.Interface.Hooks = append(d.Interface.Hooks, h)
	}
	d.Peers = nil
	for _, p := range c.Peers {
		p.Line = 0
		d.Peers = append(d.Peers, p)
	}
	return &d
}

func roundTrip(t *testing.T, c *Config) {
	t.Helper()
	out := Marshal(c)
	back, _, err := Parse(c.Name+".conf", out)
	if err != nil {
		t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(withoutLines(back), withoutLines(c)) {
		t.Fatalf("round trip changed the config\nwas %+v %+v\nnow %+v %+v\n%s", c.Interface, c.Peers, back.Interface, back.Peers, out)
	}
}

func TestMarshalHomestakerConf(t *testing.T) {
	want := "[Interface]\nPrivateKey = " + alicePriv + "\nAddress = 10.0.0.2/32\n\n" +
		"[Peer]\nPublicKey = " + bobPub + "\nAllowedIPs = 10.0.0.0/24\nEndpoint = vpn.example.org:51820\nPersistentKeepalive = 25\n"
	if got := string(Marshal(homestakerConfig())); got != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", got, want)
	}
	roundTrip(t, homestakerConfig())
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, data := range map[string]string{
		"homestaker": homestakerConf,
		"everything": conf("ListenPort = 51820\nFwMark = 0xca6c\nAddress = 10.0.0.2/24, fd00::2/64\nAddress = 192.0.2.1\n"+
			"DNS = 1.1.1.1, home.arpa, fe80::1%eth0\nMTU = 1280\nTable = 1234\nSaveConfig = true\n"+
			"PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo a = b\nPreDown = x\n",
			peerBob+"PresharedKey = "+bobPriv+"\nAllowedIPs = 0.0.0.0/0, ::/0\nAllowedIPs = 10.0.0.1/24\nEndpoint = [2001:db8::1]:51820\nPersistentKeepalive = 25\n",
			"PublicKey = "+MustParseKey(bobPriv).String()+"\nEndpoint = 192.0.2.7:1\n",
			"PublicKey = "+MustParseKey(alicePub).PublicKey().String()+"\nAllowedIPs =\n"),
		"FwMark off, Table off": conf("FwMark = off\nTable = off\n"),
		"Table auto":            conf("Table = auto\nSaveConfig = false\n"),
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := mustParse(t, data)
			roundTrip(t, c)
		})
	}
}

// TestMarshalBuilt is what homestaker prepare does: a config built in
// code, keys generated, written out and read back.
func TestMarshalBuilt(t *testing.T) {
	priv, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	psk, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{
		Name: "wg0",
		Interface: Interface{
			PrivateKey: priv,
			Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		},
		Peers: []Peer{{
			PublicKey:           MustParseKey(bobPub),
			PresharedKey:        &psk,
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
			Endpoint:            &Endpoint{Host: "vpn.example.org", Port: 51820},
			PersistentKeepalive: 25,
		}},
	}
	roundTrip(t, c)
}

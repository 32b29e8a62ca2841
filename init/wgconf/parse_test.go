package wgconf

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

const file = "/mnt/secrets/wg0.conf"

// A wg0.conf as HomestakerOS setups have it: the staking server is a
// client of the operator's VPN server.
const homestakerConf = `[Interface]
# the staking server
PrivateKey = ` + alicePriv + `
Address = 10.0.0.2/32

[Peer]
# the operator's VPN server
PublicKey = ` + bobPub + `
Endpoint = vpn.example.org:51820
AllowedIPs = 10.0.0.0/24
PersistentKeepalive = 25
`

func homestakerConfig() *Config {
	return &Config{
		Name: "wg0",
		Interface: Interface{
			PrivateKey: MustParseKey(alicePriv),
			Addresses:  []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
			Line:       1,
		},
		Peers: []Peer{{
			PublicKey:           MustParseKey(bobPub),
			Endpoint:            &Endpoint{Host: "vpn.example.org", Port: 51820},
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
			PersistentKeepalive: 25,
			Line:                6,
		}},
	}
}

func mustParse(t *testing.T, data string) (*Config, []Warning) {
	t.Helper()
	c, w, err := Parse(file, []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return c, w
}

func TestParseHomestakerConf(t *testing.T) {
	c, w := mustParse(t, homestakerConf)
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if want := homestakerConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v %+v\nwant %+v %+v", c.Interface, c.Peers, want.Interface, want.Peers)
	}
	if c.PublicKey().String() != alicePub {
		t.Errorf("PublicKey = %s", c.PublicKey())
	}
}

func TestParseCRLF(t *testing.T) {
	crlf := strings.ReplaceAll(homestakerConf, "\n", "\r\n")
	for name, data := range map[string]string{
		"CRLF":          crlf,
		"CRLF, BOM":     "\ufeff" + crlf,
		"no final EOL":  strings.TrimSuffix(homestakerConf, "\n"),
		"CRLF, no EOL":  strings.TrimSuffix(crlf, "\r\n"),
		"tabs and ws":   strings.ReplaceAll(strings.ReplaceAll(homestakerConf, " = ", "\t=\t"), "\n", "  \n  "),
		"no spaces":     strings.ReplaceAll(homestakerConf, " = ", "="),
		"lower case":    strings.ToLower(homestakerConf[:13]) + homestakerConf[13:],
		"comment after": strings.ReplaceAll(homestakerConf, "\n\n", " # the end of the interface\n\n"),
	} {
		t.Run(name, func(t *testing.T) {
			c, w := mustParse(t, data)
			if len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
			if want := homestakerConfig(); !reflect.DeepEqual(c, want) {
				t.Errorf("got  %+v %+v\nwant %+v %+v", c.Interface, c.Peers, want.Interface, want.Peers)
			}
		})
	}
}

// conf builds a file from an [Interface] body and peer bodies, keys
// filled in, so that tests state only what they are about.
func conf(iface string, peers ...string) string {
	s := "[Interface]\nPrivateKey = " + alicePriv + "\n" + iface
	for _, p := range peers {
		s += "[Peer]\n" + p
	}
	return s
}

const peerBob = "PublicKey = " + bobPub + "\n"

func TestParseGood(t *testing.T) {
	pfx := func(s ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, x := range s {
			ps = append(ps, netip.MustParsePrefix(x))
		}
		return ps
	}
	for _, tc := range []struct {
		name, data string
		check      func(*Config) bool
	}{
		{"case-insensitive sections and keys", "[INTERFACE]\nprivatekey=" + alicePriv + "\nlistenport = 51820\n[peer]\npublickey =" + bobPub + "\nALLOWEDIPS= 10.0.0.0/24\n",
			func(c *Config) bool {
				return c.Interface.ListenPort == 51820 && len(c.Peers) == 1 && c.Peers[0].PublicKey.String() == bobPub
			}},
		{"comments", "# head\n[Interface] # the server\n  # indented\nPrivateKey = " + alicePriv + "#no space\nMTU = 1420 # comment\n",
			func(c *Config) bool { return c.Interface.MTU == 1420 }},
		{"addresses accumulate, bare ones are /32 and /128", conf("Address = 10.0.0.2/24, fd00::2/64\nAddress = 10.0.1.2 fd00:1::2\naddress=192.0.2.1,\n"),
			func(c *Config) bool {
				return reflect.DeepEqual(c.Interface.Addresses, pfx("10.0.0.2/24", "fd00::2/64", "10.0.1.2/32", "fd00:1::2/128", "192.0.2.1/32"))
			}},
		{"DNS: addresses and search domains", conf("DNS = 1.1.1.1, 2606:4700:4700::1111, home.arpa example.org.\nDNS = 9.9.9.9\n"),
			func(c *Config) bool {
				return reflect.DeepEqual(c.Interface.DNS, []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700:4700::1111"), netip.MustParseAddr("9.9.9.9")}) &&
					reflect.DeepEqual(c.Interface.DNSSearch, []string{"home.arpa", "example.org."})
			}},
		{"FwMark off", conf("FwMark = off\n"), func(c *Config) bool { return c.Interface.FwMark == 0 && c.Interface.FwMarkSet }},
		{"FwMark decimal", conf("FwMark = 51820\n"), func(c *Config) bool { return c.Interface.FwMark == 51820 && c.Interface.FwMarkSet }},
		{"FwMark hex", conf("FwMark = 0xCA6c\n"), func(c *Config) bool { return c.Interface.FwMark == 0xca6c }},
		{"FwMark max", conf("FwMark = 0xffffffff\n"), func(c *Config) bool { return c.Interface.FwMark == 0xffffffff }},
		{"FwMark unset", conf(""), func(c *Config) bool { return !c.Interface.FwMarkSet }},
		{"ListenPort 0", conf("ListenPort = 0\n"), func(c *Config) bool { return c.Interface.ListenPort == 0 }},
		{"ListenPort 65535", conf("ListenPort = 65535\n"), func(c *Config) bool { return c.Interface.ListenPort == 65535 }},
		{"MTU 576", conf("MTU = 576\n"), func(c *Config) bool { return c.Interface.MTU == 576 }},
		{"MTU 65535", conf("MTU = 65535\n"), func(c *Config) bool { return c.Interface.MTU == 65535 }},
		{"Table off", conf("Table = Off\n"), func(c *Config) bool { return c.Interface.Table == "off" }},
		{"Table auto", conf("Table = auto\n"), func(c *Config) bool { return c.Interface.Table == "auto" }},
		{"Table number", conf("Table = 01234\n"), func(c *Config) bool { return c.Interface.Table == "1234" }},
		{"SaveConfig false", conf("SaveConfig = False\n"), func(c *Config) bool { return !c.Interface.SaveConfig }},
		{"hooks kept in order", conf("postup = ip rule add a = b\nPreDown = echo x\nPostUp = c\n"),
			func(c *Config) bool {
				return reflect.DeepEqual(c.Interface.Hooks, []Hook{{"PostUp", "ip rule add a = b", 3}, {"PreDown", "echo x", 4}, {"PostUp", "c", 5}})
			}},
		{"no peers", conf(""), func(c *Config) bool { return c.Peers == nil }},
		{"peer without endpoint", conf("", peerBob+"AllowedIPs = 10.0.0.3/32\n"), func(c *Config) bool { return c.Peers[0].Endpoint == nil }},
		{"AllowedIPs accumulate", conf("", peerBob+"AllowedIPs = 10.0.0.0/24,fd00::/64\nAllowedIPs=0.0.0.0/0, ::/0\nAllowedIPs = 192.0.2.7\n"),
			func(c *Config) bool {
				return reflect.DeepEqual(c.Peers[0].AllowedIPs, pfx("10.0.0.0/24", "fd00::/64", "0.0.0.0/0", "::/0", "192.0.2.7/32"))
			}},
		{"PresharedKey", conf("", peerBob+"PresharedKey = "+bobPriv+"\nAllowedIPs = 10.0.0.1\n"),
			func(c *Config) bool {
				return c.Peers[0].PresharedKey != nil && *c.Peers[0].PresharedKey == MustParseKey(bobPriv)
			}},
		{"PersistentKeepalive off", conf("", peerBob+"PersistentKeepalive = off\nAllowedIPs = 10.0.0.1\n"), func(c *Config) bool { return c.Peers[0].PersistentKeepalive == 0 }},
		{"PersistentKeepalive 0", conf("", peerBob+"PersistentKeepalive = 0\nAllowedIPs = 10.0.0.1\n"), func(c *Config) bool { return c.Peers[0].PersistentKeepalive == 0 }},
		{"PersistentKeepalive 65535", conf("", peerBob+"PersistentKeepalive = 65535\nAllowedIPs = 10.0.0.1\n"), func(c *Config) bool { return c.Peers[0].PersistentKeepalive == 65535 }},
		{"two peers", conf("", peerBob+"AllowedIPs = 10.0.0.1\n", "PublicKey = "+MustParseKey(bobPriv).String()+"\nAllowedIPs = 10.0.0.3\n"),
			func(c *Config) bool { return len(c.Peers) == 2 && c.Peers[1].Line == 6 }},
		{"section after peers", "[Peer]\n" + peerBob + "AllowedIPs = 10.0.0.1\n[Interface]\nPrivateKey = " + alicePriv + "\n",
			func(c *Config) bool { return c.Interface.Line == 4 && c.Peers[0].Line == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustParse(t, tc.data)
			if !tc.check(c) {
				t.Errorf("unexpected result: %+v %+v", c.Interface, c.Peers)
			}
		})
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Endpoint
		str  string
	}{
		{"vpn.example.org:51820", Endpoint{"vpn.example.org", 51820}, "vpn.example.org:51820"},
		{"VPN.Example.org.:1", Endpoint{"VPN.Example.org.", 1}, "VPN.Example.org.:1"},
		{"localhost:65535", Endpoint{"localhost", 65535}, "localhost:65535"},
		{"xn--bcher-kva.example:51820", Endpoint{"xn--bcher-kva.example", 51820}, "xn--bcher-kva.example:51820"},
		{"192.0.2.1:51820", Endpoint{"192.0.2.1", 51820}, "192.0.2.1:51820"},
		{"[2001:DB8:0::1]:51820", Endpoint{"2001:db8::1", 51820}, "[2001:db8::1]:51820"},
		{"[fe80::1%eth0]:51820", Endpoint{"fe80::1%eth0", 51820}, "[fe80::1%eth0]:51820"},
		{"[::ffff:192.0.2.1]:7", Endpoint{"::ffff:192.0.2.1", 7}, "[::ffff:192.0.2.1]:7"},
	} {
		c, _ := mustParse(t, conf("", peerBob+"AllowedIPs = 10.0.0.1\nEndpoint = "+tc.in+"\n"))
		e := c.Peers[0].Endpoint
		if e == nil || *e != tc.want || e.String() != tc.str {
			t.Errorf("Endpoint %q = %+v (%v), want %+v (%s)", tc.in, e, e, tc.want, tc.str)
		}
		_, err := netip.ParseAddr(tc.want.Host)
		if ap, ok := e.AddrPort(); ok != (err == nil) || ok && ap.String() != tc.str {
			t.Errorf("Endpoint %q: AddrPort = %v, %v", tc.in, ap, ok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	sameAsBob := "PublicKey = " + bobPub + "\nAllowedIPs = 10.0.0.1\n"
	for _, tc := range []struct {
		name, data string
		prefix     string // after file, e.g. ":3: Address: "
		msg        string // a part of the message
	}{
		// structure
		{"empty file", "", ": ", "no [Interface] section"},
		{"only comments", "# nothing\n\n", ": ", "no [Interface] section"},
		{"only a peer", "[Peer]\n" + peerBob, ": ", "no [Interface] section"},
		{"key outside a section", "ListenPort = 1\n[Interface]\n", ":1: ListenPort: ", "outside any section: it belongs under [Interface]"},
		{"peer key outside a section", "# x\nPublicKey = " + bobPub + "\n", ":2: PublicKey: ", "outside any section: it belongs under [Peer]"},
		{"unknown section", "[Interfaces]\n", ":1: ", `unknown section "[Interfaces]": expected [Interface] or [Peer]`},
		{"spaces in a section header", "[ Interface ]\n", ":1: ", `unknown section "[ Interface ]"`},
		{"unclosed section header", conf("", "")[:0] + "[Peer\n", ":1: ", `"[Peer" is not a section header`},
		{"section header with trailing text", "[Interface] x\n", ":1: ", "not a section header"},
		{"second [Interface]", conf("ListenPort = 1\n") + "[Interface]\n", ":4: ", "a second [Interface] section (the first is on line 1)"},
		{"line without =", "[Interface]\nhello world\n", ":2: ", "expected [Interface], [Peer] or a Key = Value line"},
		{"known key without =", "[Interface]\nListenPort 51820\n", ":2: ListenPort: ", "no '=': expected ListenPort = value"},
		{"line starting with =", "[Interface]\n= 1\n", ":2: ", "a key is missing"},
		{"unknown key", conf("Foo = 1\n"), ":3: ", "unknown key in [Interface] (wg(8) refuses unknown keys); its name is not shown"},
		{"misspelt key", conf("", "PublicKey = "+bobPub+"\nAllowedIP = 10.0.0.1\n"), ":5: AllowedIP: ", "did you mean AllowedIPs?"},
		{"misspelt PrivateKey", "[Interface]\nPrivteKey = 1\n", ":2: PrivteKey: ", "did you mean PrivateKey?"},
		{"swapped letters in a short key", conf("MUT = 1420\n"), ":3: MUT: ", "did you mean MTU?"},
		{"a swap and a dropped letter", "[Interface]\nPirvateKy = 1\n", ":2: PirvateKy: ", "did you mean PrivateKey?"},
		{"strange key", conf("Foo Bar = 1\n"), ":3: ", `unknown key in [Interface] (wg(8) refuses unknown keys); its name is not shown`},
		{"peer key in [Interface]", conf("AllowedIPs = 0.0.0.0/0\n"), ":3: AllowedIPs: ", "belongs in [Peer], not in [Interface]"},
		{"interface key in [Peer]", conf("", peerBob+"Address = 10.0.0.2/32\n"), ":5: Address: ", "belongs in [Interface], not in [Peer]"},
		{"empty value", conf("ListenPort =\n"), ":3: ListenPort: ", "empty value"},
		{"empty Endpoint", conf("", peerBob+"Endpoint =   # none\n"), ":5: Endpoint: ", "empty value"},

		// repeated keys
		{"PrivateKey twice", conf("PrivateKey = " + alicePriv + "\n"), ":3: PrivateKey: ", "given twice in this section (first on line 2)"},
		{"ListenPort twice", conf("ListenPort = 1\nlistenport = 1\n"), ":4: ListenPort: ", "given twice in this section (first on line 3)"},
		{"FwMark twice", conf("FwMark = 1\nFwMark = off\n"), ":4: FwMark: ", "given twice"},
		{"MTU twice", conf("MTU = 1420\nMTU = 1420\n"), ":4: MTU: ", "given twice"},
		{"Table twice", conf("Table = off\nTable = off\n"), ":4: Table: ", "given twice"},
		{"SaveConfig twice", conf("SaveConfig = false\nSaveConfig = false\n"), ":4: SaveConfig: ", "given twice"},
		{"PublicKey twice", conf("", peerBob+peerBob), ":5: PublicKey: ", "given twice in this section (first on line 4)"},
		{"Endpoint twice", conf("", peerBob+"Endpoint = a.example:1\nEndpoint = b.example:1\n"), ":6: Endpoint: ", "given twice in this section (first on line 5)"},
		{"PersistentKeepalive twice", conf("", peerBob+"PersistentKeepalive = 1\nPersistentKeepalive = 1\n"), ":6: PersistentKeepalive: ", "given twice"},
		{"PresharedKey twice", conf("", peerBob+"PresharedKey = "+bobPriv+"\nPresharedKey = "+bobPriv+"\n"), ":6: PresharedKey: ", "given twice"},

		// required keys and key identity
		{"no PrivateKey", "[Interface]\nListenPort = 1\n", ":1: PrivateKey: ", "missing from [Interface]"},
		{"no PublicKey", conf("", "AllowedIPs = 10.0.0.1\n"), ":3: PublicKey: ", "missing from this [Peer]"},
		{"no PublicKey, earliest error first", "[Peer]\nAllowedIPs = 10.0.0.1\n[Interface]\nListenPort = 1\n", ":1: PublicKey: ", "missing from this [Peer]"},
		{"same peer twice", conf("", sameAsBob, "AllowedIPs = 10.0.0.3\n"+sameAsBob), ":8: PublicKey: ", "the same peer as the [Peer] on line 3"},
		{"own public key as a peer", conf("", "AllowedIPs = 10.0.0.1\nPublicKey = "+alicePub+"\n"), ":5: PublicKey: ", "this is the interface's own public key"},
		{"the brief's example", "[Interface]\nPrivateKey = " + alicePriv + "\n\n[Peer]\n# vpn\n\nPublicKey = " + bobPub[:43] + "\n", ":7: PublicKey: ",
			"not a WireGuard key: base64 of 32 bytes expected (44 characters ending in '='), got 43 characters"},
		{"hex PrivateKey", "[Interface]\nPrivateKey = 77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n", ":2: PrivateKey: ", "got 64 hex digits"},
		{"zero PrivateKey", "[Interface]\nPrivateKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", ":2: PrivateKey: ", "all zeros"},
		{"zero PublicKey", conf("", "PublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), ":4: PublicKey: ", "all zeros"},
		{"PresharedKey one short", conf("", peerBob+"PresharedKey = "+bobPriv[:43]+"\n"), ":5: PresharedKey: ", "got 43 characters"},

		// Address
		{"Address bad octet", conf("Address = 10.0.0.300/24\n"), ":3: Address: ", `"10.0.0.300/24" is not an IP address or prefix`},
		{"Address bad bits", conf("Address = 10.0.0.2/24, 10.0.0.2/33\n"), ":3: Address: ", `"10.0.0.2/33" is not an IP address or prefix`},
		{"Address v6 bad bits", conf("Address = fd00::2/129\n"), ":3: Address: ", `"fd00::2/129"`},
		{"Address a name", conf("Address = host.example\n"), ":3: Address: ", `"host.example" is not an IP address or prefix`},
		{"Address with zone", conf("Address = fe80::1%eth0\n"), ":3: Address: ", `"fe80::1%eth0" is not`},
		{"Address unspecified", conf("Address = 0.0.0.0/0\n"), ":3: Address: ", `"0.0.0.0/0" cannot be an interface's address`},

		// AllowedIPs
		{"AllowedIPs bad item", conf("", peerBob+"AllowedIPs = 10.0.0.0/24, bogus\n"), ":5: AllowedIPs: ", `"bogus" is not an IP address or prefix`},
		{"AllowedIPs trailing comma", conf("", peerBob+"AllowedIPs = 10.0.0.0/24,\n"), ":5: AllowedIPs: ", "an empty item in the list"},
		{"AllowedIPs space separated", conf("", peerBob+"AllowedIPs = 10.0.0.0/24 10.0.1.0/24\n"), ":5: AllowedIPs: ", `"10.0.0.0/24 10.0.1.0/24" is not`},
		{"AllowedIPs zone", conf("", peerBob+"AllowedIPs = fe80::1%eth0\n"), ":5: AllowedIPs: ", `"fe80::1%eth0" is not`},

		// Endpoint
		{"Endpoint bare IPv6 with port", conf("", peerBob+"Endpoint = 2001:db8::1:51820\n"), ":5: Endpoint: ", `"2001:db8::1:51820": an IPv6 address needs brackets: [2001:db8::1]:51820`},
		{"Endpoint bare IPv6", conf("", peerBob+"Endpoint = fd00::1\n"), ":5: Endpoint: ", `"fd00::1" is an IPv6 address without a port: expected [fd00::1]:port`},
		{"Endpoint no port", conf("", peerBob+"Endpoint = vpn.example.org\n"), ":5: Endpoint: ", `"vpn.example.org" has no port: expected host:port, or [IPv6]:port`},
		{"Endpoint empty port", conf("", peerBob+"Endpoint = vpn.example.org:\n"), ":5: Endpoint: ", "the port must be a number from 1 to 65535"},
		{"Endpoint port 0", conf("", peerBob+"Endpoint = vpn.example.org:0\n"), ":5: Endpoint: ", `"vpn.example.org:0": the port must be a number from 1 to 65535`},
		{"Endpoint port too big", conf("", peerBob+"Endpoint = 192.0.2.1:65536\n"), ":5: Endpoint: ", "the port must be"},
		{"Endpoint port name", conf("", peerBob+"Endpoint = 192.0.2.1:wireguard\n"), ":5: Endpoint: ", "the port must be"},
		{"Endpoint no host", conf("", peerBob+"Endpoint = :51820\n"), ":5: Endpoint: ", `"" is neither an IPv4 address nor a valid hostname`},
		{"Endpoint underscore", conf("", peerBob+"Endpoint = vpn_1.example.org:51820\n"), ":5: Endpoint: ", `"vpn_1.example.org" is neither`},
		{"Endpoint label starts with -", conf("", peerBob+"Endpoint = -vpn.example.org:51820\n"), ":5: Endpoint: ", "is neither"},
		{"Endpoint empty label", conf("", peerBob+"Endpoint = vpn..example.org:51820\n"), ":5: Endpoint: ", "is neither"},
		{"Endpoint long label", conf("", peerBob+"Endpoint = "+strings.Repeat("a-", 32)+"b.org:51820\n"), ":5: Endpoint: ", "is neither"},
		{"Endpoint bad IPv4", conf("", peerBob+"Endpoint = 10.0.0.300:51820\n"), ":5: Endpoint: ", `"10.0.0.300" is neither an IPv4 address nor a valid hostname`},
		{"Endpoint short IPv4", conf("", peerBob+"Endpoint = 10.1:51820\n"), ":5: Endpoint: ", "is neither"},
		{"Endpoint name in brackets", conf("", peerBob+"Endpoint = [vpn.example.org]:51820\n"), ":5: Endpoint: ", "only an IPv6 address goes in brackets"},
		{"Endpoint IPv4 in brackets", conf("", peerBob+"Endpoint = [192.0.2.1]:51820\n"), ":5: Endpoint: ", "only an IPv6 address goes in brackets"},
		{"Endpoint brackets, no port", conf("", peerBob+"Endpoint = [fd00::1]\n"), ":5: Endpoint: ", "has no port: expected [fd00::1]:port"},
		{"Endpoint unclosed bracket", conf("", peerBob+"Endpoint = [fd00::1:51820\n"), ":5: Endpoint: ", "has no closing ']'"},

		// numbers and words
		{"ListenPort too big", conf("ListenPort = 65536\n"), ":3: ListenPort: ", `"65536" is not a port number 0-65535`},
		{"ListenPort a name", conf("ListenPort = wireguard\n"), ":3: ListenPort: ", `"wireguard" is not a port number`},
		{"ListenPort negative", conf("ListenPort = -1\n"), ":3: ListenPort: ", "is not a port number"},
		{"PersistentKeepalive too big", conf("", peerBob+"PersistentKeepalive = 65536\n"), ":5: PersistentKeepalive: ", `"65536": expected off or a number of seconds 0-65535`},
		{"PersistentKeepalive on", conf("", peerBob+"PersistentKeepalive = on\n"), ":5: PersistentKeepalive: ", "expected off or"},
		{"PersistentKeepalive negative", conf("", peerBob+"PersistentKeepalive = -25\n"), ":5: PersistentKeepalive: ", "expected off or"},
		{"FwMark bad hex", conf("FwMark = 0xg\n"), ":3: FwMark: ", `"0xg": expected off, a decimal number or 0x and hex digits (32 bits)`},
		{"FwMark too big", conf("FwMark = 4294967296\n"), ":3: FwMark: ", "expected off"},
		{"FwMark hex too big", conf("FwMark = 0x100000000\n"), ":3: FwMark: ", "expected off"},
		{"FwMark 0x alone", conf("FwMark = 0x\n"), ":3: FwMark: ", "expected off"},
		{"MTU too small", conf("MTU = 575\n"), ":3: MTU: ", `"575" is not an MTU from 576 to 65535`},
		{"MTU too big", conf("MTU = 65536\n"), ":3: MTU: ", "is not an MTU"},
		{"MTU junk", conf("MTU = 1420 bytes\n"), ":3: MTU: ", `"1420 bytes" is not an MTU`},
		{"Table name", conf("Table = main\n"), ":3: Table: ", `"main": expected off, auto or a routing table number`},
		{"Table 0", conf("Table = 0\n"), ":3: Table: ", "expected off, auto"},
		{"SaveConfig yes", conf("SaveConfig = yes\n"), ":3: SaveConfig: ", `"yes" is neither true nor false`},
		{"DNS bad address", conf("DNS = 1.1.1\n"), ":3: DNS: ", `"1.1.1" is not an IP address`},
		{"DNS bad v6", conf("DNS = 2606:4700::11111\n"), ":3: DNS: ", "is not an IP address"},
		{"DNS bad zone", conf("DNS = fe80::1%a/b\n"), ":3: DNS: ", `"fe80::1%a/b" is not an IP address`},
		{"Endpoint bad zone", conf("", peerBob+"Endpoint = [fe80::1%a/b]:1\n"), ":5: Endpoint: ", "the zone after '%' must be an interface name"},
		{"DNS bad domain", conf("DNS = 1.1.1.1, bad_domain\n"), ":3: DNS: ", `"bad_domain" is neither an IP address nor a search domain`},
		{"empty hook", conf("PostUp =\n"), ":3: PostUp: ", "empty value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse(file, []byte(tc.data))
			if err == nil {
				t.Fatalf("no error; got %+v %+v\n%s", c.Interface, c.Peers, tc.data)
			}
			if c != nil {
				t.Errorf("a config with the error")
			}
			pe, ok := err.(*ParseError)
			if !ok {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			got := pe.Error()
			if !strings.HasPrefix(got, file+tc.prefix) || !strings.Contains(got[len(file+tc.prefix):], tc.msg) {
				t.Errorf("error\n  %s\nwant\n  %s%s...%s", got, file, tc.prefix, tc.msg)
			}
			if strings.Contains(got, alicePriv[:20]) || strings.Contains(got, bobPriv[:20]) {
				t.Errorf("error shows a secret: %s", got)
			}
		})
	}
}

func TestInterfaceName(t *testing.T) {
	for _, tc := range []struct{ path, want, err string }{
		{"/mnt/secrets/wg0.conf", "wg0", ""},
		{"wg0.conf", "wg0", ""},
		{"/x/homestaker_1.conf", "homestaker_1", ""},
		{"/x/a=b+c.d-e.conf", "a=b+c.d-e", ""},
		{"/x/abcdefghijklmno.conf", "abcdefghijklmno", ""},
		{"/x/abcdefghijklmnop.conf", "", `/x/abcdefghijklmnop.conf: interface name "abcdefghijklmnop" (the file name without .conf) must be 1 to 15 of`},
		{"/x/wg0", "", `/x/wg0: file name "wg0" does not end in .conf`},
		{"/x/wg0.conf.bak", "", "does not end in .conf"},
		{"/x/.conf", "", `interface name ""`},
		{"/x/..conf", "", `interface name "."`},
		{"/x/wg 0.conf", "", `interface name "wg 0"`},
		{"/x/wgé.conf", "", "must be 1 to 15"},
	} {
		got, err := InterfaceName(tc.path)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("InterfaceName(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("InterfaceName(%q) = %q, %v; want error %q", tc.path, got, err, tc.err)
		}
		// Parse reports the same error first, whatever the file holds.
		if _, _, perr := Parse(tc.path, []byte(homestakerConf)); perr == nil || perr.Error() != err.Error() {
			t.Errorf("Parse(%q) = %v, want %v", tc.path, perr, err)
		}
	}
	c, _, err := Parse("/etc/wireguard/homestaker.conf", []byte(homestakerConf))
	if err != nil || c.Name != "homestaker" {
		t.Errorf("Parse: name %v, %v", c, err)
	}
}

func TestWarnings(t *testing.T) {
	withEndpoint := peerBob + "Endpoint = vpn.example.org:51820\n"
	for _, tc := range []struct {
		name, data string
		want       []string // each "LINE: KEY: part of message", in order
	}{
		{"empty AllowedIPs", conf("", withEndpoint+"AllowedIPs =\n"), []string{":6: AllowedIPs: empty: this peer routes nothing"}},
		{"no AllowedIPs", conf("", withEndpoint), []string{":3: AllowedIPs: empty: this peer routes nothing"}},
		{"neither Endpoint nor AllowedIPs", conf("", peerBob), []string{":3: AllowedIPs: this peer has neither an Endpoint nor AllowedIPs: it routes nothing"}},
		{"neither, with an empty AllowedIPs", conf("", "AllowedIPs = \n"+peerBob), []string{":4: AllowedIPs: this peer has neither"}},
		{"empty AllowedIPs then one", conf("", withEndpoint+"AllowedIPs =\nAllowedIPs = 10.0.0.0/24\n"), nil},
		{"no Endpoint is fine", conf("", peerBob+"AllowedIPs = 10.0.0.3/32\n"), nil},
		{"host bits", conf("", peerBob+"AllowedIPs = 10.0.0.1/24, fd00::1/64\n"), []string{
			":5: AllowedIPs: 10.0.0.1/24 has host bits set; WireGuard uses 10.0.0.0/24",
			":5: AllowedIPs: fd00::1/64 has host bits set; WireGuard uses fd00::/64"}},
		{"hooks", conf("PreUp = a\nPostUp = b\npostup = c\nPreDown = d\nPostDown = e\n"), []string{
			":3: PreUp: not run: the init runs no hook commands",
			":4: PostUp: not run", ":5: PostUp: not run", ":6: PreDown: not run", ":7: PostDown: not run"}},
		{"SaveConfig", conf("SaveConfig = true\n"), []string{":3: SaveConfig: ignored: the init never writes the file back"}},
		{"MTU below IPv6 minimum", conf("Address = 10.0.0.2/32, fd00::2/128\nMTU = 1200\n"), []string{
			":4: MTU: 1200 is below 1280, the minimum for IPv6, and the interface has IPv6 addresses"}},
		{"MTU 1280 with IPv6", conf("Address = fd00::2/128\nMTU = 1280\n"), nil},
		{"small MTU, IPv4 only", conf("Address = 10.0.0.2/32\nMTU = 576\n"), nil},
		{"zero PresharedKey", conf("", peerBob+"AllowedIPs = 10.0.0.3\nPresharedKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), []string{
			":6: PresharedKey: all zeros, which WireGuard takes as no preshared key"}},
		{"a prefix in two peers", conf("", peerBob+"AllowedIPs = 10.0.0.0/24\n", "PublicKey = "+MustParseKey(bobPriv).String()+"\nAllowedIPs = 10.0.0.0/24, 10.0.0.0/24\n"), []string{
			":8: AllowedIPs: 10.0.0.0/24 is also in the AllowedIPs of the [Peer] on line 3; WireGuard gives it to this later peer only"}},
		{"sorted by line", conf("PostUp = x\n", withEndpoint+"AllowedIPs=10.0.0.1/8\n", "PublicKey = "+MustParseKey(bobPriv).String()+"\n"), []string{
			":3: PostUp:", ":7: AllowedIPs: 10.0.0.1/8 has host bits", ":8: AllowedIPs: this peer has neither"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ws := mustParse(t, tc.data)
			if len(ws) != len(tc.want) {
				t.Fatalf("warnings %q, want %q", ws, tc.want)
			}
			for i, w := range ws {
				if w.File != file || !strings.HasPrefix(w.String(), file+tc.want[i]) {
					t.Errorf("warning %d: %s, want %s%s...", i, w, file, tc.want[i])
				}
			}
		})
	}
}

func TestWarningsBeforeAnError(t *testing.T) {
	_, ws, err := Parse(file, []byte(conf("PostUp = x\nMTU = 1\n")))
	if err == nil || len(ws) != 1 || ws[0].Key != "PostUp" {
		t.Errorf("got %v, %v", ws, err)
	}
}

func TestCheckMode(t *testing.T) {
	for _, tc := range []struct {
		mode uint32
		want string
	}{
		{0o600, ""},
		{0o400, ""},
		{0o700, ""},
		{0o640, "/mnt/secrets/wg0.conf: mode 0640 lets group or others read the WireGuard private key: chmod 600 it"},
		{0o604, "mode 0604 lets group or others read"},
		{0o644, "mode 0644 lets group or others read"},
		{0o620, "mode 0620 lets group or others change or use it"},
		{0o601, "mode 0601 lets group or others change or use it"},
	} {
		w := CheckMode(file, fsMode(tc.mode))
		switch {
		case tc.want == "" && w != nil:
			t.Errorf("mode %o: unexpected warning %s", tc.mode, w)
		case tc.want != "" && (w == nil || !strings.Contains(w.String(), tc.want) || !strings.HasPrefix(w.String(), file+": ")):
			t.Errorf("mode %o: warning %v, want %q", tc.mode, w, tc.want)
		}
	}
}

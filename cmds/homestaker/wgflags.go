package main

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// wgFlags are prepare's --wg-... flags as given.
type wgFlags struct {
	Address, PeerKey, Endpoint, AllowedIPs string
	Keepalive, ListenPort                  int
	set                                    map[string]bool // flag names given ("wg-address", ...)
}

var wgPeerFlags = []string{"wg-peer-public-key", "wg-endpoint", "wg-allowed-ips", "wg-keepalive"}

func (f *wgFlags) given() bool {
	return f.set["wg-address"] || f.set["wg-listen-port"] || f.peerGiven()
}

func (f *wgFlags) peerGiven() bool {
	return slices.ContainsFunc(wgPeerFlags, func(n string) bool { return f.set[n] })
}

// wgValues are the flags' values as wgconf parsed them.
type wgValues struct {
	Addresses  []netip.Prefix
	ListenPort int
	Peer       wgconf.Peer // PublicKey is zero without --wg-peer-public-key
}

// parseWGFlags checks the flags with the wg-quick grammar of package
// wgconf, so that a flag takes exactly what the same line of wg0.conf
// takes: each flag becomes one line of a file that is parsed, and an
// error on a line is reported against its flag. Keys the flags leave out
// are filled with throwaway ones that never leave this function.
func parseWGFlags(f *wgFlags) (*wgValues, error) {
	type line struct{ flag, key, value string }
	var ifc, peer []line
	if f.set["wg-address"] {
		ifc = append(ifc, line{"wg-address", "Address", f.Address})
	}
	if f.set["wg-listen-port"] {
		ifc = append(ifc, line{"wg-listen-port", "ListenPort", strconv.Itoa(f.ListenPort)})
	}
	throwaway, err := wgconf.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	otherSide, err := wgconf.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	if f.peerGiven() {
		key := otherSide.PublicKey().String()
		if f.set["wg-peer-public-key"] {
			key = f.PeerKey
		}
		peer = append(peer, line{"wg-peer-public-key", "PublicKey", key})
		if f.set["wg-endpoint"] {
			peer = append(peer, line{"wg-endpoint", "Endpoint", f.Endpoint})
		}
		if f.set["wg-allowed-ips"] {
			peer = append(peer, line{"wg-allowed-ips", "AllowedIPs", f.AllowedIPs})
		}
		if f.set["wg-keepalive"] {
			peer = append(peer, line{"wg-keepalive", "PersistentKeepalive", strconv.Itoa(f.Keepalive)})
		}
	}

	var b strings.Builder
	b.Write(wgconf.Marshal(&wgconf.Config{Name: "wg0", Interface: wgconf.Interface{PrivateKey: throwaway}}))
	flagAt := map[int]string{}
	write := func(ls []line) error {
		for _, l := range ls {
			if strings.ContainsAny(l.value, "#\n\r") {
				return usagef("--%s: %q: one line without '#' expected", l.flag, l.value)
			}
			flagAt[strings.Count(b.String(), "\n")+1] = l.flag
			fmt.Fprintf(&b, "%s = %s\n", l.key, l.value)
		}
		return nil
	}
	if err := write(ifc); err != nil {
		return nil, err
	}
	if len(peer) > 0 {
		b.WriteString("[Peer]\n")
		if err := write(peer); err != nil {
			return nil, err
		}
	}
	cfg, _, err := wgconf.Parse("wg0.conf", []byte(b.String()))
	if err != nil {
		var pe *wgconf.ParseError
		if errors.As(err, &pe) && flagAt[pe.Line] != "" {
			return nil, usagef("--%s: %s", flagAt[pe.Line], pe.Msg)
		}
		return nil, usagef("the --wg flags: %v", err)
	}
	v := &wgValues{Addresses: cfg.Interface.Addresses, ListenPort: cfg.Interface.ListenPort}
	if len(cfg.Peers) == 1 {
		v.Peer = cfg.Peers[0]
		v.Peer.Line = 0
		if !f.set["wg-peer-public-key"] {
			v.Peer.PublicKey = wgconf.Key{}
		}
	}
	return v, nil
}

// buildWGConfig makes the wg0.conf to write, with the private key priv.
// Without base (no usable wg0.conf yet) it comes from the flags alone,
// which must give the address and the peer's key. With base (--rotate of
// an existing file) the flags given replace the matching values: the
// address, the listen port, and the peer named by --wg-peer-public-key,
// or the file's only peer.
func buildWGConfig(priv wgconf.Key, f *wgFlags, v *wgValues, base *wgconf.Config) (*wgconf.Config, []string, error) {
	var notes []string
	c := &wgconf.Config{Name: "wg0"}
	if base != nil {
		c.Name = base.Name
		c.Interface = base.Interface
		c.Peers = slices.Clone(base.Peers)
	}
	c.Interface.PrivateKey = priv
	c.Interface.Line = 0
	if f.set["wg-address"] {
		c.Interface.Addresses = v.Addresses
	}
	if f.set["wg-listen-port"] {
		c.Interface.ListenPort = v.ListenPort
	}
	if len(c.Interface.Addresses) == 0 {
		return nil, nil, usagef("--wg-address is needed to write a wg0.conf: this node's tunnel address, e.g. 10.8.0.2/24")
	}
	if base != nil && !f.peerGiven() {
		return c, nil, nil
	}

	// Which peer the flags describe: i indexes c.Peers, -1 for a new one.
	i := -1
	switch {
	case f.set["wg-peer-public-key"]:
		i = slices.IndexFunc(c.Peers, func(p wgconf.Peer) bool { return p.PublicKey == v.Peer.PublicKey })
		if i < 0 && len(c.Peers) > 1 {
			return nil, nil, usagef("the existing wg0.conf has %d peers and none with the key of --wg-peer-public-key: edit it by hand", len(c.Peers))
		}
		if i < 0 {
			c.Peers = nil // the node's one peer is replaced
		}
	case len(c.Peers) == 1:
		i = 0
	case base == nil:
		return nil, nil, usagef("--wg-peer-public-key is needed to write a wg0.conf: the public key of the other side (wg pubkey prints it)")
	default:
		return nil, nil, usagef("--wg-peer-public-key is needed: the existing wg0.conf has %d peers, so it must say which one the peer flags change", len(c.Peers))
	}
	var p wgconf.Peer
	if i >= 0 {
		p = c.Peers[i]
	} else {
		p.PublicKey = v.Peer.PublicKey
	}
	if f.set["wg-endpoint"] {
		p.Endpoint = v.Peer.Endpoint
	}
	if f.set["wg-keepalive"] {
		p.PersistentKeepalive = v.Peer.PersistentKeepalive
	}
	switch {
	case f.set["wg-allowed-ips"]:
		p.AllowedIPs = v.Peer.AllowedIPs
	case i < 0:
		p.AllowedIPs = networks(c.Interface.Addresses)
		if slices.ContainsFunc(c.Interface.Addresses, func(a netip.Prefix) bool { return a.IsSingleIP() }) {
			notes = append(notes, "AllowedIPs defaults to the networks of --wg-address, and a single address (/32 or /128) routes nothing but itself through the peer: give --wg-allowed-ips")
		}
	}
	p.Line = 0
	if i >= 0 {
		c.Peers[i] = p
	} else {
		c.Peers = append(c.Peers, p)
	}
	return c, notes, nil
}

// networks masks each address to its network: 10.8.0.2/24 gives
// 10.8.0.0/24, the default AllowedIPs of the node's one peer.
func networks(addrs []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		if m := a.Masked(); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

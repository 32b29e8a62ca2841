package wg

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// mainTable is the kernel's main routing table (RT_TABLE_MAIN).
const mainTable = 254

// Route is one route the tunnel needs.
type Route struct {
	Dst   netip.Prefix
	Table int        // 0 = main
	Via   netip.Addr // invalid = directly on Dev (the tunnel, or an on-link endpoint)
	Dev   string
}

func (r Route) String() string {
	s := r.Dst.String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != 0 {
		s += " table " + strconv.Itoa(r.Table)
	}
	return s
}

// Halves of the two default routes. A route for 0.0.0.0/0 on the tunnel
// would replace the underlying default route; the two halves are more
// specific than it and leave it in place, and the endpoint host routes
// are more specific still.
var (
	v4Halves = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	v6Halves = []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
)

// PlanRoutes decides the routes for conf's interface, given each peer's
// resolved endpoint and the underlying network's gateway (gw, on gwLink).
// It is pure: Up applies the result.
//
//   - Table = off: no routes at all, as wg-quick.
//   - Table = N (N other than main): every AllowedIPs prefix, as written,
//     in table N on the interface. wg-quick adds no rule for such a table,
//     so the host's own traffic does not use it and nothing else is needed.
//   - Table = auto, unset or main: every AllowedIPs prefix in the main
//     table on the interface, except prefixes that an interface address
//     already routes there (wg-quick skips those too), and 0.0.0.0/0 and
//     ::/0 split into two halves each. wg-quick instead installs the
//     default route in its own table selected by an fwmark rule; that takes
//     policy-routing rules this init does not manage, and the halves keep
//     the underlying default route usable for the host route below.
//
// Any peer endpoint that a main-table route on the interface would cover
// (the default halves, or a narrower prefix that happens to contain it)
// gets a host route through the underlying gateway, placed first, so that
// the tunnel's own UDP packets never enter the tunnel. With an invalid gw
// the host route goes straight out of gwLink (an on-link endpoint).
func PlanRoutes(conf *wgconf.Config, endpoints map[wgconf.Key]netip.AddrPort, gw netip.Addr, gwLink string) ([]Route, error) {
	table, err := routeTable(conf.Interface.Table)
	if err != nil {
		return nil, err
	}
	if table < 0 {
		return nil, nil
	}
	dev := conf.Name
	var tunnel []Route
	seen := map[Route]bool{}
	add := func(r Route) {
		if !seen[r] {
			seen[r] = true
			tunnel = append(tunnel, r)
		}
	}
	for _, p := range conf.Peers {
		for _, a := range p.AllowedIPs {
			a = a.Masked()
			if table != 0 {
				add(Route{Dst: a, Table: table, Dev: dev})
				continue
			}
			if a.Bits() == 0 {
				halves := v4Halves
				if a.Addr().Is6() {
					halves = v6Halves
				}
				for _, h := range halves {
					add(Route{Dst: h, Dev: dev})
				}
				continue
			}
			if coveredByAddress(a, conf.Interface.Addresses) {
				continue
			}
			add(Route{Dst: a, Dev: dev})
		}
	}
	if table != 0 {
		return tunnel, nil
	}

	// What the main table sends into the tunnel: our routes and the
	// prefixes of the interface's own addresses.
	captured := make([]netip.Prefix, 0, len(tunnel)+len(conf.Interface.Addresses))
	for _, r := range tunnel {
		captured = append(captured, r.Dst)
	}
	for _, a := range conf.Interface.Addresses {
		captured = append(captured, a.Masked())
	}
	var hosts []Route
	for _, p := range conf.Peers {
		ep, ok := endpoints[p.PublicKey]
		if !ok || !ep.IsValid() {
			continue
		}
		addr := ep.Addr().Unmap().WithZone("")
		if !slices.ContainsFunc(captured, func(c netip.Prefix) bool { return c.Contains(addr) }) {
			continue
		}
		host := netip.PrefixFrom(addr, addr.BitLen())
		r := Route{Dst: host, Via: gw, Dev: gwLink}
		switch {
		case gw.IsValid() && gw.Is4() != addr.Is4():
			return nil, fmt.Errorf("peer %s: its endpoint %s would be routed into %s itself, and the underlying gateway %s is not of its address family to route it around the tunnel", p.PublicKey, ep, dev, gw)
		case !gw.IsValid() && gwLink == "":
			return nil, fmt.Errorf("peer %s: its endpoint %s would be routed into %s itself, and no underlying gateway or link is known to route it around the tunnel", p.PublicKey, ep, dev)
		}
		if !seen[r] {
			seen[r] = true
			hosts = append(hosts, r)
		}
	}
	return append(hosts, tunnel...), nil
}

// routeTable reads wgconf's Table: -1 for off, 0 for the main table, or
// the table number.
func routeTable(t string) (int, error) {
	switch t {
	case "", "auto":
		return 0, nil
	case "off":
		return -1, nil
	}
	n, err := strconv.ParseUint(t, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("Table = %q: off, auto or a routing table number expected", t)
	}
	if n == mainTable {
		return 0, nil
	}
	return int(n), nil
}

// coveredByAddress reports whether an interface address's prefix route
// (which the kernel adds with the address) already contains p.
func coveredByAddress(p netip.Prefix, addrs []netip.Prefix) bool {
	for _, a := range addrs {
		m := a.Masked()
		if m.Addr().Is4() == p.Addr().Is4() && m.Bits() <= p.Bits() && m.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

package wg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/homestaker/homestaker-boot/init/report"
)

// This file is the thin layer over the kernel: the TUN device and
// netlink. Everything it is told to do was decided elsewhere.

// tunDevice is the TUN clone device.
const tunDevice = "/dev/net/tun"

// createTUN creates the kernel TUN interface name with the given MTU.
// tunPath is where it first looks for the clone device, tunDevice but in
// a test of its absence.
func createTUN(tunPath, name string, mtu int) (tun.Device, error) {
	noTUN := func(found string) error {
		return report.Fail("the TUN device "+tunPath+", for the userspace WireGuard interface "+name,
			found,
			"the tun kernel module did not load: check the early stage's lines about kernel modules, and that this initramfs carries the modules of the running kernel (or use a kernel with CONFIG_TUN=y); homestaker.wg=optional boots without the tunnel")
	}
	if _, err := os.Stat(tunPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, noTUN(tunPath + " does not exist")
		}
		return nil, noTUN(err.Error())
	}
	d, err := tun.CreateTUN(name, mtu)
	switch {
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return nil, noTUN(fmt.Sprintf("opening %s: %v (no TUN driver in the kernel)", tunPath, err))
	case err != nil:
		return nil, fmt.Errorf("creating the TUN interface %s: %v", name, err)
	}
	return d, nil
}

// configureLink gives the interface its addresses and brings it up.
func configureLink(name string, addrs []netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("finding the interface %s: %v", name, err)
	}
	for _, a := range addrs {
		na := &netlink.Addr{IPNet: ipNet(a)}
		if a.Addr().Is6() {
			// A TUN has no neighbours to run duplicate address
			// detection with; a tentative address would only delay
			// the first packets.
			na.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, na); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding address %s to %s: %v", a, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing %s up: %v", name, err)
	}
	return nil
}

// addRoute adds r. It returns false, without error, when a route to the
// same destination is already in the table: the tunnel's routes are
// added, never replacing someone else's. An endpoint host route (on a
// device other than the tunnel) replaces, since it only pins the path the
// packets take anyway.
func addRoute(r Route, tunnel string) (bool, error) {
	nr, err := netlinkRoute(r)
	if err != nil {
		return false, err
	}
	if r.Dev != tunnel {
		if err := netlink.RouteReplace(nr); err != nil {
			return false, fmt.Errorf("adding route %s: %v", r, err)
		}
		return true, nil
	}
	if err := netlink.RouteAdd(nr); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, fmt.Errorf("adding route %s: %v", r, err)
	}
	return true, nil
}

func deleteRoute(r Route) error {
	nr, err := netlinkRoute(r)
	if err != nil {
		return err
	}
	if err := netlink.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("removing route %s: %v", r, err)
	}
	return nil
}

func netlinkRoute(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{Dst: ipNet(r.Dst), Table: r.Table}
	if r.Dev != "" {
		link, err := netlink.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("route %s: finding %s: %v", r, r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	if r.Via.IsValid() {
		nr.Gw = net.IP(r.Via.AsSlice())
	} else if r.Dst.Addr().Is4() {
		nr.Scope = netlink.SCOPE_LINK // as ip route add does for a route without a gateway
	}
	return nr, nil
}

// defaultGateway returns the main table's IPv4 default route's gateway
// and link, or nothing.
func defaultGateway() (netip.Addr, string) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return netip.Addr{}, ""
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		gw, ok := netip.AddrFromSlice(r.Gw)
		if !ok {
			continue
		}
		name := ""
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		return gw.Unmap(), name
	}
	return netip.Addr{}, ""
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Carries reports whether the kernel routes traffic to addr through the
// tunnel's device: what the next stage's channel rule asks of an http
// source (a route, not the addresses of AllowedIPs, decides).
func (t *Tunnel) Carries(addr netip.Addr) bool {
	routes, err := netlink.RouteGet(net.IP(addr.AsSlice()))
	if err != nil || len(routes) == 0 {
		return false
	}
	link, err := netlink.LinkByName(t.Name())
	return err == nil && routes[0].LinkIndex == link.Attrs().Index
}

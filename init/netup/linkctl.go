package netup

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
)

// This file is the thin layer over netlink and sysfs; the decisions are
// made elsewhere.

const carrierPoll = 50 * time.Millisecond

func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo: %v", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo: setting it up: %v", err)
	}
	return nil
}

// setUpLink sets the MAC address and MTU that ip= asks for, brings the
// link up and returns its MAC address.
func setUpLink(name string, mac net.HardwareAddr, mtu int) (string, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return "", fmt.Errorf("finding it: %v", err)
	}
	if mac != nil {
		if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
			return "", fmt.Errorf("setting the MAC address %s: %v", mac, err)
		}
	}
	if mtu > 0 {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return "", fmt.Errorf("setting the MTU %d: %v", mtu, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return "", fmt.Errorf("setting it up: %v", err)
	}
	if l, err = netlink.LinkByName(name); err == nil {
		mac = l.Attrs().HardwareAddr
	}
	return mac.String(), nil
}

func setMTU(name string, mtu int) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("setting the MTU %d: %v", mtu, err)
	}
	return nil
}

// addAddr puts p on the link; replacing, so that an address the kernel's
// own ip= autoconfiguration already set is not an error.
func addAddr(name string, p netip.Prefix, brd netip.Addr) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p)}
	if brd.IsValid() {
		a.Broadcast = brd.AsSlice()
	}
	if p.Addr().Is6() {
		// Duplicate address detection would hold a static address
		// tentative, unusable, for a second or more.
		a.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrReplace(l, a); err != nil {
		return fmt.Errorf("adding the address %s: %v", p, err)
	}
	return nil
}

// addRoutes installs the routes in order on the link. A default route
// replaces any other, so the first lease (or the static gateway) wins.
func addRoutes(name string, rs []route) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	for _, r := range rs {
		nr := &netlink.Route{LinkIndex: l.Attrs().Index}
		if r.Dst.Bits() > 0 {
			nr.Dst = ipNet(r.Dst)
		}
		if r.Gw.IsValid() {
			nr.Gw = r.Gw.AsSlice()
		} else {
			nr.Scope = netlink.SCOPE_LINK
			nr.Dst = ipNet(r.Dst)
		}
		if err := netlink.RouteReplace(nr); err != nil {
			return fmt.Errorf("adding the route %s: %v", r, err)
		}
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// hasCarrier reads the link's carrier from sysfs. The file cannot be read
// while the link is down (EINVAL); operstate "up" counts too, for drivers
// that report it without a carrier file.
func hasCarrier(sysClassNet, name string) bool {
	b, err := os.ReadFile(filepath.Join(sysClassNet, name, "carrier"))
	if err == nil && strings.TrimSpace(string(b)) == "1" {
		return true
	}
	b, err = os.ReadFile(filepath.Join(sysClassNet, name, "operstate"))
	return err == nil && strings.TrimSpace(string(b)) == "up"
}

// waitCarrier polls until the link has a carrier or ctx ends.
func waitCarrier(ctx context.Context, sysClassNet, name string) bool {
	t := time.NewTicker(carrierPoll)
	defer t.Stop()
	for {
		if hasCarrier(sysClassNet, name) {
			return true
		}
		select {
		case <-ctx.Done():
			return hasCarrier(sysClassNet, name)
		case <-t.C:
		}
	}
}

// waitInterfaces polls sysClassNet until the ip= entries' links are all
// there or ctx ends, and returns the plan, or the failure that says what
// is missing. With ip=dhcp for every NIC, the NICs are those present once
// the first one is: the early stage has loaded the drivers by then, and
// waiting for more would cost every boot.
func waitInterfaces(ctx context.Context, sysClassNet string, ips []config.IPConfig, vlans []config.VLAN) ([]linkPlan, error) {
	t := time.NewTicker(carrierPoll)
	defer t.Stop()
	for {
		ifaces, err := listInterfaces(sysClassNet)
		if err != nil {
			return nil, fmt.Errorf("listing network interfaces: %v", err)
		}
		plans, f, missing := chooseLinks(ips, withVLANs(ifaces, vlans))
		switch {
		case f == nil:
			return plans, nil
		case !missing:
			return nil, f
		}
		select {
		case <-ctx.Done():
			return nil, f
		case <-t.C:
		}
	}
}

// setHostname sets the kernel's hostname.
func setHostname(h string) error {
	if err := unix.Sethostname([]byte(h)); err != nil {
		return fmt.Errorf("setting the hostname %q: %v", h, err)
	}
	return nil
}

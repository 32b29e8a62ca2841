package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// staticNetwork is the fallback's own network, as /boot/network gives it,
// one "KEY VALUE" per line:
//
//	link eth0
//	address 10.0.2.15/24
//	gateway 10.0.2.2
//	nameserver 10.0.2.3
//	hostname node1
//
// address, gateway and nameserver may repeat (one gateway per family).
type staticNetwork struct {
	Link        string
	Addrs       []netip.Prefix
	Gateways    []netip.Addr
	Nameservers []netip.Addr
	Hostname    string
}

func parseNetwork(b []byte) (staticNetwork, error) {
	var n staticNetwork
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return n, fmt.Errorf("/boot/network:%d: want KEY VALUE, found %q", i+1, line)
		}
		var err error
		switch f[0] {
		case "link":
			n.Link = f[1]
		case "address":
			var p netip.Prefix
			p, err = netip.ParsePrefix(f[1])
			n.Addrs = append(n.Addrs, p)
		case "gateway":
			var a netip.Addr
			a, err = netip.ParseAddr(f[1])
			n.Gateways = append(n.Gateways, a)
		case "nameserver":
			var a netip.Addr
			a, err = netip.ParseAddr(f[1])
			n.Nameservers = append(n.Nameservers, a)
		case "hostname":
			n.Hostname = f[1]
		default:
			err = fmt.Errorf("unknown key %q", f[0])
		}
		if err != nil {
			return n, fmt.Errorf("/boot/network:%d: %v", i+1, err)
		}
	}
	if n.Link == "" {
		return n, fmt.Errorf("/boot/network names no link")
	}
	return n, nil
}

// setUpNetwork configures n the way a static NetworkManager profile
// (ipv6.method=manual) does on the operator's CoreOS: the NIC driver from
// the modules the initramfs carries, the link up, the addresses and
// default routes, resolv.conf and the hostname. It returns once the link
// is operationally up, as it has long been on a system an operator logs
// into.
func setUpNetwork(n staticNetwork) error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return fmt.Errorf("uname: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kmod.Load(ctx, "/lib/modules/"+unix.ByteSliceToString(u.Release[:]), nil); err != nil {
		return fmt.Errorf("loading the NIC driver: %v", err)
	}
	link, err := waitLink(ctx, n.Link, func(netlink.Link) bool { return true })
	if err != nil {
		return fmt.Errorf("waiting for %s after loading its driver: %v", n.Link, err)
	}
	// No router advertisement may add a SLAAC address or a route that the
	// profile does not have (QEMU's user network sends them).
	for _, knob := range []string{"accept_ra", "autoconf"} {
		p := "/proc/sys/net/ipv6/conf/" + n.Link + "/" + knob
		if err := os.WriteFile(p, []byte("0\n"), 0o644); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("setting %s up: %v", n.Link, err)
	}
	if link, err = waitLink(ctx, n.Link, func(l netlink.Link) bool { return l.Attrs().OperState == netlink.OperUp }); err != nil {
		return fmt.Errorf("waiting for %s to be operationally up: %v", n.Link, err)
	}
	for _, p := range n.Addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			// Duplicate address detection would keep the address tentative
			// for a second; the operator's system has long been through it.
			a.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("adding %s to %s: %v", p, n.Link, err)
		}
	}
	for _, gw := range n.Gateways {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("default route via %s on %s: %v", gw, n.Link, err)
		}
	}
	var conf strings.Builder
	for _, ns := range n.Nameservers {
		fmt.Fprintf(&conf, "nameserver %s\n", ns)
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return err
	}
	if err := os.WriteFile("/etc/resolv.conf", []byte(conf.String()), 0o644); err != nil {
		return err
	}
	if n.Hostname != "" {
		if err := unix.Sethostname([]byte(n.Hostname)); err != nil {
			return fmt.Errorf("sethostname %s: %v", n.Hostname, err)
		}
	}
	return nil
}

// waitLink polls for the link called name until ready says it is.
func waitLink(ctx context.Context, name string, ready func(netlink.Link) bool) (netlink.Link, error) {
	for {
		l, err := netlink.LinkByName(name)
		if err == nil && ready(l) {
			return l, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("operstate %s", l.Attrs().OperState)
			}
			return nil, fmt.Errorf("%v (%v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

package netup

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// IPv6 autoconfiguration is the kernel's: with accept_ra and autoconf on,
// it sends a router solicitation when the link comes up, and from the
// router advertisements takes an address (SLAAC) and a default route. The
// stage sets those sysctls and, for ip=auto6, waits on netlink for both;
// for ip=dhcp it only notes, at the end, what the kernel has by then.

// ipv6Conf is where the kernel's per-link IPv6 sysctls are; a kernel
// booted with ipv6.disable=1 has none.
const ipv6Conf = "/proc/sys/net/ipv6/conf"

// errIPv6Off: the kernel has no IPv6 (ipv6.disable=1).
var errIPv6Off = errors.New("the kernel has IPv6 disabled (ipv6.disable=1 on the command line?)")

// ipv6Run is one link's IPv6 progress; like linkRun, only the link's
// goroutine writes it.
type ipv6Run struct {
	off    string         // why the link has no IPv6: errIPv6Off, a sysctl that failed
	addrs  []netip.Prefix // global addresses by SLAAC, or DHCPv6's
	router netip.Addr     // the default router the advertisements named
	// DHCPv6 (ip=dhcp6)
	solicits int
	replies  int
	lastErr  string
	lease    *lease6
}

// enableIPv6 turns on IPv6 and autoconfiguration on the link, before it
// comes up: the kernel solicits routers when it does. With off, IPv6 is
// disabled on the link instead (the benchmark's baseline).
func enableIPv6(name string, off bool) error {
	dir := filepath.Join(ipv6Conf, name)
	if _, err := os.Stat(dir); err != nil {
		if _, err := os.Stat(ipv6Conf); err != nil {
			return errIPv6Off
		}
		return fmt.Errorf("no IPv6 settings for %s: %v", name, err)
	}
	settings := [][2]string{{"disable_ipv6", "0"}, {"accept_ra", "1"}, {"autoconf", "1"}}
	if off {
		settings = [][2]string{{"disable_ipv6", "1"}}
	}
	for _, s := range settings {
		if err := os.WriteFile(filepath.Join(dir, s[0]), []byte(s[1]), 0o644); err != nil {
			return fmt.Errorf("setting net.ipv6.conf.%s.%s=%s: %v", name, s[0], s[1], err)
		}
	}
	return nil
}

// slaacState reads what autoconfiguration gave the link so far: its usable
// global addresses (the kernel's scope: a ULA counts, fe80:: does not;
// not tentative, DAD not failed) and the default router.
func slaacState(name string) ([]netip.Prefix, netip.Addr, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, netip.Addr{}, err
	}
	as, err := netlink.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("listing its IPv6 addresses: %v", err)
	}
	var addrs []netip.Prefix
	for _, a := range as {
		if p, ok := usableGlobal(a); ok {
			addrs = append(addrs, p)
		}
	}
	rs, err := netlink.RouteList(l, netlink.FAMILY_V6)
	if err != nil {
		return addrs, netip.Addr{}, fmt.Errorf("listing its IPv6 routes: %v", err)
	}
	var router netip.Addr
	for _, r := range rs {
		if gw, ok := defaultVia(r); ok {
			router = gw
			break
		}
	}
	return addrs, router, nil
}

func usableGlobal(a netlink.Addr) (netip.Prefix, bool) {
	if a.IPNet == nil || a.Scope != unix.RT_SCOPE_UNIVERSE || a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok || !ip.Is6() || ip.Is4In6() {
		return netip.Prefix{}, false
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip, ones), true
}

// defaultVia is the gateway of a default route (::/0), which netlink
// gives as a nil or an all-zero destination.
func defaultVia(r netlink.Route) (netip.Addr, bool) {
	if r.Dst != nil {
		if ones, _ := r.Dst.Mask.Size(); ones != 0 {
			return netip.Addr{}, false
		}
	}
	gw, ok := netip.AddrFromSlice(r.Gw)
	if !ok || !gw.Is6() {
		return netip.Addr{}, false
	}
	return gw.WithZone(""), true
}

// waitSLAAC waits until the link has a usable global address and a
// default router, re-reading on each netlink address or route event, or
// until ctx ends (then it returns what there was and ctx's error).
func waitSLAAC(ctx context.Context, name string, needAddr bool) ([]netip.Prefix, netip.Addr, error) {
	done := make(chan struct{})
	addrCh := make(chan netlink.AddrUpdate, 16)
	routeCh := make(chan netlink.RouteUpdate, 16)
	defer func() {
		close(done)
		// The subscriptions close their channels once they see done.
		go func() {
			for range addrCh {
			}
		}()
		go func() {
			for range routeCh {
			}
		}()
	}()
	if err := netlink.AddrSubscribe(addrCh, done); err != nil {
		return nil, netip.Addr{}, fmt.Errorf("watching its addresses: %v", err)
	}
	if err := netlink.RouteSubscribe(routeCh, done); err != nil {
		return nil, netip.Addr{}, fmt.Errorf("watching its routes: %v", err)
	}
	// An event lost to a full socket buffer must not stall the wait.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		addrs, router, err := slaacState(name)
		if err != nil {
			return addrs, router, err
		}
		if router.IsValid() && (len(addrs) > 0 || !needAddr) {
			return addrs, router, nil
		}
		select {
		case <-ctx.Done():
			return addrs, router, ctx.Err()
		case <-addrCh:
		case <-routeCh:
		case <-t.C:
		}
	}
}

// waitLinkLocal waits until the link's fe80:: address has passed duplicate
// address detection: a DHCPv6 client cannot bind it before.
func waitLinkLocal(ctx context.Context, name string) error {
	t := time.NewTicker(carrierPoll)
	defer t.Stop()
	for {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.IP.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no usable link-local IPv6 address (duplicate address detection not done)")
		case <-t.C:
		}
	}
}

// slaac is ip=auto6 on a link with a carrier: the address and the default
// route from the router advertisements, bounded by ctx.
func (r *run) slaac(ctx context.Context, l *linkRun) {
	addrs, router, err := waitSLAAC(ctx, l.plan.Name, true)
	l.v6.addrs, l.v6.router = addrs, router
	switch {
	case err != nil && ctx.Err() == nil:
		l.v6.lastErr = err.Error()
		return
	case len(addrs) == 0 || !router.IsValid():
		return
	}
	l.addrs = append(l.addrs, addrs...)
	r.applyRouter6(l)
	r.succeeded()
}

// applyRouter6 records the link's IPv6 time and, if no link has yet, its
// router as the default gateway (the kernel has installed the route).
func (r *run) applyRouter6(l *linkRun) {
	l.after = time.Since(r.start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteAddress(l.after)
	if r.routesBy == "" && l.v6.router.IsValid() {
		r.routesBy, r.gateway = l.plan.Name, l.v6.router
	}
}

// noteSLAAC records, without waiting, the global IPv6 addresses that the
// kernel's autoconfiguration gave the DHCP links by now: a network
// without IPv6 costs nothing.
func noteSLAAC(runs []*linkRun) {
	for _, l := range runs {
		if l.plan.Method != MethodDHCP || l.v6.off != "" || !l.ok() {
			continue
		}
		addrs, router, err := slaacState(l.plan.Name)
		if err == nil {
			l.v6.addrs, l.v6.router = addrs, router
		}
	}
}

// describe6 says what ip=auto6 or dhcp6 found on a link with a carrier.
func (l *linkRun) describe6() string {
	n, v := l.plan.Name, &l.v6
	switch {
	case v.off != "":
		return n + ": " + v.off
	case l.plan.Method == MethodDHCP6:
		return l.describeDHCP6()
	case v.lastErr != "":
		return n + ": carrier, " + v.lastErr
	case len(v.addrs) == 0 && !v.router.IsValid():
		return n + ": carrier, no router advertisement (no IPv6 router on this network?)"
	case len(v.addrs) == 0:
		return fmt.Sprintf("%s: carrier, router %s advertised no prefix for SLAAC (a DHCPv6-only network needs ip=dhcp6)", n, v.router)
	case !v.router.IsValid():
		return fmt.Sprintf("%s: carrier, %s by SLAAC but no default route (the router advertises a lifetime of 0)", n, prefixes(v.addrs))
	default:
		return fmt.Sprintf("%s: %s by SLAAC, router %s", n, prefixes(v.addrs), v.router)
	}
}

package netup

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/homestaker/homestaker-boot/init/resolvconf"
)

// The keeper's netlink and file changes; linkctl.go has the stage's.

// StopRenewing ends the lease renewals (keeper.go) and waits for them to
// stop, before the handover: the next system runs its own DHCP client.
// The addresses stay. Safe on a nil State and more than once.
func (s *State) StopRenewing() {
	if s == nil {
		return
	}
	s.keeper.stop()
}

func delAddr(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(l, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("removing the address %s: %v", p, err)
	}
	return nil
}

func delRoute(name string, r route) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(r.Dst)}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	}
	if err := netlink.RouteDel(nr); err != nil {
		return fmt.Errorf("removing the route %s: %v", r, err)
	}
	return nil
}

// swapResolvConf replaces the old lease's nameservers in the file at path
// with the new lease's, keeping the other lines (the tunnel's servers, the
// search line) where they are.
func swapResolvConf(path string, old, servers []netip.Addr) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading %s: %v", path, err)
	}
	return resolvconf.Write(path, swapNameservers(string(b), old, servers))
}

// swapNameservers is swapResolvConf on the file's content: the new
// servers go where the first old one was, the other old ones go.
func swapNameservers(content string, old, servers []netip.Addr) string {
	var out []string
	placed := false
	for _, line := range strings.SplitAfter(content, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && slices.Contains(old, a) {
				if !placed {
					for _, s := range servers {
						out = append(out, "nameserver "+s.String()+"\n")
					}
					placed = true
				}
				continue
			}
		}
		if line != "" {
			out = append(out, line)
		}
	}
	if !placed {
		var add []string
		for _, s := range servers {
			add = append(add, "nameserver "+s.String()+"\n")
		}
		out = append(add, out...)
	}
	return strings.Join(out, "")
}

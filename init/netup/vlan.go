package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/report"
)

// ifname= and vlan= shape the links before ip= applies to them: a NIC is
// renamed by its MAC address, then each VLAN is made on its parent. Both
// wait, as waitInterfaces does, for NICs whose drivers probe late.

// prepareLinks applies cfg's ifname= and vlan= entries, bounded by ctx.
func prepareLinks(ctx context.Context, cfg config.Config) error {
	if len(cfg.IfNames) == 0 && len(cfg.VLANs) == 0 {
		return nil
	}
	t := time.NewTicker(carrierPoll)
	defer t.Stop()
	retry := func(step func() (bool, *report.Failure)) error {
		for {
			done, f := step()
			if done || ctx.Err() != nil {
				if f != nil {
					return f
				}
				return nil
			}
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	for _, n := range cfg.IfNames {
		if err := retry(func() (bool, *report.Failure) { return renameByMAC(n) }); err != nil {
			return err
		}
	}
	for _, v := range cfg.VLANs {
		if err := retry(func() (bool, *report.Failure) { return makeVLAN(v) }); err != nil {
			return err
		}
	}
	return nil
}

// renameByMAC renames the link with n.MAC to n.Name. It returns done when
// the link has the name; otherwise f says what is missing or failed (a
// missing link may still come, so the caller tries again until its time
// is up).
func renameByMAC(n config.IfName) (done bool, f *report.Failure) {
	links, err := netlink.LinkList()
	if err != nil {
		return false, report.Fail("the links, for ifname="+n.String(), "listing them: "+err.Error(), "report this")
	}
	var found netlink.Link
	var present []string
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" {
			continue
		}
		present = append(present, fmt.Sprintf("%s (%s)", a.Name, a.HardwareAddr))
		// A VLAN shares its parent's MAC: only the parent is the NIC.
		if l.Type() != "vlan" && sameMAC(a.HardwareAddr, n.MAC) {
			found = l
		}
	}
	if found == nil {
		return false, report.Fail(fmt.Sprintf("a NIC with the MAC address %s, for ifname=%s", n.MAC, n),
			"no link has it; present: "+listOrNone(present),
			"correct the MAC address in ifname= (`ip link` in the rescue shell lists them), or check that the initramfs carries the NIC's driver")
	}
	a := found.Attrs()
	if a.Name == n.Name {
		return true, nil
	}
	if other, err := netlink.LinkByName(n.Name); err == nil {
		return true, report.Fail(fmt.Sprintf("the name %s free for the NIC %s (ifname=%s)", n.Name, n.MAC, n),
			fmt.Sprintf("%s is the name of another link, MAC %s", n.Name, other.Attrs().HardwareAddr),
			"choose a name the kernel does not give (not ethN), e.g. lan0 or bootnet, as dracut.cmdline(7) advises")
	}
	// A link is renamed while down.
	if err := netlink.LinkSetDown(found); err != nil {
		return true, renameFailure(n, a.Name, err)
	}
	if err := netlink.LinkSetName(found, n.Name); err != nil {
		return true, renameFailure(n, a.Name, err)
	}
	return true, nil
}

func renameFailure(n config.IfName, from string, err error) *report.Failure {
	return report.Fail(fmt.Sprintf("the NIC %s (%s) renamed %s, as ifname=%s asks", from, n.MAC, n.Name, n),
		"renaming it: "+err.Error(), "choose another name in ifname=, or leave the NIC its kernel name")
}

func sameMAC(a, b net.HardwareAddr) bool { return a.String() == b.String() }

// makeVLAN creates the 802.1Q link v on its parent and brings the parent
// up (the VLAN has a carrier only when the parent has). done as for
// renameByMAC; a VLAN already there with the same id and parent is kept.
func makeVLAN(v config.VLAN) (done bool, f *report.Failure) {
	parent, err := netlink.LinkByName(v.Parent)
	if err != nil {
		var present []string
		if links, err := netlink.LinkList(); err == nil {
			for _, l := range links {
				if n := l.Attrs().Name; n != "lo" {
					present = append(present, n)
				}
			}
		}
		return false, report.Fail(fmt.Sprintf("the interface %s, the parent of vlan=%s", v.Parent, v),
			"no interface "+v.Parent+"; present: "+listOrNone(present),
			"correct the parent in vlan= (an ifname= name works too), or check that the initramfs carries the NIC's driver")
	}
	if l, err := netlink.LinkByName(v.Name); err == nil {
		vl, ok := l.(*netlink.Vlan)
		if !ok || vl.VlanId != v.ID || vl.ParentIndex != parent.Attrs().Index {
			return true, report.Fail(fmt.Sprintf("the name %s free for the VLAN of vlan=%s", v.Name, v),
				fmt.Sprintf("a %s link %s is there already", l.Type(), v.Name), "choose another VLAN name in vlan=")
		}
	} else {
		err := netlink.LinkAdd(&netlink.Vlan{
			LinkAttrs:    netlink.LinkAttrs{Name: v.Name, ParentIndex: parent.Attrs().Index},
			VlanId:       v.ID,
			VlanProtocol: netlink.VLAN_PROTOCOL_8021Q,
		})
		if err != nil {
			action := "check the parent in vlan="
			if errors.Is(err, unix.EOPNOTSUPP) || strings.Contains(err.Error(), "not supported") {
				action = "the kernel has no 802.1Q support: the initramfs must carry the 8021q module"
			}
			return true, report.Fail(fmt.Sprintf("the 802.1Q link %s (VLAN %d on %s) of vlan=%s", v.Name, v.ID, v.Parent, v),
				"creating it: "+err.Error(), action)
		}
	}
	if err := netlink.LinkSetUp(parent); err != nil {
		return true, report.Fail(fmt.Sprintf("the parent %s of vlan=%s up", v.Parent, v), "setting it up: "+err.Error(), "check the NIC")
	}
	return true, nil
}

// withVLANs makes the VLANs of vlan= links that an ip= for every NIC
// configures, and their parents links it leaves alone: a parent carries
// its VLANs, and an untagged address on it is seldom what is wanted (an
// ip= naming the parent still applies).
func withVLANs(ifaces []iface, vlans []config.VLAN) []iface {
	if len(vlans) == 0 {
		return ifaces
	}
	out := make([]iface, len(ifaces))
	for i, f := range ifaces {
		for _, v := range vlans {
			switch f.Name {
			case v.Name:
				f.Physical = true
			case v.Parent:
				f.Physical = false
			}
		}
		out[i] = f
	}
	return out
}

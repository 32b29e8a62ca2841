package netup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Methods of a Link.
const (
	MethodDHCP   = "dhcp"
	MethodStatic = "static"
	MethodOff    = "off"
	MethodAuto6  = "auto6" // SLAAC: router advertisements
	MethodDHCP6  = "dhcp6"
)

// iface is one entry of /sys/class/net.
type iface struct {
	Name string
	// Physical: the entry has a device link, so a driver bound it to
	// hardware. Bridges, tun, wg, veth, dummy and bonds live under
	// /sys/devices/virtual and have none.
	Physical bool
}

// listInterfaces reads the interfaces of sysClassNet, sorted by name,
// without lo.
func listInterfaces(sysClassNet string) ([]iface, error) {
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return nil, err
	}
	var out []iface
	for _, e := range ents {
		if e.Name() == "lo" {
			continue
		}
		_, err := os.Stat(filepath.Join(sysClassNet, e.Name(), "device"))
		out = append(out, iface{Name: e.Name(), Physical: err == nil})
	}
	slices.SortFunc(out, func(a, b iface) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// linkPlan is what the stage does with one link.
type linkPlan struct {
	Name   string
	Method string
	IP     config.IPConfig
	// Named: an ip= entry chose this link, by name or as the only NIC for
	// a static address. Its problems are warnings; those of a NIC swept up
	// by ip=dhcp for every NIC (a spare port without a cable) are not.
	Named bool
}

// offEverywhere reports ip=off (or none) for every device: only lo is
// brought up.
func offEverywhere(ips []config.IPConfig) bool {
	return len(ips) == 1 && ips[0].Mode == config.IPOff && ips[0].Device == ""
}

// chooseLinks decides, from the ip= entries and the interfaces present,
// which links to configure and how. An entry naming a device applies to
// that device; an entry without one applies to every physical NIC that no
// other entry names. missing is true when a named device, or any NIC at
// all, is not there (yet): the caller waits for it, since drivers probe
// asynchronously, and reports f when it never comes.
func chooseLinks(ips []config.IPConfig, ifaces []iface) (plans []linkPlan, f *report.Failure, missing bool) {
	present := map[string]bool{}
	var physical []string
	for _, i := range ifaces {
		present[i.Name] = true
		if i.Physical {
			physical = append(physical, i.Name)
		}
	}
	var all *config.IPConfig
	named := map[string]bool{}
	for i, ip := range ips {
		if ip.Device == "" {
			all = &ips[i]
			continue
		}
		named[ip.Device] = true
		if !present[ip.Device] {
			return nil, report.Fail(fmt.Sprintf("the network interface %s named by ip=%s", ip.Device, ip.Raw),
				fmt.Sprintf("no interface %s; present: %s", ip.Device, listOrNone(ifaceNames(ifaces))),
				"correct the device in ip=, or check that the initramfs carries the NIC's driver (lspci -k names it)"), true
		}
		plans = append(plans, linkPlan{Name: ip.Device, Method: method(ip.Mode), IP: ip, Named: true})
	}
	if all != nil && all.Mode != config.IPOff {
		var rest []string
		for _, n := range physical {
			if !named[n] {
				rest = append(rest, n)
			}
		}
		switch {
		case len(rest) == 0 && len(plans) == 0:
			return nil, noNIC(ifaces), true
		case all.Mode == config.IPStatic && len(rest) > 1:
			return nil, report.Fail(fmt.Sprintf("one NIC for the static address of ip=%s, or a device named in it", all.Raw),
				fmt.Sprintf("%d NICs: %s", len(rest), strings.Join(rest, ", ")),
				"name the device in the sixth field: ip="+staticForm(*all, rest[0])), false
		case all.Mode == config.IPStatic && len(rest) == 1:
			plans = append(plans, linkPlan{Name: rest[0], Method: MethodStatic, IP: *all, Named: true})
		default:
			for _, n := range rest {
				plans = append(plans, linkPlan{Name: n, Method: method(all.Mode), IP: *all})
			}
		}
	}
	slices.SortFunc(plans, func(a, b linkPlan) int { return strings.Compare(a.Name, b.Name) })
	return plans, nil, false
}

func noNIC(ifaces []iface) *report.Failure {
	found := "no network interface besides lo"
	if names := ifaceNames(ifaces); len(names) > 0 {
		found = "no physical network interface; virtual ones skipped: " + strings.Join(names, ", ")
	}
	return report.Fail("a network interface (NIC) to configure", found,
		"check that the initramfs carries the NIC's driver module (lspci -k names it); a machine that needs no network can boot with ip=off")
}

func method(m config.IPMode) string {
	switch m {
	case config.IPStatic:
		return MethodStatic
	case config.IPOff:
		return MethodOff
	case config.IPAuto6:
		return MethodAuto6
	case config.IPDHCP6:
		return MethodDHCP6
	default:
		return MethodDHCP
	}
}

func ifaceNames(ifaces []iface) []string {
	var n []string
	for _, i := range ifaces {
		n = append(n, i.Name)
	}
	return n
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none besides lo"
	}
	return strings.Join(s, ", ")
}

// staticForm spells the static entry c for device dev, for an action
// the operator can copy.
func staticForm(c config.IPConfig, dev string) string {
	addr := func(a string, ok bool) string {
		switch {
		case !ok:
			return ""
		case strings.Contains(a, ":"):
			return "[" + a + "]"
		}
		return a
	}
	return fmt.Sprintf("%s::%s:%d:%s:%s:none", addr(c.Client.Addr().String(), true), addr(c.Gateway.String(), c.Gateway.IsValid()),
		c.Client.Bits(), c.Hostname, dev)
}

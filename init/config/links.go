package config

import (
	"fmt"
	"net"
	"strings"
)

// dracut's link parameters (dracut.cmdline(7)): ifname=<name>:<MAC> pins a
// NIC's name by its MAC address, vlan=<name>:<parent> makes an 802.1Q
// link on parent, its VLAN id taken from the name in one of the four
// styles dracut knows: vlan0005, vlan5, eth0.0005, eth0.5.

// IfName is one ifname=: the NIC with MAC is renamed Name before any ip=
// applies to it.
type IfName struct {
	Name string
	MAC  net.HardwareAddr
}

// String is the ifname= value (without the "ifname=").
func (n IfName) String() string { return n.Name + ":" + n.MAC.String() }

// VLAN is one vlan=: an 802.1Q link Name with VLAN id ID on Parent.
type VLAN struct {
	Name   string
	Parent string
	ID     int
}

// String is the vlan= value (without the "vlan=").
func (v VLAN) String() string { return v.Name + ":" + v.Parent }

const maxVLANID = 4094 // 0 and 4095 are reserved (IEEE 802.1Q)

// ParseIfName parses one ifname= value.
func ParseIfName(value string) (IfName, error) {
	n, e := parseIfName(value)
	if e != nil {
		e.key, e.value = "ifname", value
		return IfName{}, e
	}
	return n, nil
}

func parseIfName(value string) (IfName, *ipError) {
	name, mac, ok := strings.Cut(value, ":")
	if !ok {
		return IfName{}, &ipError{reason: "is not <name>:<MAC>; e.g. ifname=lan0:52:54:00:12:34:56"}
	}
	if name == "" {
		return IfName{}, &ipError{field: 1, name: "name", text: name, reason: "is empty; name the interface, e.g. ifname=lan0:" + mac}
	}
	n, e := ipDevice(1, name)
	if e != nil {
		e.name = "name"
		return IfName{}, e
	}
	m, err := net.ParseMAC(mac)
	if err != nil || len(m) != 6 {
		return IfName{}, &ipError{field: 2, name: "MAC", text: mac, reason: "is not a MAC address (six octets, e.g. 52:54:00:12:34:56; `ip link` shows them)"}
	}
	return IfName{Name: n, MAC: m}, nil
}

// ParseVLAN parses one vlan= value.
func ParseVLAN(value string) (VLAN, error) {
	v, e := parseVLAN(value)
	if e != nil {
		e.key, e.value = "vlan", value
		return VLAN{}, e
	}
	return v, nil
}

func parseVLAN(value string) (VLAN, *ipError) {
	name, parent, ok := strings.Cut(value, ":")
	switch {
	case !ok:
		return VLAN{}, &ipError{reason: "is not <name>:<parent>; e.g. vlan=vlan5:eth0 or vlan=eth0.5:eth0"}
	case name == "":
		return VLAN{}, &ipError{field: 1, name: "name", text: name, reason: "is empty; e.g. vlan=vlan5:" + parent}
	case parent == "":
		return VLAN{}, &ipError{field: 2, name: "parent", text: parent, reason: "is empty; name the interface the VLAN runs on, e.g. vlan=" + name + ":eth0"}
	}
	var v VLAN
	var e *ipError
	if v.Name, e = ipDevice(1, name); e != nil {
		e.name = "name"
		return VLAN{}, e
	}
	if v.Parent, e = ipDevice(2, parent); e != nil {
		e.name = "parent"
		return VLAN{}, e
	}
	if v.Name == v.Parent {
		return VLAN{}, &ipError{field: 1, name: "name", text: name, reason: "is the parent's name; the VLAN needs its own, e.g. vlan=" + parent + ".5:" + parent}
	}
	id, ok := vlanID(v.Name)
	if !ok {
		return VLAN{}, &ipError{field: 1, name: "name", text: name, reason: "holds no VLAN id; name it vlan<id> or <parent>.<id> (vlan5, vlan0005, eth0.5, eth0.0005), as dracut does"}
	}
	n, ok := parseUint(id, maxVLANID)
	if !ok || n == 0 {
		return VLAN{}, &ipError{field: 1, name: "name", text: name, reason: fmt.Sprintf("has the VLAN id %s; a VLAN id is from 1 to %d", id, maxVLANID)}
	}
	v.ID = n
	return v, nil
}

// vlanID is the digits that name the VLAN id: after "vlan", or after the
// last '.'.
func vlanID(name string) (string, bool) {
	if d, ok := strings.CutPrefix(name, "vlan"); ok && isDigits(d) {
		return d, true
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 && isDigits(name[i+1:]) {
		return name[i+1:], true
	}
	return "", false
}

func (p *parser) applyIfName(prm Param) {
	if !prm.HasValue {
		p.bad(prm, "needs a value; e.g. ifname=lan0:52:54:00:12:34:56")
		return
	}
	n, err := ParseIfName(prm.Value)
	if err != nil {
		p.bad(prm, err.(*ipError).detail())
		return
	}
	if !p.ifnameSeen {
		p.cfg.IfNames = nil
		p.ifnameSeen = true
	}
	for _, o := range p.cfg.IfNames {
		switch {
		case o.Name == n.Name:
			p.bad(prm, fmt.Sprintf("names %s again: ifname=%s gave that name to another NIC; each name goes to one MAC", n.Name, o))
			return
		case o.MAC.String() == n.MAC.String():
			p.bad(prm, fmt.Sprintf("renames %s again: ifname=%s names it already; give each NIC one name", n.MAC, o))
			return
		}
	}
	p.cfg.IfNames = append(p.cfg.IfNames, n)
}

func (p *parser) applyVLAN(prm Param) {
	if !prm.HasValue {
		p.bad(prm, "needs a value; e.g. vlan=vlan5:eth0")
		return
	}
	v, err := ParseVLAN(prm.Value)
	if err != nil {
		p.bad(prm, err.(*ipError).detail())
		return
	}
	if !p.vlanSeen {
		p.cfg.VLANs = nil
		p.vlanSeen = true
	}
	for _, o := range p.cfg.VLANs {
		switch {
		case o.Name == v.Name:
			p.bad(prm, fmt.Sprintf("makes %s again: vlan=%s made it already", v.Name, o))
			return
		case o.Parent == v.Parent && o.ID == v.ID:
			p.bad(prm, fmt.Sprintf("makes VLAN %d on %s again: vlan=%s is that VLAN already", v.ID, v.Parent, o))
			return
		case o.Name == v.Parent:
			p.bad(prm, fmt.Sprintf("puts a VLAN on the VLAN %s; 802.1ad (QinQ) is not supported: name a NIC as the parent", v.Parent))
			return
		}
	}
	p.cfg.VLANs = append(p.cfg.VLANs, v)
}

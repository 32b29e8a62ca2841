package wgconf

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

// Marshal renders a configuration in wg-quick format, as `homestaker
// prepare` writes wg0.conf. For a Config that Parse returned, Parse of the
// result gives it back (Line fields aside). The output holds the private
// and preshared keys: write it to a file of mode 0600 and nowhere else.
func Marshal(c *Config) []byte {
	var b bytes.Buffer
	ifc := &c.Interface
	b.WriteString("[Interface]\n")
	fmt.Fprintf(&b, "PrivateKey = %s\n", ifc.PrivateKey.base64())
	if ifc.ListenPort != 0 {
		fmt.Fprintf(&b, "ListenPort = %d\n", ifc.ListenPort)
	}
	switch {
	case ifc.FwMarkSet && ifc.FwMark == 0:
		b.WriteString("FwMark = off\n")
	case ifc.FwMarkSet || ifc.FwMark != 0:
		fmt.Fprintf(&b, "FwMark = 0x%x\n", ifc.FwMark)
	}
	if len(ifc.Addresses) > 0 {
		fmt.Fprintf(&b, "Address = %s\n", joinPrefixes(ifc.Addresses))
	}
	if len(ifc.DNS)+len(ifc.DNSSearch) > 0 {
		var items []string
		for _, a := range ifc.DNS {
			items = append(items, a.String())
		}
		items = append(items, ifc.DNSSearch...)
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(items, ", "))
	}
	if ifc.MTU != 0 {
		fmt.Fprintf(&b, "MTU = %d\n", ifc.MTU)
	}
	if ifc.Table != "" {
		fmt.Fprintf(&b, "Table = %s\n", ifc.Table)
	}
	if ifc.SaveConfig {
		b.WriteString("SaveConfig = true\n")
	}
	for _, h := range ifc.Hooks {
		fmt.Fprintf(&b, "%s = %s\n", h.Kind, h.Command)
	}
	for _, p := range c.Peers {
		b.WriteString("\n[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", p.PublicKey.base64())
		if p.PresharedKey != nil {
			fmt.Fprintf(&b, "PresharedKey = %s\n", p.PresharedKey.base64())
		}
		if len(p.AllowedIPs) > 0 {
			fmt.Fprintf(&b, "AllowedIPs = %s\n", joinPrefixes(p.AllowedIPs))
		}
		if p.Endpoint != nil {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != 0 {
			fmt.Fprintf(&b, "PersistentKeepalive = %d\n", p.PersistentKeepalive)
		}
	}
	return b.Bytes()
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

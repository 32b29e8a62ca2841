package netup

import (
	"net/netip"
	"slices"

	"github.com/homestaker/homestaker-boot/init/hostname"
	"github.com/homestaker/homestaker-boot/init/resolvconf"
)

// renderResolvConf returns resolv.conf for the servers and search
// domains, deduplicated and in order. Servers past the third are left
// out: resolvers would ignore them.
func renderResolvConf(dns []netip.Addr, search []string) string {
	var servers []netip.Addr
	for _, a := range dns {
		if !slices.Contains(servers, a) && len(servers) < resolvconf.MaxNameservers {
			servers = append(servers, a)
		}
	}
	var domains []string
	for _, d := range search {
		if hostname.IsSearchDomain(d) {
			domains = append(domains, d)
		}
	}
	return resolvconf.Render("written by homestaker-boot's network stage", servers, nil, domains)
}

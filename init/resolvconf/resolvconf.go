// Package resolvconf renders and writes /etc/resolv.conf: the network stage
// writes it from DHCP or ip=, and the wireguard stage puts the tunnel's DNS
// servers ahead of the network's.
package resolvconf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
)

// MaxNameservers is how many nameserver lines glibc, musl and Go's resolver
// read (MAXNS); later ones are ignored.
const MaxNameservers = 3

// Render returns a resolv.conf: a comment line, a nameserver line for each
// of servers (each once, in order), the lines of keep as they are, and one
// search line with the domains (each once), left out when there are none.
func Render(comment string, servers []netip.Addr, keep, search []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", comment)
	var seen []netip.Addr
	for _, a := range servers {
		if !slices.Contains(seen, a) {
			seen = append(seen, a)
			fmt.Fprintf(&b, "nameserver %s\n", a)
		}
	}
	for _, line := range keep {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	var domains []string
	for _, d := range search {
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	if len(domains) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(domains, " "))
	}
	return b.String()
}

// Merge puts servers ahead of the nameservers in old, an existing
// resolv.conf, whose other lines stay as they are. The search domains go
// first on the one search line: resolvers use the last search or domain
// line only, so old's are merged into it. It returns the new content and
// the nameservers that resolvers will ignore, being past the third.
func Merge(old, comment string, servers []netip.Addr, search []string) (string, []string) {
	var all []string // every nameserver, in the order resolvers read them
	for _, s := range servers {
		if a := s.String(); !slices.Contains(all, a) {
			all = append(all, a)
		}
	}
	domains := slices.Clone(search)
	var keep []string
	if old != "" {
		for _, line := range strings.Split(strings.TrimSuffix(old, "\n"), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 0 && !strings.HasPrefix(fields[0], "#") && !strings.HasPrefix(fields[0], ";") {
				switch fields[0] {
				case "nameserver":
					if len(fields) > 1 && slices.Contains(all, fields[1]) {
						continue // ours already, first
					}
					if len(fields) > 1 {
						all = append(all, fields[1])
					}
				case "search", "domain":
					if len(search) > 0 {
						domains = append(domains, fields[1:]...)
						continue // merged into our search line
					}
				}
			}
			keep = append(keep, line)
		}
	}
	var ignored []string
	if len(all) > MaxNameservers {
		ignored = all[MaxNameservers:]
	}
	return Render(comment, servers, keep, domains), ignored
}

// Write replaces the file at path with content (mode 0644), creating its
// directory, so that a resolver never reads half a file.
func Write(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	// In memory (the initramfs's /etc): the directory needs no fsync.
	return atomicfile.Replace(path, []byte(content), 0o644)
}

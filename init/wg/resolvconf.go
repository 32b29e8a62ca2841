package wg

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxNameservers is how many nameserver lines glibc and Go's resolver
// read (MAXNS); later ones are ignored.
const maxNameservers = 3

// mergeResolvConf puts the tunnel's DNS servers ahead of the ones in old,
// which the network stage wrote from DHCP or ip=. wg-quick replaces the
// file instead; here the underlying servers stay behind the tunnel's, so
// names still resolve (more slowly, after a timeout) while the tunnel is
// down, for the next-stage download. The tunnel's search domains go first
// on the one search line (resolvers use the last search or domain line
// only, so all of them are merged into one). It returns the new content
// and the nameservers that resolvers will ignore, being past the third.
func mergeResolvConf(old string, ifname string, servers []netip.Addr, search []string) (string, []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: DNS from %s.conf, ahead of the network's\n", ifname, ifname)
	var all []string
	for _, s := range servers {
		a := s.String()
		if !slices.Contains(all, a) {
			all = append(all, a)
			fmt.Fprintf(&b, "nameserver %s\n", a)
		}
	}
	domains := slices.Clone(search)
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
		if line == "" && old == "" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if len(search) > 0 {
		var uniq []string
		for _, d := range domains {
			if !slices.Contains(uniq, d) {
				uniq = append(uniq, d)
			}
		}
		fmt.Fprintf(&b, "search %s\n", strings.Join(uniq, " "))
	}
	var ignored []string
	if len(all) > maxNameservers {
		ignored = all[maxNameservers:]
	}
	return b.String(), ignored
}

// resolvConfChange is a change made to resolv.conf, to undo on Close.
type resolvConfChange struct {
	path    string
	old     []byte // nil: the file did not exist
	written string
}

// writeResolvConf adds the tunnel's DNS to the file at path.
func writeResolvConf(path, ifname string, servers []netip.Addr, search []string) (*resolvConfChange, []string, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading %s: %v", path, err)
	}
	content, ignored := mergeResolvConf(string(old), ifname, servers, search)
	if err := writeFileAtomic(path, content); err != nil {
		return nil, nil, err
	}
	return &resolvConfChange{path: path, old: old, written: content}, ignored, nil
}

// undo puts back what was there before, unless someone (a DHCP renewal)
// has rewritten the file since: theirs is newer than ours.
func (c *resolvConfChange) undo() error {
	cur, err := os.ReadFile(c.path)
	if err != nil || string(cur) != c.written {
		return nil
	}
	if c.old == nil {
		if err := os.Remove(c.path); err != nil {
			return fmt.Errorf("removing %s: %v", c.path, err)
		}
		return nil
	}
	return writeFileAtomic(c.path, string(c.old))
}

// writeFileAtomic replaces path so that a resolver never reads half a file.
func writeFileAtomic(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	tmp := path + ".wg.tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %v", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %v", path, err)
	}
	return nil
}

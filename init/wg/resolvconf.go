package wg

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"

	"github.com/homestaker/homestaker-boot/init/resolvconf"
)

// resolvConfChange is a change made to resolv.conf, to undo on Close.
type resolvConfChange struct {
	path    string
	old     []byte // nil: the file did not exist
	written string
}

// writeResolvConf adds the tunnel's DNS to the file at path, which the
// network stage wrote from DHCP or ip=. wg-quick replaces the file instead;
// here the underlying servers stay behind the tunnel's, so names still
// resolve (more slowly, after a timeout) while the tunnel is down, for the
// next-stage download. It returns the nameservers resolvers will ignore.
func writeResolvConf(path, ifname string, servers []netip.Addr, search []string) (*resolvConfChange, []string, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading %s: %v", path, err)
	}
	comment := fmt.Sprintf("%s: DNS from %s.conf, ahead of the network's", ifname, ifname)
	content, ignored := resolvconf.Merge(string(old), comment, servers, search)
	if err := resolvconf.Write(path, content); err != nil {
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
	return resolvconf.Write(c.path, string(c.old))
}

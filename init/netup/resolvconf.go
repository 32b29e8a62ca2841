package netup

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// maxNameservers is glibc's and musl's MAXNS: later lines are ignored by
// them, so they are not written.
const maxNameservers = 3

// renderResolvConf returns resolv.conf for the servers and search
// domains, deduplicated and in order.
func renderResolvConf(dns []netip.Addr, search []string) string {
	var b strings.Builder
	b.WriteString("# written by homestaker-boot's network stage\n")
	seen := map[netip.Addr]bool{}
	n := 0
	for _, a := range dns {
		if seen[a] || n == maxNameservers {
			continue
		}
		seen[a] = true
		n++
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	var domains []string
	seenDomain := map[string]bool{}
	for _, d := range search {
		if validDomain(d) && !seenDomain[d] {
			seenDomain[d] = true
			domains = append(domains, d)
		}
	}
	if len(domains) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(domains, " "))
	}
	return b.String()
}

// writeFileAtomic replaces path with data: a reader sees the old file or
// the new one, never half of it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

package wg

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addrs(s string) []netip.Addr {
	var out []netip.Addr
	for _, f := range strings.Fields(s) {
		out = append(out, netip.MustParseAddr(f))
	}
	return out
}

func TestResolvConfUndo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	orig := "nameserver 10.0.2.3\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _, err := writeResolvConf(path, "wg0", addrs("10.99.0.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "# wg0") {
		t.Fatalf("not written: %q", b)
	}
	if err := c.undo(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != orig {
		t.Errorf("after undo: %q, want %q", b, orig)
	}

	// Rewritten by someone else since: theirs stays.
	c, _, err = writeResolvConf(path, "wg0", addrs("10.99.0.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("nameserver 192.168.1.1\n"), 0o644)
	if err := c.undo(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "nameserver 192.168.1.1\n" {
		t.Errorf("undo clobbered a newer file: %q", b)
	}

	// No file before: none after.
	fresh := filepath.Join(dir, "etc", "resolv.conf")
	c, _, err = writeResolvConf(fresh, "wg0", addrs("10.99.0.1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.undo(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("undo left %s: %v", fresh, err)
	}
	for _, d := range []string{dir, filepath.Dir(fresh)} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.Name() != "resolv.conf" && e.Name() != "etc" {
				t.Errorf("left in %s: %s", d, e.Name())
			}
		}
	}
}

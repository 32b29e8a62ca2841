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

func TestMergeResolvConf(t *testing.T) {
	tests := []struct {
		name        string
		old         string
		servers     string
		search      []string
		want        string
		wantIgnored []string
	}{
		{
			name:    "tunnel servers ahead of DHCP's",
			old:     "nameserver 10.0.2.3\n",
			servers: "10.99.0.1",
			want:    "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nnameserver 10.0.2.3\n",
		},
		{
			name:    "no file yet",
			servers: "10.99.0.1 fd00:99::1",
			want:    "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nnameserver fd00:99::1\n",
		},
		{
			name:    "search domains merged into one line, ours first",
			old:     "# from DHCP\nsearch lan home.arpa\nnameserver 192.168.1.1\noptions edns0\n",
			servers: "10.99.0.1",
			search:  []string{"vpn.internal", "lan"},
			want: "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\n" +
				"# from DHCP\nnameserver 192.168.1.1\noptions edns0\nsearch vpn.internal lan home.arpa\n",
		},
		{
			name:   "domain line merged too; search only",
			old:    "domain lan\nnameserver 192.168.1.1\n",
			search: []string{"vpn.internal"},
			want:   "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 192.168.1.1\nsearch vpn.internal lan\n",
		},
		{
			name:    "servers only: the network's search line stays",
			old:     "search lan\nnameserver 192.168.1.1\n",
			servers: "10.99.0.1",
			want:    "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nsearch lan\nnameserver 192.168.1.1\n",
		},
		{
			name:    "a server in both is listed once, first",
			old:     "nameserver 1.1.1.1\nnameserver 192.168.1.1\n",
			servers: "1.1.1.1",
			want:    "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 1.1.1.1\nnameserver 192.168.1.1\n",
		},
		{
			name:        "past the third",
			old:         "nameserver 192.168.1.1\nnameserver 192.168.1.2\n",
			servers:     "10.99.0.1 10.99.0.2",
			want:        "# wg0: DNS from wg0.conf, ahead of the network's\nnameserver 10.99.0.1\nnameserver 10.99.0.2\nnameserver 192.168.1.1\nnameserver 192.168.1.2\n",
			wantIgnored: []string{"192.168.1.2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ignored := mergeResolvConf(tt.old, "wg0", addrs(tt.servers), tt.search)
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Join(ignored, " ") != strings.Join(tt.wantIgnored, " ") {
				t.Errorf("ignored %v, want %v", ignored, tt.wantIgnored)
			}
		})
	}
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
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

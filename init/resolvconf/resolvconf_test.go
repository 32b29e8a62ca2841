package resolvconf

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

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		servers string
		keep    []string
		search  []string
		want    string
	}{
		{"nothing", "", nil, nil, "# c\n"},
		{"servers and search, each once", "10.0.0.1 10.0.0.1 fd00::1", nil, []string{"lan", "home.arpa", "lan"},
			"# c\nnameserver 10.0.0.1\nnameserver fd00::1\nsearch lan home.arpa\n"},
		{"kept lines between", "10.0.0.1", []string{"# from DHCP", "options edns0"}, []string{"lan"},
			"# c\nnameserver 10.0.0.1\n# from DHCP\noptions edns0\nsearch lan\n"},
	}
	for _, tt := range tests {
		if got := Render("c", addrs(tt.servers), tt.keep, tt.search); got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, tt.want)
		}
	}
}

func TestMerge(t *testing.T) {
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
			got, ignored := Merge(tt.old, "wg0: DNS from wg0.conf, ahead of the network's", addrs(tt.servers), tt.search)
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if strings.Join(ignored, " ") != strings.Join(tt.wantIgnored, " ") {
				t.Errorf("ignored %v, want %v", ignored, tt.wantIgnored)
			}
		})
	}
}

// Write creates the directory and leaves only the file, mode 0644.
func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etc")
	path := filepath.Join(dir, "resolv.conf")
	for _, content := range []string{"first\n", "second\n"} {
		if err := Write(path, content); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

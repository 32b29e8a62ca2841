package netup

import "testing"

func TestRenderResolvConf(t *testing.T) {
	tests := []struct {
		name   string
		dns    []string
		search []string
		want   string
	}{
		{"slirp", []string{"10.0.2.3"}, nil, "nameserver 10.0.2.3\n"},
		{"search", []string{"192.168.1.1", "2001:db8::53"}, []string{"home.arpa", "lan"},
			"nameserver 192.168.1.1\nnameserver 2001:db8::53\nsearch home.arpa lan\n"},
		{"duplicates and more than three", []string{"1.1.1.1", "1.1.1.1", "8.8.8.8", "9.9.9.9", "8.8.4.4"}, []string{"lan", "lan"},
			"nameserver 1.1.1.1\nnameserver 8.8.8.8\nnameserver 9.9.9.9\nsearch lan\n"},
		{"a bad search domain is dropped", []string{"10.0.0.1"}, []string{"x\nnameserver 6.6.6.6", "ok.example"},
			"nameserver 10.0.0.1\nsearch ok.example\n"},
		{"nothing", nil, nil, ""},
	}
	const head = "# written by homestaker-boot's network stage\n"
	for _, tt := range tests {
		got := renderResolvConf(addrs(tt.dns...), tt.search)
		if got != head+tt.want {
			t.Errorf("%s:\n%s\nwant\n%s", tt.name, got, head+tt.want)
		}
	}
}

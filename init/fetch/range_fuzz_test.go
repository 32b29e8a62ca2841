package fetch

import (
	"fmt"
	"net/http"
	"testing"
)

// FuzzParseContentRange: a resumed download trusts the server's
// Content-Range to say where the bytes go. Whatever it accepts is a range
// that starts inside the file, and it reads back what it would write.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes 5-4/10", "bytes -1-3/4", "bytes 0-9/9", "bytes 9223372036854775806-9223372036854775806/9223372036854775807", "bits 0-1/2", "bytes 0-1/+2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if start < 0 || total != -1 && total <= start {
			t.Fatalf("%q: start %d, total %d", s, start, total)
		}
		// What was accepted is also what a well-formed header says.
		var end int64
		if _, err := fmt.Sscanf(s, "bytes %d-%d/", &start, &end); err != nil {
			t.Fatalf("%q accepted but not of the form bytes START-END/TOTAL", s)
		}
	})
}

// A source's redirects stay within what its channel vouches for: https
// may go to any https host (the CA bundle checks each), never down to
// http; a pinned (tunnel) source stays at its host.
func TestRedirectPolicies(t *testing.T) {
	req := func(u string) *http.Request {
		r, _ := http.NewRequest("GET", u, nil)
		return r
	}
	via := []*http.Request{req("https://builds.example.org/tree/kexec-boot")}
	if err := httpsOnly(req("https://objects.example.net/x"), via); err != nil {
		t.Errorf("https to another https host: %v", err)
	}
	if err := httpsOnly(req("http://builds.example.org/tree/kexec-boot"), via); err == nil {
		t.Error("https redirected down to http was followed")
	}
	tunnel := []*http.Request{req("http://10.99.0.1/tree/kexec-boot")}
	if err := sameOrigin(req("http://10.99.0.1/other/kexec-boot"), tunnel); err != nil {
		t.Errorf("the same host: %v", err)
	}
	if err := sameOrigin(req("http://192.0.2.7/tree/kexec-boot"), tunnel); err == nil {
		t.Error("a tunnel source redirected to another host was followed")
	}
}

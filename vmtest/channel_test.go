package vmtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A tree over plain http outside the tunnel is authenticated by nothing
// but a signature: unsigned, it is refused with the ways out, and the
// next source boots. Its URL's credentials reach neither the console nor
// the report saved on the volume.
func TestNextPlainHTTPOutsideTunnel(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	tree := treeDir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.StripPrefix("/tree", http.FileServer(http.Dir(tree)))}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	port := l.Addr().(*net.TCPAddr).Port
	// QEMU's user network: the host's loopback is 10.0.2.2, on eth0.
	src := fmt.Sprintf("http://operator:hunter2@10.0.2.2:%d/tree/?token=s3cr3t", port)
	vm := Boot(t, stage2Initramfs(t), []string{"homestaker.next=" + src + ",initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=required"}, Drive(d.Path))
	out := vm.Expect("[  OK  ] nextstage: initramfs:/next")
	for _, want := range []string{"plain http outside the WireGuard tunnel", "install-next --sign", fmt.Sprintf("http://10.0.2.2:%d/tree/?token=<hidden> refused", port)} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
	expectStage2(t, vm)
	if !strings.Contains(out, "a URL on the kernel command line carries credentials") {
		t.Errorf("no warning that the kernel itself prints the credentials:\n%s", out)
	}
	secrets := []string{"hunter2", "s3cr3t", "operator:"}
	for _, l := range vm.Lines() {
		if strings.Contains(strings.ToLower(l.Text), "command line: ") {
			continue // the kernel's own, printed before the init runs
		}
		for _, s := range secrets {
			if strings.Contains(l.Text, s) {
				t.Errorf("the console shows %q: %s", s, l.Text)
			}
		}
	}
	d.Edit(func(top string) {
		reports, _ := filepath.Glob(filepath.Join(top, "boot/reports/*.json"))
		if len(reports) == 0 {
			t.Error("no boot report on the volume")
		}
		for _, r := range reports {
			b, err := os.ReadFile(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if strings.Contains(string(b), s) {
					t.Errorf("%s holds %q", filepath.Base(r), s)
				}
			}
		}
	})
}

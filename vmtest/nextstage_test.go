package vmtest

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"aead.dev/minisign"
	"github.com/u-root/mkuimage/cpio"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// treeDir writes a HomestakerOS-shaped kexec tree on the host: the test
// kernel as bzImage, the zstd stage 2 as initrd.zst, kexec-boot.
func treeDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, bench.kernel, filepath.Join(dir, "bzImage"))
	copyFile(t, bench.stage2, filepath.Join(dir, "initrd.zst"))
	if err := os.WriteFile(filepath.Join(dir, "kexec-boot"), []byte(fixture.KexecBoot(fixture.Stage2Cmdline)), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Tamper appends to a file on the volume, as a bad copy or an attacker
// would change it.
func (d *Disk) Tamper(rel string) {
	d.t.Helper()
	d.Edit(func(top string) {
		f, err := os.OpenFile(filepath.Join(top, rel), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			d.t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write([]byte("tampered")); err != nil {
			d.t.Fatal(err)
		}
	})
}

// InstallNext runs `homestaker install-next ARGS --volume TOP SRC` on the
// mounted disk.
func (d *Disk) InstallNext(src string, args ...string) string {
	d.t.Helper()
	var out []byte
	d.Edit(func(top string) {
		cmd := exec.Command(bench.cli, append(append([]string{"install-next"}, args...), "--volume", top, src)...)
		var err error
		if out, err = cmd.CombinedOutput(); err != nil {
			d.t.Fatalf("homestaker install-next: %v\n%s", err, out)
		}
	})
	return string(out)
}

// signingKey makes a minisign key pair: the secret key file (unencrypted)
// and the public key file.
func signingKey(t testing.TB) (secret, public string, id string) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret, public = filepath.Join(dir, "key.sec"), filepath.Join(dir, "key.pub")
	sb, err := priv.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secret, sb, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, pb, 0o644); err != nil {
		t.Fatal(err)
	}
	return secret, public, fmt.Sprintf("%016X", pub.ID())
}

// trusting is our initramfs with a minisign public key appended under
// /etc/homestaker/trusted.d/, as an operator would add one.
func trusting(t testing.TB, public string, more ...cpio.Record) string {
	t.Helper()
	rec, err := fixture.FileRecord(public, "etc/homestaker/trusted.d/"+filepath.Base(public), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return withAppended(t, bench.initramfs, append([]cpio.Record{rec}, more...))
}

var volumeArgs = []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}

// From the volume: the stage 2 gets exactly the tree's command line plus
// homestaker.report=, reads that report, and finds the volume clean with
// the SSH key the bootstrap generated.
func TestNextFromVolume(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	d.Remove("secrets/ssh/id_ed25519")
	d.Remove("secrets/ssh/id_ed25519.pub")
	d.InstallNext(treeDir(t))
	vm := Boot(t, bench.initramfs, volumeArgs, Drive(d.Path))
	vm.Expect("[  OK  ] nextstage: volume:/boot/current: bzImage from kexec-boot, verified: checksum")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	for _, want := range []string{
		"HOMESTAKER-STAGE2 cmdline: " + fixture.Stage2Cmdline + " homestaker.report=/boot/reports/000001.json homestaker.tree=/boot/current\r",
		"HOMESTAKER-STAGE2 report /boot/reports/000001.json:",
		"result ok",
		"HOMESTAKER-STAGE2 volume: ssh host key present",
		"HOMESTAKER-STAGE2 volume: clean, no log replay",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

func TestNextSigned(t *testing.T) {
	secret, public, id := signingKey(t)
	d := PrepareDisk(t, WithTunnel...)
	d.InstallNext(treeDir(t), "--sign", secret)
	t.Run("trusted key boots", func(t *testing.T) {
		vm := Boot(t, trusting(t, public), volumeArgs, Drive(d.Path))
		vm.Expect("verified: signature by key " + id)
		vm.Expect("HOMESTAKER-STAGE2 powering off")
		if err := vm.Wait(); err != nil {
			t.Errorf("VM: %v", err)
		}
	})
	t.Run("unknown signer refused", func(t *testing.T) {
		_, other, otherID := signingKey(t)
		vm := Boot(t, trusting(t, other), volumeArgs, Drive(d.Path))
		out := vm.Expect("HOMESTAKER BOOT STOPPED in stage nextstage")
		out += vm.Expect("powering off")
		for _, want := range []string{id, otherID, "volume:/boot/previous"} {
			if !strings.Contains(out, want) {
				t.Errorf("console lacks %q:\n%s", want, out)
			}
		}
		if err := vm.Wait(); err != nil {
			t.Errorf("VM: %v", err)
		}
	})
}

// A tampered initrd in current is refused by name and previous boots.
func TestNextTamperedFallsBack(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	d.InstallNext(treeDir(t))
	d.InstallNext(treeDir(t))
	d.Tamper("boot/current/initrd.zst")
	vm := Boot(t, bench.initramfs, volumeArgs, Drive(d.Path))
	out := vm.Expect("[  OK  ] nextstage: volume:/boot/previous")
	if !strings.Contains(out, "volume:/boot/current refused (initrd.zst: sha256 mismatch), booting volume:/boot/previous") {
		t.Errorf("the fallback is not explained:\n%s", out)
	}
	vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

// No usable source: the banner lists every source and why.
func TestNextNoUsableSource(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, bench.initramfs, append([]string{"homestaker.next=volume:/boot/current,initramfs:/nope,http://10.0.2.2:9/tree/"}, volumeArgs...), Drive(d.Path))
	out := vm.Expect("HOMESTAKER BOOT STOPPED in stage nextstage")
	out += vm.Expect("powering off")
	for _, want := range []string{"volume:/boot/current:", "initramfs:/nope:", "http://10.0.2.2:9/tree/:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

// From HTTP over the tunnel: the host peer serves the tree; the first
// transfer of the initrd breaks halfway and the download resumes.
func TestNextHTTPOverTunnel(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	tree := treeDir(t)
	var broken atomic.Bool
	files := http.FileServer(http.Dir(tree))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/tree")
		if name == "/initrd.zst" && r.Header.Get("Range") == "" && broken.CompareAndSwap(false, true) {
			b, _ := os.ReadFile(filepath.Join(tree, "initrd.zst"))
			hj, _ := w.(http.Hijacker)
			conn, buf, err := hj.Hijack()
			if err != nil {
				return
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\n\r\n", len(b))
			buf.Write(b[:len(b)/2])
			buf.Flush()
			conn.Close()
			return
		}
		r.URL.Path = name
		files.ServeHTTP(w, r)
	})
	if err := peer.ServeHTTP(80, handler); err != nil {
		t.Fatal(err)
	}
	vm := Boot(t, bench.initramfs, []string{"homestaker.next=http://10.99.0.1/tree/", "homestaker.onfail=poweroff", "homestaker.wg=required"}, Drive(d.Path))
	out := vm.Expect("[  OK  ] nextstage: http://10.99.0.1/tree/")
	if !strings.Contains(out, "initrd.zst") || !strings.Contains(out, "resumed") {
		t.Errorf("no download progress with a resume on the console:\n%s", out)
	}
	// The tree has no SHA256SUMS: the rest of the line says how it came.
	vm.Expect("bzImage from kexec-boot, verified: nothing, no SHA256SUMS over the tunnel")
	vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	if !broken.Load() {
		t.Error("the test never broke a transfer")
	}
}

// switch_root: the stage 2 runs as PID 1 on the same kernel (it sees the
// bootstrap's command line) and finds the subvolumes mounted at their paths.
func TestSwitchRoot(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, stage2Initramfs(t), append([]string{"homestaker.handover=switchroot"}, bootArgs...), Drive(d.Path))
	vm.Expect("[  OK  ] handover: switch_root into /next/initrd.zst")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	for _, want := range []string{
		"as pid 1",
		"homestaker.handover=switchroot", // the bootstrap's own command line: no new kernel
		"HOMESTAKER-STAGE2 mount: /mnt/secrets btrfs",
		"HOMESTAKER-STAGE2 mount: /mnt/erigon btrfs",
		"HOMESTAKER-STAGE2 mount: /mnt/lighthouse btrfs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kexec_core: Starting new kernel") {
		t.Error("a new kernel started: that was a kexec, not a switch_root")
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

package vmtest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/u-root/mkuimage/cpio"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// chainloadArgs are what the fallback Linux passes with --append: the
// bootstrap takes the stage 2 from its initramfs and powers off on failure.
const chainloadArgs = "homestaker.next=initramfs:/next homestaker.onfail=poweroff homestaker.wg=off homestaker.ntp=10.0.2.2"

// fallbackLinux is the initramfs of a "fallback Linux": vmtest/fallback as
// its init, the static CLI as /homestaker, and under /boot the files it
// chainloads and /boot/append. An empty kernel or initramfs is left out.
func fallbackLinux(t testing.TB, cli, kernel, initramfs, appendArgs string) string {
	t.Helper()
	dir := t.TempDir()
	initBin := filepath.Join(dir, "fallback")
	if err := fixture.GoBuild(bench.root, initBin, "./vmtest/fallback"); err != nil {
		t.Fatal(err)
	}
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("boot/append", appendArgs+"\n", 0o644),
	}
	files := []struct {
		src, name string
		perm      uint64
	}{
		{initBin, "init", 0o755},
		{cli, "homestaker", 0o755},
		{kernel, "boot/vmlinuz", 0o644},
		{initramfs, "boot/initramfs.cpio.zst", 0o644},
	}
	for _, f := range files {
		if f.src == "" {
			continue
		}
		r, err := fixture.FileRecord(f.src, f.name, f.perm)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	out := filepath.Join(dir, "fallback.cpio")
	if err := fixture.WriteCPIO(out, recs); err != nil {
		t.Fatal(err)
	}
	return out
}

// A running Linux (no systemd, nothing but a kernel and an init) runs
// `homestaker chainload` on the bootstrap: the bootstrap comes up on the
// console carried over from the fallback's command line, with the
// parameters of --append, and goes on to the stage 2. Refusals leave the
// fallback running with nothing loaded.
func TestChainload(t *testing.T) {
	cli := filepath.Join(t.TempDir(), "homestaker")
	if err := fixture.GoBuild(bench.root, cli, "./cmds/homestaker"); err != nil {
		t.Fatal(err)
	}

	t.Run("to stage 2", func(t *testing.T) {
		bootstrap := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
		disk := PrepareDisk(t, WithTunnel...)
		vm := BootNIC(t, UserNet, fallbackLinux(t, cli, bench.kernel, bootstrap, chainloadArgs), nil, Drive(disk.Path))
		vm.Expect("FALLBACK-LINUX up")
		// Boot gave the fallback kernel console=ttyS0 (and panic=-1 and
		// homestaker.ntp=, which are not carried over).
		vm.Expect("cmdline:   console=ttyS0 " + chainloadArgs + "\r")
		vm.Expect("loaded with kexec_file_load\r")
		vm.Expect("syncing and rebooting into the bootstrap (reboot(KEXEC))")
		// The bootstrap's own console output reaches ttyS0 only through
		// the carried-over console=ttyS0.
		vm.Expect("homestaker-boot ")
		vm.Expect("init started")
		vm.Expect("[  OK  ] nextstage: initramfs:/next")
		vm.Expect("HOMESTAKER-STAGE2 up")
		out := vm.Expect("HOMESTAKER-STAGE2 powering off")
		// The tree's command line, and the report the bootstrap saved on
		// the volume.
		want := regexp.MustCompile(`HOMESTAKER-STAGE2 cmdline: ` + regexp.QuoteMeta(fixture.Stage2Cmdline) + `( homestaker\.report=\S+)?\r`)
		if !want.MatchString(out) {
			t.Errorf("stage 2 did not get the tree's command line %q; console:\n%s", fixture.Stage2Cmdline, out)
		}
		for _, l := range vm.Lines() {
			if strings.Contains(l.Text, "FALLBACK-LINUX failed") {
				t.Errorf("the fallback Linux saw a failure: %s", l.Text)
			}
		}
		if err := vm.Wait(); err != nil {
			t.Errorf("VM: %v", err)
		}
	})

	refusals := []struct {
		name, kernel, initramfs string
		want                    string
	}{
		// The stage 2's initrd, zstd data, where the kernel should be.
		{"kernel not a bzImage", bench.stage2, bench.initramfs,
			"homestaker chainload: refusing: KERNEL /boot/vmlinuz is not an x86 bzImage: found "},
		{"initramfs missing", bench.kernel, "",
			"homestaker chainload: refusing: INITRAMFS /boot/initramfs.cpio.zst does not exist"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			vm := BootNIC(t, "none", fallbackLinux(t, cli, r.kernel, r.initramfs, chainloadArgs), nil)
			vm.Expect("FALLBACK-LINUX up")
			out := vm.Expect(r.want)
			out += vm.Expect("FALLBACK-LINUX kexec_loaded=")
			out += vm.Expect("FALLBACK-LINUX powering off")
			if !strings.Contains(out, "FALLBACK-LINUX kexec_loaded=0\r") {
				t.Errorf("a kernel was loaded after the refusal:\n%s", out)
			}
			if !strings.Contains(out, "FALLBACK-LINUX failed: chainload: exit status 1") {
				t.Errorf("chainload did not exit with status 1:\n%s", out)
			}
			if strings.Contains(out, "cmdline:") {
				t.Errorf("chainload went on past the refusal:\n%s", out)
			}
			if err := vm.Wait(); err != nil {
				t.Errorf("VM: %v", err)
			}
		})
	}
}

package vmtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// mediaCmdline is the kernel command line the test boot media carry: with
// no -kernel from QEMU, the serial console, the test NTP server and the
// boot parameters come from the medium.
var mediaCmdline = append([]string{"console=ttyS0", "panic=-1", "homestaker.ntp=10.0.2.2"}, bootArgs...)

// media is the builder's output for the boot media tests, made once.
var media struct {
	once sync.Once
	dir  string // the PXE folder and homestaker-usb.img
	out  string // what the builder printed
	err  error
}

// bootMedia runs the initramfs builder as `make build` does, with -pxe and
// -usb, and the stage-2 tree at /next as an extra initrd, and returns the
// folder holding the PXE files and homestaker-usb.img.
func bootMedia(t testing.TB) string {
	t.Helper()
	media.once.Do(func() {
		_, modules, err := fixture.Kernel(bench.root)
		if err != nil {
			media.err = err
			return
		}
		media.dir = filepath.Join(bench.tmp, "media")
		next := filepath.Join(bench.tmp, "next.cpio")
		recs, err := fixture.TreeRecords("next", bench.kernel, bench.stage2, fixture.Stage2Cmdline)
		if err != nil {
			media.err = err
			return
		}
		if media.err = fixture.WriteCPIO(next, recs); media.err != nil {
			return
		}
		cmd := exec.Command("go", "run", "./initramfs",
			"-o", filepath.Join(media.dir, "initramfs.cpio.zst"), "-modules-dir", modules,
			"-kernel", bench.kernel, "-cmdline", strings.Join(mediaCmdline, " "), "-extra-initrd", next,
			"-pxe", media.dir, "-usb", filepath.Join(media.dir, "homestaker-usb.img"))
		cmd.Dir = bench.root
		out, err := cmd.CombinedOutput()
		media.out = string(out)
		if err != nil {
			media.err = err
		}
	})
	if media.err != nil {
		t.Fatalf("building the boot media: %v\n%s", media.err, media.out)
	}
	return media.dir
}

// logMedia logs the builder's summary line for a medium: its size, for
// the benchmark of the ways in.
func logMedia(t testing.TB, name string) {
	t.Helper()
	for _, line := range strings.Split(media.out, "\n") {
		if strings.Contains(line, name+":") {
			t.Log(line)
		}
	}
}

// Bare metal that boots from the network: QEMU's iPXE ROM fetches
// boot.ipxe, the kernel and the initrds over TFTP from the builder's
// folder, with no disk kernel. The init mounts the volume and kexecs into
// the next stage.
func TestPXEBoot(t *testing.T) {
	dir := bootMedia(t)
	logMedia(t, "boot.ipxe")
	d := PrepareDisk(t, WithTunnel...)
	vm := BootFirmware(t, []string{
		"-netdev", "user,id=n0,tftp=" + dir + ",bootfile=boot.ipxe",
		"-device", "virtio-net-pci,netdev=n0",
		"-boot", "n",
	}, Drive(d.Path))
	vm.Expect("boot.ipxe")
	expectMediaChain(t, vm, "/dev/vda")
}

// expectMediaChain follows a boot from boot media through to the stage 2
// from the initramfs, with the volume on dev.
func expectMediaChain(t *testing.T, vm *VM, dev string) {
	t.Helper()
	vm.Expect("init started")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	for _, want := range []string{
		"[  OK  ] storage: homestaker (1 of 1 device: " + dev + ") mounted at /mnt",
		"[  OK  ] nextstage: initramfs:/next",
		"[  OK  ] handover: kexec into /next/bzImage",
		"HOMESTAKER-STAGE2 cmdline: " + fixture.Stage2Cmdline,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q", want)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

package vmtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// A USB stick made by the builder, booted by UEFI firmware (OVMF):
// systemd-boot loads the kernel and the initrds from the ESP, the init
// finds the volume on the other disk by its label and kexecs into the
// next stage.
func TestUSBBoot(t *testing.T) {
	img := filepath.Join(bootMedia(t), "homestaker-usb.img")
	logMedia(t, "homestaker-usb.img")
	// QEMU writes to the image (systemd-boot's random seed, EFI variables
	// it keeps there); each boot gets its own copy.
	stick := filepath.Join(t.TempDir(), "homestaker-usb.img")
	copyFile(t, img, stick)
	d := PrepareDisk(t, WithTunnel...)
	vm := BootFirmware(t, []string{
		"-bios", "/usr/share/ovmf/OVMF.fd",
		"-drive", "file=" + stick + ",format=raw,if=virtio",
		"-nic", UserNet,
	}, Drive(d.Path))
	vm.Expect("init started")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	for _, want := range []string{
		"[  OK  ] storage: homestaker (1 of 1 device: /dev/vdb) mounted at /mnt",
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

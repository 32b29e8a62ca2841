package vmtest

import (
	"path/filepath"
	"testing"
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
	expectMediaChain(t, vm, "/dev/vdb")
}

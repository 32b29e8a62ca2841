package vmtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hugelgupf/vmtest/qemu"
)

// Two filesystems labelled homestaker, the second one late (a USB stick
// that probes after the NVMe disk): after the first is found whole, the
// storage stage keeps looking a moment and refuses, naming both, instead
// of booting whichever came first. The first disk is hot-added when the
// stage says it waits, the second when the kernel has attached the first:
// later than the stage's next look (50 ms), within its settle (1 s).
func TestStorageSecondVolumeLate(t *testing.T) {
	a, before := faultDisk(t)
	b := PrepareDisk(t, WithTunnel...)
	mon := filepath.Join(t.TempDir(), "monitor.sock")
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.timeout.disk=60"), qemu.ArbitraryArgs(
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "if=none,id=first,format=raw,file="+strings.ReplaceAll(a.Path, ",", ",,"),
		"-drive", "if=none,id=second,format=raw,file="+strings.ReplaceAll(b.Path, ",", ",,"),
		"-monitor", "unix:"+mon+",server=on,wait=off"))
	vm.Expect("storage: waiting up to ")
	hmp(t, mon, "device_add scsi-hd,drive=first,bus=scsi0.0,id=firstdisk")
	vm.Expect("[sda] Attached SCSI disk")
	hmp(t, mon, "device_add scsi-hd,drive=second,bus=scsi0.0,id=seconddisk")
	expectStop(t, vm, "storage", "2 filesystems with that label", "/dev/sda", "/dev/sdb")
	expectPoweroff(t, vm)
	a.AssertDataUnchanged(before)
}

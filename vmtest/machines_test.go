package vmtest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// Machines that are not virtio: the volume's disk behind a storage HBA or
// SATA controller and a NIC of a real server or hypervisor, nothing on
// the kernel command line naming a driver. The init's coldplug must load
// the drivers for what it finds (the module line names them), find the
// volume, get a DHCP lease from QEMU's user network and boot the next
// stage on the volume. One VM per HBA and NIC pair keeps the run short;
// the virtio RNG every test VM has is the only virtio device.
//
// mptsas1068 is the exception: with Debian 12's QEMU 7.2 and the test
// kernel, mptsas binds to the controller and brings up its IOC with 8
// PHYs, but no SAS port or disk ever appears (/sys/class/sas_port stays
// empty). QEMU 7.2's model answers the SAS device page for the HBA's own
// handles with an error (hw/scsi/mptconfig.c, mptsas_device_addr_get),
// which is likely why. That case checks what can be checked, the
// driver and its controller, and that the missing disk stops the boot
// with the storage stage's explanation; it fails once QEMU shows the
// disk, and should then expect the next stage like the others.
func TestMachines(t *testing.T) {
	for _, tc := range []struct {
		hba, nic string
		drivers  []string // the modules the console must name
		dev      string   // the volume's device
		noDisk   string   // the console line that shows the driver up when QEMU shows no disk
	}{
		{"megasas-gen2", "vmxnet3", []string{"megaraid_sas", "sd_mod", "vmxnet3"}, "/dev/sda", ""},
		{"mptsas1068", "rtl8139", []string{"mptsas", "sd_mod", "8139cp"}, "/dev/sda", "scsi host0: ioc0: LSISAS1068"},
		{"pvscsi", "e1000e", []string{"vmw_pvscsi", "sd_mod", "e1000e"}, "/dev/sda", ""},
		{"ich9-ahci", "e1000", []string{"ahci", "sd_mod", "e1000"}, "/dev/sda", ""},
	} {
		t.Run(tc.hba+"+"+tc.nic, func(t *testing.T) {
			d := PrepareDisk(t, WithTunnel...)
			d.Edit(func(top string) {
				dir := filepath.Join(top, "boot", "current")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				copyFile(t, bench.kernel, filepath.Join(dir, "bzImage"))
				copyFile(t, bench.stage2, filepath.Join(dir, "initrd.zst"))
				if err := os.WriteFile(filepath.Join(dir, "kexec-boot"), []byte(fixture.KexecBoot(fixture.Stage2Cmdline)), 0o755); err != nil {
					t.Fatal(err)
				}
			})
			vm := BootNIC(t, "user,model="+tc.nic, bench.initramfs, []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}, DriveOn(tc.hba, d.Path))
			mods := vm.Expect("[  OK  ] early:")
			line := consoleLine(mods, "early: kernel modules: ")
			loaded := strings.Fields(line)
			for _, want := range tc.drivers {
				if !slices.Contains(loaded, want) {
					t.Errorf("the module line lacks %s: %q", want, line)
				}
			}
			for _, virtio := range []string{"virtio_net", "virtio_blk", "virtio_scsi"} {
				if slices.Contains(loaded, virtio) {
					t.Errorf("the module line names %s on a machine without that device: %q", virtio, line)
				}
			}
			if tc.noDisk != "" {
				out := mods + vm.Expect("HOMESTAKER BOOT STOPPED in stage")
				out += vm.Expect("powering off")
				wantConsole(t, out, tc.noDisk,
					"[FAILED] storage: no block devices at all",
					"[  OK  ] network: eth0 10.0.2.15/24 by DHCP")
				if err := vm.Wait(); err != nil {
					t.Errorf("VM: %v", err)
				}
				return
			}
			// storage and network run side by side: their lines come in
			// either order, both before the handover.
			out := vm.Expect("[  OK  ] nextstage: volume:/boot/current: bzImage from kexec-boot")
			out += vm.Expect("HOMESTAKER-STAGE2 powering off")
			if line := consoleLine(out, "[  OK  ] storage: "); !strings.HasPrefix(line, "homestaker ") || !strings.Contains(line, "(1 of 1 device: "+tc.dev+")") {
				t.Errorf("the storage line %q does not name the volume on %s:\n%s", line, tc.dev, out)
			}
			if !strings.Contains(out, "[  OK  ] network: eth0 10.0.2.15/24 by DHCP") {
				t.Errorf("no DHCP lease on eth0:\n%s", out)
			}
			if !strings.Contains(out, "HOMESTAKER-STAGE2 cmdline: "+fixture.Stage2Cmdline+" homestaker.report=/boot/reports/000001.json homestaker.tree=/boot/current\r") {
				t.Errorf("stage 2 did not get the exact command line:\n%s", out)
			}
			if err := vm.Wait(); err != nil {
				t.Errorf("VM: %v", err)
			}
		})
	}
}

// consoleLine returns what follows prefix on the console output's line
// that holds it, "" when none does.
func consoleLine(out, prefix string) string {
	i := strings.Index(out, prefix)
	if i < 0 {
		return ""
	}
	line, _, _ := strings.Cut(out[i+len(prefix):], "\n")
	return strings.TrimRight(line, "\r")
}

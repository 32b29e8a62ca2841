package vmtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// After a refused kexec the operator fixes things from the rescue shell:
// the data subvolumes are still writable (the handover's read-only
// remount of the top level must not make the whole Btrfs read-only), and
// `homestaker retry` opens and verifies the next stage again instead of
// reusing what the failed handover used up.
func TestFaultHandoverRefusedThenFix(t *testing.T) {
	d, _ := faultDisk(t)
	before := d.DataDigest("lighthouse/probe")
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=shell", "homestaker.wg=off", "sysctl.kernel.kexec_load_disabled=1"}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	expectStop(t, vm, "handover", "kexec_load_disabled=1")
	vm.Expect("$ ")
	// $((...)) so that the echo of the typed line does not match.
	vm.Console.SendLine("echo fixed > /mnt/lighthouse/probe && sync && echo WROTE-$((40+2))")
	out := vm.Expect("$ ")
	if !strings.Contains(out, "WROTE-42") {
		t.Errorf("the rescue shell could not write to /mnt/lighthouse after the refused kexec:\n%s", out)
	}
	vm.Console.SendLine("homestaker retry")
	vm.Expect("[ INFO ] retry: running the boot again from handover")
	vm.Expect("[  OK  ] nextstage:")
	expectStop(t, vm, "handover", "kexec_load_disabled=1")
	vm.Expect("$ ")
	vm.Console.SendLine("poweroff")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	if got := d.ReadFile("lighthouse/probe"); got != "fixed\n" {
		t.Errorf("lighthouse/probe = %q on the disk, want the rescue shell's write", got)
	}
	d.AssertDataUnchanged(before, "lighthouse/probe")
}

// The volume is hostile: boot/reports planted as a symbolic link into the
// consensus client's data must not take the boot report there. The boot
// goes on, says why the report is not on the volume, and the chain data
// is exactly as before.
func TestHostileVolumeReportsLink(t *testing.T) {
	d, _ := faultDisk(t)
	d.InstallNext(treeDir(t))
	d.Edit(func(top string) {
		os.RemoveAll(filepath.Join(top, "boot", "reports"))
		if err := os.Symlink("../lighthouse", filepath.Join(top, "boot", "reports")); err != nil {
			t.Fatal(err)
		}
	})
	before := d.DataDigest()
	vm := Boot(t, bench.initramfs, volumeFaultArgs, Drive(d.Path))
	out := vm.Expect("[  OK  ] handover:")
	if !strings.Contains(out, "boot report on the volume:") || !strings.Contains(out, "symbolic link") {
		t.Errorf("no warning that the report could not be written through the link:\n%s", out)
	}
	expectStage2(t, vm)
	d.AssertDataUnchanged(before)
}

// switch_root into a tree on the volume: the initrd is read from the
// volume's top level, which the next stage does not get.
func TestSwitchRootFromVolume(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	d.InstallNext(treeDir(t))
	vm := Boot(t, bench.initramfs, []string{"homestaker.handover=switchroot", "homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("[  OK  ] handover: switch_root into /run/homestaker/volume/boot/current/initrd.zst")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	for _, want := range []string{"as pid 1", "HOMESTAKER-STAGE2 mount: /mnt/lighthouse btrfs"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

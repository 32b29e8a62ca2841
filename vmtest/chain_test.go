package vmtest

import (
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// Given a kexec tree in the initramfs, the init kexecs into it and the
// stage 2 sees exactly the command line from kexec-boot.
func TestChainKexecFromInitramfs(t *testing.T) {
	img := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, img, []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("init started")
	vm.Expect("[  OK  ] early:")
	vm.Expect("[  OK  ] nextstage: initramfs:/next")
	vm.Expect("[  OK  ] handover: kexec into /next/bzImage")
	vm.Expect("HOMESTAKER-STAGE2 up")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	if !strings.Contains(out, "HOMESTAKER-STAGE2 cmdline: "+fixture.Stage2Cmdline+" homestaker.report=/boot/reports/000001.json\r") {
		t.Errorf("stage 2 did not get the exact command line %q; console:\n%s", fixture.Stage2Cmdline, out)
	}
	if !strings.Contains(out, "received: /received/hello.txt") {
		t.Errorf("stage 2 did not list what its initrd brought; console:\n%s", out)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

// A next stage that does not exist, with onfail=poweroff: the banner names
// the stage and the reason, then the machine powers off.
func TestFailureBannerThenPoweroff(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, bench.initramfs, []string{"homestaker.next=initramfs:/nonexistent", "homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("[FAILED] nextstage:")
	vm.Expect("HOMESTAKER BOOT STOPPED in stage nextstage")
	vm.Expect("no kexec-boot or netboot.ipxe in /nonexistent")
	vm.Expect("powering off (homestaker.onfail=poweroff)")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM did not power off cleanly: %v", err)
	}
}

// The same failure with onfail=shell: the banner, then a shell prompt that
// answers commands; leaving it shows the banner again.
func TestFailureBannerThenShell(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, bench.initramfs, []string{"homestaker.next=initramfs:/nonexistent", "homestaker.onfail=shell", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("HOMESTAKER BOOT STOPPED in stage nextstage")
	vm.Expect("starting a shell on the console")
	vm.Expect("homestaker rescue shell")
	vm.Expect("$ ")
	vm.Console.SendLine("cat /run/homestaker/report.json")
	vm.Expect(`"result": "failed"`)
	vm.Console.SendLine("poweroff")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

// homestaker.break=handover stops before the handover with a shell; when
// the shell exits the boot goes on into stage 2.
func TestBreakBeforeHandover(t *testing.T) {
	img := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
	d := PrepareDisk(t, WithTunnel...)
	vm := Boot(t, img, []string{"homestaker.next=initramfs:/next", "homestaker.break=handover", "homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("[  OK  ] nextstage:")
	vm.Expect("stopping before handover (homestaker.break=handover)")
	vm.Expect("homestaker rescue shell")
	vm.Expect("$ ")
	vm.Console.SendLine("ls /next")
	vm.Expect("kexec-boot")
	vm.Console.SendLine("exit")
	vm.Expect("[  OK  ] handover:")
	vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

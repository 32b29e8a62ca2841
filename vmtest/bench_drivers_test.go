package vmtest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// smallDriverSet is the initramfs's driver list before the server NICs
// and HBAs came in: the baseline of BenchmarkDriverSet.
var smallDriverSet = []string{
	"virtio_rng", "virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi",
	"e1000", "e1000e", "igb", "igc", "ixgbe", "r8169",
	"nvme", "ahci", "sd_mod", "usb_storage", "uas", "xhci_pci", "ehci_pci",
	"btrfs", "ext4", "xfs", "tun", "8021q",
	"i6300esb", "lpc_ich", "iTCO_wdt", "sp5100_tco",
}

var modulesLoadedRe = regexp.MustCompile(`early: (\d+) kernel modules loaded for the devices present in (\S+)`)

// BenchmarkDriverSet boots the same machine with the full default driver
// set (the initramfs under test) and with the small set of before, in the
// same run, interleaved (small, full, full, small) so that a drifting host
// load falls on both, and reports the init's time from its start to the
// handover line for each and their ratio: the drivers coldplug does not
// load for the devices present should cost size, not time.
func BenchmarkDriverSet(b *testing.B) {
	small := filepath.Join(b.TempDir(), "small.cpio.zst")
	cmd := exec.Command("go", "run", "./initramfs", "-o", small, "-modules-dir", bench.modules, "-modules", strings.Join(smallDriverSet, ","))
	cmd.Dir = bench.root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the initramfs with the small driver set: %v\n%s", err, out)
	}
	fullImg := withAppended(b, bench.initramfs, treeRecords(b, "next", fixture.Stage2Cmdline))
	smallImg := withAppended(b, small, treeRecords(b, "next", fixture.Stage2Cmdline))
	d := PrepareDisk(b, WithTunnel...)
	args := "homestaker.next=initramfs:/next homestaker.onfail=poweroff homestaker.wg=off"
	initTime := func(img string) (float64, string) {
		lines := bootTimeline(b, img, args, "init started", Drive(d.Path))
		start, ok1 := milestone(lines, "init started")
		handover, ok2 := milestone(lines, "[  OK  ] handover")
		if !ok1 || !ok2 {
			b.Fatalf("no init start or handover line:\n%s", joinLines(lines))
		}
		mods := ""
		if m := modulesLoadedRe.FindStringSubmatch(joinLines(lines)); m != nil {
			mods = m[1] + " modules in " + m[2]
		}
		return (handover - start).Seconds(), mods
	}
	for i := 0; i < b.N; i++ {
		var full, small []float64
		for n, img := range []string{smallImg, fullImg, fullImg, smallImg} {
			s, mods := initTime(img)
			set := "small"
			if img == fullImg {
				set = "full"
				full = append(full, s)
			} else {
				small = append(small, s)
			}
			fmt.Printf("  boot %d, %s driver set: init start to handover %.2fs (%s)\n", n+1, set, s, mods)
		}
		// The mean takes every boot; the minimum is the boot least
		// disturbed by the host's other load, which under TCG on a shared
		// machine is the larger part of the spread.
		mean := func(xs []float64) float64 { return (xs[0] + xs[1]) / 2 }
		fmt.Printf("init start to handover: full driver set %.2fs, small set %.2fs, ratio %.2f (means of 2 boots each); minimums %.2fs and %.2fs, ratio %.2f\n",
			mean(full), mean(small), mean(full)/mean(small), min(full[0], full[1]), min(small[0], small[1]), min(full[0], full[1])/min(small[0], small[1]))
		b.ReportMetric(mean(full), "full-init-s")
		b.ReportMetric(mean(small), "small-init-s")
		b.ReportMetric(mean(full)/mean(small), "ratio")
		b.ReportMetric(min(full[0], full[1])/min(small[0], small[1]), "min-ratio")
	}
	fmt.Printf("initramfs: %.2f MiB with the full driver set, %.2f MiB with the small set\n", fileSize(b, bench.initramfs), fileSize(b, small))
	b.ReportMetric(fileSize(b, bench.initramfs), "full-MiB")
	b.ReportMetric(fileSize(b, small), "small-MiB")
}

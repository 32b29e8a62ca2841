package vmtest

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/u-root/mkuimage/cpio"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// milestone finds the host time of the first line containing s.
func milestone(lines []Line, s string) (time.Duration, bool) {
	for _, l := range lines {
		if strings.Contains(l.Text, s) {
			return l.At, true
		}
	}
	return 0, false
}

// BenchmarkBootTimeline boots the chain (our init, kexec into stage 2) and,
// in the same run, a baseline whose trivial init kexecs the same stage 2 at
// once; it prints both timelines and reports the ratio.
func BenchmarkBootTimeline(b *testing.B) {
	// The whole chain: DHCP, the volume, the secrets and a tunnel with a
	// real peer.
	peer := StartPeer(b, "10.99.0.1")
	disk := PrepareDisk(b, peer.Flags("10.99.0.2/32")...)
	allow(b, peer, disk)
	for i := 0; i < b.N; i++ {
		chain := bootTimeline(b, withAppended(b, bench.initramfs, treeRecords(b, "next", fixture.Stage2Cmdline)),
			"homestaker.next=initramfs:/next homestaker.onfail=poweroff", "init started", Drive(disk.Path))
		// The same machine: the baseline gets the disk too, untouched.
		base := bootTimeline(b, baselineInitramfs(b), "", "BASELINE init started", Drive(disk.Path))

		total, _ := milestone(chain, "HOMESTAKER-STAGE2 up")
		baseTotal, _ := milestone(base, "HOMESTAKER-STAGE2 up")
		initStart, _ := milestone(chain, "init started")
		handover, _ := milestone(chain, "[  OK  ] handover")

		fmt.Printf("\nchain timeline (host clock, from QEMU start):\n")
		for _, m := range []string{"Linux version", "init started", "[  OK  ] early", "[  OK  ] network", "[  OK  ] storage", "[  OK  ] secrets", "[  OK  ] wireguard", "[  OK  ] nextstage", "[  OK  ] snapshot", "[  OK  ] handover", "HOMESTAKER-STAGE2 up"} {
			if at, ok := milestone(chain, m); ok {
				fmt.Printf("  %8.3fs  %s\n", at.Seconds(), m)
			}
		}
		fmt.Printf("baseline timeline:\n")
		for _, m := range []string{"Linux version", "BASELINE init started", "BASELINE handover", "HOMESTAKER-STAGE2 up"} {
			if at, ok := milestone(base, m); ok {
				fmt.Printf("  %8.3fs  %s\n", at.Seconds(), m)
			}
		}
		initPct := 100 * (handover - initStart).Seconds() / total.Seconds()
		// kexec_file_load (hashing the segments for purgatory) is paid by
		// the baseline too; show the init's time without it as well.
		ready, _ := milestone(chain, "[  OK  ] nextstage")
		for _, m := range []string{"[  OK  ] secrets", "[  OK  ] wireguard"} {
			if at, ok := milestone(chain, m); ok && at > ready {
				ready = at
			}
		}
		ownPct := 100 * (ready - initStart).Seconds() / total.Seconds()
		for _, stage := range []string{"early", "network", "storage", "secrets", "wireguard", "nextstage", "snapshot", "handover"} {
			if d, ok := stageDuration(chain, stage); ok {
				fmt.Printf("  stage %-10s %7.3fs = %4.1f%% of the total\n", stage, d.Seconds(), 100*d.Seconds()/total.Seconds())
				b.ReportMetric(d.Seconds(), stage+"-s")
			}
		}
		log := joinLines(chain)
		if m := waitedRe.FindStringSubmatch(log); m != nil {
			fmt.Printf("  storage waited %sms for devices\n", m[1])
		}
		if m := leaseRe.FindStringSubmatch(log); m != nil {
			fmt.Printf("  DHCP lease after %s of the network stage\n", m[1])
		}
		if m := handshakeRe.FindStringSubmatch(log); m != nil {
			fmt.Printf("  first WireGuard handshake %s after the tunnel came up\n", m[1])
		}
		if ov, netDur, ok := overlap(chain, "network", "storage"); ok {
			fmt.Printf("  network and storage ran concurrently for %.3fs (%.0f%% of the network stage)\n", ov.Seconds(), 100*ov.Seconds()/netDur.Seconds())
			b.ReportMetric(ov.Seconds(), "net-storage-overlap-s")
		}
		fmt.Printf("total %.2fs, baseline %.2fs, ratio %.2f; init before handover %.2fs = %.1f%% of the total (target <= 5%%), %.1f%% without kexec_file_load\n",
			total.Seconds(), baseTotal.Seconds(), total.Seconds()/baseTotal.Seconds(), (handover - initStart).Seconds(), initPct, ownPct)
		b.ReportMetric(total.Seconds(), "chain-s")
		b.ReportMetric(baseTotal.Seconds(), "baseline-s")
		b.ReportMetric(total.Seconds()/baseTotal.Seconds(), "ratio")
		b.ReportMetric(initPct, "init-%")
		b.ReportMetric(ownPct, "init-without-kexec-load-%")
	}
	withMods := fileSize(b, bench.initramfs)
	noMods := filepath.Join(b.TempDir(), "nomod.cpio.zst")
	cmd := exec.Command("go", "run", "./initramfs", "-o", noMods)
	cmd.Dir = bench.root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the initramfs without modules: %v\n%s", err, out)
	}
	fmt.Printf("initramfs: %.2f MiB with modules, %.2f MiB without (target <= 8 MiB)\n", withMods, fileSize(b, noMods))
	b.ReportMetric(withMods, "initramfs-MiB")
	b.ReportMetric(fileSize(b, noMods), "initramfs-nomod-MiB")
}

var (
	durationRe  = regexp.MustCompile(`\(([0-9.]+)(ms|s)\)~?$`)
	waitedRe    = regexp.MustCompile(`waited (\d+)ms for devices`)
	leaseRe     = regexp.MustCompile(`by DHCP in (\S+?),`)
	handshakeRe = regexp.MustCompile(`handshake with \S+ at \S+ after (\S+) `)
)

// overlap is how long stages a and b ran at the same time, from their
// status lines' host times and durations; it also returns a's duration.
func overlap(lines []Line, a, b string) (time.Duration, time.Duration, bool) {
	endA, okA := milestone(lines, "[  OK  ] "+a+":")
	endB, okB := milestone(lines, "[  OK  ] "+b+":")
	durA, okDA := stageDuration(lines, a)
	durB, okDB := stageDuration(lines, b)
	if !okA || !okB || !okDA || !okDB {
		return 0, 0, false
	}
	start := max(endA-durA, endB-durB)
	end := min(endA, endB)
	if end < start {
		return 0, durA, true
	}
	return end - start, durA, true
}

// stageDuration reads a stage's duration from its status line, which ends
// in "(1.23s)" or "(45ms)".
func stageDuration(lines []Line, stage string) (time.Duration, bool) {
	for _, l := range lines {
		if !strings.Contains(l.Text, "[  OK  ] "+stage+":") {
			continue
		}
		m := durationRe.FindStringSubmatch(strings.TrimSpace(l.Text))
		if m == nil {
			return 0, false
		}
		d, err := time.ParseDuration(m[1] + m[2])
		return d, err == nil
	}
	return 0, false
}

func joinLines(lines []Line) string {
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l.Text + "\n")
	}
	return sb.String()
}

func bootTimeline(b *testing.B, img, cmdline, initMarker string, extra ...qemu.Fn) []Line {
	b.Helper()
	vm := Boot(b, img, strings.Fields(cmdline), extra...)
	vm.Expect(initMarker)
	vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		b.Fatalf("VM: %v", err)
	}
	return vm.Lines()
}

// baselineInitramfs is a trivial init with the same kernel and stage 2.
func baselineInitramfs(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "baseline")
	if err := fixture.GoBuild(bench.root, bin, "./vmtest/baseline"); err != nil {
		b.Fatal(err)
	}
	initRec, err := fixture.FileRecord(bin, "init", 0o755)
	if err != nil {
		b.Fatal(err)
	}
	recs := append([]cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
		initRec,
		cpio.StaticFile("next/cmdline", fixture.Stage2Cmdline, 0o644),
	}, treeRecords(b, "next", fixture.Stage2Cmdline)...)
	out := filepath.Join(dir, "baseline.cpio")
	if err := fixture.WriteCPIO(out, recs); err != nil {
		b.Fatal(err)
	}
	return out
}

func fileSize(b *testing.B, path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return float64(st.Size()) / (1 << 20)
}

var loadedRe = regexp.MustCompile(`the init's peak memory (\d+) MiB, /run holds (\d+) MiB`)

// BenchmarkLoadLargeInitrd loads a 1 GiB initrd from the volume, hashed
// against SHA256SUMS: the init's own memory must stay small, since the
// kernel reads the file itself and the hash reads the same descriptor.
func BenchmarkLoadLargeInitrd(b *testing.B) {
	const size = 1 << 30
	d := PrepareDiskSize(b, 2<<30, WithTunnel...)
	d.Edit(func(top string) {
		dir := filepath.Join(top, "boot", "current")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		copyFile(b, bench.kernel, filepath.Join(dir, "bzImage"))
		if err := os.WriteFile(filepath.Join(dir, "kexec-boot"), []byte(fixture.KexecBoot(fixture.Stage2Cmdline)), 0o755); err != nil {
			b.Fatal(err)
		}
		// The stage 2, then incompressible padding up to 1 GiB: the
		// kernel unpacks the first archive and ignores the rest.
		stage2, err := os.ReadFile(bench.stage2)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "initrd.zst"))
		if err != nil {
			b.Fatal(err)
		}
		f.Write(stage2)
		if _, err := io.CopyN(f, rand.Reader, size-int64(len(stage2))); err != nil {
			b.Fatal(err)
		}
		f.Close()
		cmd := exec.Command("sh", "-c", "sha256sum bzImage initrd.zst kexec-boot > SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
	})
	for i := 0; i < b.N; i++ {
		// The kernel holds the initrd twice while loading; give it room.
		vm := Boot(b, bench.initramfs, []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path), qemu.ArbitraryArgs("-m", "5G"))
		out := vm.Expect("[  OK  ] handover:")
		vm.Expect("HOMESTAKER-STAGE2 up")
		vm.Console.SendLine("")
		_ = vm.Wait()
		m := loadedRe.FindStringSubmatch(out)
		if m == nil {
			b.Fatalf("no memory line on the console:\n%s", out)
		}
		var rss, tmpfs float64
		fmt.Sscan(m[1], &rss)
		fmt.Sscan(m[2], &tmpfs)
		nextDur, _ := stageDuration(vm.Lines(), "nextstage")
		loadDur, _ := stageDuration(vm.Lines(), "handover")
		fmt.Printf("1 GiB initrd from the volume: verified in %.1fs (%.0f MiB/s under TCG), loaded in %.1fs; init peak RSS %.0f MiB, /run %.0f MiB (target: at most 64 MiB beyond the kernel's copy)\n",
			nextDur.Seconds(), 1024/nextDur.Seconds(), loadDur.Seconds(), rss, tmpfs)
		b.ReportMetric(rss, "init-peak-MiB")
		b.ReportMetric(tmpfs, "run-tmpfs-MiB")
		b.ReportMetric(nextDur.Seconds(), "verify-s")
		b.ReportMetric(loadDur.Seconds(), "load-s")
	}
}

// BenchmarkWaysIn boots each way in through to the stage 2 in one run (PXE,
// the USB image under OVMF, chainload from a running Linux, and the direct
// -kernel boot the other tests use) and reports the time from QEMU start
// to the stage 2, and the sizes of the USB image and the PXE payload.
func BenchmarkWaysIn(b *testing.B) {
	dir := bootMedia(b)
	cli := filepath.Join(b.TempDir(), "homestaker")
	if err := fixture.GoBuild(bench.root, cli, "./cmds/homestaker"); err != nil {
		b.Fatal(err)
	}
	var pxeBytes int64
	for _, name := range []string{"boot.ipxe", "vmlinuz", "initramfs.cpio.zst", "next.cpio"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err == nil {
			pxeBytes += st.Size()
		}
	}
	usbImg := filepath.Join(dir, "homestaker-usb.img")
	usb := fileSize(b, usbImg)
	toStage2 := func(vm *VM) float64 {
		vm.Expect("HOMESTAKER-STAGE2 up")
		at, _ := milestone(vm.Lines(), "HOMESTAKER-STAGE2 up")
		vm.Expect("HOMESTAKER-STAGE2 powering off")
		if err := vm.Wait(); err != nil {
			b.Errorf("VM: %v", err)
		}
		return at.Seconds()
	}
	for i := 0; i < b.N; i++ {
		d := PrepareDisk(b, WithTunnel...)
		direct := toStage2(Boot(b, withAppended(b, bench.initramfs, treeRecords(b, "next", fixture.Stage2Cmdline)), bootArgs, Drive(d.Path)))
		pxe := toStage2(BootFirmware(b, []string{"-netdev", "user,id=n0,tftp=" + dir + ",bootfile=boot.ipxe", "-device", "virtio-net-pci,netdev=n0", "-boot", "n"}, Drive(d.Path)))
		stick := filepath.Join(b.TempDir(), "homestaker-usb.img")
		copyFile(b, usbImg, stick)
		usbBoot := toStage2(BootFirmware(b, []string{"-bios", "/usr/share/ovmf/OVMF.fd", "-drive", "file=" + stick + ",format=raw,if=virtio", "-nic", UserNet}, Drive(d.Path)))
		bootstrap := withAppended(b, bench.initramfs, treeRecords(b, "next", fixture.Stage2Cmdline))
		chain := toStage2(BootNIC(b, UserNet, fallbackLinux(b, cli, bench.kernel, bootstrap, chainloadArgs), nil, Drive(d.Path)))
		fmt.Printf("QEMU start to stage 2: direct -kernel %.1fs, PXE %.1fs, USB/OVMF %.1fs, chainload %.1fs\n", direct, pxe, usbBoot, chain)
		fmt.Printf("homestaker-usb.img %.1f MiB, PXE payload %.1f MiB\n", usb, float64(pxeBytes)/(1<<20))
		b.ReportMetric(direct, "direct-s")
		b.ReportMetric(pxe, "pxe-s")
		b.ReportMetric(usbBoot, "usb-s")
		b.ReportMetric(chain, "chainload-s")
		b.ReportMetric(usb, "usb-img-MiB")
		b.ReportMetric(float64(pxeBytes)/(1<<20), "pxe-MiB")
	}
}

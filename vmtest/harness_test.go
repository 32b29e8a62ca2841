// Package vmtest boots the whole chain in QEMU: a real Debian kernel, our
// initramfs, and a stage-2 payload that stands in for HomestakerOS.
package vmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/u-root/mkuimage/cpio"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// bench is what TestMain prepares once for every test.
var bench struct {
	root      string // the repository
	kernel    string // vmlinuz
	modules   string // its lib/modules/VERSION
	initramfs string // our initramfs, with modules
	stage2    string // the stage-2 initrd (uncompressed cpio)
	cli       string // the homestaker CLI, for `homestaker prepare`
	accel     string // tcg, or kvm when a probe boot worked
	logs      string // where serial logs go
	stopNTP   func()
	tmp       string
}

func TestMain(m *testing.M) {
	code := 1
	if err := setup(); err != nil {
		// Fail, never skip: a missing QEMU or kernel means nothing here was
		// tested.
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
	} else {
		code = m.Run()
		failedLogs.print()
	}
	if bench.tmp != "" {
		os.RemoveAll(bench.tmp)
	}
	os.Exit(code)
}

func setup() error {
	var err error
	if bench.root, err = filepath.Abs(".."); err != nil {
		return err
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return fmt.Errorf("qemu-system-x86_64 is not installed: run `make deps` (Debian package qemu-system-x86)")
	}
	if bench.tmp, err = os.MkdirTemp("", "homestaker-vmtest-"); err != nil {
		return err
	}
	bench.logs = filepath.Join(bench.root, "build", "vmtest-logs")
	if err := os.MkdirAll(bench.logs, 0o755); err != nil {
		return err
	}

	if bench.kernel, bench.modules, err = fixture.Kernel(bench.root); err != nil {
		return err
	}
	modules := bench.modules

	// `make test` has just built the initramfs; reuse it. Otherwise build
	// one for this run.
	if dir := os.Getenv("HOMESTAKER_BUILD"); dir != "" {
		bench.initramfs = filepath.Join(dir, "initramfs.cpio.zst")
	} else {
		bench.initramfs = filepath.Join(bench.tmp, "initramfs.cpio.zst")
		cmd := exec.Command("go", "run", "./initramfs", "-o", bench.initramfs, "-modules-dir", modules)
		cmd.Dir = bench.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the initramfs: %v\n%s", err, out)
		}
	}
	if _, err := os.Stat(bench.initramfs); err != nil {
		return err
	}
	if bench.stage2, err = fixture.BuildStage2(bench.root, bench.tmp, modules); err != nil {
		return err
	}
	bench.cli = filepath.Join(bench.tmp, "homestaker")
	if err := fixture.GoBuild(bench.root, bench.cli, "./cmds/homestaker"); err != nil {
		return err
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		return fmt.Errorf("mkfs.btrfs is not installed: run `make deps` (Debian package btrfs-progs)")
	}
	bench.accel = probeAccel()
	if bench.stopNTP, err = fixture.ServeNTP(); errors.Is(err, syscall.EADDRINUSE) {
		// Another run of this suite serves it; any SNTP server there will do.
		fmt.Fprintf(os.Stderr, "vmtest: 127.0.0.1:123 is taken, using the NTP server already there\n")
		bench.stopNTP = func() {}
	} else if err != nil {
		return fmt.Errorf("test NTP server on 127.0.0.1:123: %v", err)
	}
	return nil
}

// treeRecords are the records of a kexec tree at dir holding the test
// kernel and the stage-2 payload.
func treeRecords(t testing.TB, dir, cmdline string) []cpio.Record {
	t.Helper()
	recs, err := fixture.TreeRecords(dir, bench.kernel, bench.stage2, cmdline)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// withAppended returns our initramfs with an archive of recs appended.
func withAppended(t testing.TB, base string, recs []cpio.Record) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "initramfs.cpio")
	if err := fixture.Append(out, base, recs); err != nil {
		t.Fatal(err)
	}
	return out
}

// VM is a booted test machine and its serial console.
type VM struct {
	*qemu.VM
	t     testing.TB
	start time.Time

	mu    sync.Mutex // guards lines
	lines []Line
}

// Line is one line of serial output and when the host saw it.
type Line struct {
	At   time.Duration // since QEMU started
	Text string
}

// UserNet is QEMU's user network: DHCP from 10.0.2.2, DNS at 10.0.2.3,
// host loopback reachable as 10.0.2.2.
const UserNet = "user,model=virtio-net-pci"

// DeadNet is a NIC whose packets go nowhere: carrier, but no DHCP answer.
const DeadNet = "socket,model=virtio-net-pci,udp=127.0.0.1:9,localaddr=127.0.0.1:0"

// Boot starts QEMU with kernel, initramfs and the kernel command line, and
// one NIC on the user network.
func Boot(t testing.TB, initramfs string, cmdline []string, extra ...qemu.Fn) *VM {
	t.Helper()
	return BootNIC(t, UserNet, initramfs, cmdline, extra...)
}

// BootFirmware starts QEMU without -kernel: the firmware boots what args
// give it (a PXE ROM with "-boot n", OVMF with a disk image). The kernel
// command line then comes from the boot medium; it must name console=ttyS0.
func BootFirmware(t testing.TB, args []string, extra ...qemu.Fn) *VM {
	t.Helper()
	return start(t, "qemu-system-x86_64 -accel "+bench.accel+" -cpu max -smp 2 -m 2G -nographic -no-reboot "+strings.Join(args, " "), "", "", nil, extra...)
}

// BootNIC is Boot with the NIC given as QEMU's -nic value ("none" for
// none). Every VM has a virtio RNG (getrandom blocks under TCG otherwise)
// and its serial log saved as build/vmtest-logs/<test>.log.
func BootNIC(t testing.TB, nic, initramfs string, cmdline []string, extra ...qemu.Fn) *VM {
	t.Helper()
	return start(t, "qemu-system-x86_64 -accel "+bench.accel+" -cpu max -smp 2 -m 2G -nographic -no-reboot -nic "+nic, bench.kernel, initramfs, cmdline, extra...)
}

func start(t testing.TB, qemuCmd, kernel, initramfs string, cmdline []string, extra ...qemu.Fn) *VM {
	t.Helper()
	name := strings.ReplaceAll(t.Name(), "/", "_")
	logPath := filepath.Join(bench.logs, name+".log")
	// A test that boots more than once keeps a log per boot.
	if n := nextBoot(name); n > 1 {
		logPath = filepath.Join(bench.logs, fmt.Sprintf("%s.%d.log", name, n))
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	v := &VM{t: t}
	fns := []qemu.Fn{
		qemu.WithQEMUCommand(qemuCmd),
		qemu.VirtioRandom(),
		qemu.WithVMTimeout(vmTimeout(t)),
		qemu.WithSerialOutput(logFile),
		qemu.LogSerialByLine(func(line string) {
			v.mu.Lock()
			v.lines = append(v.lines, Line{At: time.Since(v.start), Text: line})
			v.mu.Unlock()
		}),
	}
	if kernel != "" {
		fns = append(fns,
			qemu.WithKernel(kernel),
			qemu.WithInitramfs(initramfs),
			// The host's test NTP server; a test's own homestaker.ntp= wins.
			qemu.WithAppendKernel(append([]string{"console=ttyS0", "panic=-1", "homestaker.ntp=10.0.2.2"}, cmdline...)...))
	}
	v.start = time.Now()
	v.VM = qemu.StartT(t, name, qemu.ArchAMD64, append(fns, extra...)...)
	t.Cleanup(func() {
		// No boot may show a secret from any disk the test made, whatever
		// the test itself checks.
		if v.Waited() {
			for _, d := range disksFor(t.Name()) {
				v.AssertNoSecrets(d.Secrets())
			}
		}
		if t.Failed() {
			t.Logf("serial log: %s", logPath)
			failedLogs.add(t.Name(), logPath)
		}
	})
	return v
}

// failedLogs are the serial logs of the failed tests, listed again at the
// end of the run, where the reader of a long run looks first.
var failedLogs logList

type logList struct {
	mu    sync.Mutex
	lines []string
}

func (l *logList) add(test, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rel, err := filepath.Rel(bench.root, path); err == nil {
		path = rel
	}
	l.lines = append(l.lines, fmt.Sprintf("  %s: %s", test, path))
}

func (l *logList) print() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) > 0 {
		fmt.Printf("vmtest: serial logs of the failed tests:\n%s\n", strings.Join(l.lines, "\n"))
	}
}

// boots counts the VMs each test started, for their log names.
var boots struct {
	sync.Mutex
	n map[string]int
}

func nextBoot(name string) int {
	boots.Lock()
	defer boots.Unlock()
	if boots.n == nil {
		boots.n = map[string]int{}
	}
	boots.n[name]++
	return boots.n[name]
}

// maxVMTime bounds one VM. It only catches hangs: a boot takes well under
// a minute on an idle machine and a few on a busy one, and every wait in
// a test is on a console line or the VM's end, never on the clock.
const maxVMTime = 10 * time.Minute

// vmTimeout is maxVMTime, cut to end before the test binary's -timeout so
// that a hang fails its test, with the serial log, rather than the run.
func vmTimeout(t testing.TB) time.Duration {
	d := maxVMTime
	if tt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if end, ok := tt.Deadline(); ok {
			d = min(d, max(time.Until(end)-time.Minute, time.Minute))
		}
	}
	return d
}

// Expect waits for s on the console and fails the test if the VM ends
// first.
func (v *VM) Expect(s string) string {
	v.t.Helper()
	out, err := v.Console.ExpectString(s)
	if err != nil {
		v.t.Fatalf("console never showed %q: %v", s, err)
	}
	return out
}

// Since is the time since QEMU started, on the clock of Line.At.
func (v *VM) Since() time.Duration { return time.Since(v.start) }

// Lines returns the serial lines seen so far.
func (v *VM) Lines() []Line {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Line(nil), v.lines...)
}

// probeAccel uses KVM only when a guest really boots with it: nested KVM
// on these machines fails with an emulation error.
func probeAccel() string {
	if a := os.Getenv("HOMESTAKER_ACCEL"); a != "" {
		return a
	}
	// TCG runs both vCPUs on one host thread (thread=single): with one
	// thread per vCPU (MTTCG), a loaded host left a guest vCPU spinning at a
	// jump-label site the other vCPU had just patched (a soft lockup in
	// alg_test, so the init never started): a cross-vCPU race of TCG, not
	// of our code. A kexec'd kernel that once died silently under load was
	// probably the same.
	const tcg = "tcg,thread=single"
	if _, err := os.Stat("/dev/kvm"); err != nil {
		return tcg
	}
	cmd := exec.Command("qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "512M", "-nographic", "-no-reboot", "-nic", "none",
		"-kernel", bench.kernel, "-initrd", bench.stage2, "-append", "console=ttyS0 panic=-1 quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return tcg
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if strings.Contains(out.String(), "HOMESTAKER-STAGE2 powering off") {
		return "kvm"
	}
	return tcg
}

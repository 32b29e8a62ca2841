package vmtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"golang.org/x/crypto/ssh"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// The fault matrix: one boot per fault, over every stage. Each asserts the
// banner's stage and reason (or, for a fault the boot rides out, that it
// reaches the stage 2), the action taken, and that the data subvolumes are
// exactly as before. The harness checks every serial log for the disks'
// secret values.

// faultArgs boot to the stage 2 in the initramfs, or power off on failure.
var faultArgs = []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=off"}

// faultDisk prepares a disk with chain data and returns it with the data's
// digest.
func faultDisk(t *testing.T, prepare ...string) (*Disk, []string) {
	t.Helper()
	d := PrepareDisk(t, append(append([]string{}, WithTunnel...), prepare...)...)
	d.SeedData()
	return d, d.DataDigest()
}

// expectStop waits for the failure of stage and its banner, checks that
// the banner holds every want, and returns the console up to the banner's
// end.
func expectStop(t *testing.T, vm *VM, stage string, want ...string) string {
	t.Helper()
	vm.Expect("[FAILED] " + stage + ":")
	out := vm.Expect("HOMESTAKER BOOT STOPPED in stage " + stage)
	out += vm.Expect("  now:")
	out += vm.Expect(strings.Repeat("=", 72))
	banner := out[strings.LastIndex(out, "HOMESTAKER BOOT STOPPED"):]
	for _, w := range want {
		if !strings.Contains(banner, w) {
			t.Errorf("the banner lacks %q:\n%s", w, banner)
		}
	}
	return out
}

// expectPoweroff checks that the banner announced the poweroff and that
// QEMU ends.
func expectPoweroff(t *testing.T, vm *VM) {
	t.Helper()
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	for _, l := range vm.Lines() {
		if strings.Contains(l.Text, "now:      powering off (homestaker.onfail=poweroff)") {
			return
		}
	}
	t.Error("the banner did not announce the poweroff")
}

// expectStage2 waits for the stage 2 and QEMU's end.
func expectStage2(t *testing.T, vm *VM) string {
	t.Helper()
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	return out
}

func TestFaultEarlyBadParameter(t *testing.T) {
	d, before := faultDisk(t)
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.tries=0"), Drive(d.Path))
	expectStop(t, vm, "early", "homestaker.tries", "/proc/cmdline")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

func TestFaultStorageNoVolume(t *testing.T) {
	d, before := faultDisk(t, "--label", "someoneelse")
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.timeout.disk=3"), Drive(d.Path))
	expectStop(t, vm, "storage", `"homestaker"`, "someoneelse")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// One RAID1 member's superblocks are destroyed: the volume has one of its
// two devices, and the init will not mount it degraded unasked.
func TestFaultStorageRAID1CorruptSuperblock(t *testing.T) {
	d, _ := faultDisk(t)
	second := addRAID1Member(t, d)
	before := d.DataDigest()
	f, err := os.OpenFile(second, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The primary superblock at 64 KiB and its first mirror at 64 MiB.
	for _, off := range []int64{64 << 10, 64 << 20} {
		if _, err := f.WriteAt(make([]byte, 4096), off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	d.Members, d.Degraded = nil, true // the host reads the intact member
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.timeout.disk=3"), Drive(d.Path, second))
	expectStop(t, vm, "storage", "1 of 2 member devices", "homestaker.degraded=ok")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// A disk that appears while the storage stage waits (a slow SATA or USB
// disk) is waited for: its controller is there from the start, the disk is
// hot-added on it once the stage says on the console that it waits.
func TestFaultStorageDiskLate(t *testing.T) {
	d, before := faultDisk(t)
	mon := filepath.Join(t.TempDir(), "monitor.sock")
	vm := Boot(t, stage2Initramfs(t), faultArgs, qemu.ArbitraryArgs(
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "if=none,id=late,format=raw,file="+strings.ReplaceAll(d.Path, ",", ",,"),
		"-monitor", "unix:"+mon+",server=on,wait=off"))
	const waitLine = "storage: waiting up to "
	vm.Expect(waitLine)
	hmp(t, mon, "device_add scsi-hd,drive=late,bus=scsi0.0,id=latedisk")
	vm.Expect("[  OK  ] storage: homestaker (1 of 1 device: /dev/sda)")
	expectStage2(t, vm)

	lines := vm.Lines()
	waitAt, _ := milestone(lines, waitLine)
	for _, l := range lines {
		if strings.Contains(l.Text, waitLine) && !strings.Contains(l.Text, `for a Btrfs, ext4 or xfs filesystem labelled "homestaker"`) {
			t.Errorf("the wait line does not say what it waits for: %q", l.Text)
		}
	}
	// The kernel's first line for the new disk comes after the wait line.
	if diskAt, ok := milestone(lines, "[sda]"); !ok || diskAt < waitAt {
		t.Errorf("the kernel's first line for sda (at %s, seen: %v) is not after the wait line (at %s)", diskAt, ok, waitAt)
	}
	if n := strings.Count(joinLines(lines), waitLine); n != 1 {
		t.Errorf("the storage stage said %d times that it waits; want once", n)
	}
	// The first look saw no disk: the volume was found one poll (50 ms) or
	// more later.
	var waited int
	for _, l := range lines {
		if m := waitedRe.FindStringSubmatch(l.Text); m != nil && strings.Contains(l.Text, "[  OK  ] storage:") {
			waited, _ = strconv.Atoi(m[1])
		}
	}
	if waited < 50 {
		t.Errorf("the storage stage waited %d ms for the late disk; the log shows no wait", waited)
	}
	t.Logf("wait line %s after QEMU started; the stage waited %d ms for the disk", waitAt.Round(100*time.Millisecond), waited)
	d.AssertDataUnchanged(before)
}

// hmp sends one command to QEMU's human monitor and waits for the prompt
// after it: QEMU has run it.
func hmp(t *testing.T, sock, cmd string) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("QEMU monitor: %v", err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		t.Fatal(err)
	}
	// The greeting's prompt, then the one after the command. The
	// deadline only catches a hung QEMU.
	const prompt = "(qemu) "
	c.SetReadDeadline(time.Now().Add(time.Minute))
	var out []byte
	buf := make([]byte, 4096)
	for bytes.Count(out, []byte(prompt)) < 2 {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			t.Fatalf("QEMU monitor: %q: %v (read %q)", cmd, err, out)
		}
	}
	if _, msg, failed := strings.Cut(string(out), "\r\nError: "); failed {
		t.Fatalf("QEMU monitor: %q: %s", cmd, strings.TrimSuffix(msg, "\r\n"+prompt))
	}
}

func TestFaultStorageMissingSubvolume(t *testing.T) {
	d, before := faultDisk(t)
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.subvols=secrets,erigon,lighthouse,addons"), Drive(d.Path))
	expectStop(t, vm, "storage", `subvolume or directory "addons"`, "btrfs subvolume create", "mkdir")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

func TestFaultSecretsMissingJWT(t *testing.T) {
	d, _ := faultDisk(t)
	before := d.DataDigest("lighthouse/jwt.hex")
	d.Remove("lighthouse/jwt.hex")
	vm := Boot(t, stage2Initramfs(t), faultArgs, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse", "generate its own")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before, "lighthouse/jwt.hex")
}

func TestFaultSecretsMismatchedJWT(t *testing.T) {
	d, _ := faultDisk(t)
	d.WriteFile("lighthouse/jwt.hex", "11"+strings.Repeat("ab", 31)+"\n", 0o600)
	before := d.DataDigest()
	vm := Boot(t, stage2Initramfs(t), faultArgs, Drive(d.Path))
	expectStop(t, vm, "secrets", "erigon/jwt.hex", "lighthouse/jwt.hex")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// The volume is full, so the SSH host key cannot be generated: the banner
// says so, and nothing on the volume is damaged by the attempt.
func TestFaultSecretsFullVolume(t *testing.T) {
	d, _ := faultDisk(t)
	d.Remove("secrets/ssh/id_ed25519")
	d.Remove("secrets/ssh/id_ed25519.pub")
	fillVolume(t, d)
	before := d.DataDigest()
	vm := Boot(t, stage2Initramfs(t), faultArgs, Drive(d.Path))
	expectStop(t, vm, "secrets", "an SSH host key at secrets/ssh/id_ed25519", "no space left on device", "not full")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// fillVolume fills the secrets subvolume until the file system refuses
// even a small file: data with one large file, metadata with many small
// ones (a key file is small enough to be stored inline in metadata).
func fillVolume(t *testing.T, d *Disk) {
	t.Helper()
	d.Edit(func(top string) {
		dir := filepath.Join(top, "secrets", "filler")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		big, err := os.Create(filepath.Join(dir, "big"))
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = byte(i*7 + i>>8)
		}
		for {
			if _, err := big.Write(chunk); err != nil {
				break
			}
		}
		big.Close()
		small := make([]byte, 1500)
		for i := 0; ; i++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%06d", i)), small, 0o600); err != nil {
				break
			}
			if i > 2_000_000 {
				t.Fatal("the volume never filled up")
			}
		}
		if err := os.WriteFile(filepath.Join(top, "secrets", "probe"), make([]byte, 400), 0o600); err == nil {
			t.Fatal("the filled volume still takes a small file")
		}
	})
}

func TestFaultSecretsMalformedWireGuard(t *testing.T) {
	d, before := faultDisk(t)
	conf := d.ReadFile("secrets/wireguard/wg0.conf")
	d.WriteFile("secrets/wireguard/wg0.conf", strings.Replace(conf, "[Peer]", "[Peer]\nEndpont = 10.0.2.2:51820", 1), 0o600)
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.wg=required"), Drive(d.Path))
	out := expectStop(t, vm, "secrets", "Endpont")
	if !strings.Contains(out, "wg0.conf:") {
		t.Errorf("the error does not name the file and line:\n%s", out)
	}
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// A DHCP server that answers only the third DISCOVER: the client keeps
// asking and the boot goes on.
func TestFaultNetworkDHCPThirdTime(t *testing.T) {
	d, before := faultDisk(t)
	l2, err := fixture.StartL2Net(fixture.L2Options{
		ServerIP: mustAddr("10.0.3.1"), Prefix: mustPrefix("10.0.3.0/24"), ClientIP: mustAddr("10.0.3.15"), IgnoreDiscovers: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	vm := BootNIC(t, "none", stage2Initramfs(t), append(faultArgs, "homestaker.ntp=10.0.3.1"), Drive(d.Path), qemu.ArbitraryArgs(l2.QEMUArgs("n1")...))
	vm.Expect("[  OK  ] network: eth0 10.0.3.15/24 by DHCP")
	expectStage2(t, vm)
	if n := l2.Discovers(); n < 3 || !l2.Leased() {
		t.Errorf("the server saw %d DISCOVERs and leased: %v; want 3 or more and a lease", n, l2.Leased())
	}
	d.AssertDataUnchanged(before)
}

// No DHCP server at all: the banner names the link and the timeout.
func TestFaultNetworkNoDHCP(t *testing.T) {
	d, before := faultDisk(t)
	vm := BootNIC(t, DeadNet, stage2Initramfs(t), append(faultArgs, "homestaker.wg=required", "homestaker.timeout.net=5"), Drive(d.Path))
	expectStop(t, vm, "network", "eth0", "DHCP", "homestaker.timeout.net=")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// The peer is not up when the node first calls it and comes up then: the
// handshake wait rides it out, trying again.
func TestFaultWireGuardPeerLate(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	d.SeedData()
	before := d.DataDigest()
	if err := peer.Down(); err != nil {
		t.Fatal(err)
	}
	up, err := peer.UpOnKnock()
	if err != nil {
		t.Fatal(err)
	}
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.wg=required"), Drive(d.Path))
	vm.Expect("[  OK  ] wireguard: wg0 10.99.0.2/32 up, handshake with " + peer.PublicKey()[:6])
	// A handshake means the peer is up, so it came up on the knock.
	select {
	case err := <-up:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a handshake, but the peer never saw the node knock while it was down")
	}
	expectStage2(t, vm)
	d.AssertDataUnchanged(before)
}

// The peer never answers and the tunnel is required.
func TestFaultWireGuardPeerDown(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	d.SeedData()
	before := d.DataDigest()
	peer.Close()
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "homestaker.wg=required", "homestaker.timeout.wg=4"), Drive(d.Path))
	expectStop(t, vm, "wireguard", peer.PublicKey(), fmt.Sprintf("10.0.2.2:%d", peer.Port), "homestaker.wg=optional")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// volumeFaultArgs boot the next stage from the volume.
var volumeFaultArgs = []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}

// The current tree's kernel is not a bzImage: it is refused before the
// handover and the previous tree boots.
func TestFaultNextNotABzImage(t *testing.T) {
	d, before := faultDisk(t)
	d.InstallNext(treeDir(t))
	bad := treeDir(t)
	if err := os.WriteFile(filepath.Join(bad, "bzImage"), append([]byte("\x7fELF"), make([]byte, 64<<10)...), 0o644); err != nil {
		t.Fatal(err)
	}
	// install-next refuses such a tree; it got there by hand.
	d.Edit(func(top string) {
		if err := os.Rename(filepath.Join(top, "boot/current"), filepath.Join(top, "boot/previous")); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(top, "boot/current")
		os.MkdirAll(dst, 0o755)
		for _, n := range []string{"bzImage", "initrd.zst", "kexec-boot"} {
			copyFile(t, filepath.Join(bad, n), filepath.Join(dst, n))
		}
	})
	vm := Boot(t, bench.initramfs, volumeFaultArgs, Drive(d.Path))
	out := vm.Expect("[  OK  ] nextstage: volume:/boot/previous")
	if !strings.Contains(out, "volume:/boot/current refused") || !strings.Contains(out, "is not a bzImage") {
		t.Errorf("the fallback is not explained:\n%s", out)
	}
	expectStage2(t, vm)
	d.AssertDataUnchanged(before)
}

// The only tree is tampered with: nothing is booted.
func TestFaultNextTamperedNoFallback(t *testing.T) {
	d, before := faultDisk(t)
	d.InstallNext(treeDir(t))
	d.Tamper("boot/current/initrd.zst")
	vm := Boot(t, bench.initramfs, volumeFaultArgs, Drive(d.Path))
	expectStop(t, vm, "nextstage", "volume:/boot/current: initrd.zst: sha256 mismatch", "volume:/boot/previous:", "homestaker install-next")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// The kernel refuses kexec (kernel.kexec_load_disabled=1): the banner
// names the sysctl and the way around it.
func TestFaultHandoverKexecRefused(t *testing.T) {
	d, before := faultDisk(t)
	vm := Boot(t, stage2Initramfs(t), append(faultArgs, "sysctl.kernel.kexec_load_disabled=1"), Drive(d.Path))
	expectStop(t, vm, "handover", "kexec_load_disabled=1", "homestaker.handover=switchroot")
	expectPoweroff(t, vm)
	d.AssertDataUnchanged(before)
}

// A current tree that never marks itself good is given up after
// homestaker.tries boots: the next boot takes /boot/previous and says why.
func TestFaultBootCountFallback(t *testing.T) {
	d, before := faultDisk(t)
	d.InstallNext(treeDir(t))
	d.InstallNext(treeDir(t))
	args := append([]string{"homestaker.tries=2"}, volumeFaultArgs...)
	for boot := 1; boot <= 2; boot++ {
		vm := Boot(t, bench.initramfs, args, Drive(d.Path))
		vm.Expect(fmt.Sprintf("boot %d of 2 of /boot/current", boot))
		out := expectStage2(t, vm)
		if !strings.Contains(out, "homestaker.tree=/boot/current") {
			t.Errorf("boot %d: the stage 2 was not told its tree:\n%s", boot, out)
		}
	}
	if got := strings.TrimSpace(d.ReadFile("boot/current/boot-count")); got != "2" {
		t.Errorf("boot-count = %q after two boots", got)
	}
	vm := Boot(t, bench.initramfs, args, Drive(d.Path))
	out := vm.Expect("[  OK  ] nextstage: volume:/boot/previous")
	if !strings.Contains(out, "volume:/boot/current refused (booted 2 times without a success mark (booted-ok; homestaker.tries=2))") {
		t.Errorf("the fallback is not explained:\n%s", out)
	}
	out = expectStage2(t, vm)
	if !strings.Contains(out, "homestaker.tree=/boot/previous") {
		t.Errorf("the stage 2 was not told it runs the previous tree:\n%s", out)
	}
	d.AssertDataUnchanged(before)
}

// homestaker.break with nobody at the console is a hang: the watchdog
// (QEMU's i6300esb) resets the machine.
func TestFaultWatchdogOnHang(t *testing.T) {
	d, before := faultDisk(t)
	// Without -no-reboot: the reset starts the machine again.
	cmd := "qemu-system-x86_64 -accel " + bench.accel + " -cpu max -smp 2 -m 2G -nographic -nic none -device i6300esb -action watchdog=reset"
	vm := start(t, cmd, bench.kernel, stage2Initramfs(t), append(faultArgs, "homestaker.break=storage", "homestaker.watchdog=10"), Drive(d.Path))
	vm.Expect(`watchdog "i6300ESB timer" armed`)
	const hold = "the watchdog is not pinged and resets the machine in 10s"
	vm.Expect(hold)
	held := vm.Expect("Linux version") // the machine starts again
	vm.Expect("init started")
	vm.Kill()
	vm.Wait()
	// Timed by the lines' arrival, not by when this test got to read them.
	var holdAt, took time.Duration
	for _, l := range vm.Lines() {
		if strings.Contains(l.Text, hold) {
			holdAt = l.At
		} else if holdAt > 0 && took == 0 && strings.Contains(l.Text, "Linux version") {
			took = l.At - holdAt
		}
	}
	if took < 8*time.Second {
		t.Errorf("the machine reset %s after the pings stopped, before the 10 s timeout", took)
	}
	// Between the hold and the reset: no shell, and no boot going on.
	if strings.Contains(held, "homestaker rescue shell") || strings.Contains(held, "storage:") {
		t.Errorf("the boot did not wait at the break until the reset:\n%s", held)
	}
	t.Logf("reset %s after the pings stopped (homestaker.watchdog=10)", took.Round(100*time.Millisecond))
	d.AssertDataUnchanged(before)
}

// With onfail=reboot the banner counts down; a key press on the console
// cancels into the shell, where the operator fixes the fault and runs the
// boot again with `homestaker retry`.
func TestFaultRebootCancelledThenRetry(t *testing.T) {
	d, _ := faultDisk(t)
	before := d.DataDigest("lighthouse/jwt.hex")
	d.Remove("lighthouse/jwt.hex")
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=reboot:60", "homestaker.wg=off"}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse", "rebooting in 1m0s", "press any key on the console for a shell instead")
	vm.Console.Send("x")
	vm.Expect("reboot cancelled by a key press on the console")
	vm.Expect("$ ")
	vm.Console.SendLine("cp /mnt/erigon/jwt.hex /mnt/lighthouse/jwt.hex")
	vm.Expect("$ ")
	vm.Console.SendLine("homestaker retry")
	vm.Expect("[ INFO ] retry: running the boot again from secrets")
	vm.Expect("[  OK  ] secrets:")
	expectStage2(t, vm)
	d.AssertDataUnchanged(before, "lighthouse/jwt.hex")
}

// With onfail=reboot and nobody there, the machine reboots when the
// countdown ends.
func TestFaultRebootCountdownEnds(t *testing.T) {
	d, _ := faultDisk(t)
	before := d.DataDigest("lighthouse/jwt.hex")
	d.Remove("lighthouse/jwt.hex")
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=reboot:3", "homestaker.wg=off"}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse")
	vm.Expect("rebooting now")
	// -no-reboot: QEMU ends at the reset.
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	d.AssertDataUnchanged(before, "lighthouse/jwt.hex")
}

// rescueLogin dials the node's rescue SSH server through the tunnel from
// the host peer, as the operator would, checks that the server presents
// the volume's host key and logs in with key. It returns the client and
// how long after since the server first accepted a connection.
func rescueLogin(t testing.TB, peer *fixture.Peer, hostKey ssh.PublicKey, key ssh.Signer, since time.Time) (*ssh.Client, time.Duration) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := peer.DialContext(ctx, "tcp", "10.99.0.2:22")
		cancel()
		if err == nil {
			took := time.Since(since)
			conf := &ssh.ClientConfig{
				User: "root",
				Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
				HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
					if !bytes.Equal(k.Marshal(), hostKey.Marshal()) {
						return fmt.Errorf("the rescue server presents %s, not the volume's host key %s", ssh.FingerprintSHA256(k), ssh.FingerprintSHA256(hostKey))
					}
					return nil
				},
				Timeout: 20 * time.Second,
			}
			sc, chans, reqs, err := ssh.NewClientConn(c, "10.99.0.2:22", conf)
			if err != nil {
				t.Fatalf("rescue SSH login: %v", err)
			}
			return ssh.NewClient(sc, chans, reqs), took
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rescue SSH server never accepted a connection through the tunnel: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rescueKey makes the operator's SSH key and authorizes it on the volume.
func rescueKey(t testing.TB, d *Disk) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	d.WriteFile("secrets/ssh/authorized_keys", "# the operator's laptop\n"+string(ssh.MarshalAuthorizedKey(signer.PublicKey())), 0o600)
	return signer
}

// volumeHostKey is the public half of the node's SSH identity on d.
func volumeHostKey(t testing.TB, d *Disk) ssh.PublicKey {
	t.Helper()
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(d.ReadFile("secrets/ssh/id_ed25519.pub")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The missing JWT stops the boot with the tunnel up; the operator logs in
// over the rescue SSH with the node's own host key, copies the JWT and
// runs `homestaker retry`; the boot goes on to the stage 2.
func TestFaultRescueSSHRetry(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	d.SeedData()
	before := d.DataDigest("lighthouse/jwt.hex")
	key := rescueKey(t, d)
	hostKey := volumeHostKey(t, d)
	d.Remove("lighthouse/jwt.hex")

	vm := Boot(t, stage2Initramfs(t), []string{"homestaker.next=initramfs:/next", "homestaker.wg=required"}, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse", "rescue SSH on 10.99.0.2:22", ssh.FingerprintSHA256(hostKey))
	failed := time.Now()
	client, took := rescueLogin(t, peer, hostKey, key, failed)
	defer client.Close()
	t.Logf("rescue SSH accepted a connection %s after the banner", took.Round(10*time.Millisecond))

	// A retry before the fix stops again, and says so.
	first, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	early, err := first.CombinedOutput("homestaker retry")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 || !strings.Contains(string(early), "homestaker retry: the boot stopped again in stage secrets") {
		t.Errorf("a retry before the fix: %v\n%s", err, early)
	}
	expectStop(t, vm, "secrets", "lighthouse")

	// An interactive login, as the operator types it.
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 40, 120, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
		t.Fatal(err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	got := &syncBuffer{}
	s.Stdout, s.Stderr = got, got
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, got, "$ ")
	fmt.Fprintf(stdin, "cp /mnt/erigon/jwt.hex /mnt/lighthouse/jwt.hex && homestaker retry\n")
	vm.Expect("[ INFO ] retry: running the boot again from secrets")
	vm.Expect("[  OK  ] secrets:")
	waitFor(t, got, "[  OK  ] secrets:") // the retried boot, followed over SSH
	expectStage2(t, vm)
	for _, want := range []string{
		"HOMESTAKER BOOT STOPPED in stage secrets", // the greeting
		"boot report (/run/homestaker/report.json):",
		"homestaker retry: running the boot again",
	} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("the rescue session lacks %q:\n%s", want, got.String())
		}
	}
	d.AssertDataUnchanged(before, "lighthouse/jwt.hex")
}

// syncBuffer is a bytes.Buffer safe for the SSH client's concurrent
// stdout and stderr copies.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until b holds want.
func waitFor(t testing.TB, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the rescue session never showed %q:\n%s", want, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Across the kexec the watchdog keeps running by default, for
// HomestakerOS's watchdogd to take over: a next system that does not ping
// it is reset. With homestaker.watchdog.kexec=stop it is disarmed.
func TestFaultWatchdogAcrossKexec(t *testing.T) {
	// The timeout is sized from the next kernel's boot, measured now, on
	// this machine's load: with keep, the reset must come while the next
	// system runs, after that boot. A boot after the kexec takes about as
	// long as a direct one (purgatory hashes the segments where the
	// firmware ran); three times leaves room for the load to change (the
	// init's own kexec_file_load, slow under TCG, needs room too).
	boot := stage2Boot(t)
	timeout := max(12*time.Second, (3*boot).Round(time.Second)+time.Second)
	t.Logf("the stage 2's kernel boots in %s directly: homestaker.watchdog=%d", boot.Round(100*time.Millisecond), int(timeout.Seconds()))
	t.Run("keep", func(t *testing.T) {
		d, before := faultDisk(t)
		// A load that changed more gets one more try, with twice the
		// timeout.
		timeout := timeout
		for try := 1; !keptAcrossKexec(t, d, timeout); try++ {
			if try == 2 {
				t.Fatalf("the reset came before the next system ran, twice: its kernel's boot took longer than homestaker.watchdog=%d", int(timeout.Seconds()))
			}
			timeout *= 2
		}
		d.AssertDataUnchanged(before)
	})
	t.Run("stop", func(t *testing.T) {
		// Longer than the watchdog's timeout, then the next system's end.
		linger := timeout + 30*time.Second
		img := withAppended(t, bench.initramfs, treeRecords(t, "next", fmt.Sprintf("%s stage2.linger=%d", fixture.Stage2Cmdline, int(linger.Seconds()))))
		d, before := faultDisk(t)
		vm := Boot(t, img, append(faultArgs, fmt.Sprintf("homestaker.watchdog=%d", int(timeout.Seconds())), "homestaker.watchdog.kexec=stop"), Drive(d.Path), watchdogDevice)
		vm.Expect("watchdog stopped (homestaker.watchdog.kexec=stop)")
		vm.Expect(fmt.Sprintf("HOMESTAKER-STAGE2 lingering %s", linger))
		expectStage2(t, vm)
		d.AssertDataUnchanged(before)
	})
}

// watchdogDevice is QEMU's i6300esb, whose timeout resets the machine
// (and, with -no-reboot, ends QEMU).
var watchdogDevice = qemu.ArbitraryArgs("-device", "i6300esb", "-action", "watchdog=reset")

// keptAcrossKexec boots from d into a next system that does not ping the
// watchdog, kept across the kexec with timeout, and checks that the reset
// comes, after the kexec and no earlier than the timeout after the init's
// last ping. It reports whether the next system was running (lingering) by
// then.
func keptAcrossKexec(t *testing.T, d *Disk, timeout time.Duration) bool {
	t.Helper()
	linger := timeout + 30*time.Second
	img := withAppended(t, bench.initramfs, treeRecords(t, "next", fmt.Sprintf("%s stage2.linger=%d", fixture.Stage2Cmdline, int(linger.Seconds()))))
	vm := Boot(t, img, append(faultArgs, fmt.Sprintf("homestaker.watchdog=%d", int(timeout.Seconds()))), Drive(d.Path), watchdogDevice)
	const kept = "watchdog left running: the next system's watchdog daemon must take it over within "
	vm.Expect(kept + timeout.String())
	// -no-reboot: the watchdog's reset ends QEMU.
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	end := vm.Since()
	lines := vm.Lines()
	if _, ok := milestone(lines, "HOMESTAKER-STAGE2 powering off"); ok {
		t.Fatal("the next system ran to its end: the watchdog did not survive the kexec")
	}
	if _, ok := milestone(lines, "kexec_core: Starting new kernel"); !ok {
		t.Fatal("QEMU ended before the kexec")
	}
	// The init's last ping is just before the line; a reset much
	// earlier than the timeout is not the watchdog's.
	keptAt, _ := milestone(lines, kept)
	if took := end - keptAt; took < timeout*8/10 {
		t.Errorf("QEMU ended %s after the last ping, before the watchdog's %s", took.Round(100*time.Millisecond), timeout)
	}
	lingered, ran := milestone(lines, fmt.Sprintf("HOMESTAKER-STAGE2 lingering %s", linger))
	if !ran {
		t.Logf("homestaker.watchdog=%d: the reset came %s after the last ping, before the next system ran", int(timeout.Seconds()), (end - keptAt).Round(100*time.Millisecond))
		return false
	}
	up, _ := milestone(lines, "HOMESTAKER-STAGE2 up")
	t.Logf("homestaker.watchdog=%d: after the last ping, the next system was up at %s and the reset came at %s, %s into its linger",
		int(timeout.Seconds()), (up - keptAt).Round(100*time.Millisecond), (end - keptAt).Round(100*time.Millisecond), (end - lingered).Round(100*time.Millisecond))
	return true
}

// stage2Boot is how long the test kernel takes from QEMU's start to the
// stage 2's first line, booted directly.
func stage2Boot(t *testing.T) time.Duration {
	t.Helper()
	vm := BootNIC(t, "none", bench.stage2, nil)
	vm.Expect("HOMESTAKER-STAGE2 up")
	at := vm.Since()
	vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Fatalf("VM: %v", err)
	}
	if l, ok := milestone(vm.Lines(), "HOMESTAKER-STAGE2 up"); ok {
		at = l
	}
	return at
}

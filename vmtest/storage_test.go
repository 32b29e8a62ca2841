package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// bootArgs are the command line of a boot that goes on to the stage 2 in
// the initramfs, or powers off on failure. The tunnel has its own tests
// (network_test.go); here it is off unless a test turns it on.
var bootArgs = []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=off"}

// bootToStage2 boots disks with the stage-2 tree in the initramfs and
// waits for the stage 2, returning the console up to there.
func bootToStage2(t *testing.T, extra []string, disks ...string) string {
	t.Helper()
	img := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
	vm := Boot(t, img, append(append([]string{}, bootArgs...), extra...), Drive(disks...))
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	return out
}

// bootToBanner boots and expects the boot to stop in stage with a banner
// holding every string of want.
func bootToBanner(t *testing.T, stage string, extra []string, want []string, disks ...string) string {
	t.Helper()
	vm := Boot(t, bench.initramfs, append(append([]string{}, bootArgs...), extra...), Drive(disks...))
	vm.Expect("[FAILED] " + stage + ":")
	out := vm.Expect("HOMESTAKER BOOT STOPPED in stage " + stage)
	out += vm.Expect("powering off (homestaker.onfail=poweroff)")
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the console lacks %q:\n%s", w, out)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
	return out
}

func TestStorageHappyPath(t *testing.T) {
	for _, layout := range []string{"legacy", "current"} {
		t.Run(layout, func(t *testing.T) {
			d := PrepareDisk(t, append([]string{"--layout", layout}, WithTunnel...)...)
			out := bootToStage2(t, nil, d.Path)
			for _, want := range []string{
				"[  OK  ] storage: homestaker (1 of 1 device: /dev/vda) mounted at /mnt",
				"[  OK  ] secrets: subvolumes, wireguard, jwt, ssh host key checked",
				"[  OK  ] wireguard: not started (homestaker.wg=off)",
				"[  OK  ] handover:",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("console lacks %q", want)
				}
			}
		})
	}
}

// The next stage comes from the volume's /boot/current by default.
func TestChainKexecFromVolume(t *testing.T) {
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
	vm := Boot(t, bench.initramfs, []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(d.Path))
	vm.Expect("[  OK  ] nextstage: volume:/boot/current: bzImage from kexec-boot")
	out := vm.Expect("HOMESTAKER-STAGE2 powering off")
	if !strings.Contains(out, "HOMESTAKER-STAGE2 cmdline: "+fixture.Stage2Cmdline+" homestaker.report=/boot/reports/000001.json homestaker.tree=/boot/current\r") {
		t.Errorf("stage 2 did not get the exact command line:\n%s", out)
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

func TestStorageFallbackLabel(t *testing.T) {
	d := PrepareDisk(t, append([]string{"--label", "homestakeros"}, WithTunnel...)...)
	out := bootToStage2(t, nil, d.Path)
	if !strings.Contains(out, `[ WARN ] storage: no filesystem labelled "homestaker"; using "homestakeros"`) {
		t.Errorf("no notice of the fallback label:\n%s", out)
	}
}

func TestStorageTwoFilesystemsSameLabel(t *testing.T) {
	a := PrepareDisk(t, WithTunnel...)
	b := PrepareDisk(t, WithTunnel...)
	bootToBanner(t, "storage", nil, []string{"2 filesystems with that label", "/dev/vda", "/dev/vdb", "will not guess"}, a.Path, b.Path)
}

func TestStorageRAID1(t *testing.T) {
	d := PrepareDisk(t, WithTunnel...)
	second := addRAID1Member(t, d)

	t.Run("both", func(t *testing.T) {
		out := bootToStage2(t, nil, d.Path, second)
		if !strings.Contains(out, "[  OK  ] storage: homestaker (2 of 2 devices: /dev/vda /dev/vdb) mounted at /mnt") {
			t.Errorf("console:\n%s", out)
		}
	})
	t.Run("one missing", func(t *testing.T) {
		bootToBanner(t, "storage", []string{"homestaker.timeout.disk=3"}, []string{"1 of 2 member devices", "homestaker.degraded=ok"}, second)
	})
	t.Run("one missing with degraded ok", func(t *testing.T) {
		out := bootToStage2(t, []string{"homestaker.timeout.disk=3", "homestaker.degraded=ok"}, second)
		if !strings.Contains(out, "[ WARN ] storage: mounting \"homestaker\" degraded") || !strings.Contains(out, "DEGRADED") {
			t.Errorf("console:\n%s", out)
		}
	})
}

func TestSecretsJWT(t *testing.T) {
	t.Run("0x prefix and newline accepted", func(t *testing.T) {
		d := PrepareDisk(t, WithTunnel...)
		jwt := strings.TrimSpace(d.ReadFile("erigon/jwt.hex"))
		d.WriteFile("lighthouse/jwt.hex", "0x"+jwt+"\n", 0o600)
		out := bootToStage2(t, nil, d.Path)
		if !strings.Contains(out, "jwt: 2 identical copies") {
			t.Errorf("console:\n%s", out)
		}
	})
}

func TestSecretsWireGuard(t *testing.T) {
	t.Run("group-readable", func(t *testing.T) {
		peer := StartPeer(t, "10.99.0.1")
		d := PrepareDisk(t, peer.Flags("10.99.0.2/32")...)
		allow(t, peer, d)
		conf := d.ReadFile("secrets/wireguard/wg0.conf")
		d.WriteFile("secrets/wireguard/wg0.conf", conf, 0o640)
		out := bootToStage2(t, []string{"homestaker.wg=required"}, d.Path)
		if !strings.Contains(out, "[ WARN ] secrets: wireguard:") || !strings.Contains(out, "group or others") {
			t.Errorf("no warning about the file mode:\n%s", out)
		}
	})
}

func TestSecretsSSHHostKey(t *testing.T) {
	t.Run("rsa refused", func(t *testing.T) {
		d := PrepareDisk(t, WithTunnel...)
		key := filepath.Join(t.TempDir(), "rsa")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(key)
		pub, _ := os.ReadFile(key + ".pub")
		d.WriteFile("secrets/ssh/id_ed25519", string(b), 0o600)
		d.WriteFile("secrets/ssh/id_ed25519.pub", string(pub), 0o644)
		bootToBanner(t, "secrets", nil, []string{"ssh-rsa", "ssh-keygen -t ed25519"}, d.Path)
	})
	t.Run("absent is generated once and kept", func(t *testing.T) {
		d := PrepareDisk(t, WithTunnel...)
		d.Remove("secrets/ssh/id_ed25519")
		d.Remove("secrets/ssh/id_ed25519.pub")
		out := bootToStage2(t, nil, d.Path)
		m := regexp.MustCompile(`generated the SSH host key secrets/ssh/id_ed25519: (SHA256:\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no generated key on the console:\n%s", out)
		}
		out2 := bootToStage2(t, nil, d.Path)
		if strings.Contains(out2, "generated the SSH host key") || !strings.Contains(out2, "ed25519 "+m[1]) {
			t.Errorf("second boot did not find the same key %s:\n%s", m[1], out2)
		}
		if mode := d.ReadFile("secrets/ssh/id_ed25519"); !strings.Contains(mode, "OPENSSH PRIVATE KEY") {
			t.Error("the generated key is not an OpenSSH key")
		}
	})
}

// addRAID1Member makes d a two-device RAID1 volume the way an operator
// adds a second NVMe, and returns the new member's image.
func addRAID1Member(t *testing.T, d *Disk) string {
	t.Helper()
	second := filepath.Join(t.TempDir(), "disk2.img")
	if err := os.WriteFile(second, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(second, 256<<20); err != nil {
		t.Fatal(err)
	}
	d.Edit(func(top string) {
		loop, err := exec.Command("losetup", "-f", "--show", second).Output()
		if err != nil {
			t.Fatalf("losetup: %v", err)
		}
		dev := strings.TrimSpace(string(loop))
		defer exec.Command("losetup", "-d", dev).Run()
		for _, args := range [][]string{
			{"device", "add", "-f", dev, top},
			{"balance", "start", "--full-balance", "-dconvert=raid1", "-mconvert=raid1", top},
		} {
			if out, err := exec.Command("btrfs", args...).CombinedOutput(); err != nil {
				t.Fatalf("btrfs %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	d.Members = []string{second}
	return second
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

package vmtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// volume is a disk image made by hand, as an operator following
// HomestakerOS's guide makes it, of any filesystem type.
type volume struct {
	t    *testing.T
	path string
}

// newVolume formats a sparse image of size MiB with mkfs args (the
// label homestaker added) and lets shape fill it, mounted on the host.
func newVolume(t *testing.T, size int64, mkfs string, args []string, shape func(top string)) *volume {
	t.Helper()
	p := filepath.Join(t.TempDir(), "volume.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size<<20); err != nil {
		t.Fatal(err)
	}
	run(t, mkfs, append(append([]string{"-L", "homestaker"}, args...), p)...)
	v := &volume{t, p}
	v.edit(shape)
	return v
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// edit mounts the whole volume on the host, calls fn and unmounts it.
func (v *volume) edit(fn func(top string)) {
	v.t.Helper()
	dir := v.t.TempDir()
	run(v.t, "mount", "-o", "loop", v.path, dir)
	defer run(v.t, "umount", dir)
	fn(dir)
}

// guideSecrets writes what HomestakerOS's guide has the operator put in
// secrets/ (its newer layout): jwt.hex, wg0.conf, and an empty ssh/ so
// that the init generates the host key.
func guideSecrets(t *testing.T, top string) {
	for _, d := range []string{"secrets/ssh"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	jwt := make([]byte, 32)
	key := make([]byte, 32)
	rand.Read(jwt)
	rand.Read(key)
	write(t, filepath.Join(top, "secrets/jwt.hex"), hex.EncodeToString(jwt)+"\n", 0o600)
	write(t, filepath.Join(top, "secrets/wg0.conf"), fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.99.0.2/32\n\n[Peer]\nPublicKey = %s\nEndpoint = 10.0.2.2:51820\nAllowedIPs = 10.99.0.0/24\n",
		base64.StdEncoding.EncodeToString(key), wgPeer), 0o600)
}

// seedClientData writes files into erigon/ and lighthouse/ as a synced
// node has them.
func seedClientData(t *testing.T, top string) {
	for rel, size := range map[string]int{
		"erigon/chaindata/mdbx.dat":                        1 << 20,
		"erigon/nodes/eth68/mdbx.dat":                      64 << 10,
		"lighthouse/beacon/chain_db/000123.ldb":            256 << 10,
		"lighthouse/validators/slashing_protection.sqlite": 64 << 10,
	} {
		b := make([]byte, size)
		rand.Read(b)
		if err := os.MkdirAll(filepath.Dir(filepath.Join(top, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(top, rel), string(b), 0o644)
	}
}

// installTree puts the stage-2 kexec tree at boot/current.
func installTree(t *testing.T, top string) {
	dir := filepath.Join(top, "boot", "current")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bench.kernel, filepath.Join(dir, "bzImage"))
	copyFile(t, bench.stage2, filepath.Join(dir, "initrd.zst"))
	write(t, filepath.Join(dir, "kexec-boot"), fixture.KexecBoot(fixture.Stage2Cmdline), 0o755)
}

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// digest is one line per entry of the client data directories: path,
// mode, and for files size, modification time and SHA-256.
func (v *volume) digest() string {
	var lines []string
	v.edit(func(top string) {
		for _, sub := range dataSubvolumes {
			err := filepath.WalkDir(filepath.Join(top, sub), func(p string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				fi, err := e.Info()
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(top, p)
				line := fmt.Sprintf("%s %v", rel, fi.Mode())
				if fi.Mode().IsRegular() {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					line += fmt.Sprintf(" %d %d %x", fi.Size(), fi.ModTime().UnixNano(), sha256.Sum256(b))
				}
				lines = append(lines, line)
				return nil
			})
			if err != nil {
				v.t.Fatal(err)
			}
		}
	})
	sort.Strings(lines)
	if len(lines) < 8 {
		v.t.Fatalf("client data holds %d entries: not seeded", len(lines))
	}
	return strings.Join(lines, "\n")
}

// bootFromVolume boots the volume to the stage 2 in its boot/current and
// returns the console; the init's own writes (host key, boot count,
// report) are checked on the host after.
func (v *volume) bootFromVolume() string {
	v.t.Helper()
	vm := Boot(v.t, bench.initramfs, []string{"homestaker.onfail=poweroff", "homestaker.wg=off"}, Drive(v.path))
	out := vm.Expect("[  OK  ] nextstage: volume:/boot/current: bzImage from kexec-boot")
	out += vm.Expect("HOMESTAKER-STAGE2 powering off")
	if err := vm.Wait(); err != nil {
		v.t.Errorf("VM: %v", err)
	}
	v.edit(func(top string) {
		for _, p := range []string{"secrets/ssh/id_ed25519", "boot/reports/000001.json"} {
			if _, err := os.Stat(filepath.Join(top, p)); err != nil {
				v.t.Errorf("after the boot: %v", err)
			}
		}
	})
	return out
}

func wantConsole(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("the console lacks %q:\n%s", w, out)
		}
	}
}

// The guide's volume: mkfs.ext4 -L homestaker, mkdir -p
// /mnt/{secrets,erigon,lighthouse}, the secrets in secrets/. The init
// mounts it whole at /mnt, warns that secrets/ is open to others (mkdir
// -p leaves it 0755), generates the SSH key, boots the tree on the volume
// and leaves the filesystem clean, the chain data unchanged.
func TestVolumeExt4Guide(t *testing.T) {
	v := newVolume(t, 256, "mkfs.ext4", []string{"-q"}, func(top string) {
		for _, d := range []string{"secrets", "erigon", "lighthouse"} {
			if err := os.Mkdir(filepath.Join(top, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		guideSecrets(t, top)
		seedClientData(t, top)
		installTree(t, top)
	})
	before := v.digest()
	out := v.bootFromVolume()
	wantConsole(t, out,
		"[  OK  ] storage: homestaker: ext4, directories, mounted at /mnt (1 of 1 device: /dev/vda)",
		"[ WARN ] secrets: subvolumes: secrets, erigon, lighthouse (directories): /mnt/secrets is a plain directory with mode 0755",
		"generated the SSH host key secrets/ssh/id_ed25519",
		"HOMESTAKER-STAGE2 cmdline: "+fixture.Stage2Cmdline+" homestaker.report=/boot/reports/000001.json homestaker.tree=/boot/current\r")
	dump := run(t, "dumpe2fs", "-h", v.path)
	if !strings.Contains(dump, "Filesystem state:         clean\n") || strings.Contains(dump, "needs_recovery") {
		t.Errorf("ext4 not unmounted cleanly:\n%s", dump)
	}
	run(t, "e2fsck", "-fn", v.path)
	if after := v.digest(); after != before {
		t.Errorf("client data changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// xfs, the guide's other suggestion: directories, a clean log after.
func TestVolumeXFS(t *testing.T) {
	v := newVolume(t, 320, "mkfs.xfs", []string{"-q"}, func(top string) {
		for _, d := range []string{"secrets", "erigon", "lighthouse"} {
			os.Mkdir(filepath.Join(top, d), 0o755)
		}
		os.Chmod(filepath.Join(top, "secrets"), 0o700)
		guideSecrets(t, top)
		seedClientData(t, top)
		installTree(t, top)
	})
	before := v.digest()
	out := v.bootFromVolume()
	wantConsole(t, out,
		"[  OK  ] storage: homestaker: xfs, directories, mounted at /mnt (1 of 1 device: /dev/vda)",
		"[  OK  ] secrets: subvolumes, wireguard, jwt, ssh host key checked")
	if log := run(t, "xfs_logprint", "-t", v.path); !strings.Contains(log, "<CLEAN>") {
		t.Errorf("xfs log not clean:\n%s", log)
	}
	run(t, "xfs_repair", "-n", v.path)
	if after := v.digest(); after != before {
		t.Errorf("client data changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A volume made by `homestaker prepare --fs ext4`: directories, secrets/
// closed to others (no warning, unlike the guide's mkdir -p), the secrets
// in the legacy layout with the host key prepare generated. The init
// boots the tree on the volume, keeps the key, and leaves the ext4 clean
// and the chain data unchanged.
func TestVolumeExt4Prepared(t *testing.T) {
	d := PrepareDisk(t, "--fs", "ext4")
	var key []byte
	d.Edit(func(top string) {
		seedClientData(t, top)
		installTree(t, top)
		var err error
		if key, err = os.ReadFile(filepath.Join(top, "secrets/ssh/id_ed25519")); err != nil {
			t.Fatal(err)
		}
	})
	if dump := run(t, "dumpe2fs", "-h", d.Path); !strings.Contains(dump, "Filesystem volume name:   homestaker\n") {
		t.Fatalf("prepare --fs ext4 made no ext4 labelled homestaker:\n%s", dump)
	}
	v := &volume{t, d.Path}
	before := v.digest()
	out := v.bootFromVolume()
	wantConsole(t, out,
		"[  OK  ] storage: homestaker: ext4, directories, mounted at /mnt (1 of 1 device: /dev/vda)",
		"[  OK  ] secrets: subvolumes, wireguard, jwt, ssh host key checked",
		"HOMESTAKER-STAGE2 cmdline: "+fixture.Stage2Cmdline+" homestaker.report=/boot/reports/000001.json homestaker.tree=/boot/current\r")
	if strings.Contains(out, "generated the SSH host key") || strings.Contains(out, "plain directory with mode") {
		t.Errorf("the init generated a host key or warned about secrets/ on a prepared volume:\n%s", out)
	}
	dump := run(t, "dumpe2fs", "-h", v.path)
	if !strings.Contains(dump, "Filesystem state:         clean\n") || strings.Contains(dump, "needs_recovery") {
		t.Errorf("ext4 not unmounted cleanly:\n%s", dump)
	}
	run(t, "e2fsck", "-fn", v.path)
	if after := v.digest(); after != before {
		t.Errorf("client data changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	d.Edit(func(top string) {
		if after, err := os.ReadFile(filepath.Join(top, "secrets/ssh/id_ed25519")); err != nil || !bytes.Equal(after, key) {
			t.Errorf("the host key prepare made was not kept (%v)", err)
		}
	})
}

// Btrfs with plain directories (an operator who ran mkdir, not btrfs
// subvolume create): mounted whole, like ext4.
func TestVolumeBtrfsDirectories(t *testing.T) {
	v := newVolume(t, 256, "mkfs.btrfs", []string{"-q"}, func(top string) {
		for _, d := range []string{"secrets", "erigon", "lighthouse"} {
			os.Mkdir(filepath.Join(top, d), 0o700)
		}
		guideSecrets(t, top)
		seedClientData(t, top)
		installTree(t, top)
	})
	before := v.digest()
	out := v.bootFromVolume()
	wantConsole(t, out, "[  OK  ] storage: homestaker: btrfs, directories, mounted at /mnt (1 of 1 device: /dev/vda)")
	run(t, "btrfs", "check", v.path)
	if after := v.digest(); after != before {
		t.Errorf("client data changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// A mix on Btrfs: erigon a subvolume (mounted with subvol=erigon over its
// place), lighthouse and secrets directories of the whole mount.
func TestVolumeBtrfsMixed(t *testing.T) {
	v := newVolume(t, 256, "mkfs.btrfs", []string{"-q"}, func(top string) {
		run(t, "btrfs", "subvolume", "create", filepath.Join(top, "erigon"))
		os.Mkdir(filepath.Join(top, "lighthouse"), 0o755)
		os.Mkdir(filepath.Join(top, "secrets"), 0o700)
		guideSecrets(t, top)
		seedClientData(t, top)
		installTree(t, top)
	})
	before := v.digest()
	out := v.bootFromVolume()
	wantConsole(t, out, "[  OK  ] storage: homestaker: btrfs, subvolume erigon, directories secrets lighthouse, mounted at /mnt (1 of 1 device: /dev/vda)")
	run(t, "btrfs", "check", v.path)
	if after := v.digest(); after != before {
		t.Errorf("client data changed:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// Two filesystems labelled homestaker of different types (an old ext4
// disk beside the Btrfs one) are refused naming both, as two Btrfs are.
func TestVolumeTwoTypesSameLabel(t *testing.T) {
	b := PrepareDisk(t, WithTunnel...)
	e := newVolume(t, 64, "mkfs.ext4", []string{"-q"}, func(string) {})
	bootToBanner(t, "storage", nil, []string{"2 filesystems with that label", "btrfs fsid", "on /dev/vda", "ext4 fsid", "on /dev/vdb", "e2label", "will not guess"}, b.Path, e.path)
}

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests make the signatures libblkid knows and this program's own
// probe does not with the real tools, and check that prepare refuses
// them. `make deps` installs the tools, so a missing one is a broken
// setup: the test fails naming its Debian package.

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeAt(t *testing.T, img string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func imageSize(t *testing.T, img string) int64 {
	t.Helper()
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// The md superblocks are written here because mdadm --create needs the md
// driver in the running kernel, which a container or CI machine may lack.
// mdadm --examine, which reads them without the driver, then checks that
// they are what mdadm itself would accept, checksum included.

// mdSuper10 writes the version 1.0 superblock (struct mdp_superblock_1 of
// the kernel's include/uapi/linux/raid/md_p.h) of the first member of a
// two-disk RAID1 named name, 8 to 12 KiB before the end of the image, where
// the kernel and mdadm look for it. It returns the superblock's offset.
func mdSuper10(t *testing.T, img, name string) int64 {
	t.Helper()
	off := (imageSize(t, img)/512 - 16) &^ 7 * 512
	const maxDev = 2
	sb := make([]byte, 256+2*maxDev)
	le := binary.LittleEndian
	le.PutUint32(sb[0:], 0xa92b4efc)        // magic
	le.PutUint32(sb[4:], 1)                 // major_version
	copy(sb[16:32], "set-uuid-of-test")     // set_uuid
	copy(sb[32:64], name)                   // set_name
	le.PutUint64(sb[64:], 1700000000)       // ctime
	le.PutUint32(sb[72:], 1)                // level: RAID1
	le.PutUint64(sb[80:], uint64(off/512))  // size, in sectors
	le.PutUint32(sb[92:], 2)                // raid_disks
	le.PutUint64(sb[128:], 0)               // data_offset: the data starts at 0
	le.PutUint64(sb[136:], uint64(off/512)) // data_size
	le.PutUint64(sb[144:], uint64(off/512)) // super_offset
	le.PutUint64(sb[152:], ^uint64(0))      // recovery_offset: in sync
	copy(sb[168:184], "device-uuid-test")   // device_uuid
	le.PutUint64(sb[192:], 1700000000)      // utime
	le.PutUint64(sb[200:], 1)               // events
	le.PutUint64(sb[208:], ^uint64(0))      // resync_offset: clean
	le.PutUint32(sb[220:], maxDev)          // max_dev
	le.PutUint16(sb[256:], 0)               // dev_roles[0]: this device is disk 0
	le.PutUint16(sb[258:], 0xffff)          // dev_roles[1]: no device
	// sb_csum: the 32-bit little-endian words summed in 64 bits, folded.
	var sum uint64
	for i := 0; i+4 <= len(sb); i += 4 {
		sum += uint64(le.Uint32(sb[i:]))
	}
	le.PutUint32(sb[216:], uint32(sum&0xffffffff+sum>>32))
	writeAt(t, img, sb, off)
	return off
}

// mdSuper090 writes the version 0.90 superblock (mdp_superblock_t of
// md_p.h, 4 KiB of 32-bit words) of the first member of a two-disk RAID1
// in the last whole 64 KiB but one of the image. It returns its offset.
func mdSuper090(t *testing.T, img string) int64 {
	t.Helper()
	off := imageSize(t, img)&^(64<<10-1) - 64<<10
	words := make([]uint32, 1024)
	words[0] = 0xa92b4efc        // md_magic
	words[2] = 90                // minor_version
	words[4] = 0                 // gvalid_words
	words[5] = 0x01020304        // set_uuid0
	words[6] = 1700000000        // ctime
	words[7] = 1                 // level: RAID1
	words[8] = uint32(off >> 10) // size, in KiB
	words[9] = 1                 // nr_disks
	words[10] = 2                // raid_disks
	words[13], words[14], words[15] = 0x05060708, 0x090a0b0c, 0x0d0e0f10
	words[32] = 1700000000      // utime
	words[33] = 1               // state: clean
	words[34], words[35] = 1, 1 // active_disks, working_disks
	words[36] = 1               // failed_disks: the missing one
	words[39] = 1               // events_lo
	// disks[0] (at word 128) and this_disk (at word 992): number 0,
	// raid_disk 0, state active and in sync.
	for _, d := range []int{128, 992} {
		words[d+4] = 1<<1 | 1<<2
	}
	var sum uint64
	for _, w := range words {
		sum += uint64(w)
	}
	words[38] = uint32(sum&0xffffffff + sum>>32) // sb_csum
	sb := make([]byte, 4096)
	for i, w := range words {
		binary.LittleEndian.PutUint32(sb[4*i:], w)
	}
	writeAt(t, img, sb, off)
	return off
}

// examineMD checks with mdadm that img holds the md superblock wanted.
func examineMD(t *testing.T, img, version string) {
	t.Helper()
	out := runTool(t, needTool(t, "mdadm", "mdadm"), "--examine", img)
	if !strings.Contains(out, "Version : "+version) || !strings.Contains(out, "Raid Level : raid1") ||
		!strings.Contains(out, "correct") {
		t.Fatalf("mdadm --examine %s does not show a sound md %s RAID1 member:\n%s", img, version, out)
	}
}

// withLoop attaches img to a loop device until the test ends.
func withLoop(t *testing.T, img string) string {
	t.Helper()
	loop, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := loop.Detach(); err != nil {
			t.Error(err)
		}
	})
	return loop.Path
}

// refused runs prepare on device and checks that it refuses without
// changing a byte, naming device, every want (kind and offset) and the
// fix.
func refused(t *testing.T, device, img string, want ...string) {
	t.Helper()
	before := sum(t, img)
	code, out, errOut := cli(t, "prepare", device)
	if code != exitCheck {
		t.Fatalf("prepare %s = %d; want %d, a refusal\n%s%s", device, code, exitCheck, out, errOut)
	}
	for _, w := range append(want, "refusing "+device, "--force") {
		if !strings.Contains(errOut, w) {
			t.Errorf("the refusal does not say %q:\n%s", w, errOut)
		}
	}
	if sum(t, img) != before {
		t.Fatal("the refused device was changed")
	}
}

// forcedThenReused formats device with --force and checks that the next
// prepare, seeing one Btrfs labelled homestaker where wipefs looks too,
// takes it as the volume.
func forcedThenReused(t *testing.T, device string) {
	t.Helper()
	prepareOK(t, "--force", device)
	if out := prepareOK(t, device); !strings.Contains(out, "not formatting") {
		t.Errorf("the volume made with --force is not reused:\n%s", out)
	}
}

func TestPrepareRefusesMDRAIDAtTheEnd(t *testing.T) {
	needRoot(t)
	t.Run("metadata 1.0", func(t *testing.T) {
		img := newImage(t)
		off := mdSuper10(t, img, "node:0")
		examineMD(t, img, "1.0")
		refused(t, img, img, fmt.Sprintf("linux_raid_member labelled \"node:0\" (raid) at byte %d", off))
		forcedThenReused(t, img)
	})
	t.Run("metadata 0.90", func(t *testing.T) {
		img := newImage(t)
		off := mdSuper090(t, img)
		examineMD(t, img, "0.90")
		refused(t, img, img, fmt.Sprintf("linux_raid_member (raid) at byte %d", off))
		forcedThenReused(t, img)
	})
	// md 1.0 keeps the data at the start: a member of a RAID1 holding the
	// volume shows the Btrfs too, and writing to it behind md's back
	// would make the mirrors differ.
	t.Run("metadata 1.0 under the volume", func(t *testing.T) {
		img := newImage(t)
		prepareOK(t, img)
		off := mdSuper10(t, img, "node:0")
		examineMD(t, img, "1.0")
		refused(t, img, img, `btrfs labelled "homestaker"`, fmt.Sprintf("linux_raid_member labelled \"node:0\" (raid) at byte %d", off))
	})
}

func TestPrepareRefusesLVM2(t *testing.T) {
	needRoot(t)
	pvcreate := needTool(t, "pvcreate", "lvm2")
	for _, tc := range []struct {
		name string
		args []string
		off  int
	}{
		{"label in sector 1", nil, 512 + 24},
		// pvcreate may put the label in any of the first four sectors.
		{"label in sector 3", []string{"--labelsector", "3"}, 3*512 + 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := newImage(t)
			loop := withLoop(t, img)
			runTool(t, pvcreate, append(append([]string{"--quiet"}, tc.args...), loop)...)
			refused(t, loop, img, fmt.Sprintf("LVM2_member (raid) at byte %d", tc.off))
			forcedThenReused(t, loop)
		})
	}
}

func TestPrepareRefusesLUKS(t *testing.T) {
	needRoot(t)
	cryptsetup := needTool(t, "cryptsetup", "cryptsetup-bin")
	img := newImage(t)
	key := writeFile(t, "passphrase")
	// A cheap PBKDF: the test is about the header, not the key.
	runTool(t, cryptsetup, "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
		"--pbkdf-force-iterations", "1000", "--key-file", key, img)
	t.Run("both headers", func(t *testing.T) {
		refused(t, img, img, "crypto_LUKS (version 2) at bytes 0 and 16384")
	})
	// A LUKS2 whose first header was overwritten (a stray dd of a boot
	// image, say) still opens from its second copy, 16 KiB in.
	t.Run("second header only", func(t *testing.T) {
		writeAt(t, img, make([]byte, 16<<10), 0)
		// cryptsetup restores the first header from the second when it
		// opens the device, so it checks a copy.
		cp := filepath.Join(t.TempDir(), "copy")
		runTool(t, "cp", "--sparse=always", img, cp)
		runTool(t, cryptsetup, "isLuks", cp)
		refused(t, img, img, "crypto_LUKS (crypto) at byte 16384")
		forcedThenReused(t, img)
	})
}

func TestPrepareRefusesBcache(t *testing.T) {
	needRoot(t)
	makeBcache := needTool(t, "make-bcache", "bcache-tools")
	img := newImage(t)
	runTool(t, makeBcache, "-B", img)
	refused(t, img, img, "bcache (other) at byte 4120")
	forcedThenReused(t, img)
}

// TestPrepareRefusesFilesystemPast64K: ReiserFS keeps its superblock at
// 64 KiB, past what the own probe reads, where Btrfs has its own.
func TestPrepareRefusesFilesystemPast64K(t *testing.T) {
	needRoot(t)
	mkfs := needTool(t, "mkfs.reiserfs", "reiserfsprogs")
	img := newImage(t)
	runTool(t, mkfs, "-q", "-f", "-l", "old", img)
	refused(t, img, img, `reiserfs labelled "old" (filesystem) at byte 65588`)
	forcedThenReused(t, img)
}

// TestPrepareWithoutWipefs: with no wipefs, a device that looks empty to
// the own probe is refused, naming util-linux; --force goes on with the
// own probe and says so.
func TestPrepareWithoutWipefs(t *testing.T) {
	needRoot(t)
	h := testHost(t)
	h.wipefs = "wipefs-not-installed"
	img := newImage(t)
	var outb, errb bytes.Buffer
	code := run(h, []string{"prepare", img}, &outb, &errb)
	out, errOut := outb.String(), errb.String()
	if code != exitCheck || !strings.Contains(errOut, "refusing "+img) || !strings.Contains(errOut, "install util-linux") ||
		!strings.Contains(errOut, "md RAID at the end") || !strings.Contains(errOut, "--force") {
		t.Fatalf("prepare without wipefs = %d, %q; want a refusal naming util-linux and --force\n%s", code, errOut, out)
	}
	outb.Reset()
	errb.Reset()
	if code := run(h, []string{"prepare", "--force", img}, &outb, &errb); code != exitOK || !strings.Contains(outb.String()+errb.String(), "--force: going on with this program's own probe alone") {
		t.Errorf("prepare --force without wipefs = %d, does not say what it could not see:\n%s%s", code, outb.String(), errb.String())
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/f"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

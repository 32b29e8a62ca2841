package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// disk is a fixture image in memory, written byte by byte where the
// magics go.
type disk []byte

func newDisk(size int) disk { return make(disk, size) }

func (d disk) put(off int, b string) disk {
	copy(d[off:], b)
	return d
}

func (d disk) u16(off int, v uint16) disk {
	binary.LittleEndian.PutUint16(d[off:], v)
	return d
}

func (d disk) u32(off int, v uint32) disk {
	binary.LittleEndian.PutUint32(d[off:], v)
	return d
}

// btrfsSuper writes a primary Btrfs superblock with a valid crc32c.
func (d disk) btrfsSuper(label string) disk {
	sb := d[64<<10 : 64<<10+4096]
	copy(sb[0x40:], "_BHRfS_M")
	binary.LittleEndian.PutUint64(sb[0x30:], 64<<10)
	binary.LittleEndian.PutUint64(sb[0x88:], 1) // num_devices
	copy(sb[0x12b:], label)
	binary.LittleEndian.PutUint32(sb[0:], crc32.Checksum(sb[0x20:], crc32.MakeTable(crc32.Castagnoli)))
	return d
}

// mbrEntry writes partition entry i with a type and a boot flag.
func (d disk) mbrEntry(i int, boot, typ byte) disk {
	d[446+16*i] = boot
	d[446+16*i+4] = typ
	return d.u16(510, 0xaa55)
}

func kinds(sigs []Signature) string {
	var k []string
	for _, s := range sigs {
		k = append(k, s.Kind)
	}
	return strings.Join(k, ",")
}

func TestDetectSignatures(t *testing.T) {
	const size = 128 << 10
	for _, tc := range []struct {
		name  string
		disk  disk
		kinds string
		label string // of the first signature
	}{
		{"zeros", newDisk(size), "", ""},
		{"tiny device", newDisk(100), "", ""},
		{"random boot code with 55aa is no MBR", newDisk(size).put(446, "\x13\x37\x00\x00\x01").u16(510, 0xaa55), "", ""},
		{"55aa with empty partition entries", newDisk(size).u16(510, 0xaa55), "", ""},
		{"mbr", newDisk(size).mbrEntry(0, 0x80, 0x83).mbrEntry(1, 0, 0x82), "dos", ""},
		{"gpt at 512", newDisk(size).mbrEntry(0, 0, 0xee).put(512, "EFI PART"), "dos,gpt", ""},
		{"gpt at 4096 (4K sectors)", newDisk(size).put(4096, "EFI PART"), "gpt", ""},
		{"ext2", newDisk(size).u16(1080, 0xef53).put(1024+0x78, "data"), "ext2", "data"},
		{"ext3", newDisk(size).u16(1080, 0xef53).u32(1024+0x5c, 0x4).u32(1024+0x60, 0x2), "ext3", ""},
		{"ext4", newDisk(size).u16(1080, 0xef53).u32(1024+0x5c, 0x4).u32(1024+0x60, 0x2c2), "ext4", ""},
		{"xfs", newDisk(size).put(0, "XFSB").put(108, "chain"), "xfs", "chain"},
		{"fat16", newDisk(size).put(3, "mkfs.fat").put(43, "BOOT       ").put(54, "FAT16   ").u16(510, 0xaa55), "vfat", "BOOT"},
		{"fat32", newDisk(size).put(3, "mkfs.fat").put(71, "NO NAME    ").put(82, "FAT32   ").u16(510, 0xaa55), "vfat", ""},
		{"fat by OEM name only", newDisk(size).put(3, "MSDOS5.0").u16(510, 0xaa55), "vfat", ""},
		{"fat boot code is no MBR", newDisk(size).put(54, "FAT12   ").mbrEntry(0, 0, 0x0c), "vfat", ""},
		{"swap", newDisk(size).put(4086, "SWAPSPACE2").put(1052, "swappy"), "swap", "swappy"},
		{"old swap", newDisk(size).put(4086, "SWAP-SPACE"), "swap", ""},
		{"swap with 64K pages", newDisk(size).put(65526, "SWAPSPACE2"), "swap", ""},
		{"luks", newDisk(size).put(0, "LUKS\xba\xbe\x00\x02"), "crypto_LUKS", ""},
		{"iso9660", newDisk(size).put(32769, "CD001").put(32768+40, "DEBIAN"), "iso9660", "DEBIAN"},
		{"ntfs", newDisk(size).put(3, "NTFS    ").mbrEntry(0, 0, 7), "ntfs", ""},
		{"exfat", newDisk(size).put(3, "EXFAT   ").u16(510, 0xaa55), "exfat", ""},
		{"lvm", newDisk(size).put(512, "LABELONE").put(536, "LVM2 001"), "LVM2_member", ""},
		{"md 1.2", newDisk(size).u32(4096, 0xa92b4efc), "linux_raid_member", ""},
		{"btrfs", newDisk(size).btrfsSuper("homestaker"), "btrfs", "homestaker"},
		{"btrfs, other label", newDisk(size).btrfsSuper("data"), "btrfs", "data"},
		{"damaged btrfs", newDisk(size).btrfsSuper("homestaker").put(64<<10+0x200, "x"), "btrfs", ""},
		{"btrfs after a partition table", newDisk(size).btrfsSuper("homestaker").put(512, "EFI PART"), "gpt,btrfs", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs, err := DetectSignatures(bytes.NewReader(tc.disk))
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(sigs); got != tc.kinds {
				t.Fatalf("kinds = %q, want %q (%s)", got, tc.kinds, describeSignatures(sigs))
			}
			if len(sigs) > 0 && sigs[0].Label != tc.label && tc.kinds != "gpt,btrfs" {
				t.Errorf("label = %q, want %q", sigs[0].Label, tc.label)
			}
		})
	}
}

func TestDetectSignaturesDamagedBtrfsSaysSo(t *testing.T) {
	sigs, err := DetectSignatures(bytes.NewReader(newDisk(128<<10).btrfsSuper("homestaker").put(64<<10+0x200, "x")))
	if err != nil || len(sigs) != 1 || !strings.Contains(sigs[0].Detail, "checksum") {
		t.Fatalf("sigs = %v, %v; want a btrfs with an unusable superblock", sigs, err)
	}
	if decide(sigs, "homestaker", btrfsFS) != refuseDevice {
		t.Error("a damaged Btrfs with the wanted label would be reused")
	}
}

type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("I/O error") }

func TestDetectSignaturesReadError(t *testing.T) {
	if _, err := DetectSignatures(failingReader{}); err == nil || !strings.Contains(err.Error(), "I/O error") {
		t.Errorf("err = %v, want the read error", err)
	}
}

func TestDecide(t *testing.T) {
	vol := Signature{Kind: "btrfs", Label: "homestaker", Offset: 65536 + 0x40}
	ext4Vol := Signature{Kind: "ext4", Label: "homestaker", Offset: 1080}
	xfsVol := Signature{Kind: "xfs", Label: "homestaker", Offset: 0}
	for _, tc := range []struct {
		name string
		sigs []Signature
		fs   *filesystem
		want verdict
	}{
		{"empty", nil, btrfsFS, formatDevice},
		{"empty, --fs xfs", nil, xfsFS, formatDevice},
		{"our volume", []Signature{vol}, btrfsFS, reuseVolume},
		{"btrfs, other label", []Signature{{Kind: "btrfs", Label: "homestakeros"}}, btrfsFS, refuseDevice},
		{"btrfs, no label", []Signature{{Kind: "btrfs"}}, btrfsFS, refuseDevice},
		{"ext4", []Signature{{Kind: "ext4"}}, btrfsFS, refuseDevice},
		{"our volume and a partition table", []Signature{{Kind: "gpt"}, vol}, btrfsFS, refuseDevice},
		{"ext4 labelled homestaker, --fs ext4", []Signature{ext4Vol}, ext4FS, reuseVolume},
		{"ext3 labelled homestaker, --fs ext4", []Signature{{Kind: "ext3", Label: "homestaker", Offset: 1080}}, ext4FS, reuseVolume},
		{"ext4 labelled homestaker, --fs btrfs", []Signature{ext4Vol}, btrfsFS, otherType},
		{"xfs labelled homestaker, --fs xfs", []Signature{xfsVol}, xfsFS, reuseVolume},
		{"xfs labelled homestaker, --fs ext4", []Signature{xfsVol}, ext4FS, otherType},
		{"btrfs labelled homestaker, --fs xfs", []Signature{vol}, xfsFS, otherType},
		{"ext4, other label, --fs ext4", []Signature{{Kind: "ext4", Label: "data", Offset: 1080}}, ext4FS, refuseDevice},
		{"vfat labelled homestaker, --fs ext4", []Signature{{Kind: "vfat", Label: "homestaker", Offset: 54}}, ext4FS, refuseDevice},
		{"ext4 labelled homestaker and a partition table", []Signature{{Kind: "dos"}, ext4Vol}, ext4FS, refuseDevice},
	} {
		if got := decide(tc.sigs, "homestaker", tc.fs); got != tc.want {
			t.Errorf("%s: decide = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestDetectRealSignatures formats image files with the real tools. A
// subtest is skipped only when its tool is not installed.
func TestDetectRealSignatures(t *testing.T) {
	for _, tc := range []struct {
		tool  string
		args  []string
		kind  string
		label string
	}{
		{"mkfs.ext4", []string{"-q", "-F", "-L", "data"}, "ext4", "data"},
		{"mkfs.ext2", []string{"-q", "-F"}, "ext2", ""},
		{"mkfs.vfat", []string{"-n", "ESP"}, "vfat", "ESP"},
		{"mkfs.vfat", []string{"-F", "32"}, "vfat", ""},
		{"mkswap", []string{"-L", "swp"}, "swap", "swp"},
		{"mkfs.xfs", []string{"-q", "-f", "-L", "x"}, "xfs", "x"},
		{"mkfs.btrfs", []string{"-q", "-f", "-L", "homestaker"}, "btrfs", "homestaker"},
	} {
		t.Run(tc.tool+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			bin, err := exec.LookPath(tc.tool)
			if err != nil {
				t.Skipf("%s is not installed", tc.tool)
			}
			img := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 320<<20); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, append(tc.args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.tool, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sigs, err := DetectSignatures(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != 1 || sigs[0].Kind != tc.kind || sigs[0].Label != tc.label {
				t.Fatalf("found %s; want one %s labelled %q", describeSignatures(sigs), tc.kind, tc.label)
			}
		})
	}
}

func FuzzDetectSignatures(f *testing.F) {
	f.Add([]byte(newDisk(128 << 10).btrfsSuper("homestaker")))
	f.Add([]byte(newDisk(4096).mbrEntry(0, 0x80, 0x83)))
	f.Add([]byte(newDisk(2048).u16(1080, 0xef53)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sigs, err := DetectSignatures(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err) // a short device is not an error
		}
		if decide(sigs, "homestaker", btrfsFS) == reuseVolume && (len(sigs) != 1 || sigs[0].Kind != "btrfs") {
			t.Fatalf("reuse of %s", describeSignatures(sigs))
		}
	})
}

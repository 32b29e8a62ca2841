package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/homestaker/homestaker-boot/init/btrfs"
)

// Signature is something found on a device that says it is already in
// use: a partition table or a filesystem (or other volume) signature. Kind
// is what blkid calls it.
type Signature struct {
	Kind   string  // "ext4", "vfat", "gpt", "btrfs", ...
	Offset int64   // where the magic is
	Label  string  // the filesystem's label, when it has one and it was read
	UUID   string  // as blkid prints it, when known: tells copies of one signature from two signatures
	Detail string  // more facts for the operator, or ""
	Also   []int64 // further copies of the magic, as wipefs lists them: backup headers, superblock mirrors
}

func (s Signature) String() string {
	var b strings.Builder
	b.WriteString(printable(s.Kind))
	if s.Label != "" {
		fmt.Fprintf(&b, " labelled %q", s.Label)
	}
	if s.Detail != "" {
		b.WriteString(" (" + printable(s.Detail) + ")")
	}
	if len(s.Also) == 0 {
		fmt.Fprintf(&b, " at byte %d", s.Offset)
		return b.String()
	}
	offs := append([]int64{s.Offset}, s.Also...)
	slices.Sort(offs)
	b.WriteString(" at bytes ")
	for i, off := range offs {
		switch {
		case i == len(offs)-1:
			b.WriteString(" and ")
		case i > 0:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, off)
	}
	return b.String()
}

// printable returns s, or s quoted when it holds what a terminal would
// act on: a kind or a detail from wipefs is text read from the device.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

// scanSize covers every magic below, but the Btrfs superblock, which the
// btrfs package reads itself.
const scanSize = 64 << 10

// DetectSignatures reports the partition tables and filesystem signatures
// at the start of a device or image file, in the order of their offsets
// as far as practical. An empty result means the device looks unused. A
// device shorter than a signature's offset simply does not have it; only
// a read error is an error.
func DetectSignatures(r io.ReaderAt) ([]Signature, error) {
	buf := make([]byte, scanSize)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the first %d bytes: %w", scanSize, err)
	}
	buf = buf[:n]
	var sigs []Signature
	add := func(s Signature) { sigs = append(sigs, s) }
	at := func(off int, magic string) bool {
		return off+len(magic) <= len(buf) && string(buf[off:off+len(magic)]) == magic
	}
	le16 := func(off int) uint16 {
		if off+2 > len(buf) {
			return 0
		}
		return binary.LittleEndian.Uint16(buf[off:])
	}
	field := func(off, size int) string {
		if off+size > len(buf) {
			return ""
		}
		return strings.TrimRight(string(bytes.TrimRight(buf[off:off+size], "\x00")), " ")
	}

	bootSector := false // sector 0 is a filesystem's boot sector, not an MBR
	switch {
	case at(0, "XFSB"):
		add(Signature{Kind: "xfs", Offset: 0, Label: field(108, 12)})
	case at(0, "LUKS\xba\xbe") && len(buf) >= 8:
		add(Signature{Kind: "crypto_LUKS", Offset: 0, Detail: fmt.Sprintf("version %d", binary.BigEndian.Uint16(buf[6:]))})
	case at(3, "NTFS    "):
		add(Signature{Kind: "ntfs", Offset: 3})
		bootSector = true
	case at(3, "EXFAT   "):
		add(Signature{Kind: "exfat", Offset: 3})
		bootSector = true
	case at(82, "FAT32   "):
		add(Signature{Kind: "vfat", Offset: 82, Label: fatLabel(field(71, 11)), Detail: "FAT32"})
		bootSector = true
	case at(54, "FAT"):
		add(Signature{Kind: "vfat", Offset: 54, Label: fatLabel(field(43, 11)), Detail: field(54, 8)})
		bootSector = true
	case le16(510) == 0xaa55 && (at(3, "MSDOS") || at(3, "mkfs.fat") || at(3, "mkdosfs") || at(3, "MSWIN")):
		add(Signature{Kind: "vfat", Offset: 3, Detail: "OEM name " + field(3, 8)})
		bootSector = true
	}
	if !bootSector && le16(510) == 0xaa55 {
		if s, ok := mbr(buf); ok {
			add(s)
		}
	}
	for _, off := range []int{512, 4096} {
		if at(off, "EFI PART") {
			add(Signature{Kind: "gpt", Offset: int64(off), Detail: "GPT partition table"})
			break
		}
	}
	if at(512, "LABELONE") && at(536, "LVM2") {
		add(Signature{Kind: "LVM2_member", Offset: 536})
	}
	if len(buf) >= 2048 && le16(1024+56) == 0xef53 {
		add(extSignature(buf[1024:]))
	}
	for _, off := range []int{0, 4096} { // md superblock 1.1 and 1.2
		if off+4 <= len(buf) && binary.LittleEndian.Uint32(buf[off:]) == 0xa92b4efc {
			add(Signature{Kind: "linux_raid_member", Offset: int64(off), Detail: "md RAID superblock"})
		}
	}
	for _, page := range []int{4096, 8192, 16384, 65536} {
		off := page - 10
		if at(off, "SWAPSPACE2") || at(off, "SWAP-SPACE") {
			add(Signature{Kind: "swap", Offset: int64(off), Label: field(1052, 16)})
			break
		}
	}
	if at(32769, "CD001") {
		add(Signature{Kind: "iso9660", Offset: 32769, Label: field(32768+40, 32)})
	}

	sig, err := btrfsSignature(r)
	if err != nil {
		return nil, err
	}
	if sig != nil {
		add(*sig)
	}
	return sigs, nil
}

// btrfsSignature reads the primary Btrfs superblock with the btrfs
// package's parser. Its offset is the magic's, as for every signature
// here and in wipefs(8). A magic with a superblock that does not parse is still
// reported: something was a Btrfs there.
func btrfsSignature(r io.ReaderAt) (*Signature, error) {
	buf := make([]byte, btrfs.SuperblockSize)
	n, err := r.ReadAt(buf, btrfs.SuperblockOffset)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, nil // too small to hold one
		}
		return nil, fmt.Errorf("reading the Btrfs superblock at byte %d: %w", btrfs.SuperblockOffset, err)
	}
	sb, err := btrfs.ParseSuperblock(buf)
	switch {
	case errors.Is(err, btrfs.ErrNotBtrfs):
		return nil, nil
	case err != nil:
		return &Signature{Kind: "btrfs", Offset: btrfs.MagicOffset, Detail: "unusable superblock: " + err.Error()}, nil
	}
	return &Signature{Kind: "btrfs", Offset: btrfs.MagicOffset, Label: sb.Label, UUID: sb.FSIDString(),
		Detail: fmt.Sprintf("fsid %s, %d device(s)", sb.FSIDString(), sb.NumDevices)}, nil
}

// fatLabel drops the placeholder mkfs.fat writes when there is no label.
func fatLabel(s string) string {
	if s == "NO NAME" {
		return ""
	}
	return s
}

// mbr reports a DOS partition table: the boot flag of every entry is 0 or
// 0x80 (boot code in that place would rarely be), and one entry at least
// has a partition type.
func mbr(sector []byte) (Signature, bool) {
	used, protective := 0, false
	for i := 0; i < 4; i++ {
		e := sector[446+16*i : 446+16*(i+1)]
		if e[0] != 0 && e[0] != 0x80 {
			return Signature{}, false
		}
		if e[4] != 0 {
			used++
		}
		if e[4] == 0xee {
			protective = true
		}
	}
	if used == 0 {
		return Signature{}, false
	}
	detail := fmt.Sprintf("MBR partition table, %d partition(s)", used)
	if protective {
		detail = "protective MBR of a GPT disk"
	}
	return Signature{Kind: "dos", Offset: 510, Detail: detail}, true
}

// extSignature names ext2, ext3 or ext4 by their feature flags, as blkid
// does: a journal makes ext3, the features ext3 lacks make ext4.
func extSignature(sb []byte) Signature {
	le32 := func(off int) uint32 { return binary.LittleEndian.Uint32(sb[off:]) }
	compat, incompat, roCompat := le32(0x5c), le32(0x60), le32(0x64)
	const (
		compatJournal = 0x4
		ext3Incompat  = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
		ext3RoCompat  = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	)
	kind := "ext2"
	switch {
	case incompat&^ext3Incompat != 0 || roCompat&^ext3RoCompat != 0:
		kind = "ext4"
	case compat&compatJournal != 0:
		kind = "ext3"
	}
	label := strings.TrimRight(string(bytes.TrimRight(sb[0x78:0x78+16], "\x00")), " ")
	return Signature{Kind: kind, Offset: 1024 + 56, Label: label}
}

// verdict is what prepare does with a device, given its signatures.
type verdict int

const (
	formatDevice verdict = iota // nothing there: format it
	reuseVolume                 // our volume: mount it, format nothing
	refuseDevice                // something else: only --force formats it
	otherType                   // a volume with the label, of another type than --fs: only --force formats it
)

// decide applies prepare's rule: a device holding exactly a filesystem of
// the type f with the wanted label is the volume itself, prepared before
// (or made by hand as HomestakerOS's guide says); an empty one is
// formatted; anything else needs --force. A volume with the wanted label
// beside another signature is not trusted: one of them is stale, and
// guessing which could lose data.
func decide(sigs []Signature, label string, f *filesystem) verdict {
	if len(sigs) == 0 {
		return formatDevice
	}
	if len(sigs) == 1 && isVolume(sigs[0], label) {
		if filesystemOf(sigs[0]) == f {
			return reuseVolume
		}
		return otherType
	}
	return refuseDevice
}

// isVolume says whether s is a filesystem the init boots, with the label.
func isVolume(s Signature, label string) bool {
	return filesystemOf(s) != nil && s.Label == label && !strings.HasPrefix(s.Detail, "unusable")
}

// describeSignatures lists signatures for a message.
func describeSignatures(sigs []Signature) string {
	s := make([]string, len(sigs))
	for i, sig := range sigs {
		s[i] = sig.String()
	}
	return strings.Join(s, "; ")
}

// Package btrfs reads the primary superblock of a Btrfs device: the facts
// the storage stage and `homestaker prepare`/`check` need to find a volume
// by label and to count its member devices. It parses bytes and mounts
// nothing; the one layout of the superblock lives here.
package btrfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/homestaker/homestaker-boot/init/superblock"
)

// SuperblockOffset is where the primary superblock starts on every member
// device. The copies at 64 MiB and 256 GiB are not read: the kernel's device
// scan also trusts the primary alone.
const SuperblockOffset = 64 << 10

// MagicOffset is where the primary superblock's magic lies on the device:
// the offset blkid and wipefs(8) give for a Btrfs signature.
const MagicOffset = SuperblockOffset + offMagic

// SuperblockSize is the size of a superblock on disk, checksummed from
// byte 0x20 to the end.
const SuperblockSize = 4096

// Checksum types (btrfs_super_block.csum_type).
const (
	CsumCRC32C   = 0
	CsumXXHash64 = 1
	CsumSHA256   = 2
	CsumBLAKE2b  = 3 // BLAKE2b-256
)

// Offsets in struct btrfs_super_block (include/uapi/linux/btrfs_tree.h),
// little-endian throughout. Only the fields read here are named.
const (
	offCsum       = 0x00 // u8[32]
	offFSID       = 0x20 // u8[16]
	offBytenr     = 0x30 // u64: where this copy lives
	offMagic      = 0x40 // u64 "_BHRfS_M"
	offGeneration = 0x48
	offTotalBytes = 0x70
	offBytesUsed  = 0x78
	offNumDevices = 0x88
	offSectorSize = 0x90 // u32
	offNodeSize   = 0x94 // u32
	offCsumType   = 0xc4 // u16
	offDevItem    = 0xc9 // struct btrfs_dev_item, 98 bytes, unaligned
	offLabel      = 0x12b
	labelSize     = 256

	// In struct btrfs_dev_item.
	devItemDevID = 0  // u64
	devItemUUID  = 66 // u8[16]

	csumStart = 0x20 // the checksum covers [csumStart, SuperblockSize)
)

// MaxLabel is the longest label in bytes that mkfs.btrfs and the kernel
// accept (BTRFS_LABEL_SIZE less its NUL): `homestaker prepare` refuses a
// longer --label before formatting.
const MaxLabel = labelSize - 1

var magic = []byte("_BHRfS_M")

// ErrNotBtrfs means the bytes hold no Btrfs superblock at all (wrong magic,
// or a device too small to hold one). Test for it with errors.Is: a device
// that is simply something else is not a problem for the storage stage.
var ErrNotBtrfs = errors.New("no Btrfs superblock (magic _BHRfS_M not found at 64 KiB)")

// ErrChecksum means the magic is there but the superblock's checksum does
// not match its content: a damaged or half-written superblock, which must
// not be trusted for its label or device count.
var ErrChecksum = errors.New("Btrfs superblock checksum does not match")

// Superblock is what a primary superblock says about its filesystem and
// about the member device it was read from.
type Superblock struct {
	FSID       [16]byte // the filesystem's UUID, the same on every member
	DevUUID    [16]byte // dev_item.uuid: this member device
	DevID      uint64   // dev_item.devid: this member's number, from 1
	Label      string   // up to the first NUL; "" when none
	Generation uint64
	NumDevices uint64 // member devices the filesystem expects
	TotalBytes uint64 // of the whole filesystem, all members
	BytesUsed  uint64
	SectorSize uint32
	NodeSize   uint32
	CsumType   uint16 // CsumCRC32C, CsumXXHash64, CsumSHA256 or CsumBLAKE2b

	// ChecksumVerified is true when the superblock checksum was computed
	// and matched. Every checksum type Btrfs defines is verified, so a
	// Superblock returned without error always has it set; it stays so
	// that callers can record the fact in the boot report.
	ChecksumVerified bool
}

// FSIDString is the filesystem UUID as blkid and `btrfs filesystem show`
// print it.
func (s *Superblock) FSIDString() string { return superblock.UUID(s.FSID) }

// DevUUIDString is the member device's UUID (dev_item.uuid) in the same form.
func (s *Superblock) DevUUIDString() string { return superblock.UUID(s.DevUUID) }

// ParseSuperblock parses a primary superblock: buf holds the SuperblockSize
// bytes read at SuperblockOffset (more are ignored). It checks the magic
// (else ErrNotBtrfs), that the superblock says it is the primary copy, the
// checksum type, and the checksum (else an error wrapping ErrChecksum).
func ParseSuperblock(buf []byte) (*Superblock, error) {
	if len(buf) < offMagic+len(magic) || !bytes.Equal(buf[offMagic:offMagic+len(magic)], magic) {
		return nil, ErrNotBtrfs
	}
	if len(buf) < SuperblockSize {
		return nil, fmt.Errorf("Btrfs superblock truncated: %d bytes, want %d", len(buf), SuperblockSize)
	}
	buf = buf[:SuperblockSize]
	le := binary.LittleEndian

	// A copy that says it lives elsewhere (a mirror at 64 MiB, say, found
	// at 64 KiB inside an image embedded in a file) is not this device's
	// primary superblock.
	if at := le.Uint64(buf[offBytenr:]); at != SuperblockOffset {
		return nil, fmt.Errorf("Btrfs superblock says it belongs at byte %d, not at %d where the primary superblock lives", at, SuperblockOffset)
	}

	csumType := le.Uint16(buf[offCsumType:])
	sum, err := checksum(csumType, buf[csumStart:])
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(buf[offCsum:offCsum+len(sum)], sum) {
		return nil, fmt.Errorf("%w (%s): the superblock is damaged", ErrChecksum, csumName(csumType))
	}

	s := &Superblock{
		DevID:            le.Uint64(buf[offDevItem+devItemDevID:]),
		Label:            superblock.CString(buf[offLabel : offLabel+labelSize]),
		Generation:       le.Uint64(buf[offGeneration:]),
		NumDevices:       le.Uint64(buf[offNumDevices:]),
		TotalBytes:       le.Uint64(buf[offTotalBytes:]),
		BytesUsed:        le.Uint64(buf[offBytesUsed:]),
		SectorSize:       le.Uint32(buf[offSectorSize:]),
		NodeSize:         le.Uint32(buf[offNodeSize:]),
		CsumType:         csumType,
		ChecksumVerified: true,
	}
	copy(s.FSID[:], buf[offFSID:])
	copy(s.DevUUID[:], buf[offDevItem+devItemUUID:])
	return s, nil
}

// ReadSuperblock reads and parses the primary superblock of a device or
// image file. A device too small to hold one gives ErrNotBtrfs; a read
// error is returned as it is, since an unreadable device is not the same
// as one without Btrfs.
func ReadSuperblock(r io.ReaderAt) (*Superblock, error) {
	buf := make([]byte, SuperblockSize)
	if err := superblock.Read(r, buf, SuperblockOffset, ErrNotBtrfs, "Btrfs"); err != nil {
		return nil, err
	}
	return ParseSuperblock(buf)
}

// ReadDevice is ReadSuperblock of the device or image file at path.
func ReadDevice(path string) (*Superblock, error) {
	return superblock.ReadDevice(path, ReadSuperblock)
}
